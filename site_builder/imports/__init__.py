"""Bring people in: vCard and CSV readers produce ImportedContact records, and
apply.py matches them against the CRM and creates or merges contact files.

Readers are pure (bytes in, records and problems out); only apply.write_plan touches
the CRM folder.
"""

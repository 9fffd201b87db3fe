"""Contacts -> CSV for Google Contacts, Outlook, or a Mailchimp audience import.

Files are UTF-8 with CRLF row ends (RFC 4180); the Outlook file starts with a byte-order
mark so Excel and Outlook read the accents right. A value starting with '=' gets a
leading apostrophe so a spreadsheet shows it instead of running it as a formula ('+' and
'-' are left alone: phone numbers start with them).
"""

from __future__ import annotations

import csv
import io

from ..model import CRM, Contact
from .privacy import public_view
from .vcard import name_parts

FORMATS = ("google", "outlook", "mailchimp")

MAILCHIMP_COLUMNS = ("Email Address", "First Name", "Last Name", "Tags", "Company", "Job Title", "Birthday",
                     "Location")
OUTLOOK_COLUMNS = ("First Name", "Last Name", "Company", "Job Title", "E-mail Address", "E-mail 2 Address",
                   "E-mail 3 Address", "Business Phone", "Mobile Phone", "Home Phone", "Business Street",
                   "Birthday", "Categories", "Notes", "Web Page")


def export_csv(crm: CRM, fmt: str, include_private: bool = False) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"CSV format must be one of {', '.join(FORMATS)}")
    view = public_view(crm, include_private)
    header, rows = _BUILDERS[fmt](view)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return ("\ufeff" if fmt == "outlook" else "") + out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith("=") else value


def _org_name(crm: CRM, contact: Contact) -> str:
    org = crm.orgs.get(contact.org) if contact.org else None
    return org.name if org else (contact.org or "")


def mailchimp_rows(crm: CRM) -> tuple[list[str], list[list[str]]]:
    """Only contacts with `newsletter: subscribed` and an email; Mailchimp's merge fields
    FNAME, LNAME, COMPANY, BIRTHDAY (MM/DD) and tags (comma-separated)."""
    rows = []
    for contact in crm.contacts.values():
        if contact.newsletter != "subscribed" or not contact.emails:
            continue
        given, family = name_parts(contact.name)
        b = contact.birthday
        rows.append([contact.emails[0], given, family, ",".join(contact.tags), _org_name(crm, contact),
                     contact.title or "", f"{b.month:02d}/{b.day:02d}" if b else "", contact.location or ""])
    return list(MAILCHIMP_COLUMNS), rows


def google_rows(crm: CRM) -> tuple[list[str], list[list[str]]]:
    contacts = list(crm.contacts.values())
    n_email = max([1, *(len(c.emails) for c in contacts)])
    n_phone = max([1, *(len(c.phones) for c in contacts)])
    n_address = max([1, *(len(c.addresses) for c in contacts)])
    n_web = max([1, *(len(c.links) for c in contacts)])
    header = ["First Name", "Middle Name", "Last Name", "Nickname", "Organization Name", "Organization Title",
              "Birthday", "Notes", "Labels"]
    for kind, count, value in (("E-mail", n_email, "Value"), ("Phone", n_phone, "Value"),
                               ("Address", n_address, "Formatted"), ("Website", n_web, "Value")):
        for i in range(1, count + 1):
            header += [f"{kind} {i} - Label", f"{kind} {i} - {value}"]
    rows = []
    for c in contacts:
        given, family = name_parts(c.name)
        row = [given, "", family, " ::: ".join(c.aka), _org_name(crm, c), c.title or "",
               c.birthday.iso() if c.birthday else "", c.summary.strip(),
               " ::: ".join(["* myContacts", *c.tags])]
        links = list(c.links.items())
        for items, count in ((c.emails, n_email), (c.phones, n_phone), (c.addresses, n_address)):
            for i in range(count):
                row += ["", items[i]] if i < len(items) else ["", ""]
        for i in range(n_web):
            row += [links[i][0], links[i][1]] if i < len(links) else ["", ""]
        rows.append(row)
    return header, rows


def outlook_rows(crm: CRM) -> tuple[list[str], list[list[str]]]:
    rows = []
    for c in crm.contacts.values():
        given, family = name_parts(c.name)
        emails = (c.emails + ["", "", ""])[:3]
        phones = (c.phones + ["", "", ""])[:3]
        b = c.birthday
        birthday = f"{b.month}/{b.day}/{b.year}" if b and b.year else ""  # Outlook needs a year
        website = next(iter(c.links.values()), "")
        rows.append([given, family, _org_name(crm, c), c.title or "", *emails, *phones,
                     c.addresses[0] if c.addresses else "", birthday, ";".join(c.tags), c.summary.strip(), website])
    return list(OUTLOOK_COLUMNS), rows


_BUILDERS = {"google": google_rows, "outlook": outlook_rows, "mailchimp": mailchimp_rows}

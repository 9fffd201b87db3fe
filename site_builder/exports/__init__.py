"""Take the CRM out: vCard, CSV (Google, Outlook, Mailchimp), JSON and iCalendar.

Every export first goes through privacy.public_view, so private contacts and fields
marked private stay out unless the caller asks for them (--include-private).
"""

"""Contacts -> vCard 3.0 (RFC 2426) or 4.0 (RFC 6350).

UTF-8, CRLF line ends, lines folded at 75 octets without splitting a character, and
',', ';', '\\' and newlines escaped in text values. Each card has a UID derived from the
contact's slug, so importing the file again into a phone updates rather than duplicates.
"""

from __future__ import annotations

import uuid

from ..model import CRM, Contact
from .privacy import public_view

VERSIONS = ("3.0", "4.0")
PRODID = "-//plaintext-crm//crm export//EN"
UID_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e7f-9c0d-1b2a3c4d5e6f")
_APPLE_NO_YEAR = 1604  # how Apple writes a birthday without a year in vCard 3.0


def escape_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str, limit: int = 75) -> str:
    """RFC 6350/5545 folding: at most `limit` octets per line, continuation lines start
    with one space, and a UTF-8 sequence is never split."""
    if line.isascii():  # one octet a character: no encoding, slices at fixed places
        if len(line) <= limit:
            return line
        step = limit - 1  # a continuation line's leading space takes one octet
        return "\r\n ".join([line[:limit], *(line[i:i + step] for i in range(limit, len(line), step))])
    if len(line.encode("utf-8")) <= limit:
        return line
    parts: list[str] = []
    current: list[str] = []
    size = 0
    budget = limit
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > budget:
            parts.append("".join(current))
            current, size, budget = [], 0, limit - 1  # the leading space takes one octet
        current.append(char)
        size += width
    parts.append("".join(current))
    return "\r\n ".join(parts)


def contact_uid(slug: str) -> str:
    return f"urn:uuid:{uuid.uuid5(UID_NAMESPACE, 'contact:' + slug)}"


def name_parts(name: str) -> tuple[str, str]:
    """(given, family): the last word is the family name; a one-word name (张伟) is all given."""
    words = name.split()
    if len(words) < 2:
        return name.strip(), ""
    return " ".join(words[:-1]), words[-1]


def contact_to_vcard(contact: Contact, version: str = "3.0", *, org_name: str | None = None) -> str:
    """One vCard for one contact. org_name is the org's display name (the contact only
    holds its slug); without it the slug is used. The contact is shown as given: callers
    that export remove private fields first (privacy.public_view)."""
    if version not in VERSIONS:
        raise ValueError(f"vCard version must be one of {', '.join(VERSIONS)}")
    v4 = version == "4.0"
    given, family = name_parts(contact.name)
    lines = ["BEGIN:VCARD", f"VERSION:{version}", f"PRODID:{PRODID}", f"UID:{contact_uid(contact.slug)}"]
    if v4:
        lines.append("KIND:individual")
    lines.append(f"FN:{escape_text(contact.name)}")
    lines.append(f"N:{escape_text(family)};{escape_text(given)};;;")
    if contact.aka:
        lines.append("NICKNAME:" + ",".join(escape_text(a) for a in contact.aka))
    for i, email in enumerate(contact.emails):
        if v4:
            lines.append(f"EMAIL{';PREF=1' if i == 0 else ''}:{escape_text(email)}")
        else:
            lines.append(f"EMAIL;TYPE=INTERNET{',PREF' if i == 0 else ''}:{escape_text(email)}")
    for i, phone in enumerate(contact.phones):
        if v4:
            lines.append(f"TEL;VALUE=text{';PREF=1' if i == 0 else ''}:{escape_text(phone)}")
        else:
            lines.append(f"TEL;TYPE=VOICE{',PREF' if i == 0 else ''}:{escape_text(phone)}")
    for address in contact.addresses:
        # Addresses are free text in the format: the whole of it goes in the street part.
        lines.append(f"ADR:;;{escape_text(address)};;;;")
    if contact.org:
        lines.append(f"ORG:{escape_text(org_name or contact.org)}")
    if contact.title:
        lines.append(f"TITLE:{escape_text(contact.title)}")
    if contact.birthday:
        lines.append(_bday(contact, v4))
    for label, url in contact.links.items():
        lines.append(f"URL;TYPE={_param(label)}:{url.replace(chr(10), '').replace(chr(13), '')}")
    if contact.tags:
        lines.append("CATEGORIES:" + ",".join(escape_text(t) for t in contact.tags))
    if contact.timezone and v4:
        lines.append(f"TZ:{escape_text(contact.timezone)}")
    if contact.summary.strip():
        lines.append(f"NOTE:{escape_text(contact.summary.strip())}")
    lines.append("END:VCARD")
    return "".join(fold(line) + "\r\n" for line in lines)


def _bday(contact: Contact, v4: bool) -> str:
    b = contact.birthday
    assert b is not None
    if b.year:
        return f"BDAY:{b.year:04d}{b.month:02d}{b.day:02d}" if v4 else f"BDAY:{b.year:04d}-{b.month:02d}-{b.day:02d}"
    if v4:
        return f"BDAY:--{b.month:02d}{b.day:02d}"
    return f"BDAY;X-APPLE-OMIT-YEAR={_APPLE_NO_YEAR}:{_APPLE_NO_YEAR}-{b.month:02d}-{b.day:02d}"


def _param(value: str) -> str:
    """A parameter value: safe characters as they are, anything else double-quoted."""
    cleaned = "".join(c for c in value if c not in '"\r\n')
    return cleaned if cleaned and all(c.isalnum() or c in "-_" for c in cleaned) else f'"{cleaned}"'


def export_vcards(crm: CRM, version: str = "3.0", include_private: bool = False) -> str:
    """Every contact (private ones only with include_private), one card each, by slug."""
    view = public_view(crm, include_private)
    return "".join(contact_to_vcard(c, version, org_name=_org_name(view, c)) for c in view.contacts.values())


def vcard_per_contact(crm: CRM, version: str = "3.0", include_private: bool = False) -> dict[str, str]:
    """slug -> that contact's vCard, for the site's "add to contacts" links."""
    view = public_view(crm, include_private)
    return {slug: contact_to_vcard(c, version, org_name=_org_name(view, c)) for slug, c in view.contacts.items()}


def _org_name(crm: CRM, contact: Contact) -> str | None:
    org = crm.orgs.get(contact.org) if contact.org else None
    return org.name if org else None

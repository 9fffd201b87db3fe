"""Who is who: normalised emails, phones and names, and an index to find an imported
person among the CRM's contacts.

Rules (documented in docs/import-export.md):
- Emails match when equal after trimming and lower-casing (and dropping "mailto:").
- Phones are reduced to their digits, keeping a leading '+' ('00' becomes '+'). Two
  numbers match when equal, or, when at least one of them has no country code (no '+'),
  when both have at least 9 digits and their last 9 digits are equal: 0151 2345 6789
  matches +49 151 23456789. Two numbers that both carry a country code must be equal.
- Names match when equal after removing accents, case and the order of the words
  ('Zoë Müller' = 'muller zoe'), against a contact's name and its aka list.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from anyascii import anyascii

PHONE_SUFFIX_DIGITS = 9


def normalise_email(value: str) -> str:
    text = value.strip().lower()
    return text[len("mailto:"):] if text.startswith("mailto:") else text


def normalise_phone(value: str) -> str:
    text = re.sub(r"^tel:", "", value.strip(), flags=re.IGNORECASE)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00") and len(digits) > 4:
        return "+" + digits[2:]
    return digits


def phones_match(a: str, b: str) -> bool:
    a, b = normalise_phone(a), normalise_phone(b)
    if not a or not b:
        return False
    if a == b:
        return True
    if a.startswith("+") and b.startswith("+"):
        return False
    da, db = a.lstrip("+"), b.lstrip("+")
    return len(da) >= PHONE_SUFFIX_DIGITS and len(db) >= PHONE_SUFFIX_DIGITS and \
        da[-PHONE_SUFFIX_DIGITS:] == db[-PHONE_SUFFIX_DIGITS:]


def normalise_name(value: str) -> str:
    text = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in text if not unicodedata.combining(c))
    words = re.findall(r"\w+", anyascii(text).lower())
    return " ".join(sorted(words))


@dataclass(slots=True)
class ContactIndex:
    """Emails, phones and names of every contact (existing and newly planned) -> slug."""

    emails: dict[str, str] = field(default_factory=dict)
    phones_exact: dict[str, str] = field(default_factory=dict)
    phones_suffix: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # last 9 digits -> [(phone, slug)]
    names: dict[str, str] = field(default_factory=dict)

    def add(self, slug: str, *, names: list[str], emails: list[str], phones: list[str]) -> None:
        for email in emails:
            self.emails.setdefault(normalise_email(email), slug)
        for phone in phones:
            norm = normalise_phone(phone)
            if not norm:
                continue
            self.phones_exact.setdefault(norm, slug)
            digits = norm.lstrip("+")
            if len(digits) >= PHONE_SUFFIX_DIGITS:
                self.phones_suffix.setdefault(digits[-PHONE_SUFFIX_DIGITS:], []).append((norm, slug))
        for name in names:
            key = normalise_name(name)
            if key:
                self.names.setdefault(key, slug)

    def by_contact_details(self, emails: list[str], phones: list[str]) -> tuple[str, str] | None:
        """(slug, what matched) for the first email or phone that an indexed contact has."""
        for email in emails:
            slug = self.emails.get(normalise_email(email))
            if slug:
                return slug, f"email {email}"
        for phone in phones:
            norm = normalise_phone(phone)
            if not norm:
                continue
            if norm in self.phones_exact:
                return self.phones_exact[norm], f"phone {phone}"
            digits = norm.lstrip("+")
            for other, slug in self.phones_suffix.get(digits[-PHONE_SUFFIX_DIGITS:], []) if len(digits) >= PHONE_SUFFIX_DIGITS else []:
                if phones_match(norm, other):
                    return slug, f"phone {phone}"
        return None

    def by_name(self, name: str) -> str | None:
        return self.names.get(normalise_name(name))

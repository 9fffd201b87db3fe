"""Names -> file slugs: lower-case ASCII letters, digits and single hyphens.

Transliteration goes through anyascii. Chinese characters and Korean syllables are
transliterated one by one and joined with hyphens, so 张伟 becomes zhang-wei rather than
zhangwei: each character is a syllable, and the hyphens keep the name readable.
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

MAX_SLUG_LENGTH = 60
FALLBACK_SLUG = "contact"

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_SYLLABIC_PREFIXES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HANGUL SYLLABLE")


def _is_syllabic(char: str) -> bool:
    return ord(char) >= 0x2E80 and unicodedata.name(char, "").startswith(_SYLLABIC_PREFIXES)


def _transliterate(name: str) -> str:
    parts: list[str] = []
    for char in name:
        ascii_text = anyascii(char)
        parts.append(f" {ascii_text} " if _is_syllabic(char) else ascii_text)
    return "".join(parts)


def slugify(name: str) -> str:
    """'Zoë Müller' -> 'zoe-muller', '张伟' -> 'zhang-wei', "O'Brien" -> 'obrien'.

    Never empty: a name with nothing transliterable gives 'contact'.
    """
    text = _APOSTROPHES.sub("", _transliterate(unicodedata.normalize("NFC", name)))
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        slug = slug[:MAX_SLUG_LENGTH].rsplit("-", 1)[0] or slug[:MAX_SLUG_LENGTH]
    return slug.strip("-") or FALLBACK_SLUG


def unique_slug(base: str, taken: set[str]) -> str:
    """base, or base-2, base-3, ... whichever is not in taken (compared case-insensitively,
    because macOS and Windows file systems are)."""
    lowered = {t.lower() for t in taken}
    if base.lower() not in lowered:
        return base
    n = 2
    while f"{base}-{n}".lower() in lowered:
        n += 1
    return f"{base}-{n}"

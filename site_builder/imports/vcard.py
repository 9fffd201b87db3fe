"""A tolerant vCard 2.1 / 3.0 / 4.0 reader, for files as phones and mail clients
really write them.

vobject rejects many real exports (Android's quoted-printable soft breaks, Outlook's
bare 2.1 parameters, Apple's grouped properties), so we read the text ourselves:

1. Bytes are decoded as Latin-1 so every byte survives; each value is re-encoded and
   decoded with its own CHARSET (UTF-8 when none is given, Windows-1252 as a fallback)
   after any QUOTED-PRINTABLE or BASE64 decoding. UTF-16 files (Outlook) are detected by
   their byte-order mark.
2. Lines are unfolded (a line starting with a space or tab continues the previous one;
   a quoted-printable value ending in '=' continues on the next line), remembering the
   physical line each property starts on.
3. Each property is split into group, name, parameters and value; a property that
   cannot be read is reported with FILE:LINE and the card keeps everything else.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field

from ..problems import Problem, error, warning
from .record import ImportedContact, Photo, add_link, add_unique, clean_tag, iso_or_none

MAX_PHOTO_BYTES = 5 * 1024 * 1024

_NAME = re.compile(r"^(?:([A-Za-z0-9-]+)\.)?([A-Za-z0-9-]+)$")
_BDAY_FORMS = (
    re.compile(r"^(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})(?:T.*)?$"),  # 1985-04-12, 19850412, ...T000000Z
    re.compile(r"^--(?P<m>\d{2})-?(?P<d>\d{2})$"),  # --0412, --04-12
)
_APPLE_NO_YEAR = 1604  # iOS writes birthdays without a year as 1604-MM-DD
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"), (b"RIFF", "webp"))
_IGNORED_CATEGORIES = {"mycontacts", "my-contacts", "starred", "imported", "card"}


@dataclass(slots=True)
class Property:
    line: int
    group: str | None
    name: str  # upper-case
    params: dict[str, list[str]]  # upper-case names; bare 2.1 parameters go under TYPE
    raw: str  # the value as Latin-1 text, not yet decoded


@dataclass(slots=True)
class _Card:
    line: int
    props: list[Property] = field(default_factory=list)
    version: str = "3.0"


def read_vcards(display_path: str, data: bytes) -> tuple[list[ImportedContact], list[Problem]]:
    """Every card in one file as an ImportedContact, and the problems found on the way."""
    problems: list[Problem] = []
    cards = _split_cards(display_path, _logical_lines(_decode_file(data)), problems)
    contacts = [_to_contact(display_path, card, problems) for card in cards]
    return contacts, problems


# --- lines and cards -----------------------------------------------------------------


def _decode_file(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16").encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("latin-1")


def _is_quoted_printable(head: str) -> bool:
    return "QUOTED-PRINTABLE" in head.upper()


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(physical line number, unfolded line) pairs; blank lines dropped."""
    result: list[tuple[int, str]] = []
    qp_open = False  # the last logical line is quoted-printable and ended with '='
    for number, physical in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if result and qp_open:
            line_no, previous = result[-1]
            result[-1] = (line_no, previous[:-1] + physical.lstrip(" \t") if physical[:1] in " \t" else previous[:-1] + physical)
        elif result and physical[:1] in (" ", "\t") and physical.strip():
            line_no, previous = result[-1]
            result[-1] = (line_no, previous + physical[1:])
        elif physical.strip():
            result.append((number, physical))
        else:
            qp_open = False
            continue
        current = result[-1][1]
        head = current.split(":", 1)[0]
        qp_open = _is_quoted_printable(head) and current.endswith("=")
    return result


def _split_cards(path: str, lines: list[tuple[int, str]], problems: list[Problem]) -> list[_Card]:
    cards: list[_Card] = []
    card: _Card | None = None
    depth = 0  # 2.1 AGENT cards nest a whole vCard inside a property; we skip them
    for number, line in lines:
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            if card is not None:
                depth += 1
                continue
            card = _Card(number)
            continue
        if upper == "END:VCARD":
            if depth:
                depth -= 1
            elif card is None:
                problems.append(error(path, number, "vcard-unexpected-end", "END:VCARD without a BEGIN:VCARD"))
            else:
                cards.append(card)
                card = None
            continue
        if card is None:
            problems.append(error(path, number, "vcard-outside-card",
                                  f"text outside BEGIN:VCARD ... END:VCARD: {_shorten(line)}"))
            continue
        if depth:
            continue
        prop = _parse_property(path, number, line, problems)
        if prop is None:
            continue
        if prop.name == "VERSION":
            card.version = prop.raw.strip()
        card.props.append(prop)
    if card is not None:
        problems.append(error(path, card.line, "vcard-not-closed",
                              "this card has no END:VCARD; read up to the end of the file"))
        cards.append(card)
    return cards


def _shorten(text: str, limit: int = 60) -> str:
    text = text.encode("latin-1", "replace").decode("utf-8", "replace")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_property(path: str, number: int, line: str, problems: list[Problem]) -> Property | None:
    head, sep, value = _split_head(line)
    if not sep:
        problems.append(error(path, number, "vcard-malformed-property",
                              f"property without ':' (not NAME:value): {_shorten(line)}"))
        return None
    parts = _split_unquoted(head, ";")
    match = _NAME.match(parts[0].strip())
    if not match:
        problems.append(error(path, number, "vcard-malformed-property",
                              f"'{_shorten(parts[0])}' is not a property name"))
        return None
    params: dict[str, list[str]] = {}
    for part in parts[1:]:
        if not part.strip():
            continue
        key, has_value, raw_values = part.partition("=")
        key = key.strip().upper() if has_value else "TYPE"
        values = raw_values if has_value else part
        for item in _split_unquoted(values, ","):
            params.setdefault(key, []).append(item.strip().strip('"'))
    return Property(number, match.group(1), match.group(2).upper(), params, value)


def _split_head(line: str) -> tuple[str, str, str]:
    """Split at the first ':' that is not inside a double-quoted parameter value."""
    colon = line.find(":")
    if colon < 0 or '"' not in line[:colon]:
        return line.partition(":")
    quoted = False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:i], ":", line[i + 1:]
    return line, "", ""


def _split_unquoted(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


# --- values ----------------------------------------------------------------------------


def _encoding(prop: Property) -> str:
    values = [v.upper() for v in prop.params.get("ENCODING", [])] + [v.upper() for v in prop.params.get("TYPE", [])]
    if "QUOTED-PRINTABLE" in values:
        return "qp"
    if "B" in values or "BASE64" in values:
        return "b64"
    return ""


def _value_bytes(path: str, prop: Property, problems: list[Problem]) -> bytes | None:
    raw = prop.raw.encode("latin-1", "replace")
    encoding = _encoding(prop)
    if encoding == "qp":
        return quopri.decodestring(raw)
    if encoding == "b64":
        try:
            return base64.b64decode(re.sub(rb"\s+", b"", raw), validate=True)
        except (binascii.Error, ValueError):
            problems.append(error(path, prop.line, "vcard-bad-base64", f"{prop.name}: the BASE64 data is damaged"))
            return None
    return raw


def _text(path: str, prop: Property, problems: list[Problem]) -> str | None:
    data = _value_bytes(path, prop, problems)
    if data is None:
        return None
    charset = (prop.params.get("CHARSET") or ["utf-8"])[0]
    for candidate in (charset, "utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")  # pragma: no cover - latin-1 always decodes


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _components(text: str, sep: str = ";") -> list[str]:
    """Split a structured value at unescaped separators, then unescape each part."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if text[i] == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(text[i])
        i += 1
    parts.append("".join(current))
    return [unescape(p).strip() for p in parts]


def _types(prop: Property) -> set[str]:
    return {t.lower() for t in prop.params.get("TYPE", [])}


def _is_preferred(prop: Property) -> bool:
    return "pref" in _types(prop) or bool(prop.params.get("PREF"))


# --- card -> ImportedContact --------------------------------------------------------


def _to_contact(path: str, card: _Card, problems: list[Problem]) -> ImportedContact:
    record = ImportedContact(origin=f"{path}:{card.line}")
    labels = {p.group.lower(): p for p in card.props if p.group and p.name == "X-ABLABEL"}
    structured_name: list[str] | None = None
    emails: list[tuple[bool, str]] = []
    phones: list[tuple[bool, str]] = []
    for prop in card.props:
        handler = _HANDLERS.get(prop.name)
        if prop.name == "PHOTO":
            _read_photo(path, prop, record, problems)
            continue
        if handler is None and prop.name not in ("N", "EMAIL", "TEL", "URL", "X-SOCIALPROFILE"):
            continue
        text = _text(path, prop, problems)
        if text is None:
            continue
        if prop.name == "N":
            structured_name = _components(text)
        elif prop.name == "EMAIL":
            emails.append((_is_preferred(prop), unescape(text).strip()))
        elif prop.name == "TEL":
            phones.append((_is_preferred(prop), re.sub(r"^tel:", "", unescape(text).strip(), flags=re.I)))
        elif prop.name in ("URL", "X-SOCIALPROFILE"):
            label_prop = labels.get((prop.group or "").lower())
            hint = unescape(label_prop.raw) if label_prop else next(iter(_types(prop) - {"pref"}), None)
            add_link(record.links, unescape(text).strip(), hint)
        elif handler is not None:
            handler(path, prop, text, record, problems)
    # Preferred addresses first, otherwise in file order (sorted is stable).
    for _, email in sorted(emails, key=lambda e: not e[0]):
        add_unique(record.emails, email)
    for _, phone in sorted(phones, key=lambda p: not p[0]):
        add_unique(record.phones, phone)
    if not record.name and structured_name:
        record.name = _name_from_parts(structured_name)
    return record


def _name_from_parts(parts: list[str]) -> str | None:
    # N is family;given;additional;prefix;suffix; a person writes prefix given additional family suffix
    padded = (parts + [""] * 5)[:5]
    family, given, additional, prefix, suffix = padded
    name = " ".join(p for p in (prefix, given, additional, family, suffix) if p)
    return name or None


def _fn(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    name = " ".join(unescape(text).split())
    if name and not record.name:
        record.name = name


def _nickname(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    for nick in _components(text, ","):
        add_unique(record.aka, nick)


def _adr(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    parts = ([" ".join(p.split()) for p in _components(text)] + [""] * 7)[:7]
    pobox, extended, street, city, region, code, country = parts
    address = ", ".join(p for p in (pobox, extended, street, f"{code} {city}".strip(), region, country) if p)
    add_unique(record.addresses, address)


def _org(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    parts = [p for p in _components(text) if p]
    if not parts:
        return
    record.org = record.org or parts[0]
    if len(parts) > 1 and not record.department:
        record.department = ", ".join(parts[1:])


def _title(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    title = " ".join(unescape(text).split())
    if title and not record.title:
        record.title = title


def _bday(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    value = unescape(text).strip()
    for form in _BDAY_FORMS:
        match = form.match(value)
        if not match:
            continue
        groups = match.groupdict()
        year = int(groups["y"]) if groups.get("y") else None
        omit = (prop.params.get("X-APPLE-OMIT-YEAR") or [""])[0]
        if year is not None and (year == _APPLE_NO_YEAR or omit == str(year)):
            year = None
        birthday = iso_or_none(year, int(groups["m"]), int(groups["d"]))
        if birthday:
            record.birthday = birthday
            return
        break
    problems.append(warning(path, prop.line, "vcard-bad-birthday",
                            f"BDAY '{_shorten(value)}' is not a date (YYYY-MM-DD, YYYYMMDD, --MMDD); left out"))


def _note(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    note = unescape(text).replace("\r\n", "\n").strip()
    if note:
        record.note = f"{record.note}\n\n{note}" if record.note else note


def _categories(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    for category in _components(text, ","):
        tag = clean_tag(category.lstrip("*"))
        if tag and tag not in _IGNORED_CATEGORIES:
            add_unique(record.tags, tag)


def _android_custom(path: str, prop: Property, text: str, record: ImportedContact, problems: list[Problem]) -> None:
    kind, _, rest = text.partition(";")
    if kind == "vnd.android.cursor.item/nickname":
        add_unique(record.aka, unescape(rest.split(";", 1)[0]))


_HANDLERS = {
    "X-ANDROID-CUSTOM": _android_custom,
    "FN": _fn, "NICKNAME": _nickname, "ADR": _adr, "ORG": _org, "TITLE": _title, "BDAY": _bday,
    "NOTE": _note, "CATEGORIES": _categories,
}


def _read_photo(path: str, prop: Property, record: ImportedContact, problems: list[Problem]) -> None:
    raw = prop.raw.strip()
    data: bytes | None
    if raw.lower().startswith("data:"):  # vCard 4.0: data:image/jpeg;base64,....
        header, _, payload = raw.partition(",")
        if ";base64" not in header.lower():
            record.photo_skipped = "the photo is not base64 data"
            return
        try:
            data = base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
        except (binascii.Error, ValueError):
            problems.append(error(path, prop.line, "vcard-bad-base64", "PHOTO: the BASE64 data is damaged"))
            return
    elif _encoding(prop) == "b64":
        data = _value_bytes(path, prop, problems)
        if data is None:
            return
    else:
        record.photo_skipped = "the photo is a link, not embedded (no network access on import)"
        return
    ext = next((e for magic, e in _IMAGE_MAGIC if data.startswith(magic)), None)
    if ext is None:
        record.photo_skipped = "the photo is not a JPEG, PNG, GIF or WebP image"
    elif len(data) > MAX_PHOTO_BYTES:
        record.photo_skipped = f"the photo is larger than {MAX_PHOTO_BYTES // 1048576} MB"
    else:
        record.photo = Photo(data, ext)

"""Contacts CSV files from Google Contacts (current and legacy columns), Outlook and
LinkedIn (Connections.csv), read into ImportedContact records.

Pure: bytes in, records and problems out. Every record and problem carries the file
line its row starts on (rows can span lines when a quoted note holds line breaks).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Callable, Iterator

from ..problems import Problem, error, warning
from .record import ImportedContact, add_link, add_unique, clean_tag, iso_or_none

SOURCES = ("google", "outlook", "linkedin")
AUTO = "auto"

_MULTI = " ::: "  # Google joins several values of one field with this
_GOOGLE_SYSTEM_LABELS = {"mycontacts", "starred"}
_HEADER_MARKERS = ("First Name", "Given Name", "Name")

Row = dict[str, str]


class CsvFormatError(Exception):
    """The file is not a contacts CSV we can read (no header, unknown program)."""


def read_contacts_csv(display_path: str, data: bytes, source: str = AUTO) -> tuple[list[ImportedContact], list[Problem]]:
    """Records from one CSV file. source is google, outlook, linkedin or auto (detect from
    the header). A file that cannot be read at all gives no records and one problem."""
    problems: list[Problem] = []
    text = _decode(data)
    rows = _rows(text)
    header = _find_header(rows)
    if header is None:
        return [], [error(display_path, 1, "csv-no-header",
                          "no header row with 'First Name', 'Given Name' or 'Name' found; is this a contacts CSV?")]
    header_line, columns = header
    if source == AUTO:
        detected = detect_source(columns)
        if detected is None:
            return [], [error(display_path, header_line, "csv-unknown-source",
                              "cannot tell whether Google, Outlook or LinkedIn wrote this file; pass --from")]
        source = detected
    missing = _missing_columns(source, columns)
    if missing:
        return [], [error(display_path, header_line, "csv-missing-columns",
                          f"not a {source} contacts file: no column {', '.join(repr(m) for m in missing)}")]
    convert = _CONVERTERS[source]
    records: list[ImportedContact] = []
    for line, cells in rows:
        if line <= header_line or not any(c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            problems.append(error(display_path, line, "csv-wrong-column-count",
                                  f"row has {len(cells)} columns but the header has {len(columns)}; row skipped"))
            continue
        record = ImportedContact(origin=f"{display_path}:{line}")
        convert(dict(zip(columns, (c.strip() for c in cells))), record, lambda code, msg, line=line: problems.append(
            warning(display_path, line, code, msg)))
        records.append(record)
    return records, problems


def detect_source(columns: list[str]) -> str | None:
    names = set(columns)
    if {"URL", "Connected On"} <= names:
        return "linkedin"
    if "E-mail 1 - Value" in names or "Group Membership" in names or "Labels" in names:
        return "google"
    if "E-mail Address" in names:
        return "outlook"
    return None


_REQUIRED = {
    "google": (("First Name", "Given Name", "Name"), ("E-mail 1 - Value",)),
    "outlook": (("First Name",), ("E-mail Address",)),
    "linkedin": (("First Name",), ("URL",), ("Connected On",)),
}


def _missing_columns(source: str, columns: list[str]) -> list[str]:
    names = set(columns)
    return [" or ".join(options) for options in _REQUIRED[source] if not names.intersection(options)]


# --- text, rows, header --------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # Outlook's "ANSI" export


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """(first line of the row, cells) for every row; a row csv cannot read becomes []."""
    lines = io.StringIO(text, newline="")
    reader = csv.reader(lines)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            cells = []
        rows.append((start, cells))
        start = reader.line_num + 1
    return rows


def _find_header(rows: list[tuple[int, list[str]]]) -> tuple[int, list[str]] | None:
    # LinkedIn puts a "Notes:" preamble and a blank line before the header.
    for line, cells in rows[:50]:
        names = [c.strip().lstrip("\ufeff") for c in cells]
        if len(names) >= 3 and any(marker in names for marker in _HEADER_MARKERS):
            return line, names
    return None


# --- helpers shared by the converters -------------------------------------------------


Warn = Callable[[str, str], None]


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(_MULTI) if v.strip()] if value else []


def _join_name(*parts: str) -> str | None:
    name = " ".join(" ".join(p.split()) for p in parts if p and p.strip())
    return name or None


def _numbered(row: Row, pattern: str) -> Iterator[tuple[str, str]]:
    """(n, column) for columns like 'E-mail 3 - Value', in number order."""
    regex = re.compile(pattern)
    found = [(int(m.group(1)), column) for column in row if (m := regex.match(column))]
    for n, column in sorted(found):
        yield str(n), column


def _birthday(value: str, warn: Warn, *, us_order: bool = False) -> str | None:
    value = value.strip()
    if not value or value in ("0/0/00", "00.00.00", "1/0/00"):
        return None
    if m := re.match(r"^(\d{4})-(\d{2})-(\d{2})$", value):
        result = iso_or_none(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    elif m := re.match(r"^--(\d{2})-?(\d{2})$", value):
        result = iso_or_none(None, int(m.group(1)), int(m.group(2)))
    elif us_order and (m := re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", value)):
        result = iso_or_none(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    elif m := re.match(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$", value):  # a German/Nordic locale's Outlook
        result = iso_or_none(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    else:
        result = None
    if result is None:
        warn("csv-bad-birthday", f"birthday '{value}' is not a date this importer knows; left out")
    return result


# --- Google -----------------------------------------------------------------------------


def _google(row: Row, record: ImportedContact, warn: Warn) -> None:
    record.name = _join_name(row.get("Name Prefix", ""), row.get("First Name") or row.get("Given Name", ""),
                             row.get("Middle Name") or row.get("Additional Name", ""),
                             row.get("Last Name") or row.get("Family Name", ""), row.get("Name Suffix", ""))
    record.name = record.name or _join_name(row.get("Name", "")) or _join_name(row.get("File As", ""))
    for nick in _split(row.get("Nickname", "")):
        add_unique(record.aka, nick)
    for _, column in _numbered(row, r"^E-mail (\d+) - Value$"):
        for email in _split(row[column]):
            add_unique(record.emails, email)
    for _, column in _numbered(row, r"^Phone (\d+) - Value$"):
        for phone in _split(row[column]):
            add_unique(record.phones, phone)
    for n, column in _numbered(row, r"^Address (\d+) - Formatted$"):
        for address in _split(row[column]):
            add_unique(record.addresses, ", ".join(p.strip() for p in address.splitlines() if p.strip()))
    for n, column in _numbered(row, r"^Website (\d+) - Value$"):
        hint = row.get(f"Website {n} - Label") or row.get(f"Website {n} - Type")
        for url in _split(row[column]):
            add_link(record.links, url, hint)
    record.org = _first(row, "Organization Name", "Organization 1 - Name")
    record.title = _first(row, "Organization Title", "Organization 1 - Title")
    record.department = _first(row, "Organization Department", "Organization 1 - Department")
    if row.get("Birthday"):
        record.birthday = _birthday(row["Birthday"], warn)
    record.note = row.get("Notes") or None
    for label in _split(row.get("Labels") or row.get("Group Membership", "")):
        tag = clean_tag(label.lstrip("* "))
        if tag and tag.replace("-", "") not in _GOOGLE_SYSTEM_LABELS:
            add_unique(record.tags, tag)


def _first(row: Row, *columns: str) -> str | None:
    for column in columns:
        values = _split(row.get(column, ""))
        if values:
            return values[0]
    return None


# --- Outlook ----------------------------------------------------------------------------

_OUTLOOK_PHONES = re.compile(r"^(?!.*Fax).*(Phone( \d)?|Pager)$")
_OUTLOOK_ADDRESS_PARTS = ("Street", "Street 2", "Street 3", "City", "State", "Postal Code", "Country/Region")


def _outlook(row: Row, record: ImportedContact, warn: Warn) -> None:
    record.name = _join_name(row.get("First Name", ""), row.get("Middle Name", ""), row.get("Last Name", ""),
                             row.get("Suffix", ""))
    for column in ("E-mail Address", "E-mail 2 Address", "E-mail 3 Address"):
        add_unique(record.emails, row.get(column))
    for column, value in row.items():
        if _OUTLOOK_PHONES.match(column):
            add_unique(record.phones, value)
    for kind in ("Business", "Home", "Other"):
        parts = {p: row.get(f"{kind} {p}", "") for p in _OUTLOOK_ADDRESS_PARTS}
        street = ", ".join(parts[p] for p in ("Street", "Street 2", "Street 3") if parts[p])
        city = " ".join(p for p in (parts["Postal Code"], parts["City"]) if p)
        address = ", ".join(p for p in (street, city, parts["State"], parts["Country/Region"]) if p)
        add_unique(record.addresses, address)
    record.org = row.get("Company") or None
    record.title = row.get("Job Title") or None
    record.department = row.get("Department") or None
    if row.get("Birthday"):
        record.birthday = _birthday(row["Birthday"], warn, us_order=True)
    record.note = row.get("Notes") or None
    if row.get("Web Page"):
        add_link(record.links, row["Web Page"])
    for category in re.split(r"[;,]", row.get("Categories", "")):
        add_unique(record.tags, clean_tag(category))


# --- LinkedIn ---------------------------------------------------------------------------


def _linkedin(row: Row, record: ImportedContact, warn: Warn) -> None:
    record.name = _join_name(row.get("First Name", ""), row.get("Last Name", ""))
    add_unique(record.emails, row.get("Email Address"))
    record.org = row.get("Company") or None
    record.title = row.get("Position") or None
    if row.get("URL"):
        add_link(record.links, row["URL"], "linkedin")
    record.source = "linkedin"
    connected = row.get("Connected On", "")
    if connected:
        try:
            record.connected = datetime.strptime(connected, "%d %b %Y").date().isoformat()
        except ValueError:
            warn("csv-bad-date", f"'Connected On' date '{connected}' is not like '05 Mar 2024'; left out")


_CONVERTERS: dict[str, Callable[[Row, ImportedContact, Warn], None]] = {
    "google": _google, "outlook": _outlook, "linkedin": _linkedin,
}

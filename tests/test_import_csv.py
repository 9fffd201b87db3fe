"""Google (current and legacy), Outlook and LinkedIn CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest

from site_builder.imports.csvfile import detect_source, read_contacts_csv

FIXTURES = Path(__file__).parent / "fixtures" / "import"


def read(name: str, source: str = "auto"):  # type: ignore[no-untyped-def]
    return read_contacts_csv(name, (FIXTURES / name).read_bytes(), source)


def test_google_current_columns_multi_values_and_labels() -> None:
    records, problems = read("google.csv")
    mei, zoe, omar = records
    assert mei.origin == "google.csv:2"
    assert mei.emails == ["mei.tanaka@kestrel-robotics.example", "mei@kestrel.example", "mei.t@example.jp"]
    assert mei.tags == ["prospects", "robotics"]  # '* myContacts' and '* starred' are Google's own
    assert mei.addresses == ["1-2-3 Shibuya, Tokyo 150-0002, Japan"]
    assert mei.links == {"linkedin": "https://www.linkedin.com/in/mei-tanaka"}
    assert (mei.org, mei.title, mei.birthday, mei.aka) == ("Kestrel Robotics", "CTO", "1988-09-30", ["Mei-chan"])
    assert mei.note and mei.note.startswith("Met at PyData Berlin.\n")
    assert zoe.origin == "google.csv:6"  # Mei's quoted note spans four lines
    assert zoe.birthday == "--06-21"
    assert omar.birthday is None
    assert [(p.line, p.code) for p in problems] == [(7, "csv-bad-birthday")]


def test_google_legacy_columns() -> None:
    (pieter,), problems = read("google-legacy.csv", "google")
    assert problems == []
    assert pieter.name == "Pieter de Vries"
    assert pieter.phones == ["+31 6 5555 0101", "020 555 0101"]
    assert pieter.tags == ["friends"]
    assert (pieter.org, pieter.title) == ("Ledgerline", "Engineering Manager")
    assert pieter.links == {"blog": "https://pieter.example/blog"}


def test_outlook_windows_1252_us_birthday_and_no_fax() -> None:
    (ingrid, asa), problems = read("outlook.csv")
    assert problems == []
    assert ingrid.name == "Ingrid Bakke"
    assert ingrid.birthday == "1975-04-12"  # 4/12/1975 is month/day/year
    assert ingrid.phones == ["+47 22 55 01 00", "+47 915 55 100"]  # the fax is not a phone
    assert ingrid.tags == ["clients", "banking"]
    assert (ingrid.org, ingrid.department) == ("Fjordbank", "Data Office")
    assert asa.name == "Åsa Ström" and asa.birthday is None  # 0/0/00 means none


def test_linkedin_preamble_bom_dates_and_profile_links() -> None:
    records, problems = read("Connections.csv")
    sofia, raj, noah = records
    assert sofia.origin == "Connections.csv:5"
    assert (sofia.source, sofia.connected) == ("linkedin", "2024-03-05")
    assert sofia.links == {"linkedin": "https://www.linkedin.com/in/sofia-lindgren-42"}
    assert sofia.emails == []
    assert raj.title == "Head of Operations, EMEA"
    assert noah.connected is None
    assert [(p.path, p.line, p.code) for p in problems] == [("Connections.csv", 7, "csv-bad-date")]


def test_wrong_column_count_is_reported_and_the_rest_imports() -> None:
    records, problems = read("broken.csv", "linkedin")
    assert [r.name for r in records] == ["Ana Souza", "Diego Ferreira"]
    assert [(p.path, p.line, p.severity, p.code) for p in problems] == [
        ("broken.csv", 3, "error", "csv-wrong-column-count"),
        ("broken.csv", 4, "error", "csv-wrong-column-count"),
    ]


def test_unknown_csv_and_wrong_source() -> None:
    records, problems = read_contacts_csv("x.csv", b"Name,Phone,Fax\nA,1,2\n")
    assert records == [] and problems[0].code == "csv-unknown-source"
    records, problems = read("Connections.csv", "outlook")
    assert records == [] and problems[0].code == "csv-missing-columns" and problems[0].line == 4
    records, problems = read_contacts_csv("x.csv", b"just,some\nwords,here\n")
    assert records == [] and problems[0].code == "csv-no-header"


@pytest.mark.parametrize(
    ("columns", "source"),
    [(["First Name", "Last Name", "URL", "Email Address", "Company", "Position", "Connected On"], "linkedin"),
     (["Name", "Given Name", "Group Membership", "E-mail 1 - Value"], "google"),
     (["First Name", "Labels", "E-mail 1 - Value"], "google"),
     (["First Name", "Last Name", "E-mail Address"], "outlook")],
)
def test_detect_source(columns: list[str], source: str) -> None:
    assert detect_source(columns) == source

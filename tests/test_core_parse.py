"""The parser and model: YAML read as a person means it, line numbers, sections, mentions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_builder import yamlsafe
from site_builder.loader import load_crm
from site_builder.model import Birthday, build_contact, parse_cadence
from site_builder.parse import parse_file


def parse(text: str, path: str = "contacts/x.md"):  # type: ignore[no-untyped-def]
    return parse_file(path, text.encode("utf-8"))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("NO", "NO"), ("no", "no"), ("yes", "yes"), ("on", "on"), ("Off", "Off"), ("y", "y"),
        ("true", True), ("False", False), ("~", None), ("null", None), ("", None),
        ("0471 12 34 56", "0471 12 34 56"), ("01067", "01067"), ("007", "007"), ("12:30", "12:30"),
        ("1_000", "1_000"), ("0x1F", "0x1F"), ("42", 42), ("-3", -3), ("1500.50", 1500.5),
        ("2024-03-05", "2024-03-05"), ("1985-02-30", "1985-02-30"), (".inf", ".inf"),
    ],
)
def test_scalars_are_read_the_way_a_person_means_them(raw: str, expected: object) -> None:
    result = yamlsafe.load(f"key: {raw}\n")
    assert result.ok
    assert result.data == {"key": expected}
    assert type(result.data["key"]) is type(expected)


def test_duplicate_keys_are_errors_at_the_second_line_nested_too() -> None:
    result = yamlsafe.load("a: 1\nfamily:\n  kid: Ann\n  kid: Bo\na: 2\n", first_line=2)
    found = [(i.line, i.code) for i in result.issues]
    assert found == [(5, "duplicate-key"), (6, "duplicate-key")]
    assert "family.kid" in result.issues[0].message


def test_key_lines_are_file_lines_nested_and_in_lists() -> None:
    parsed = parse("---\nname: Ada\ndeals:\n  - title: A\n    amount: 5\n  - title: B\n---\n")
    assert parsed.lines[("name",)] == 2
    assert parsed.lines[("deals",)] == 3
    assert parsed.lines[("deals", 0)] == 4
    assert parsed.lines[("deals", 0, "amount")] == 5
    assert parsed.lines[("deals", 1, "title")] == 6


def test_bom_and_crlf_are_accepted_and_lines_kept() -> None:
    parsed = parse_file("contacts/w.md", b"\xef\xbb\xbf---\r\nname: W\r\ntier: A\r\n---\r\n\r\n## 2026-01-05 call\r\nHi\r\n")
    assert parsed.ok and not parsed.problems
    assert parsed.meta == {"name": "W", "tier": "A"}
    assert parsed.lines[("tier",)] == 3
    assert parsed.sections[0].line == 6
    assert parsed.sections[0].body == "Hi"


def test_sections_headings_kinds_titles_and_participants() -> None:
    parsed = parse(
        "---\nname: Ada\n---\nSummary about @bob and #ml.\n\n"
        "## 2026-03-04 call: Budget review\nTalked #Pricing with @carol; mail carol@example.com.\n\n"
        "## 2026-03-05: just a note\n\n"
        "## 2026-03-06 meeting @ada @bob: Kickoff\n"
        "## Not a dated heading\nstays in the section\n"
        "```\n## 2026-03-07 call\n```\n"
        "## 2026-3-8 Lunch\n"
    )
    s = parsed.sections
    assert [(x.date, x.kind, x.title, x.line) for x in s] == [
        (date(2026, 3, 4), "call", "Budget review", 6),
        (date(2026, 3, 5), "note", "just a note", 9),
        (date(2026, 3, 6), "meeting", "Kickoff", 11),
        (date(2026, 3, 8), "lunch", "", 17),
    ]
    assert s[0].mentions == ("carol",) and s[0].topics == ("pricing",)
    assert s[2].participants == ("ada", "bob")
    assert "## Not a dated heading" in s[2].body and "## 2026-03-07 call" in s[2].body
    assert parsed.summary == "Summary about @bob and #ml."
    assert [p.code for p in parsed.problems] == ["heading-date-format"]


def test_topics_ignore_url_fragments_entities_and_numbers() -> None:
    parsed = parse("---\nname: A\n---\n## 2026-01-01 note\nSee https://x.org/#frag &#39; issue #12 and #real-topic #Straße\n")
    assert parsed.sections[0].topics == ("real-topic", "straße")


def test_model_types_and_coercions() -> None:
    parsed = parse(
        "---\nname: Zoë\ntags: [ML, '#Data']\nemails: z@example.com\nbirthday: --02-29\n"
        "cadence: 2w\ntier: a\nstatus: Customer\ncountry: NO\n"
        "deals:\n  - {title: X, stage: won, amount: '1,500.50', currency: eur, closed: 2026-01-02}\n"
        "invoices:\n  - {number: 7, date: 2026-01-03, amount: 100, currency: USD, due: 2026-02-01}\n---\n"
    )
    c = build_contact(parsed)
    assert c.tags == ["ml", "data"] and c.emails == ["z@example.com"]
    assert c.birthday == Birthday(2, 29, None) and c.cadence_days == 14
    assert (c.tier, c.status) == ("A", "customer")
    assert c.custom == {"country": "NO"}
    assert c.deals[0].amount == Decimal("1500.50") and c.deals[0].currency == "EUR"
    assert c.deals[0].closed == date(2026, 1, 2) and c.deals[0].line == 11
    assert c.invoices[0].number == "7" and c.invoices[0].paid is None


@pytest.mark.parametrize("raw, days", [(30, 30), ("30", 30), ("10d", 10), ("2w", 14), ("3m", 90),
                                        ("1y", 365), ("0", None), (-5, None), ("soon", None), (True, None)])
def test_cadence_units(raw: object, days: int | None) -> None:
    assert parse_cadence(raw) == days


def test_loader_reads_whole_folder_sorted(tmp_path: Path) -> None:
    (tmp_path / "contacts").mkdir()
    (tmp_path / "orgs").mkdir()
    for slug in ("b", "a", "c"):
        (tmp_path / "contacts" / f"{slug}.md").write_text(f"---\nname: {slug.upper()}\n---\n", encoding="utf-8")
    (tmp_path / "contacts" / "notes.txt").write_text("ignored", encoding="utf-8")
    (tmp_path / "orgs" / "o.md").write_text("---\nname: O\n---\n", encoding="utf-8")
    crm = load_crm(tmp_path)
    assert list(crm.contacts) == ["a", "b", "c"] and list(crm.orgs) == ["o"]


# --- properties: arbitrary text never crashes the loader -------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_never_crash_the_parser(data: bytes) -> None:
    parsed = parse_file("contacts/x.md", data)
    for p in parsed.problems:
        assert p.path == "contacts/x.md" and p.severity in ("error", "warning")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300))
def test_any_front_matter_text_never_crashes(text: str) -> None:
    parsed = parse("---\n" + text + "\n---\nbody\n")
    if parsed.ok:
        build_contact(parsed)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
          deadline=None)
@given(key=st.sampled_from(["name", "title", "org", "tier", "birthday", "cadence", "emails", "tags", "deals",
                            "family", "links", "follow_up", "referred_by", "custom_x"]),
       value=texts)
def test_any_value_in_any_field_loads_and_validates(tmp_path_factory, key: str, value: str) -> None:  # type: ignore[no-untyped-def]
    import json

    from site_builder import api

    root = tmp_path_factory.mktemp("crm")
    (root / "contacts").mkdir()
    # JSON is valid YAML flow syntax: the value arrives exactly as generated
    (root / "contacts" / "x.md").write_text(f"---\nname: X\n{key}: {json.dumps(value)}\n---\n## 2026-01-01 call: {value}\n{value}\n",
                                            encoding="utf-8")
    result = api.check(root)
    for p in result.problems:
        assert p.path == "contacts/x.md"

"""The tolerant vCard reader on files shaped like real Android, iPhone, Outlook and
Thunderbird exports, and on broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from site_builder.imports.vcard import read_vcards

FIXTURES = Path(__file__).parent / "fixtures" / "import"


def read(name: str):  # type: ignore[no-untyped-def]
    return read_vcards(name, (FIXTURES / name).read_bytes())


def test_android_21_quoted_printable_with_soft_breaks_inside_a_character() -> None:
    records, problems = read("android.vcf")
    assert problems == []
    leonie = records[0]
    assert leonie.origin == "android.vcf:1"
    assert leonie.name == "Leonie Müller"
    # the NOTE's soft line break falls between the two bytes of 'ü'
    assert leonie.note == ("Met at the Munich data meetup in März. Wants to talk about forecasting für Logistik; "
                           "call after 18:00.")
    assert leonie.addresses == ["Hauptstraße 1, 80331 München, Deutschland"]
    assert leonie.phones == ["+49 170 5550123", "040 555 0199"]  # PREF first
    assert leonie.birthday == "1990-03-15"  # from 19900315
    assert leonie.aka == ["Leo"]  # X-ANDROID-CUSTOM nickname
    assert leonie.photo is not None and leonie.photo.ext == "jpg" and leonie.photo.data.startswith(b"\xff\xd8\xff")
    henrik = records[1]
    assert (henrik.name, henrik.org, henrik.birthday) == ("Henrik Søndergaard", "Søndergaard Consulting", "--04-12")
    assert [r.name for r in records[2:]] == [None, None]  # nameless cards are kept for the summary to skip


def test_iphone_30_groups_labels_and_folded_base64_photo() -> None:
    records, problems = read("iphone.vcf")
    assert problems == []
    adaeze, lucia = records
    assert adaeze.emails == ["adaeze@brightwave.example", "a.okafor@brightwave.example"]
    assert adaeze.phones == ["+234 803 555 0147", "+44 7700 900123"]
    assert adaeze.links == {"linkedin": "https://www.linkedin.com/in/adaeze-okafor",
                            "company": "https://brightwave.example",  # from item4.X-ABLabel
                            "twitter": "https://twitter.com/adaeze"}
    assert (adaeze.org, adaeze.department, adaeze.title) == ("Brightwave Energy", "Strategy", "Director of Strategy")
    assert adaeze.birthday == "--07-19"  # X-APPLE-OMIT-YEAR=1604
    assert adaeze.note == "Met at the Lisbon energy summit, 2026.\nInterested in demand forecasting; budget in Q1."
    assert adaeze.tags == ["clients", "energy"]
    assert adaeze.photo is not None and adaeze.photo.ext == "png"
    assert lucia.aka == ["Lu"] and lucia.photo is None
    assert "link" in (lucia.photo_skipped or "")


def test_outlook_bare_parameters_qp_label_and_windows_1252() -> None:
    records, problems = read("outlook.vcf")
    assert problems == []
    karin, asa = records
    assert karin.emails == ["karin.lindqvist@fjordbank.example"]
    assert karin.addresses == ["Dronning Eufemias gate 30, 0191 Oslo, Norway"]
    assert karin.links == {"website": "https://fjordbank.example"}
    assert asa.name == "Åsa Ståhl"  # cp1252 bytes without a CHARSET
    assert asa.note == "Prefers Swedish; café meetings."


def test_vcard_40_pref_uri_tel_and_data_uri_photo() -> None:
    records, problems = read("thunderbird-v4.vcf")
    assert problems == []
    (wei,) = records
    assert wei.name == "张伟"
    assert wei.emails[0] == "zhang.wei@huaxin-analytics.com"
    assert wei.phones == ["+86-138-0013-8000"]
    assert wei.birthday == "--08-08"
    assert wei.photo is not None and wei.photo.ext == "png"


def test_broken_file_reports_each_problem_at_its_line_and_keeps_the_rest() -> None:
    records, problems = read("broken.vcf")
    found = {(p.path, p.line, p.code) for p in problems}
    assert found == {
        ("broken.vcf", 1, "vcard-outside-card"),
        ("broken.vcf", 6, "vcard-malformed-property"),
        ("broken.vcf", 8, "vcard-bad-birthday"),
        ("broken.vcf", 9, "vcard-bad-base64"),
        ("broken.vcf", 11, "vcard-not-closed"),
    }
    greta, tomasz = records
    assert (greta.name, greta.emails, greta.phones, greta.birthday) == (
        "Greta Broken", ["greta@example.org"], ["+49 30 1234567"], None)
    assert tomasz.emails == ["tomasz@example.pl"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("BDAY:1985-04-12", "1985-04-12"), ("BDAY:19850412", "1985-04-12"), ("BDAY:--0412", "--04-12"),
     ("BDAY:--04-12", "--04-12"), ("BDAY;VALUE=date:1985-04-12T00:00:00Z", "1985-04-12"),
     ("BDAY:--0229", "--02-29")],
)
def test_birthday_forms(line: str, expected: str) -> None:
    text = f"BEGIN:VCARD\nVERSION:3.0\nFN:A B\n{line}\nEND:VCARD\n"
    (record,), problems = read_vcards("x.vcf", text.encode())
    assert problems == [] and record.birthday == expected


def test_escapes_structured_values_and_utf16() -> None:
    text = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jean\\, Comte de Test\r\nN:Test;Jean;;;\r\n"
            "ORG:Acme\\; Co;R&D\r\nNOTE:line one\\nline two \\\\ done\r\nEND:VCARD\r\n")
    (record,), problems = read_vcards("x.vcf", text.encode("utf-16"))
    assert problems == []
    assert record.name == "Jean, Comte de Test"
    assert (record.org, record.department) == ("Acme; Co", "R&D")
    assert record.note == "line one\nline two \\ done"


def test_name_from_n_when_there_is_no_fn() -> None:
    text = "BEGIN:VCARD\nVERSION:2.1\nN:Lovelace;Ada;King;Lady;\nEND:VCARD\n"
    (record,), _ = read_vcards("x.vcf", text.encode())
    assert record.name == "Lady Ada King Lovelace"

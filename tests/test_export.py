"""Exports read back by real readers (vobject, icalendar, csv, json), round trips through
the importers, privacy, and the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import icalendar
import pytest
import vobject

from site_builder import api
from site_builder.exports.csvfile import export_csv
from site_builder.exports.ics import build_calendar
from site_builder.exports.jsonfile import SCHEMA_VERSION, model_json
from site_builder.exports.vcard import contact_to_vcard, export_vcards, fold
from site_builder.imports.run import import_csv, import_vcards
from site_builder.loader import load_crm

from conftest import SAMPLE_ROOT, TODAY, TODAY_ARG

PEOPLE = {
    "crm.yaml": "title: Test CRM\n",
    "orgs/acme.md": "---\nname: Acme Robotics, Inc.\n---\n",
    "orgs/secret-co.md": "---\nname: Secret Co\nprivate: true\n---\n",
    "contacts/zoe-muller.md": """\
        ---
        name: Zoë Müller
        aka: [Zoe Mueller]
        emails: [zoe@acme.example, zoe.private@example.org]
        phones: ["+49 40 555 0142", "0151 2345 6789"]
        addresses: ["Am Sandtorkai 50, 20457 Hamburg"]
        links:
          linkedin: https://www.linkedin.com/in/zoe
        org: acme
        title: Head of Data; Analytics, Forecasting
        tags: [client, forecasting]
        newsletter: subscribed
        birthday: 1986-06-21
        follow_up: 2026-11-27
        ---
        Head of data. Prefers short calls; sends a one-page agenda.
        Long line to force folding: ääääääääääääääääääääääääääääääääääääääääääääääääää.

        ## 2026-12-02 meeting: Phase 2 go/no-go
        Bring the one-page summary.

        ## 2026-12-02 call: Follow-up call
        Same day, later.

        ## 2026-10-02 meeting: Quarterly review
        Past: not in the calendar.
        """,
    "contacts/zhang-wei.md": """\
        ---
        name: 张伟
        emails: [zhang.wei@huaxin.example]
        birthday: --02-29
        newsletter: subscribed
        private_fields: [phones, notes]
        phones: ["+86 21 5555 0188"]
        ---
        Secret summary.

        ## 2026-12-10 call: Secret plan
        Hidden.
        """,
    "contacts/ben-hoffmann.md": """\
        ---
        name: Ben Hoffmann
        emails: [ben@backstube.example]
        newsletter: unsubscribed
        org: secret-co
        ---
        """,
    "contacts/hidden-person.md": """\
        ---
        name: Hidden Person
        emails: [hidden@example.org]
        newsletter: subscribed
        private: true
        birthday: 1990-01-01
        ---
        """,
}


@pytest.fixture
def root(make_crm) -> Path:  # type: ignore[no-untyped-def]
    root = make_crm(PEOPLE)
    assert not api.check(root).errors
    return root


def test_vcards_are_read_by_vobject(root: Path) -> None:
    text = export_vcards(load_crm(root), "3.0")
    cards = list(vobject.readComponents(text))
    assert [c.fn.value for c in cards] == ["Ben Hoffmann", "张伟", "Zoë Müller"]  # by slug; not the private one
    zoe = cards[2]
    assert [e.value for e in zoe.contents["email"]] == ["zoe@acme.example", "zoe.private@example.org"]
    assert [t.value for t in zoe.contents["tel"]] == ["+49 40 555 0142", "0151 2345 6789"]
    assert zoe.title.value == "Head of Data; Analytics, Forecasting"
    assert zoe.org.value == ["Acme Robotics, Inc."]
    assert zoe.bday.value == "1986-06-21"
    assert zoe.note.value.startswith("Head of data. Prefers short calls; sends")
    assert zoe.n.value.family == "Müller" and zoe.n.value.given == "Zoë"
    assert "org" not in cards[0].contents  # Ben's org is private
    zhang = cards[1]
    assert "tel" not in zhang.contents and "note" not in zhang.contents  # private_fields


def test_vcard_lines_are_crlf_folded_at_75_octets_without_splitting_characters(root: Path) -> None:
    text = export_vcards(load_crm(root), "4.0")
    raw = text.encode("utf-8")
    assert raw.count(b"\r\n") == raw.count(b"\n")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # a split character would not decode
    assert any(line.startswith(b" ") for line in raw.split(b"\r\n"))
    assert fold("x" * 200).replace("\r\n ", "") == "x" * 200


def test_vcard_uid_is_stable_and_per_contact(root: Path) -> None:
    crm = load_crm(root)
    first = contact_to_vcard(crm.contacts["zoe-muller"])
    second = contact_to_vcard(load_crm(root).contacts["zoe-muller"])
    assert first == second
    uids = [c.uid.value for c in vobject.readComponents(export_vcards(crm))]
    assert len(set(uids)) == 3


@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_vcard_round_trip_gives_back_the_same_people(root: Path, make_crm, tmp_path: Path, version: str) -> None:  # type: ignore[no-untyped-def]
    exported = tmp_path / "all.vcf"
    exported.write_text(export_vcards(load_crm(root), version, include_private=True), encoding="utf-8")
    target = tmp_path / "empty"
    (target / "contacts").mkdir(parents=True)
    result = import_vcards(target, [exported])
    assert result.problems == []
    original, back = load_crm(root), load_crm(target)
    assert sorted(c.name for c in back.contacts.values()) == sorted(c.name for c in original.contacts.values())
    for contact in original.contacts.values():
        again = next(c for c in back.contacts.values() if c.name == contact.name)
        assert again.emails == contact.emails
        assert again.phones == contact.phones
        assert again.birthday == contact.birthday
        assert again.tags == contact.tags
        assert again.aka == contact.aka
        assert again.links == contact.links
        assert again.addresses == contact.addresses
        assert again.title == contact.title
        assert again.summary == contact.summary
        assert (back.orgs[again.org].name if again.org else None) == (
            original.orgs[contact.org].name if contact.org else None)
    assert not api.check(target).errors


def test_sample_crm_round_trips_through_vcard(tmp_path: Path) -> None:
    sample = load_crm(SAMPLE_ROOT)
    if not sample.contacts:
        pytest.skip("the sample CRM is not there yet")
    exported = tmp_path / "sample.vcf"
    exported.write_text(export_vcards(sample, "3.0", include_private=True), encoding="utf-8")
    target = tmp_path / "crm"
    (target / "contacts").mkdir(parents=True)
    import_vcards(target, [exported])
    back = load_crm(target)
    assert sorted((c.name, tuple(c.emails)) for c in back.contacts.values()) == sorted(
        (c.name, tuple(c.emails)) for c in sample.contacts.values())
    assert not api.check(target).errors


@pytest.mark.parametrize("fmt", ["google", "outlook"])
def test_csv_round_trip(root: Path, tmp_path: Path, fmt: str) -> None:
    exported = tmp_path / f"{fmt}.csv"
    exported.write_text(export_csv(load_crm(root), fmt), encoding="utf-8")
    target = tmp_path / "target"
    (target / "contacts").mkdir(parents=True)
    result = import_csv(target, exported, fmt)
    assert result.problems == []
    back = {c.name: c for c in load_crm(target).contacts.values()}
    assert sorted(back) == ["Ben Hoffmann", "Zoë Müller", "张伟"]
    zoe = back["Zoë Müller"]
    assert zoe.emails == ["zoe@acme.example", "zoe.private@example.org"]
    assert zoe.phones == ["+49 40 555 0142", "0151 2345 6789"]
    assert zoe.birthday is not None and zoe.birthday.iso() == "1986-06-21"
    assert zoe.tags == ["client", "forecasting"]
    assert back["张伟"].phones == []  # private field stayed out


def test_mailchimp_holds_only_subscribed_people_with_an_email(root: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export_csv(load_crm(root), "mailchimp"))))
    assert [r["Email Address"] for r in rows] == ["zhang.wei@huaxin.example", "zoe@acme.example"]
    zoe = rows[1]
    assert (zoe["First Name"], zoe["Last Name"], zoe["Tags"], zoe["Company"], zoe["Birthday"]) == (
        "Zoë", "Müller", "client,forecasting", "Acme Robotics, Inc.", "06/21")
    with_private = list(csv.DictReader(io.StringIO(export_csv(load_crm(root), "mailchimp", include_private=True))))
    assert "hidden@example.org" in [r["Email Address"] for r in with_private]


def test_csv_neutralises_formulas() -> None:
    from site_builder.exports.csvfile import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("+49 40") == "+49 40"


def test_calendar_is_read_by_icalendar(root: Path) -> None:
    text = build_calendar(load_crm(root), None, TODAY)
    calendar = icalendar.Calendar.from_ical(text)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert sorted(events) == [
        "zhang-wei.birthday@plaintext-crm",
        "zoe-muller.2026-12-02.1@plaintext-crm",
        "zoe-muller.2026-12-02.2@plaintext-crm",
        "zoe-muller.birthday@plaintext-crm",
        "zoe-muller.follow-up@plaintext-crm",
    ]  # no past section, no private person, no section of a file whose notes are private
    birthday = events["zoe-muller.birthday@plaintext-crm"]
    assert birthday["DTSTART"].dt == date(1986, 6, 21) and birthday["RRULE"]["FREQ"] == ["YEARLY"]
    leap = events["zhang-wei.birthday@plaintext-crm"]
    assert leap["DTSTART"].dt == date(2000, 2, 29) and leap["RRULE"]["BYMONTHDAY"] == [-1]
    assert events["zoe-muller.follow-up@plaintext-crm"]["DTSTART"].dt == date(2026, 11, 27)
    meeting = events["zoe-muller.2026-12-02.1@plaintext-crm"]
    assert str(meeting["SUMMARY"]) == "Meeting with Zoë Müller: Phase 2 go/no-go"
    assert str(meeting["DESCRIPTION"]) == "Bring the one-page summary."
    for line in text.encode("utf-8").split(b"\r\n"):
        assert len(line) <= 75


def test_calendar_uids_survive_a_title_change(root: Path) -> None:
    before = build_calendar(load_crm(root), None, TODAY)
    path = root / "contacts/zoe-muller.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Phase 2 go/no-go", "Phase 2 decision"), encoding="utf-8")
    after = build_calendar(load_crm(root), None, TODAY)
    uids = lambda text: [str(e["UID"]) for e in icalendar.Calendar.from_ical(text).walk("VEVENT")]  # noqa: E731
    assert uids(before) == uids(after) and before != after


def test_calendar_from_kept_pieces_equals_a_fresh_one(root: Path) -> None:
    """crm build keeps each file's events (Pieces) and makes only changed files' again;
    the text is always what a fresh calendar gives, also after a file turns private."""
    from site_builder.exports.ics import Pieces
    from site_builder.loader import load

    def both(old: Pieces | None) -> tuple[str, str, Pieces]:
        loaded = load(root, cache=False)
        pieces = Pieces(old.new if old is not None else None)
        return (build_calendar(loaded.crm, None, TODAY, pieces=pieces, digests=loaded.digests),
                build_calendar(loaded.crm, None, TODAY), pieces)

    kept, fresh, first = both(None)
    assert kept == fresh and first.changed
    kept, fresh, second = both(first)
    assert kept == fresh and not second.changed
    zoe = root / "contacts/zoe-muller.md"
    zoe.write_text(zoe.read_text(encoding="utf-8").replace("Phase 2 go/no-go", "Phase 2 decision"), encoding="utf-8")
    kept, fresh, third = both(second)
    assert kept == fresh and "Phase 2 decision" in kept and third.changed
    reused = [path for path, value in third.new.items() if value is second.new.get(path)]
    assert reused and "contacts/zoe-muller.md" not in reused and third.made == 1
    zoe.write_text(zoe.read_text(encoding="utf-8").replace("---\n", "---\nprivate: true\n", 1), encoding="utf-8")
    kept, fresh, _ = both(third)
    assert kept == fresh and "zoe-muller" not in kept


def test_a_long_running_calendar_reuses_its_text_only_while_every_event_is_the_same(root: Path) -> None:
    """crm serve keeps the calendar it made (KeptPieces): after an edit that changes no
    event (a note's text) that very text is the answer, and its digest spares the writer
    encoding it; any change of an event, of the files in it or of the title gives what a
    fresh calendar gives. The shards are not written for such an edit; a process reading
    them (a later `crm build`) still gets the right calendar."""
    from site_builder.build import KeptPieces, calendar_text
    from site_builder.cache import cache_dir, digest_bytes
    from site_builder.loader import load

    kept = KeptPieces()

    def made(memory: KeptPieces) -> tuple[str, str]:
        loaded = load(root, cache=False)
        text = calendar_text(loaded.crm, TODAY, build_calendar, loaded.digests, memory)
        assert memory.digest_of(text) == digest_bytes(text.encode("utf-8"))  # what the writer is told
        return text, build_calendar(loaded.crm, None, TODAY)

    def edit(rel: str, old: str, new: str) -> None:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    first, fresh = made(kept)
    assert first == fresh
    shards = sorted((p.name, p.stat().st_mtime_ns) for p in cache_dir(root).glob("calendar-*.bin"))
    edit("contacts/zoe-muller.md", "Prefers short calls", "Prefers shorter calls")
    same, fresh = made(kept)
    assert same is first and same == fresh
    assert sorted((p.name, p.stat().st_mtime_ns) for p in cache_dir(root).glob("calendar-*.bin")) == shards
    assert made(KeptPieces())[0] == fresh  # from the shards, whose digest of zoe-muller is the old one
    steps = [
        ("contacts/zoe-muller.md", "Phase 2 go/no-go", "Phase 2 decision"),  # a planned event's title
        ("contacts/zoe-muller.md", "follow_up: 2026-11-27", "follow_up: 2026-11-28"),
        ("contacts/zhang-wei.md", "birthday: --02-29", "birthday: --03-01"),
        ("contacts/zhang-wei.md", "name: 张伟", "name: 张伟\nprivate: true"),  # leaves the calendar
        ("contacts/zhang-wei.md", "private: true", "private: false"),  # back in it
        ("crm.yaml", "Test CRM", "Another CRM"),  # the header
    ]
    for rel, old, new in steps:
        before = made(kept)[0]
        edit(rel, old, new)
        text, fresh = made(kept)
        assert text == fresh and text != before, (rel, new)
    (root / "contacts/new-person.md").write_text("---\nname: New Person\nbirthday: 1991-05-05\n---\n", encoding="utf-8")
    text, fresh = made(kept)
    assert text == fresh and "new-person.birthday" in text
    (root / "contacts/new-person.md").unlink()
    text, fresh = made(kept)
    assert text == fresh and "new-person" not in text
    (root / "contacts/quiet-person.md").write_text("---\nname: Quiet Person\n---\n", encoding="utf-8")
    text, fresh = made(kept)
    assert text == fresh and "Quiet Person" not in text  # no events: the text is as it was
    for name in ("Still Quiet", "Quieter Still"):  # the second from what the first left in memory
        edit("contacts/quiet-person.md", "name: ", f"name: {name} ")
        again, fresh = made(kept)
        assert again is text and again == fresh


def test_a_rebuild_keeps_calendar_ics_while_no_event_changed(root: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-shot rebuild keeps calendar.ics as it is when the files changed since have
    the events the calendar's shards hold for them (calendar-head.bin says which text
    those shards make, and the output file is that text); anything else (an event, a
    file in or out of the calendar, a damaged head, an output file edited by hand)
    writes what a fresh calendar gives."""
    from site_builder import build as build_mod
    from site_builder.cache import cache_dir
    from site_builder.loader import load

    out = tmp_path / "site"
    answers: list[bool] = []
    real = build_mod._calendar_kept_as_is

    def kept_as_is(*args, **kwargs):  # type: ignore[no-untyped-def]
        answers.append(real(*args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(build_mod, "_calendar_kept_as_is", kept_as_is)

    def built() -> tuple[str, str, bool]:
        answers.clear()
        build_mod.build_site(root, out, TODAY, workers=1)
        assert len(answers) == 1
        return ((out / "calendar.ics").read_bytes().decode("utf-8"),
                build_calendar(load(root, cache=False).crm, None, TODAY), answers[0])

    def edit(rel: str, old: str, new: str) -> None:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    text, fresh, kept = built()
    assert text == fresh and not kept  # nothing to keep yet
    stamp = (out / "calendar.ics").stat().st_mtime_ns
    edit("contacts/zoe-muller.md", "Prefers short calls", "Prefers shorter calls")
    text, fresh, kept = built()
    assert text == fresh and kept and (out / "calendar.ics").stat().st_mtime_ns == stamp
    edit("contacts/zoe-muller.md", "Prefers shorter calls", "Prefers the shortest calls")  # again, from the same shards
    assert built()[2]
    for rel, old, new in [
        ("contacts/zoe-muller.md", "Phase 2 go/no-go", "Phase 2 decision"),  # a planned event's title
        ("contacts/zoe-muller.md", "follow_up: 2026-11-27", "follow_up: 2026-11-28"),
        ("contacts/zhang-wei.md", "birthday: --02-29", "birthday: --03-01"),
        ("contacts/zhang-wei.md", "name: 张伟", "name: 张伟\nprivate: true"),  # leaves the calendar
        ("contacts/zhang-wei.md", "private: true", "private: false"),  # back in it
    ]:
        before = text
        edit(rel, old, new)
        text, fresh, kept = built()
        assert text == fresh and text != before and not kept, (rel, new)
    (root / "contacts/new-person.md").write_text("---\nname: New Person\nbirthday: 1991-05-05\n---\n", encoding="utf-8")
    text, fresh, kept = built()
    assert text == fresh and "new-person.birthday" in text and not kept
    (root / "contacts/new-person.md").unlink()
    text, fresh, kept = built()
    assert text == fresh and "new-person" not in text and not kept
    edit("contacts/zoe-muller.md", "Prefers the shortest calls", "Prefers short calls")
    assert built()[2]
    (cache_dir(root) / build_mod.CALENDAR_HEAD).write_bytes(b"damaged")
    edit("contacts/zoe-muller.md", "Prefers short calls", "Prefers shorter calls")
    text, fresh, kept = built()
    assert text == fresh and not kept
    (out / "calendar.ics").write_bytes(b"edited by hand")
    edit("contacts/zoe-muller.md", "Prefers shorter calls", "Prefers short calls")
    text, fresh, kept = built()
    assert text == fresh and not kept
    # Shards and head written for an event the output does not show yet (a build that
    # stopped after its forked calendar job): the output is not that head's text.
    edit("contacts/zoe-muller.md", "follow_up: 2026-11-28", "follow_up: 2026-11-29")
    loaded = load(root, cache=False)
    build_mod.calendar_text(loaded.crm, TODAY, build_calendar, loaded.digests)
    text, fresh, kept = built()
    assert text == fresh and "20261129" in text and not kept


def test_files_checked_against_a_kept_calendar_are_kept_under_their_new_digests(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A calendar.ics kept as it is leaves calendar-head.bin as it was, so each later
    build makes again the events of every file changed since, to check them: once
    CALENDAR_REKEY_MIN of them were checked, their pieces are written under their new
    digests, and the next build checks only its own change. The calendar stays the one
    a fresh build makes, and is not rewritten."""
    from site_builder import build as build_mod
    from site_builder.exports import ics
    from site_builder.loader import load

    (root / "contacts/quinn-adams.md").write_text("---\nname: Quinn Adams\nbirthday: 1990-12-01\n---\n",
                                                  encoding="utf-8")
    out = tmp_path / "site"
    build_mod.build_site(root, out, TODAY, workers=1)
    stamp = (out / "calendar.ics").stat().st_mtime_ns
    made: list[str] = []
    real = ics._contact_piece
    monkeypatch.setattr(ics, "_contact_piece", lambda contact, *args: (made.append(contact.slug), real(contact, *args))[1])
    people = [p for p in sorted((root / "contacts").glob("*.md"))
              if "private: true" not in p.read_text(encoding="utf-8")][:4]
    assert build_mod.CALENDAR_REKEY_MIN == 3 and len(people) == 4
    checked = []
    for path in people:
        with path.open("a", encoding="utf-8") as handle:  # a past call: no event moves
            handle.write("\n## 2026-10-01 call: Quick word\n\nAll fine.\n")
        made.clear()
        build_mod.build_site(root, out, TODAY, workers=1)
        checked.append(sorted(made))
        assert (out / "calendar.ics").stat().st_mtime_ns == stamp  # kept as it is
    slugs = [p.stem for p in people]
    assert checked == [slugs[:1], slugs[:2], slugs[:3], slugs[3:]], checked
    fresh = ics.build_calendar(load(root, cache=False).crm, None, TODAY)
    assert (out / "calendar.ics").read_bytes().decode("utf-8") == fresh


def test_a_writer_given_the_digest_of_unchanged_data_neither_encodes_nor_stages_it(tmp_path: Path) -> None:
    from site_builder.cache import digest_bytes
    from site_builder.incremental import StagingWriter

    digest = digest_bytes("same".encode("utf-8"))
    writer = StagingWriter(tmp_path, {"calendar.ics": digest})
    writer.write("calendar.ics", "same", digest=digest)
    writer.write("other.ics", "new", digest=digest_bytes(b"new"))
    assert writer.staged == ["other.ics"] and writer.stamps["calendar.ics"] == digest
    assert (tmp_path / "other.ics").read_bytes() == b"new" and not (tmp_path / "calendar.ics").exists()


def test_json_export_schema_privacy_and_stats(root: Path) -> None:
    data = model_json(load_crm(root), TODAY)
    json.dumps(data, default=str)
    assert data["schema"] == "plaintext-crm" and data["schema_version"] == SCHEMA_VERSION
    assert [c["slug"] for c in data["contacts"]] == ["ben-hoffmann", "zhang-wei", "zoe-muller"]
    assert [o["slug"] for o in data["orgs"]] == ["acme"]
    zhang = data["contacts"][1]
    assert zhang["phones"] == [] and zhang["sections"] == [] and zhang["summary"] == ""
    assert zhang["birthday"] == "--02-29"
    assert data["contacts"][0]["org"] is None  # a private org is not named
    assert data["stats"] is not None
    assert "hidden-person" not in json.dumps(data["stats"])
    everything = model_json(load_crm(root), TODAY, include_private=True)
    assert "hidden-person" in [c["slug"] for c in everything["contacts"]]
    assert next(c for c in everything["contacts"] if c["slug"] == "zhang-wei")["phones"] == ["+86 21 5555 0188"]


def test_cli_export_and_import(root: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out.vcf"
    result = cli("export", "vcard", "--root", str(root), "--out", str(out), "--version", "4.0")
    assert result.exit_code == 0 and out.read_bytes().startswith(b"BEGIN:VCARD\r\nVERSION:4.0\r\n")
    result = cli("export", "ics", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0 and result.stdout_bytes.startswith(b"BEGIN:VCALENDAR\r\n")
    result = cli("export", "json", "--root", str(root), "--today", TODAY_ARG, "--no-stats")
    assert json.loads(result.stdout)["stats"] is None
    result = cli("export", "csv", "--root", str(root), "--format", "mailchimp")
    assert result.stdout.splitlines()[0].startswith("Email Address,First Name,Last Name,Tags")

    fixtures = Path(__file__).parent / "fixtures" / "import"
    result = cli("import", "vcard", str(fixtures / "broken.vcf"), "--root", str(root), "--dry-run")
    assert result.exit_code == 1  # malformed properties were reported
    assert "+name: Greta Broken" in result.stdout
    assert f"{fixtures / 'broken.vcf'}:6: error:" in result.stderr
    assert "dry run: nothing written" in result.stderr
    assert not (root / "contacts/greta-broken.md").exists()
    result = cli("import", "csv", str(fixtures / "Connections.csv"), "--root", str(root), "--format", "json")
    report = json.loads(result.stdout)
    assert [o["action"] for o in report["outcomes"] if o["path"] and o["path"].startswith("contacts/")] == [
        "created", "created", "created"]
    assert result.exit_code == 0  # a bad date is a warning
    assert not api.check(root).errors


def test_docs_json_example_has_every_key_the_export_writes(root: Path) -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "json.md").read_text(encoding="utf-8")
    example = json.loads(docs.split("```json\n", 1)[1].split("```", 1)[0])
    data = model_json(load_crm(root), TODAY)
    assert set(example) == set(data)
    assert set(example["config"]) == set(data["config"])
    assert set(example["contacts"][0]) == set(data["contacts"][0])
    assert set(example["contacts"][0]["sections"][0]) == set(data["contacts"][2]["sections"][0])

"""stats_incremental: after any sequence of edits, the same figures as a full computation."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_builder import stats, stats_incremental
from site_builder.cache import stats_sign
from site_builder.loader import LoadMemory, load

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from test_incremental import (op_add, op_add_note, op_break, op_change_org, op_config, op_delete,  # noqa: E402
                              op_edit_name, op_edit_org, op_org_parent, op_rename, contacts_of)

TODAY = date(2026, 11, 22)
CORPUS_SIZE = (24, 4)  # contacts, sections each


def _replace_line(path: Path, key: str, value: str | None) -> None:
    """Set (or, with None, remove) a top-level front-matter key."""
    head, sep, body = path.read_text(encoding="utf-8")[4:].partition("\n---\n")
    lines = [line for line in head.split("\n") if not line.startswith(f"{key}:")]
    if value is not None:
        lines.insert(1, f"{key}: {value}")
    path.write_text("---\n" + "\n".join(lines) + sep + body, encoding="utf-8")


def op_refer(root: Path, pick: int) -> None:
    people = contacts_of(root)
    path, referrer = people[pick % len(people)], people[(pick * 3 + 1) % len(people)]
    _replace_line(path, "referred_by", referrer.stem if pick % 4 else None)


def op_status(root: Path, pick: int) -> None:
    people = contacts_of(root)
    _replace_line(people[pick % len(people)], "status", ("customer", "lead", "former", "opportunity")[pick % 4])


def op_invoice(root: Path, pick: int) -> None:
    """Money moves: every org's share of the revenue changes."""
    people = contacts_of(root)
    path = people[pick % len(people)]
    text = path.read_text(encoding="utf-8")
    if "\ninvoices:\n" in text:
        text = text.replace("\ninvoices:\n", f"\ninvoices:\n  - number: X-{pick}\n    date: 2026-0{1 + pick % 9}-05\n"
                            f"    amount: {100 * (pick + 1)}\n    currency: EUR\n    due: 2026-10-01\n", 1)
        path.write_text(text, encoding="utf-8")


def op_plan_and_touch(root: Path, pick: int) -> None:
    """A future meeting naming two people, and a call today: plans, touches, cadence."""
    people = contacts_of(root)
    path, a, b = people[pick % len(people)], people[(pick + 2) % len(people)], people[(pick + 5) % len(people)]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## 2026-12-{1 + pick % 20:02d} meeting @{a.stem} @{b.stem}: Plan {pick}\n\nAgenda. #roadmap\n"
                     f"\n## 2026-11-22 call: Today {pick}\n\nQuick call. #pricing\n")


def op_tier(root: Path, pick: int) -> None:
    people = contacts_of(root)
    _replace_line(people[pick % len(people)], "tier", "ABC"[pick % 3])


def op_note_text(root: Path, pick: int) -> None:
    """Words added to the last note: no heading, date or kind changes (a quiet edit:
    its orgs' figures are not made again)."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\nAlso mentioned #hiring and the {pick} offices.\n")


def op_note_kind(root: Path, pick: int) -> None:
    """A note's kind changed, its date and line not: the file's touches, and so its org
    group's, change by kind only."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    lines = path.read_text(encoding="utf-8").split("\n")
    headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
    if headings:
        at = headings[pick % len(headings)]
        date_text, _, rest = lines[at][3:].partition(" ")
        kind, sep, tail = rest.partition(" ") if " " in rest else rest.partition(":")
        other = {"call": "meeting", "meeting": "workshop"}.get(kind.rstrip(":"), "call")
        lines[at] = f"## {date_text} {other}{':' if kind.endswith(':') else ''}{sep}{tail}"
        path.write_text("\n".join(lines), encoding="utf-8")


def op_text_and_named(root: Path, pick: int) -> None:
    """Two files at once: words added to one's notes (quiet on its own), and a meeting
    naming it added to another's: its touches, and so its org group's, change."""
    people = contacts_of(root)
    quiet, other = people[pick % len(people)], people[(pick + 1) % len(people)]
    op_note_text(root, pick)
    with other.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## 2026-11-{10 + pick % 12:02d} meeting @{quiet.stem}: Follow-up {pick}\n\nNotes.\n")


def op_role(root: Path, pick: int) -> None:
    """A role only its orgs' figures read (their roles, has_decision_maker)."""
    people = contacts_of(root)
    _replace_line(people[pick % len(people)], "role", ("decision-maker", "influencer", None)[pick % 3])


def op_next_day(root: Path, pick: int) -> None:
    """Another day (check_sequence moves today on): a full computation, the files as they were."""


CONTACT_OPERATIONS = [op_edit_name, op_add_note, op_change_org, op_break, op_add, op_rename, op_delete, op_refer,
                      op_status, op_plan_and_touch, op_tier, op_invoice, op_note_text, op_note_kind, op_role,
                      op_text_and_named]
OPERATIONS = [*CONTACT_OPERATIONS, op_org_parent, op_edit_org, op_config, op_next_day]


def as_json(figures: stats.Stats) -> str:
    """Every figure, in the order the result holds it (key order matters to the output)."""
    return json.dumps([dict(figures.contacts), figures.orgs, figures.summary], default=str)


def corpus(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    generate.generate(root, contacts=CORPUS_SIZE[0], sections=CORPUS_SIZE[1], seed=11)
    return root


def check_sequence(root: Path, operations: list[tuple[object, int]], today: date = TODAY,
                   stored: bool = False) -> list[str]:
    """Apply the operations one by one, comparing the remembered computation with a full
    one after each; returns how each was made. stored: the memory goes through
    .crm-cache/stats.bin between computations (as between two `crm build` runs), and
    each load is a fresh one; else it stays in this process (as in `crm serve`)."""
    files = None if stored else LoadMemory()
    memory = stats_incremental.StatsMemory()
    due = stats.DueMemory()  # as `crm serve` keeps it: each contact's items, made again when their values change
    loaded = load(root, memory=files)
    got = stats_incremental.compute(loaded.crm, today, memory, loaded.digests, signed=True)
    stats.due_items(loaded.crm.config, got, today, memory=due)
    modes = []
    for operation, pick in operations:
        if operation is op_next_day:
            today = date.fromordinal(today.toordinal() + 1 + pick % 3)
        operation(root, pick)  # type: ignore[operator]
        if stored:
            stats_incremental.write_memory(root, memory)
            memory = stats_incremental.read_memory(root)
            assert memory.stats is not None
        loaded = load(root, memory=files)
        got = stats_incremental.compute(loaded.crm, today, memory, loaded.digests, signed=True)
        fresh = stats.compute(loaded.crm, today)
        assert as_json(got) == as_json(fresh), (operation, pick)
        assert stats.due_items(loaded.crm.config, got, today, memory=due) == \
            stats.due_items(loaded.crm.config, fresh, today), (operation, pick)
        assert due.items.keys() == got.contacts.keys()  # nothing kept of contacts gone
        assert_signs_are_fresh(got)
        modes.append(memory.last)
    return modes


def test_kept_due_items_are_made_again_only_for_contacts_whose_values_changed(tmp_path: Path) -> None:
    loaded = load(corpus(tmp_path / "crm"))
    figures = stats.compute(loaded.crm, TODAY)
    memory = stats.DueMemory()
    first = stats.due_items(loaded.crm.config, figures, TODAY, memory=memory)
    assert first.attention and first == stats.due_items(loaded.crm.config, figures, TODAY)
    again = stats.due_items(loaded.crm.config, figures, TODAY, memory=memory)
    assert all(a is b for a, b in zip(again.attention, first.attention))
    slug = first.attention[0].slug
    entry = figures.contacts[slug]
    entry["name"] = "Someone Renamed"
    moved = stats.due_items(loaded.crm.config, figures, TODAY, memory=memory)
    assert [i.name for i in moved.attention if i.slug == slug] == ["Someone Renamed"] * sum(
        1 for i in first.attention if i.slug == slug)
    assert all(a is b for a, b in zip(moved.attention, first.attention) if a.slug != slug)
    later = date.fromordinal(TODAY.toordinal() + 1)  # another day: every item made again
    assert stats.due_items(loaded.crm.config, figures, later, memory=memory) == \
        stats.due_items(loaded.crm.config, figures, later)


def assert_signs_are_fresh(figures: stats.Stats) -> None:
    """The signs a computation kept or made are those of the figures it gives: a kept
    sign of an entry that changed would leave the pages showing it as they were."""
    assert figures.contact_signs == {slug: stats_sign(entry) for slug, entry in figures.contacts.items()}
    assert figures.org_signs == {slug: stats_sign(entry) for slug, entry in figures.orgs.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 60)), min_size=1, max_size=6))
def test_remembered_stats_equal_a_full_computation(tmp_path_factory, operations) -> None:  # type: ignore[no-untyped-def]
    check_sequence(corpus(tmp_path_factory.mktemp("crm")), operations)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 60)), min_size=1, max_size=6))
def test_stats_remembered_in_the_cache_equal_a_full_computation(tmp_path_factory, operations) -> None:  # type: ignore[no-untyped-def]
    check_sequence(corpus(tmp_path_factory.mktemp("crm")), operations, stored=True)


def test_contact_edits_are_worked_out_incrementally(tmp_path: Path) -> None:
    """Without this the oracle above could pass by always computing in full."""
    root = corpus(tmp_path / "crm")
    operations = [(op, pick) for pick in (3, 4, 11) for op in CONTACT_OPERATIONS]
    modes = check_sequence(root, operations)
    assert modes.count("incremental") >= len(modes) - 2, modes
    modes = check_sequence(corpus(tmp_path / "crm"), operations, stored=True)
    assert modes.count("incremental") >= len(modes) - 2, modes


def test_what_cannot_be_worked_out_incrementally_is_computed_in_full(tmp_path: Path) -> None:
    root = corpus(tmp_path / "crm")
    assert check_sequence(root, [(op_edit_org, 1), (op_config, 2)]) == ["full", "full"]
    files, memory = LoadMemory(), stats_incremental.StatsMemory()
    loaded = load(root, memory=files)
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    stats_incremental.compute(loaded.crm, date(2026, 11, 23), memory, loaded.digests)
    assert memory.last == "full"  # another day: every date in words moves


def test_a_new_file_picks_up_the_headings_that_already_named_it(tmp_path: Path) -> None:
    root = corpus(tmp_path / "crm")
    people = contacts_of(root)
    with people[0].open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-01 call @newcomer: First call\n\nHello.\n")
    files, memory = LoadMemory(), stats_incremental.StatsMemory()
    loaded = load(root, memory=files)
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    (root / "contacts" / "newcomer.md").write_text("---\nname: New Comer\n---\n", encoding="utf-8")
    loaded = load(root, memory=files)
    got = stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    assert memory.last == "incremental"
    assert got.contacts["newcomer"]["touches"] == 1
    assert as_json(got) == as_json(stats.compute(loaded.crm, TODAY))


def test_a_foreign_or_malformed_stats_cache_is_not_trusted(tmp_path: Path) -> None:
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    stats_incremental.write_memory(root, memory)
    assert stats_incremental.read_memory(root).stats is not None
    path = cache.cache_dir(root) / stats_incremental.STATS_FILE
    data = path.read_bytes()
    path.write_bytes(data[:-20] + bytes(20))  # corrupt: its digest no longer matches
    assert stats_incremental.read_memory(root).stats is None
    fingerprint = stats_incremental._stats_fingerprint()
    for payload in [("k", {}, ({}, {}, {}), {}, {}), "not a tuple", ("k", {}, ([], {}, {}), {}, {}, {})]:
        cache.write_blob(path, stats_incremental.STATS_KIND, fingerprint, payload)
        assert stats_incremental.read_memory(root).stats is None
    # Well-formed but not fitting this CRM (a row missing): a full computation, not a crash.
    stats_incremental.write_memory(root, memory)
    broken = stats_incremental.read_memory(root)
    assert broken.stats is not None
    figures = broken.stats.contacts
    assert isinstance(figures, stats_incremental.PackedFigures)  # read back packed
    broken.stats.contacts = stats_incremental.PackedFigures({slug: figures.packed(slug) for slug in list(figures)[1:]})
    op_tier(root, 1)
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, broken, loaded.digests)
    assert broken.last == "full"
    assert as_json(got) == as_json(stats.compute(loaded.crm, TODAY))


def test_a_long_running_process_loads_on_its_first_build_so_that_saves_are_incremental(tmp_path: Path) -> None:
    from site_builder.build import build_site

    root = corpus(tmp_path / "crm")
    build_site(root, today=TODAY)  # the site exists: a later build of the same tree is a no-op
    files = LoadMemory()
    build_site(root, today=TODAY, memory=files)  # e.g. `crm serve` starting
    # It loaded everything, and took the stats from what the build before left in the cache.
    assert files.files and files.stats is not None and files.stats.last == "incremental"
    op_plan_and_touch(root, 3)
    build_site(root, today=TODAY, memory=files)
    assert files.stats.last == "incremental"


def test_crm_due_uses_and_keeps_the_stats_memory(tmp_path: Path) -> None:
    """api.compute_stats (`crm due`) after an edit works out only what changed, and says
    the same as a full computation; the memory it leaves serves the next command."""
    from site_builder import api

    root = corpus(tmp_path / "crm")
    first = api.compute_stats(api.check(root), TODAY)
    assert stats_incremental.read_memory(root).stats is not None
    op_plan_and_touch(root, 5)
    result = api.check(root)
    got = api.compute_stats(result, TODAY)
    assert as_json(got) == as_json(stats.compute(result.crm, TODAY)) != as_json(first)
    assert stats_incremental.read_memory(root).digests == result.digests
    # Another day: computed in full, and the same as without any memory.
    later = date(2026, 11, 23)
    assert as_json(api.compute_stats(api.check(root), later)) == as_json(stats.compute(load(root).crm, later))


def check_kinds(root: Path, operations: list[tuple[object, int]], stored: bool) -> list[tuple[str, bool]]:
    """check_sequence, returning (how each was made, whether the summary was kept)."""
    kinds: list[tuple[str, bool]] = []
    original = stats_incremental.compute

    def spy(crm, today, memory, digests, signed=False):  # type: ignore[no-untyped-def]
        got = original(crm, today, memory, digests, signed)
        kinds.append((memory.last, memory.kept_summary))
        return got

    stats_incremental.compute = spy  # type: ignore[assignment]
    try:
        check_sequence(root, operations, stored=stored)
    finally:
        stats_incremental.compute = original  # type: ignore[assignment]
    return kinds[1:]


def test_section_edits_keep_and_adjust_the_summary(tmp_path: Path) -> None:
    """Notes, plans and touches change no file's summary_inputs: RFM and the summary are
    kept and adjusted (touches, touches per month, attention), and equal a full
    computation; a status or referral change makes them again."""
    for stored in (False, True):
        root = corpus(tmp_path / f"crm-{stored}")
        kinds = check_kinds(root, [(op_plan_and_touch, 3), (op_add_note, 4), (op_plan_and_touch, 7)], stored)
        assert kinds == [("incremental", True)] * 3, kinds
        kinds = check_kinds(root, [(op_status, 1), (op_refer, 5)], stored)
        assert kinds == [("incremental", False)] * 2, kinds


def test_stored_heading_digests_find_only_the_changed_sections_names(tmp_path: Path) -> None:
    """Read back from stats.bin (no old version of the file), only the slugs named in
    the changed sections' headings count as touched, as in a long-running process."""
    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    stats_incremental.write_memory(root, memory)
    people = contacts_of(root)
    path, a, b = people[0], people[2], people[5]
    rel = f"contacts/{path.name}"
    old = stats_incremental.read_memory(root)
    assert rel in old.headings
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## 2026-12-01 meeting @{a.stem} @{b.stem}: Plan\n\nAgenda.\n")
    now = load(root).crm.contacts[path.stem]
    new = stats_incremental.footprint(now)
    named = stats_incremental._changed_headings(None, now, old.footprints[rel], new, old.headings[rel],
                                                stats_incremental.heading_digests(now, new[2]))
    assert named == {a.stem, b.stem}


def _parts(root: Path) -> dict[str, bytes]:
    from site_builder import cache

    return {p.name: p.read_bytes() for p in cache.cache_dir(root).glob(f"{stats_incremental.STATS_NAME}-*.bin")}


def _stored_then_edited(root: Path, operation: object, pick: int) -> tuple[dict[str, bytes], Any, stats.Stats]:
    """A full computation stored, then operation applied and the memory read back,
    computed again and stored: (the parts as first stored, the load, the new stats)."""
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    before = _parts(root)
    operation(root, pick)  # type: ignore[operator]
    memory = stats_incremental.read_memory(root)
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    assert memory.last == "incremental"
    stats_incremental.write_memory(root, memory)
    return before, loaded, got


def test_after_an_edit_only_the_parts_holding_what_changed_are_written(tmp_path: Path) -> None:
    root = corpus(tmp_path / "crm")
    before, loaded, got = _stored_then_edited(root, op_add_note, 3)
    assert len(before) == stats_incremental.STATS_PARTS
    after = _parts(root)
    assert after.keys() == before.keys()
    assert 0 < sum(after[name] != data for name, data in before.items()) < stats_incremental.STATS_PARTS // 4
    again = stats_incremental.read_memory(root)
    assert again.stats is not None and as_json(again.stats) == as_json(got)
    assert again.digests == loaded.digests


def test_a_part_of_another_generation_makes_the_memory_untrusted(tmp_path: Path) -> None:
    """A write cut short (some parts new, the head old) or a part put back from another
    time: the memory is not whole, so none of it is used."""
    root = corpus(tmp_path / "crm")
    old_parts, loaded, _ = _stored_then_edited(root, op_plan_and_touch, 2)
    assert stats_incremental.read_memory(root).stats is not None
    changed = [name for name, data in _parts(root).items() if data != old_parts[name]]
    assert changed
    from site_builder import cache

    (cache.cache_dir(root) / changed[0]).write_bytes(old_parts[changed[0]])
    assert stats_incremental.read_memory(root).stats is None
    (cache.cache_dir(root) / changed[0]).unlink()
    assert stats_incremental.read_memory(root).stats is None
    # The next computation is a full one, and right.
    fresh = stats_incremental.read_memory(root)
    got = stats_incremental.compute(loaded.crm, TODAY, fresh, loaded.digests, signed=True)
    assert fresh.last == "full" and as_json(got) == as_json(stats.compute(loaded.crm, TODAY))


def test_figures_read_back_packed_and_are_unpacked_only_when_read(tmp_path: Path) -> None:
    """stats.bin's contacts' figures come back as PackedFigures: the same entries in the
    same order; after an edit that keeps the ranks only the changed contacts' entries are
    made, the others stay packed; the due list reads none; a packed entry written back is
    the one read."""
    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    full = stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    stats_incremental.write_memory(root, memory)
    read = stats_incremental.read_memory(root)
    figures = read.stats.contacts
    assert isinstance(figures, stats_incremental.PackedFigures)
    assert list(figures) == list(full.contacts) and len(figures) == len(full.contacts)
    for slug in figures:
        assert figures.kept_fields(slug) == {name: full.contacts[slug].get(name) for name in stats_incremental.KEPT_FIELDS}
        assert figures.due_fields(slug) == {name: full.contacts[slug].get(name) for name in stats_incremental.DUE_FIELDS}
        assert figures.last_touch(slug) == full.contacts[slug]["last_touch"]
    assert figures._opened == {}  # the due fields need no entry unpacked
    report = stats.due_items(loaded.crm.config, read.stats, TODAY)
    assert report == stats.due_items(loaded.crm.config, full, TODAY) and figures._opened == {}
    op_add_note(root, 2)  # a note: the ranks are kept, a few entries made again
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests)
    assert read.last == "incremental" and read.kept_summary
    assert isinstance(got.contacts, stats_incremental.PackedFigures)
    assert 0 < len(got.contacts._opened) < len(got.contacts) // 4  # the rest stay packed
    assert as_json(got) == as_json(stats.compute(loaded.crm, TODAY))
    slug = next(iter(figures))
    assert stats_incremental.PackedFigures({slug: figures.packed(slug)})[slug] == full.contacts[slug]


@pytest.mark.parametrize("operation", [op_add, op_delete])
def test_an_addition_or_deletion_ranks_everyone_again_without_unpacking_everyone(
        tmp_path: Path, operation: object) -> None:
    """A contact added or deleted: every customer is ranked again from the fields kept
    beside the packed entries; only the entries whose scores moved (and the changed
    contacts') are made, and the figures equal a full computation's."""
    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    read = stats_incremental.read_memory(root)
    operation(root, 4)  # type: ignore[operator]
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests, signed=True)
    assert read.last == "incremental" and not read.kept_summary
    assert isinstance(got.contacts, stats_incremental.PackedFigures)
    made = set(got.contacts._opened)  # before anything below reads the others
    assert made and len(made) < len(got.contacts) // 2  # the others stay packed
    assert made <= read.changed[0]  # every entry made again is counted as changed
    assert as_json(got) == as_json(stats.compute(loaded.crm, TODAY))
    assert_signs_are_fresh(got)


def test_signs_lost_to_an_unsigned_computation_are_written_whole_again(tmp_path: Path) -> None:
    """`crm due` and `crm stats` compute without signs and write the parts they change
    without them; signs read back incomplete are not used. The next build signs every
    entry again and writes every part, so the build after it keeps the signs and
    unpacks only the changed entries (before, every build after such a run signed all
    10,000 entries again, unpacking them)."""
    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    assert len(stats_incremental.read_memory(root).contact_signs) == len(loaded.crm.contacts)
    op_add_note(root, 1)
    loaded = load(root)
    unsigned = stats_incremental.read_memory(root)
    stats_incremental.compute(loaded.crm, TODAY, unsigned, loaded.digests)  # as `crm due` does
    stats_incremental.write_memory(root, unsigned)
    build = stats_incremental.read_memory(root)
    assert build.contact_signs == {}  # incomplete: not used
    stats_incremental.compute(loaded.crm, TODAY, build, loaded.digests, signed=True)
    stats_incremental.write_memory(root, build)
    after = stats_incremental.read_memory(root)
    assert len(after.contact_signs) == len(loaded.crm.contacts)  # whole again
    op_add_note(root, 2)
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, after, loaded.digests, signed=True)
    assert isinstance(got.contacts, stats_incremental.PackedFigures)
    assert 0 < len(got.contacts._opened) < len(got.contacts) // 4
    assert_signs_are_fresh(got)
    assert as_json(got) == as_json(stats.compute(loaded.crm, TODAY))


def test_one_process_that_computes_without_then_with_signs_writes_them_whole(tmp_path: Path) -> None:
    """The same, within one process that keeps its memory between computations."""
    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    for n, signed in ((1, False), (2, True)):
        op_add_note(root, n)
        loaded = load(root)
        stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=signed)
        stats_incremental.write_memory(root, memory)
    assert len(stats_incremental.read_memory(root).contact_signs) == len(loaded.crm.contacts)


def test_another_day_keeps_the_unchanged_files_inputs_and_heading_digests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """They depend on the file alone: the day's first computation (in full) keeps them
    for every file whose bytes did not change, makes them again for the others, and
    keeps none when crm.yaml's settings changed."""
    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests)
    stats_incremental.write_memory(root, memory)
    op_add_note(root, 3)
    edited = f"contacts/{contacts_of(root)[3].name}"
    made: list[str] = []
    real = stats_incremental.heading_digests
    monkeypatch.setattr(stats_incremental, "heading_digests", lambda e, s: (made.append(e.path), real(e, s))[1])
    memory, loaded = stats_incremental.read_memory(root), load(root)
    stats_incremental.compute(loaded.crm, date(2026, 11, 23), memory, loaded.digests)
    assert memory.last == "full"
    assert edited not in memory.headings and edited not in memory.inputs
    assert len(memory.headings) == len(loaded.digests) - 1 and len(memory.inputs) == len(loaded.crm.contacts) - 1
    stats_incremental.write_memory(root, memory)
    assert made == [edited]
    again = stats_incremental.read_memory(root)
    fresh = stats_incremental.StatsMemory()
    stats_incremental.compute(load(root).crm, date(2026, 11, 23), fresh, loaded.digests)
    assert again.headings == stats_incremental._all_headings(fresh)
    assert again.inputs == stats_incremental._all_inputs(fresh)
    op_config(root, 1)
    memory, loaded = stats_incremental.read_memory(root), load(root)
    stats_incremental.compute(loaded.crm, date(2026, 11, 23), memory, loaded.digests)
    assert memory.last == "full" and memory.headings == {} and memory.inputs == {}


def test_the_due_lists_quick_test_says_nothing_due_exactly_when_no_item_is_made() -> None:
    """stats_due._surely_nothing_due, on the values kept beside a packed entry, agrees
    with the items _contact_items makes from the same values (dates compared as ISO
    text), over every combination of values around the horizon."""
    import itertools
    from datetime import timedelta

    from site_builder import stats_due

    horizon = TODAY + timedelta(days=7)
    days = (None, "", *((horizon + timedelta(days=d)).isoformat() for d in (-8, -1, 0, 1)))
    for over, snoozed, follow_up, next_due, birthday, never, cadence in itertools.product(
            (False, True), (False, True), days, days, days, (False, True), (None, 0, 30)):
        s = {"name": "Ada", "last_touch": "2026-11-01", "touches_7d": 4, "over_contacted": over, "snoozed": snoozed,
             "follow_up": follow_up, "next_due": next_due, "cadence_days": cadence, "never_touched": never,
             "next_birthday": birthday, "age_next": 40, "since": "2026-01-05"}
        values = tuple(s[name] for name in stats_due.DUE_FIELDS)
        over_item, items = stats_due._contact_items("ada", s, TODAY, horizon, 3)
        assert stats_due._surely_nothing_due(values, horizon.isoformat()) == (over_item is None and not items), s


def _stored(root: Path) -> Any:
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    return memory


def _rewrite_part(root: Path, where: int, change: Any) -> None:
    """The first stored part whose map where is not empty written again (under a new
    generation, as write_memory would) with change(its payload as a list) in its place."""
    from site_builder import cache

    fingerprint = stats_incremental._stats_fingerprint()
    folder = cache.cache_dir(root)
    generations, head, payloads = cache.read_sharded(folder, stats_incremental.STATS_NAME, stats_incremental.STATS_KIND,
                                                     fingerprint, stats_incremental.STATS_PARTS)
    number = next(n for n, payload in enumerate(payloads) if payload[where])
    cache.write_sharded(folder, stats_incremental.STATS_NAME, stats_incremental.STATS_KIND, fingerprint, head,
                        {number: tuple(change(list(payloads[number])))}, generations, stats_incremental.STATS_PARTS)


@pytest.mark.parametrize("where, bad", [
    (stats_incremental._CONTACTS, "not a packed entry"),
    (stats_incremental._CONTACTS, ((0, 0, 1, 2),)),
    (stats_incremental._CONTACTS, ((0, 0, 1), ())),
    (stats_incremental._CONTACTS, (b"not a place", ())),
    (stats_incremental._CONTACTS, ((0, 0, 1, 2), ("too", "short"))),
    (2, ["not", "an org's figures"]),
    (4, ("a footprint", "too short")),
])
def test_a_stats_part_with_an_entry_of_another_shape_is_not_trusted(tmp_path: Path, where: int, bad: object) -> None:
    """Every entry of every part is checked for its shape (in bulk: stats_incremental._all_of)."""
    root = corpus(tmp_path / "crm")
    _stored(root)

    def plant(maps: list[Any]) -> list[Any]:
        maps[where] = {**maps[where], next(iter(maps[where])): bad}
        return maps

    _rewrite_part(root, where, plant)
    assert stats_incremental.read_memory(root).stats is None


def test_signs_of_another_shape_are_dropped_not_trusted(tmp_path: Path) -> None:
    root = corpus(tmp_path / "crm")
    _stored(root)
    assert stats_incremental.read_memory(root).contact_signs

    def plant(maps: list[Any]) -> list[Any]:
        maps[7] = {key: b"short" for key in maps[7]}
        return maps

    _rewrite_part(root, 7, plant)
    read = stats_incremental.read_memory(root)
    assert read.stats is not None and read.contact_signs == {} and read.org_signs == {}


def test_all_of_checks_every_value() -> None:
    check = stats_incremental._all_of
    assert check([], dict) and check([(1, 2), (3, 4)], tuple, 2) and check(iter([b"a", b"b"]), bytes)
    assert not check([(1, 2), (3,)], tuple, 2) and not check([(1, 2), [3, 4]], tuple, 2)
    assert not check([{}, dict()], tuple) and not check([True, 1], int)


def test_the_figures_are_read_from_their_files_only_when_read(tmp_path: Path) -> None:
    """The contacts' pickles are kept in figures-XX.bin: a read memory holds their places
    and reads an entry when it is first read."""
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    memory = _stored(root)
    assert sorted(p.name for p in cache.cache_dir(root).glob("figures-*.bin")) == [
        f"figures-{n:02x}.bin" for n in range(stats_incremental.STATS_PARTS)]
    read = stats_incremental.read_memory(root)
    figures = read.stats.contacts
    assert all(type(packed[0]) is tuple and len(packed[0]) == 4 for packed in figures._packed.values())
    assert as_json(read.stats) == as_json(memory.stats)


@pytest.mark.parametrize("damage", ["missing", "another write", "odd token"])
def test_a_figures_file_of_another_write_makes_the_memory_untrusted(tmp_path: Path, damage: str) -> None:
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    _stored(root)
    path = next(p for p in sorted(cache.cache_dir(root).glob("figures-*.bin")) if p.stat().st_size > 40)
    if damage == "missing":
        path.unlink()
    elif damage == "odd token":
        _rewrite_part(root, stats_incremental._CONTACTS, lambda maps: [*maps[:-1], "é" * 16])
    else:
        older = path.read_bytes()
        _stored(root)  # every part written again, each file under a new token
        path.write_bytes(older)
    assert stats_incremental.read_memory(root).stats is None


def test_a_figure_that_does_not_read_back_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    _stored(root)
    read = stats_incremental.read_memory(root)
    slug = next(iter(read.stats.contacts))
    part, offset, length, _ = read.stats.contacts._packed[slug][0]
    path = cache.cache_dir(root) / f"figures-{part:02x}.bin"
    data = bytearray(path.read_bytes())
    data[len(cache._sections_head("0" * 16)) + offset] ^= 0xFF  # the first byte of that entry
    path.write_bytes(bytes(data))  # the same file (its descriptor is open), changed in place
    with pytest.raises(ValueError, match="delete the .crm-cache folder"):
        read.stats.contacts[slug]


def test_written_figures_are_held_so_no_replaced_file_stays_open(tmp_path: Path) -> None:
    """A long-running process writes the memory after each save: the entries it wrote
    are held as their pickles, not as places in the file it replaced."""
    root = corpus(tmp_path / "crm")
    _stored(root)
    memory = stats_incremental.read_memory(root)
    loaded = load(root)
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    op_add_note(root, 3)
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    figures = memory.stats.contacts
    written = {stats_incremental._part(slug) for slug, packed in figures._packed.items()
               if packed is not None and type(packed[0]) is bytes}
    assert written and all(type(packed[0]) is bytes for slug, packed in figures._packed.items()
                           if packed is not None and stats_incremental._part(slug) in written)
    assert as_json(stats_incremental.read_memory(root).stats) == as_json(got)
    assert {slug: figures[slug] for slug in figures} == {slug: got.contacts[slug] for slug in got.contacts}


def test_with_the_ranks_kept_an_orgs_money_figures_are_kept_and_its_members_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A note added to someone in an org: the org's touches are worked out again, but no
    file's invoices, deals, org or status changed, so its money figures (revenue, open
    deals, pipeline, share) are the last computation's, and no other member's file is
    read whole for its invoices and deals (each such read fills an indexed contact from
    its shard; the people whose own figures are made again read their own). The figures
    equal a full computation's."""
    from site_builder import model

    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = stats_incremental.StatsMemory()
    stats_incremental.compute(loaded.crm, TODAY, memory, loaded.digests, signed=True)
    stats_incremental.write_memory(root, memory)
    people = contacts_of(root)
    crm = loaded.crm
    pick = next(i for i, path in enumerate(people) if (org := crm.contacts[path.stem].org)
                and sum(c.org == org for c in crm.contacts.values()) >= 3
                and any(c.org == org and (c.invoices or c.deals) and c.slug != path.stem
                        for c in crm.contacts.values()))
    edited = people[pick].stem
    org = crm.contacts[edited].org
    op_add_note(root, pick)
    read = stats_incremental.read_memory(root)
    loaded = load(root, lazy=True)  # the contacts from their shards' indexes, as a build after an edit
    assert type(loaded.crm.contacts[people[(pick + 1) % len(people)].stem]) is model.IndexedContact
    filled: list[str] = []
    real = model.fill_indexed
    monkeypatch.setattr(model, "fill_indexed", lambda contact: (filled.append(contact.slug), real(contact))[1])
    got = stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests, signed=True)
    monkeypatch.undo()
    assert read.last == "incremental" and read.kept_summary
    assert org in read.changed[1]  # its figures were made again
    # (the people whose own figures were made again, the note's, read their own files)
    others = {c.slug for c in loaded.crm.contacts.values() if c.org == org} - read.changed[0]
    assert others and not others & set(filled), sorted(others & set(filled))
    assert as_json(got) == as_json(stats.compute(load(root).crm, TODAY))
    assert_signs_are_fresh(got)


@pytest.mark.parametrize("operation", [op_add, op_delete])
def test_an_addition_or_deletion_reads_the_unchanged_files_money_and_facts_from_the_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: object) -> None:
    """A contact added or deleted ranks everyone again and makes the summary again, which
    read every file's money, status, source, time zone and deals: those of the files that
    did not change come from the stats' memory (StoredMemory.file_facts), so no contact is
    read whole but the people whose figures are made again and the members of the org
    groups worked out again (their open deals). Before, all of them were. The figures
    equal a full computation's, and the facts written back are every file's own."""
    from site_builder import model

    root = corpus(tmp_path / "crm")
    _stored(root)
    operation(root, 4)  # type: ignore[operator]
    read = stats_incremental.read_memory(root)
    assert read.stored.has_blobs()
    loaded = load(root, lazy=True)
    read_whole: set[str] = set()
    fill, unpack = model.fill_indexed, model.unpack_cold
    monkeypatch.setattr(model, "fill_indexed", lambda contact: (read_whole.add(contact.slug), fill(contact))[1])
    monkeypatch.setattr(model, "unpack_cold", lambda contact: (read_whole.add(contact.slug), unpack(contact))[1])
    got = stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests, signed=True)
    monkeypatch.undo()
    assert read.last == "incremental" and not read.kept_summary
    crm = loaded.crm
    groups = read.changed[1]
    in_groups = {c.slug for c in crm.contacts.values()
                 if c.org and any(c.org in stats.org_group(g, stats.org_children(crm)) for g in groups)}
    assert read_whole <= read.changed[0] | in_groups, sorted(read_whole - read.changed[0] - in_groups)
    assert len(read_whole) < len(crm.contacts)
    full = load(root).crm
    assert as_json(got) == as_json(stats.compute(full, TODAY))
    stats_incremental.write_memory(root, read)
    again = stats_incremental.read_memory(root)
    stored = {path: entry for n in range(stats_incremental.STATS_PARTS) for path, entry in
              stats_incremental.decode_file_facts(again.stored.blob(stats_incremental.FILE_FACTS, n)).items()}
    assert stored == {e.path: (stats.money_of(e, TODAY), stats.facts_of(e, TODAY)) for e in full.entities()}


@pytest.mark.parametrize("operation", [op_add, op_delete, op_change_org, op_add_note])
def test_an_org_groups_touches_are_moved_by_the_change_not_indexed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: object) -> None:
    """An org's group touches are kept (each org's, and each file's touch sections) and
    moved by the difference the changed files make: the index of an incremental
    computation goes over the files naming the people and orgs whose figures are made
    again, not over every file naming anyone in their orgs' groups. Stored and read
    back, the figures equal a full computation's, and so do the group touches kept."""
    from site_builder import stats_groups, stats_touches

    root = tmp_path / "crm"
    generate.generate(root, contacts=200, sections=4, seed=11)  # ten orgs: a group is a part of the CRM
    _stored(root)
    operation(root, 3)  # type: ignore[operator]
    read = stats_incremental.read_memory(root)
    loaded = load(root)
    indexed: list[int] = []
    real = stats_touches.build_index
    monkeypatch.setattr(stats_touches, "build_index",
                        lambda crm, today, entities=None, **kw: real(crm, today, entities := list(entities), **kw)
                        if indexed.append(len(entities)) is None else None)
    got = stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests, signed=True)
    monkeypatch.undo()
    assert read.last == "incremental"
    full = stats.compute(loaded.crm, TODAY)
    assert as_json(got) == as_json(full)
    everyone_in_groups = stats_incremental._naming(read.footprints, {
        s for org in read.changed[1] for part in stats.org_group(org, stats.org_children(loaded.crm))
        for s in (part, *(c.slug for c in loaded.crm.contacts.values() if c.org == part))})
    assert indexed and indexed[0] < len(everyone_in_groups), (indexed, len(everyone_in_groups))
    stats_incremental.write_memory(root, read)
    again = stats_incremental.read_memory(root)
    index = stats_touches.build_index(loaded.crm, TODAY)
    for slug, linked in index.orgs.items():
        assert again.group_touches[slug] == stats_groups.counted(linked.group_days, linked.group_kinds), slug
    for entity in loaded.crm.entities():
        assert again.file_touches[entity.path] == stats_groups.file_touches(entity, loaded.crm.config, TODAY)


def test_the_kept_blobs_are_read_from_the_figures_files_only_when_wanted_and_checked(
        tmp_path: Path) -> None:
    """The files' money, Facts and touches and the orgs' group touches are kept in the
    figures files, their parts holding only where: reading the memory reads none of them.
    A blob whose bytes were damaged does not read back, and the computation that wanted
    it is made another way, as right."""
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    _stored(root)
    _, _, payloads = cache.read_sharded(cache.cache_dir(root), stats_incremental.STATS_NAME,
                                        stats_incremental.STATS_KIND, stats_incremental._stats_fingerprint(),
                                        stats_incremental.STATS_PARTS)
    places = [payload[at] for payload in payloads for at in stats_incremental._BLOBS if payload[at] is not None]
    assert places and all(stats_incremental._is_place(place) for place in places)
    read = stats_incremental.read_memory(root)
    assert all(type(held) is not bytes for kind in read.stored.blobs for held in kind)
    for number, _, length, _ in places:  # every blob damaged: its last byte flipped
        path = stats_incremental._figures_path(cache.cache_dir(root), number)
        data = bytearray(path.read_bytes())
        place = next(p for p in places if p[0] == number and p[2] == length)
        data[place[1] + place[2] - 1] ^= 0xFF
        path.write_bytes(bytes(data))
    for which, kind in enumerate(read.stored.blobs):
        for number, held in enumerate(kind):
            if held is not None:
                with pytest.raises(ValueError):
                    read.stored.blob(which, number)
    op_add(root, 2)
    read = stats_incremental.read_memory(root)
    loaded = load(root)
    got = stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests, signed=True)
    assert as_json(got) == as_json(stats.compute(loaded.crm, TODAY))


def _memory_as_read(root: Path) -> list[Any]:
    read = stats_incremental.read_memory(root)
    return [as_json(read.stats), read.digests, read.inputs, read.headings, read.footprints,
            {path: stats_incremental.days_of(days) for path, days in read.days.items()},
            read.contact_signs, read.org_signs]


@pytest.mark.parametrize("operation", [op_add_note, op_add, op_delete, op_change_org])
def test_a_write_after_one_computation_finds_the_change_without_comparing_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: object) -> None:
    """After one incremental computation since the memory was read, write_memory takes
    the parts to write, and their keys, from what the computation changed (the files,
    the entries) instead of comparing every file's entries with what was read. What it
    writes reads back the same as what the comparing way writes."""
    copies = [tmp_path / "known", tmp_path / "compared"]
    for root in copies:
        corpus(root)
        _stored(root)
        operation(root, 5)  # type: ignore[operator]
    found: list[object] = []
    real = stats_incremental._known_change
    for root, known in zip(copies, (True, False)):
        monkeypatch.setattr(stats_incremental, "_known_change",
                            lambda memory, signs, known=known: (found.append(r := real(memory, signs)), r)[1]
                            if known else None)
        read = stats_incremental.read_memory(root)
        loaded = load(root)
        stats_incremental.compute(loaded.crm, TODAY, read, loaded.digests, signed=True)
        assert read.last == "incremental"
        stats_incremental.write_memory(root, read)
    monkeypatch.undo()
    assert found and found[0] is not None  # the known way was taken
    known_way, compared_way = (_memory_as_read(root) for root in copies)
    assert known_way == compared_way
    loaded = load(copies[0])
    assert known_way[0] == as_json(stats.compute(loaded.crm, TODAY))

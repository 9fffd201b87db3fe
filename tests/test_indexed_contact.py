"""A one-shot rebuild after a few contact files changed reads the other contacts from
their shards' indexes (cache hot-XX.bin, model.IndexedContact): only the fields such a
rebuild reads of every contact, the rest from the shard when first read. The same values
as a fresh parse whichever field is read first, never a way in for a planted file, and
never used where a rebuild reads every contact whole (an addition, a deletion, an org
changed, many files changed, a long-running process)."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import random
import sys
from datetime import date
from pathlib import Path

import pytest

from site_builder import cache, loader, model
from site_builder.build import build_site

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

PERSON = """---
name: Ada Lovelace
aka: [Ada]
emails: [ada@example.com]
org: analytical
title: Analyst
role: decision-maker
tags: [maths, engines]
tier: A
status: customer
source: referral
referred_by: charles
cadence: 2w
birthday: 1815-12-10
deals:
  - {title: Engine notes, stage: won, amount: 1200, opened: 2024-03-01, closed: 2024-05-01}
favourite_number: 42
---
Summary of Ada, who knows @charles.

## 2026-11-01 call: Engines
We talked about engines with @charles.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    generate.generate(root, contacts=40, sections=3, seed=11)
    (root / "contacts" / "ada.md").write_text(PERSON, encoding="utf-8")
    return root


def rebuild_load(root: Path) -> loader.Loaded:
    """A load as a one-shot rebuild of the same site makes it."""
    return loader.load(root, lazy=True)


def indexed(crm: model.CRM) -> list[str]:
    return [slug for slug, c in crm.contacts.items() if type(c) is model.IndexedContact]


def append(root: Path, rel: str, text: str = "\n## 2026-11-20 call: One more\n\nA call.\n") -> None:
    with (root / rel).open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_a_rebuild_reads_unchanged_contacts_from_the_index(corpus: Path) -> None:
    loader.load(corpus)
    append(corpus, "contacts/ada.md")
    loaded = rebuild_load(corpus)
    assert loaded.reparsed == {"contacts/ada.md"}
    assert type(loaded.crm.contacts["ada"]) is not model.IndexedContact  # the changed file: parsed
    assert len(indexed(loaded.crm)) == len(loaded.crm.contacts) - 1
    assert all(type(o) is model.Org for o in loaded.crm.orgs.values())
    assert loaded.crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_every_field_reads_as_parsed_whichever_is_read_first(corpus: Path) -> None:
    loader.load(corpus)
    fresh = loader.load(corpus, cache=False).crm
    crm = rebuild_load(corpus).crm
    assert len(indexed(crm)) == len(crm.contacts)
    names = [f.name for f in dataclasses.fields(model.Contact)]
    for seed, (slug, contact) in enumerate(crm.contacts.items()):
        order = names[:]
        random.Random(seed).shuffle(order)
        for name in order:
            assert getattr(contact, name) == getattr(fresh.contacts[slug], name), (slug, name)
        assert type(contact) is model.Contact
    ada = crm.contacts["ada"]
    assert ada.birthday == model.Birthday(12, 10, 1815) and ada.deals[0].amount == 1200
    assert ada.custom == {"favourite_number": 42} and ada.cadence_days == 14
    assert ada.meta["favourite_number"] == 42 and ada.line_of("title") == 6


def test_the_indexed_fields_and_sections_read_no_shard(corpus: Path) -> None:
    """What a rebuild reads of every contact, and of those naming a rendered page
    (summary, title, role, status, sections), comes from the index alone."""
    loader.load(corpus)
    fresh = loader.load(corpus, cache=False).crm
    crm = rebuild_load(corpus).crm
    store = crm.contacts["ada"]._source[0].store  # type: ignore[attr-defined]
    for slug, contact in crm.contacts.items():
        for name in model.INDEXED_FIELDS:
            assert getattr(contact, name) == getattr(fresh.contacts[slug], name), (slug, name)
        assert contact.kind == "contact" and len(contact.sections) == len(fresh.contacts[slug].sections)
        assert type(contact) is model.IndexedContact
    assert all(n >= cache.SHARDS for n in store._shards)  # the orgs' shards alone


def test_filling_one_contact_reads_its_shard_only(corpus: Path) -> None:
    loader.load(corpus)
    crm = rebuild_load(corpus).crm
    ada = crm.contacts["ada"]
    store = ada._source[0].store  # type: ignore[attr-defined]
    assert ada.custom == {"favourite_number": 42}
    assert type(ada) in (model.LazyContact, model.Contact)
    assert {n for n in store._shards if n < cache.SHARDS} == {cache._shard_of("contacts/ada.md")}


def test_setting_a_field_fills_the_contact_first(corpus: Path) -> None:
    loader.load(corpus)
    fresh = loader.load(corpus, cache=False).crm.contacts["ada"]
    crm = rebuild_load(corpus).crm
    ada = crm.contacts["ada"]
    ada.trivia = "Wrote the first program."
    assert ada.trivia == "Wrote the first program." and ada.deals == fresh.deals and ada.summary == fresh.summary
    crm = rebuild_load(corpus).crm
    crm.contacts["ada"].title = "Countess"
    assert crm.contacts["ada"].title == "Countess" and crm.contacts["ada"].role == "decision-maker"


def test_copies_replacements_pickles_and_equality_see_the_whole_contact(corpus: Path) -> None:
    loader.load(corpus)
    fresh = loader.load(corpus, cache=False).crm
    want = fresh.contacts["ada"]
    crm = rebuild_load(corpus).crm
    assert pickle.loads(pickle.dumps(crm.contacts["ada"])) == want
    other = next(slug for slug in crm.contacts if slug != "ada")
    assert copy.deepcopy(crm.contacts[other]) == fresh.contacts[other]
    crm = rebuild_load(corpus).crm
    replaced = dataclasses.replace(crm.contacts["ada"], org=None)
    assert type(replaced) is model.Contact and replaced.org is None and replaced.title == "Analyst"
    crm = rebuild_load(corpus).crm
    assert "Ada Lovelace" in repr(crm.contacts["ada"])
    crm = rebuild_load(corpus).crm
    assert fresh.contacts == crm.contacts and crm.contacts == fresh.contacts
    assert dataclasses.asdict(rebuild_load(corpus).crm.contacts["ada"])["custom"] == {"favourite_number": 42}


@pytest.mark.parametrize("change", ["add", "delete", "org", "many", "rename"])
def test_rebuilds_that_read_every_contact_do_not_use_the_index(corpus: Path, change: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "INDEXED_MAX_CHANGED", 2)
    loader.load(corpus)
    contacts = sorted((corpus / "contacts").glob("*.md"))
    if change == "add":
        (corpus / "contacts" / "new-person.md").write_text("---\nname: New Person\n---\n", encoding="utf-8")
    elif change == "delete":
        contacts[3].unlink()
    elif change == "org":
        append(corpus, "orgs/" + sorted(p.name for p in (corpus / "orgs").glob("*.md"))[0])
    elif change == "many":
        for path in contacts[:3]:
            append(corpus, "contacts/" + path.name)
    else:
        contacts[3].rename(contacts[3].with_name("renamed-person.md"))
    assert not indexed(rebuild_load(corpus).crm)


def test_up_to_the_limit_of_changed_files_the_index_is_used(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "INDEXED_MAX_CHANGED", 2)
    loader.load(corpus)
    for path in sorted((corpus / "contacts").glob("*.md"))[:2]:
        append(corpus, "contacts/" + path.name)
    loaded = rebuild_load(corpus)
    assert len(loaded.reparsed) == 2 and len(indexed(loaded.crm)) == len(loaded.crm.contacts) - 2


def test_a_long_running_process_and_a_full_load_do_not_use_it(corpus: Path) -> None:
    loader.load(corpus)
    assert not indexed(loader.load(corpus).crm)
    assert not indexed(loader.load(corpus, lazy=True, memory=loader.LoadMemory()).crm)


def remove_indexes(root: Path) -> None:
    for path in (root / cache.CACHE_DIR).glob("hot-*.bin"):
        path.unlink()


def test_without_its_index_a_shard_is_read_whole(corpus: Path) -> None:
    loader.load(corpus)
    remove_indexes(corpus)
    crm = rebuild_load(corpus).crm
    assert not indexed(crm) and crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_an_index_of_another_write_than_its_sections_file_is_not_used(corpus: Path) -> None:
    """A write cut short between a shard and its index leaves the older index, which
    names the older sections file: it is not used."""
    loader.load(corpus)
    rel = "contacts/ada.md"
    number = cache._shard_of(rel)
    hot = corpus / cache.CACHE_DIR / f"hot-{number:02x}.bin"
    older = hot.read_bytes()
    append(corpus, rel)
    loader.load(corpus)
    hot.write_bytes(older)
    crm = rebuild_load(corpus).crm
    neighbours = [slug for slug, c in crm.contacts.items() if cache._shard_of(c.path) == number]
    assert neighbours and not set(neighbours) & set(indexed(crm))
    assert crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_a_planted_index_never_runs_and_never_stands(corpus: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    loader.load(corpus)
    fingerprint = cache.program_fingerprint(cache.PARSE_MODULES)
    rel = "contacts/ada.md"
    hot = corpus / cache.CACHE_DIR / f"hot-{cache._shard_of(rel):02x}.bin"
    want = loader.load(corpus, cache=False).crm.contacts
    entries = cache.read_blob(hot, "hot", fingerprint)
    source, real = entries
    digest = real[rel][0]
    state = model.indexed_state(want["ada"], (source, digest), None)
    odd_token = cache.HotShard("é" * 16)
    bad_source = dict(state, _source="not a source")
    def entry(entity: object, problems: list[object] | None = None) -> tuple[str, object]:
        return digest, cache.LoadedFile(rel, problems or [], True, entity)  # type: ignore[arg-type]

    for payload in (Exploit(), {"not": "an index"}, (source, {rel: entry(Exploit())}),
                    (source, {rel: entry("not a contact")}), (source, {rel: (digest, "not a file")}), (source, {rel: 7}),
                    (source, {rel: entry(cache._ToIndex(state), ["not a problem"])}),
                    (source, {rel: entry(cache._ToIndex(bad_source))}), (odd_token, {rel: entry(cache._ToIndex(state))})):
        cache.write_blob(hot, "hot", fingerprint, payload, cache._hot_pickler)
        crm = rebuild_load(corpus).crm
        assert "ada" not in indexed(crm) and indexed(crm)  # the other shards' contacts are
        assert crm.contacts == want
        assert not marker.exists()


def test_a_contact_whose_shard_is_gone_is_parsed_again_or_is_an_error_that_says_what_to_do(corpus: Path) -> None:
    loader.load(corpus)
    crm = rebuild_load(corpus).crm
    rel = "contacts/ada.md"
    (corpus / cache.CACHE_DIR / f"parsed-{cache._shard_of(rel):02x}.bin").unlink()
    assert crm.contacts["ada"].custom == {"favourite_number": 42}  # the file is as indexed: parsed again
    loader.load(corpus)
    crm = rebuild_load(corpus).crm
    (corpus / cache.CACHE_DIR / f"parsed-{cache._shard_of(rel):02x}.bin").unlink()
    (corpus / rel).write_text(PERSON.replace("Analyst", "Engineer"), encoding="utf-8")
    with pytest.raises(RuntimeError, match=f"{rel}; delete .crm-cache"):
        crm.contacts["ada"].custom


def test_sections_whose_file_was_replaced_are_parsed_again(corpus: Path) -> None:
    loader.load(corpus)
    fresh = loader.load(corpus, cache=False).crm.contacts["ada"]
    crm = rebuild_load(corpus).crm
    rel = "contacts/ada.md"
    sections_file = corpus / cache.CACHE_DIR / f"sections-{cache._shard_of(rel):02x}.bin"
    sections_file.write_bytes(b"replaced")
    assert type(crm.contacts["ada"]) is model.IndexedContact
    assert list(crm.contacts["ada"].sections) == list(fresh.sections)


def test_a_rebuilds_site_is_the_clean_builds(corpus: Path, tmp_path: Path) -> None:
    """An edit's rebuild, with every unchanged contact from the index, writes the same
    bytes as a clean build of the same files."""
    today = date(2026, 11, 22)
    build_site(corpus, tmp_path / "a", today)
    append(corpus, "contacts/ada.md", "\n## 2026-11-21 meeting: Plans\n\nPlans with @charles. #engines\n")
    build_site(corpus, tmp_path / "a", today)
    cache.clear(corpus)
    build_site(corpus, tmp_path / "b", today)
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)


def test_an_edit_writes_its_shards_index_again_with_the_others_unchanged(corpus: Path) -> None:
    """The index of a shard written again after an edit gives its other contacts their
    fields as before and their sections' new places (the sections file is written anew)."""
    loader.load(corpus)
    by_shard: dict[int, list[str]] = {}
    for path in sorted((corpus / "contacts").glob("*.md")):
        by_shard.setdefault(cache._shard_of(f"contacts/{path.name}"), []).append(path.stem)
    edited, *neighbours = next(slugs for slugs in by_shard.values() if len(slugs) > 1)
    append(corpus, f"contacts/{edited}.md")
    rebuild_load(corpus)  # reads the index, then writes the shard and its index again
    other = next(slugs[0] for slugs in by_shard.values() if edited not in slugs)
    append(corpus, f"contacts/{other}.md")
    fresh = loader.load(corpus, cache=False).crm
    crm = rebuild_load(corpus).crm
    for slug in [*neighbours, edited]:
        contact = crm.contacts[slug]
        assert type(contact) is model.IndexedContact
        sections = contact.sections
        assert cache.read_sections(sections._at) is not None  # its place in the new sections file
        assert list(sections) == list(fresh.contacts[slug].sections)
        assert contact == fresh.contacts[slug]


def test_the_index_is_used_up_to_where_the_stats_are_worked_out_in_full() -> None:
    """Beyond stats_incremental.MAX_CHANGED_FILES the stats read every contact whole: the
    index would only add the filling of each (kept apart so that a load imports no stats)."""
    from site_builder import stats_incremental

    assert loader.INDEXED_MAX_CHANGED == stats_incremental.MAX_CHANGED_FILES

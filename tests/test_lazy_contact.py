"""A contact from the parse cache holds its less-read fields (model.CONTACT_COLD_FIELDS)
packed until one is read (model.LazyContact, cache.PackedCold): the same values as a
fresh parse, whichever field is read first, and never a way in for a planted file."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import random
import sys
from pathlib import Path

import pytest

from site_builder import cache, loader, model


@pytest.fixture(autouse=True)
def shards_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a load reads from the parse shards themselves: never from their indexes
    (hot-XX.bin, tests/test_indexed_contact.py), which a rebuild uses when few files changed."""
    monkeypatch.setattr(loader, "INDEXED_MAX_CHANGED", -1)


REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

PERSON = """---
name: Ada Lovelace
aka: [Ada]
pronouns: she/her
emails: [ada@example.com]
phones: ["+44 20 7946 0000"]
addresses: [12 St James's Square, London]
links: {site: "https://example.com/ada"}
org: analytical
title: Analyst
role: decision-maker
tags: [maths, engines]
tier: A
status: customer
since: 2024-02-01
customer_since: 2024-05-01
source: referral
referred_by: charles
cadence: 2w
follow_up: 2026-12-01
snooze_until: 2026-11-01
preferred_channel: email
newsletter: subscribed
timezone: Europe/London
location: London
birthday: 1815-12-10
family: {daughter: Ada}
interests: [poetry, engines]
trivia: Wrote the first program.
deals:
  - {title: Engine notes, stage: won, amount: 1200, opened: 2024-03-01, closed: 2024-05-01}
invoices:
  - {number: "7", date: 2024-05-02, amount: 1200, due: 2024-06-01, paid: 2024-05-20}
favourite_number: 42
---
Summary of Ada, who knows @charles.

## 2026-11-01 call: Engines
We talked about engines.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    generate.generate(root, contacts=30, sections=3, seed=7)
    (root / "contacts" / "ada.md").write_text(PERSON, encoding="utf-8")
    return root


def is_packed(contact: model.Contact) -> bool:
    return type(contact) is model.LazyContact and isinstance(model.packed_cold(contact), cache.PackedCold)


def fresh_and_lazy(root: Path) -> tuple[model.CRM, model.CRM]:
    fresh = loader.load(root, cache=False).crm
    loader.load(root)
    return fresh, loader.load(root, lazy=True).crm


def test_every_field_reads_as_parsed_whichever_is_read_first(corpus: Path) -> None:
    fresh, lazy = fresh_and_lazy(corpus)
    assert all(is_packed(c) for c in lazy.contacts.values())
    fields = [f.name for f in dataclasses.fields(model.Contact)]
    for seed, (slug, contact) in enumerate(lazy.contacts.items()):
        order = fields[:]
        random.Random(seed).shuffle(order)
        for name in order:
            assert getattr(contact, name) == getattr(fresh.contacts[slug], name), (slug, name)
        assert type(contact) is model.Contact  # unpacked once, then a plain contact
    ada = lazy.contacts["ada"]
    assert ada.birthday == model.Birthday(12, 10, 1815) and ada.deals[0].amount == 1200
    assert ada.custom == {"favourite_number": 42} and ada.cadence_days == 14


def test_reading_another_field_leaves_the_packed_ones_packed(corpus: Path) -> None:
    """The fields a rebuild reads of every contact never unpack the others."""
    fresh, lazy = fresh_and_lazy(corpus)
    for slug, contact in lazy.contacts.items():
        for name in ("slug", "path", "name", "tags", "emails", "org", "referred_by", "tier", "private"):
            assert getattr(contact, name) == getattr(fresh.contacts[slug], name)
        assert len(contact.sections) == len(fresh.contacts[slug].sections)
        assert isinstance(contact, model.Contact) and contact.kind == "contact"
        assert is_packed(contact)
    assert lazy.contacts == fresh.contacts  # equality unpacks, and is the fresh parse's


def test_a_full_load_unpacks_every_contact_once(corpus: Path) -> None:
    """A load that decodes everything (a full build) unpacks each contact in the loading
    process, not in every forked process that reads them."""
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    warm = loader.load(corpus).crm
    assert all(type(c) is model.Contact for c in warm.contacts.values())
    assert warm.contacts == fresh.contacts


def test_setting_a_packed_field_keeps_the_others(corpus: Path) -> None:
    fresh, lazy = fresh_and_lazy(corpus)
    ada = lazy.contacts["ada"]
    ada.title = "Countess"
    assert type(ada) is model.Contact and ada.title == "Countess"
    assert ada.role == "decision-maker" and ada.summary == fresh.contacts["ada"].summary


def test_copies_replacements_and_pickles_are_plain_contacts(corpus: Path) -> None:
    """Code outside the cache (exports' redact, copies, a pickle) sees a plain contact."""
    fresh, lazy = fresh_and_lazy(corpus)
    want = fresh.contacts["ada"]
    assert pickle.loads(pickle.dumps(lazy.contacts["ada"])) == want
    assert copy.deepcopy(lazy.contacts[generate_slug(lazy)]) == fresh.contacts[generate_slug(lazy)]
    _, lazy = fresh_and_lazy(corpus)
    replaced = dataclasses.replace(lazy.contacts["ada"], org=None)
    assert type(replaced) is model.Contact and replaced.org is None and replaced.title == "Analyst"
    _, lazy = fresh_and_lazy(corpus)
    assert "Ada Lovelace" in repr(lazy.contacts["ada"])
    assert dataclasses.asdict(lazy.contacts["ada"])["trivia"] == "Wrote the first program."


def generate_slug(crm: model.CRM) -> str:
    return next(slug for slug in crm.contacts if slug != "ada")


def test_an_edit_rewrites_its_shard_with_the_others_still_packed(corpus: Path) -> None:
    """A shard written again after an edit writes its other contacts as they were read
    (packed), without unpacking them, and they read back the same."""
    files = sorted("contacts/" + p.name for p in (corpus / "contacts").glob("*.md"))
    rel = next(r for r in files if any(cache._shard_of(o) == cache._shard_of(r) for o in files if o != r))
    neighbours = [o for o in files if o != rel and cache._shard_of(o) == cache._shard_of(rel)]
    loader.load(corpus)
    with (corpus / rel).open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-20 call: One more\n\nA call.\n")
    again = loader.load(corpus, lazy=True)
    assert all(is_packed(again.crm.contacts[Path(r).stem]) for r in neighbours)
    reread = loader.load(corpus, lazy=True)
    assert not reread.reparsed
    assert reread.crm.contacts == loader.load(corpus, cache=False).crm.contacts


def plant_cold(root: Path, rel: str, data: bytes) -> None:
    """Rewrite rel's cache entry as the parse cache writes it, its packed fields being data."""
    store = cache.ParseCache.open(root, lazy=True)
    number = cache._shard_of(rel)
    shard = store._shard(number)
    planted = cache.PackedCold()
    planted.__setstate__((None, {"_data": data}))
    model._HOLDER_SLOT.__set__(shard[rel][1][3], planted)
    store._dirty_shards.add(number)
    store.save()


def test_planted_fields_are_parsed_again_from_the_file(corpus: Path, tmp_path: Path) -> None:
    """Bytes with a valid checksum that do not decode to the fields (garbage, a class the
    unpickler refuses, another shape) never run and never stand."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    rel = "contacts/ada.md"
    want = loader.load(corpus, cache=False).crm.contacts["ada"]
    for data in (b"garbage", pickle.dumps(Exploit()), pickle.dumps(("too", "short"))):
        loader.load(corpus)
        plant_cold(corpus, rel, data)
        lazy = loader.load(corpus, lazy=True).crm.contacts["ada"]
        assert is_packed(lazy) and lazy.title == want.title and lazy == want
        plant_cold(corpus, rel, data)
        eager = loader.load(corpus)  # a full load drops the entry and parses the file again
        assert rel in eager.reparsed and eager.crm.contacts["ada"] == want
        assert not marker.exists()


def test_planted_fields_of_a_file_changed_since_are_an_error_that_says_what_to_do(corpus: Path) -> None:
    rel = "contacts/ada.md"
    loader.load(corpus)
    plant_cold(corpus, rel, b"garbage")
    contact = loader.load(corpus, lazy=True).crm.contacts["ada"]
    (corpus / rel).write_text(PERSON + "\nChanged.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="delete .crm-cache"):
        contact.title


def test_a_lazy_contact_without_its_packed_fields_is_a_miss(corpus: Path) -> None:
    """A LazyContact whose holder field is not a PackedCold is refused: parsed again."""
    rel = "contacts/ada.md"
    loader.load(corpus)
    store = cache.ParseCache.open(corpus, lazy=True)
    number = cache._shard_of(rel)
    shard = store._shard(number)
    model._HOLDER_SLOT.__set__(shard[rel][1][3], {"not": "packed"})
    store._dirty_shards.add(number)
    store.save()
    reloaded = loader.load(corpus, lazy=True)
    assert rel in reloaded.reparsed
    assert reloaded.crm.contacts == loader.load(corpus, cache=False).crm.contacts

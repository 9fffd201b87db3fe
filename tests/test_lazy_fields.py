"""A cached contact's seldom-read fields (model.PACKED_FIELDS) stay one packed object
until one is read (cache.PackedFields, model.Entity.__getattr__): the same values as a
fresh parse, decoded by the restricted unpickler, and never a way in for a planted file."""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys
from pathlib import Path

import pytest

from site_builder import cache, loader, model

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    generate.generate(root, contacts=30, sections=4, seed=5)
    return root


def first_contact(root: Path) -> str:
    return "contacts/" + sorted((root / "contacts").glob("*.md"))[0].name


def packed(entity: model.Entity) -> bool:
    return model.packed_fields(entity) is not None


def plant(root: Path, rel: str, fields: object) -> None:
    """Rewrite rel's cache entry (a valid shard, header and checksum included) with
    fields in place of its packed fields, as the parse cache writes entries."""
    store = cache.ParseCache.open(root, lazy=True)
    number = cache._shard_of(rel)
    shard = store._shard(number)
    model._PACKED_SLOT.__set__(shard[rel][1][3], fields)
    with cache.packing():
        assert cache.write_blob(store._shard_path(number), "parsed", store.fingerprint, shard)


def test_fields_are_decoded_only_when_one_is_read(corpus: Path) -> None:
    fresh = loader.load(corpus, cache=False).crm
    assert not any(packed(e) for e in fresh.entities())
    loader.load(corpus)
    warm = loader.load(corpus, lazy=True).crm
    assert all(packed(c) for c in warm.contacts.values()) and not any(packed(o) for o in warm.orgs.values())
    contact = next(iter(warm.contacts.values()))
    want = fresh.contacts[contact.slug]
    assert contact.name == want.name and contact.tags == want.tags and packed(contact)  # read as held
    assert contact.invoices == want.invoices and not packed(contact)  # one read: all of them out
    assert model.packed_values(contact) == model.packed_values(want)
    assert sum(not packed(c) for c in warm.contacts.values()) == 1
    assert warm.contacts == fresh.contacts and warm.orgs == fresh.orgs


def test_a_field_set_on_a_packed_contact_keeps_its_value(corpus: Path) -> None:
    """Pickled for the parse cache (cache.packing) a contact is packed whole again, with
    the field as set; pickled for anything else, plain."""
    loader.load(corpus)
    crm = loader.load(corpus, lazy=True).crm
    contact, other = list(crm.contacts.values())[:2]
    want = loader.load(corpus, cache=False).crm.contacts[contact.slug]
    contact.title = other.title = "Set since"
    plain = pickle.loads(pickle.dumps(contact))
    with cache.packing():
        repacked = pickle.loads(pickle.dumps(other))
    assert not packed(plain) and packed(repacked) and not packed(contact)
    for one in (contact, plain, repacked):
        assert one.title == "Set since" and not packed(one)
    assert dataclasses.replace(plain, title=want.title) == want
    fresh = loader.load(corpus, lazy=True).crm.contacts[contact.slug]
    fresh.title = "Set again"  # on a contact still packed: unpacking the others leaves it as set
    assert packed(fresh) and fresh.birthday == want.birthday and not packed(fresh)
    assert fresh.title == "Set again" and fresh.phones == want.phones


def test_a_full_load_and_the_exports_read_the_same_values(corpus: Path) -> None:
    from site_builder.exports.vcard import contact_to_vcard

    fresh = loader.load(corpus, cache=False, workers=2).crm
    loader.load(corpus)
    warm = loader.load(corpus).crm
    assert not any(packed(c) for c in warm.contacts.values())  # made into objects as each shard is read
    assert warm.contacts == fresh.contacts
    for slug, contact in warm.contacts.items():
        assert contact_to_vcard(contact) == contact_to_vcard(fresh.contacts[slug])


def test_planted_fields_are_parsed_again_from_the_file(corpus: Path, tmp_path: Path) -> None:
    """Bytes with a valid checksum that do not decode to the fields (garbage, a class the
    unpickler refuses, another shape) never run and never stand: the file is parsed again."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    rel = first_contact(corpus)
    slug = Path(rel).stem
    want = loader.load(corpus, cache=False).crm.contacts[slug]
    for data in (b"garbage", pickle.dumps(Exploit()), pickle.dumps(("too", "short")),
                 pickle.dumps(["not", "a", "tuple"] * 10)):
        loader.load(corpus)
        planted = cache.PackedFields()
        planted.__setstate__((None, {"_data": data}))
        plant(corpus, rel, planted)
        contact = loader.load(corpus, lazy=True).crm.contacts[slug]
        assert packed(contact) and model.packed_values(contact) == model.packed_values(want)
        plant(corpus, rel, planted)
        eager = loader.load(corpus)  # reads every field: the entry is dropped and its file parsed again
        assert rel in eager.reparsed and eager.crm.contacts[slug] == want
        assert not marker.exists()


def test_planted_fields_of_a_file_changed_since_are_an_error_that_says_what_to_do(corpus: Path) -> None:
    rel = first_contact(corpus)
    loader.load(corpus)
    planted = cache.PackedFields()
    planted.__setstate__((None, {"_data": b"garbage"}))
    plant(corpus, rel, planted)
    contact = loader.load(corpus, lazy=True).crm.contacts[Path(rel).stem]
    (corpus / rel).write_text((corpus / rel).read_text(encoding="utf-8") + "\nChanged.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="delete .crm-cache"):
        contact.title


@pytest.mark.parametrize("planted", [{"title": "Planted"}, "text", ("a", "tuple")])
def test_an_entry_whose_packed_fields_are_of_another_kind_is_discarded(corpus: Path, planted: object) -> None:
    rel = first_contact(corpus)
    loader.load(corpus)
    plant(corpus, rel, planted)
    reloaded = loader.load(corpus, lazy=True)
    assert rel in reloaded.reparsed
    assert reloaded.crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_an_unset_attribute_that_is_no_packed_field_is_an_attribute_error(corpus: Path) -> None:
    loader.load(corpus)
    contact = next(iter(loader.load(corpus, lazy=True).crm.contacts.values()))
    with pytest.raises(AttributeError, match="no attribute 'nickname'"):
        contact.nickname  # type: ignore[attr-defined]
    assert getattr(contact, "nickname", None) is None and packed(contact)

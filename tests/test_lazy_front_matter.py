"""A cached file's front matter and its lines (Entity.meta, Entity.lines) stay one packed
object until read (cache.PackedFrontMatter, model._FrontMatterField): the same data as
a fresh parse, decoded by the restricted unpickler, and never a way in for a planted file."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from site_builder import cache, loader, model
from site_builder.validate import validate


@pytest.fixture(autouse=True)
def shards_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a load reads from the parse shards themselves: never from their indexes
    (hot-XX.bin, tests/test_indexed_contact.py), which a rebuild uses when few files changed."""
    monkeypatch.setattr(loader, "INDEXED_MAX_CHANGED", -1)


REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    generate.generate(root, contacts=30, sections=4, seed=5)
    return root


def contact_files(root: Path) -> list[str]:
    return ["contacts/" + p.name for p in sorted((root / "contacts").glob("*.md"))]


def packed(entity: model.Entity) -> bool:
    meta, lines = model.raw_front_matter(entity)
    return isinstance(meta, cache.PackedFrontMatter) and lines is meta


def plant(root: Path, rel: str, front: cache.PackedFrontMatter) -> None:
    """Rewrite rel's cache entry (a valid shard, header and checksum included) with front
    in place of its front matter and lines, as the parse cache writes entries."""
    store = cache.ParseCache.open(root, lazy=True)
    number = cache._shard_of(rel)
    shard = store._shard(number)
    model.set_raw_front_matter(shard[rel][1][3], front)
    cache.pack_front_matter(shard)
    assert cache.write_blob(store._shard_path(number), "parsed", store.fingerprint, shard)


def test_front_matter_is_decoded_only_when_read(corpus: Path) -> None:
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    warm = loader.load(corpus, lazy=True).crm
    assert all(packed(e) for e in warm.entities())
    contact = next(iter(warm.contacts.values()))
    assert contact.lines == fresh.contacts[contact.slug].lines  # lines first: both come out
    assert not packed(contact) and model.raw_front_matter(contact)[0] == fresh.contacts[contact.slug].meta
    assert sum(not packed(e) for e in warm.entities()) == 1
    for slug, c in warm.contacts.items():
        assert c.meta == fresh.contacts[slug].meta and c.lines == fresh.contacts[slug].lines
        assert c.line_of("name") == fresh.contacts[slug].line_of("name") == 2
    assert warm.contacts == fresh.contacts and warm.orgs == fresh.orgs


def test_a_full_load_keeps_the_front_matter_packed_too(corpus: Path) -> None:
    """A load that decodes every file's sections still leaves the front matter packed
    (`crm stats` never reads it); files parsed afresh have theirs as dicts."""
    fresh = loader.load(corpus, cache=False, workers=2).crm
    assert not any(packed(e) for e in fresh.entities())
    loader.load(corpus)
    warm = loader.load(corpus).crm
    assert all(packed(e) for e in warm.entities())
    assert all(isinstance(c.sections, list) or c.sections._list is not None for c in warm.contacts.values())
    assert warm.contacts == fresh.contacts and warm.orgs == fresh.orgs


def test_checks_from_packed_front_matter_are_the_same(corpus: Path) -> None:
    """The checks read meta and lines (a duplicate email names both lines): from a lazy
    load they find what they find in a fresh parse, line for line."""
    files = contact_files(corpus)
    email = "shared@example.com"
    for rel in files[:2]:
        text = (corpus / rel).read_text(encoding="utf-8")
        (corpus / rel).write_text(text.replace("\nemails:\n", f"\nemails:\n  - {email}\n", 1), encoding="utf-8")
    loader.load(corpus)
    warm = loader.load(corpus, lazy=True).crm
    fresh = loader.load(corpus, cache=False).crm
    found = validate(warm)
    assert found == validate(fresh)
    assert [p.code for p in found].count("duplicate-email") == 1


def test_an_edit_rewrites_its_shard_with_the_others_still_packed(corpus: Path) -> None:
    files = contact_files(corpus)
    rel = files[0]
    neighbours = [r for r in files[1:] if cache._shard_of(r) == cache._shard_of(rel)]
    loader.load(corpus)
    with (corpus / rel).open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-20 call: One more\n\nA call.\n")
    loader.load(corpus, lazy=True)  # rewrites rel's shard from its entries, as read
    again = loader.load(corpus, lazy=True)
    assert rel not in again.reparsed and not any(r in again.reparsed for r in neighbours)
    assert again.crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_planted_front_matter_is_parsed_again_from_the_file(corpus: Path, tmp_path: Path) -> None:
    """Bytes with a valid checksum that do not decode to (meta, lines) (garbage, a class
    the unpickler refuses, another shape) never run and never stand: the file is parsed again."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    rel = contact_files(corpus)[0]
    slug = Path(rel).stem
    want = loader.load(corpus, cache=False).crm.contacts[slug]
    for data in (b"garbage", pickle.dumps(Exploit()), pickle.dumps(({"name": "Planted"},)),
                 pickle.dumps(({"name": "Planted"}, ["not", "a", "dict"]))):
        loader.load(corpus)
        planted = cache.PackedFrontMatter()
        planted.__setstate__((None, {"_data": data}))
        plant(corpus, rel, planted)
        crm = loader.load(corpus, lazy=True).crm
        assert crm.contacts[slug].meta == want.meta and crm.contacts[slug].lines == want.lines
        plant(corpus, rel, planted)  # a full load: the same, when the front matter is read
        eager = loader.load(corpus)
        assert eager.crm.contacts[slug] == want
        assert not marker.exists()


def test_planted_front_matter_of_a_file_changed_since_is_an_error_that_says_what_to_do(corpus: Path) -> None:
    rel = contact_files(corpus)[0]
    loader.load(corpus)
    planted = cache.PackedFrontMatter()
    planted.__setstate__((None, {"_data": b"garbage"}))
    plant(corpus, rel, planted)
    contact = loader.load(corpus, lazy=True).crm.contacts[Path(rel).stem]
    (corpus / rel).write_text((corpus / rel).read_text(encoding="utf-8") + "\nChanged.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="delete .crm-cache"):
        contact.meta


def test_an_entry_whose_front_matter_is_neither_dicts_nor_packed_is_discarded(corpus: Path) -> None:
    """The parse cache takes (dict, dict) or one PackedFrontMatter for both, nothing else:
    such an entry is a miss and its file is parsed again."""
    rel = contact_files(corpus)[0]
    loader.load(corpus)
    store = cache.ParseCache.open(corpus, lazy=True)
    number = cache._shard_of(rel)
    shard = store._shard(number)
    entity = shard[rel][1][3]
    model._META_SLOT.__set__(entity, {"name": "Planted"})
    model._LINES_SLOT.__set__(entity, ["not", "lines"])
    assert cache.write_blob(store._shard_path(number), "parsed", store.fingerprint, shard)
    reloaded = loader.load(corpus, lazy=True)
    assert rel in reloaded.reparsed
    assert reloaded.crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_front_matter_can_be_set_and_replaced_like_any_field() -> None:
    """Code that makes or changes entities (exports' redact, dataclasses.replace) sees
    plain fields."""
    import dataclasses

    from site_builder.parse import parse_file

    contact = cache.load_parsed(parse_file("contacts/ada.md", b"---\nname: Ada\nphones: ['1']\n---\n")).entity
    assert isinstance(contact, model.Contact) and contact.meta["name"] == "Ada"
    other = dataclasses.replace(contact, meta={"name": "Bea"})
    assert other.meta == {"name": "Bea"} and other.lines == contact.lines and contact.meta["name"] == "Ada"
    contact.lines = {("name",): 7}
    assert contact.line_of("name") == 7
    assert pickle.loads(pickle.dumps(contact)) == contact


_KEYS = st.text(min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, st.one_of(st.text(max_size=8), st.integers(), st.lists(_KEYS, max_size=3)), max_size=6),
       _KEYS)
def test_may_have_key_never_says_no_to_a_key_it_has(meta: dict[str, object], key: str) -> None:
    """PackedFrontMatter.may_have_key, undecoded: False only for a key the front matter
    has not (any text, a key that is also another key's value, non-ASCII)."""
    front = cache.PackedFrontMatter()
    front.__setstate__((None, {"_data": pickle.dumps((meta, {}), protocol=5)}))
    for asked in (key, *meta):
        if asked in meta:
            assert front.may_have_key(asked)
        if not front.may_have_key(asked):
            assert asked not in meta
    assert front._value is None  # still packed
    front.try_decode()
    assert front.may_have_key(key) == (key in meta)


def test_private_fields_unpack_only_files_that_name_them(corpus: Path) -> None:
    """The site's vCards leave a file's private fields out (privacy.redact) when its front
    matter comes packed from the cache; files without private_fields stay packed."""
    from site_builder.exports import privacy

    rel = contact_files(corpus)[0]
    path = corpus / rel
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\n", "\nprivate_fields: [emails, phones]\n", 1), encoding="utf-8")
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    warm = loader.load(corpus, lazy=True).crm
    slug = rel[len("contacts/"):-len(".md")]
    for s, contact in warm.contacts.items():
        hidden = privacy.private_fields(contact)
        assert hidden == privacy.private_fields(fresh.contacts[s])
        assert packed(contact) == (s != slug)
    redacted = privacy.redact(warm.contacts[slug])
    assert redacted.emails == [] and redacted.phones == []
    assert fresh.contacts[slug].emails  # the corpus's contact had some to hide

"""A cached file's sections stay bytes until read (cache.LazySections): same data as a
fresh parse, decoded by the restricted unpickler, and never a way in for a planted file."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

from site_builder import cache, loader


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


def first_contact(root: Path) -> str:
    return "contacts/" + sorted((root / "contacts").glob("*.md"))[0].name


def plant(root: Path, rel: str, sections: object) -> None:
    """Rewrite rel's cache entry (a valid shard, header and checksum included) with
    sections in place of its sections."""
    store = cache.ParseCache.open(root, lazy=True)  # as stored, planted entries included
    number = cache._shard_of(rel)
    shard = store._shard(number)
    digest, (path, problems, ok, entity) = shard[rel]
    entity.sections = sections
    shard[rel] = (digest, (path, problems, ok, entity))
    assert cache.write_blob(store._shard_path(number), "parsed", store.fingerprint, shard)


def test_sections_are_decoded_only_when_read(corpus: Path) -> None:
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    warm = loader.load(corpus, lazy=True).crm
    lazy = [c.sections for c in warm.contacts.values()]
    assert all(isinstance(s, cache.LazySections) for s in lazy)
    # Not even their bytes are read: they stay in the shard's notes file until then.
    assert all(s._list is None and s._data is None and s._at is not None for s in lazy)
    contact = next(iter(warm.contacts.values()))
    assert len(contact.sections) == len(fresh.contacts[contact.slug].sections)
    assert contact.sections._list is not None and contact.sections._data is None  # the bytes are let go
    assert sum(s._list is not None for s in lazy) == 1
    # Read as the list they stand for, in every way the program reads them.
    for slug, c in warm.contacts.items():
        want = fresh.contacts[slug].sections
        assert list(c.sections) == want and c.sections == want and want == c.sections
        assert list(reversed(c.sections)) == want[::-1] and c.sections[1:] == want[1:] and bool(c.sections) == bool(want)
    assert warm.contacts == fresh.contacts


def test_without_lazy_every_file_is_decoded_as_it_is_loaded(corpus: Path) -> None:
    """A caller that reads every file's sections gets them decoded shard by shard as the
    cache is read (peak memory), from the cache and from parsing workers alike."""
    fresh = loader.load(corpus, cache=False).crm
    for crm in (loader.load(corpus).crm, loader.load(corpus).crm, loader.load(corpus, cache=False, workers=2).crm):
        sections = [c.sections for c in crm.contacts.values()]
        assert all(isinstance(s, list) or s._list is not None for s in sections)
        assert crm.contacts == fresh.contacts


def test_a_file_read_again_keeps_its_sections_lazy_through_a_shard_rewrite(corpus: Path) -> None:
    """An edit rewrites the shard holding its file: the other files of that shard are
    written back from their bytes (still undecoded) and load the same."""
    rel = first_contact(corpus)
    loader.load(corpus)
    with (corpus / rel).open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-20 call: One more\n\nA call.\n")
    loader.load(corpus, lazy=True)
    assert loader.load(corpus, lazy=True).crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_planted_sections_are_parsed_again_from_the_file(corpus: Path, tmp_path: Path) -> None:
    """Bytes with a valid checksum that do not decode to sections (garbage, or a class the
    unpickler refuses) never run and never stand: the file is parsed again."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    rel = first_contact(corpus)
    slug = Path(rel).stem
    want = loader.load(corpus, cache=False).crm.contacts[slug].sections
    for data in (b"garbage", pickle.dumps(Exploit()), pickle.dumps({"not": "a list"})):
        loader.load(corpus)
        planted = cache.LazySections()
        planted.__setstate__((None, {"_data": data}))
        plant(corpus, rel, planted)
        crm = loader.load(corpus, lazy=True).crm
        assert crm.contacts[slug].sections == want
        plant(corpus, rel, planted)  # read at once: the entry is a miss, the file parsed again
        eager = loader.load(corpus)
        assert rel in eager.reparsed and eager.crm.contacts[slug].sections == want
        assert not marker.exists()


def test_planted_sections_of_a_file_changed_since_are_an_error_that_says_what_to_do(corpus: Path) -> None:
    rel = first_contact(corpus)
    loader.load(corpus)
    planted = cache.LazySections()
    planted.__setstate__((None, {"_data": b"garbage"}))
    plant(corpus, rel, planted)
    contact = loader.load(corpus, lazy=True).crm.contacts[Path(rel).stem]
    (corpus / rel).write_text((corpus / rel).read_text(encoding="utf-8") + "\nChanged.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="delete .crm-cache"):
        list(contact.sections)


def test_a_shard_whose_sections_are_not_bytes_is_discarded(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LazySections takes only bytes from a cache file: anything else refuses the shard,
    whose files are then parsed again."""
    rel = first_contact(corpus)
    loader.load(corpus)
    with monkeypatch.context() as patched:  # the shard written as a planted file would be
        patched.setattr(cache.LazySections, "__getstate__", lambda self: (None, {"_data": ["a", "list"]}))
        plant(corpus, rel, cache.LazySections.of([]))
    reloaded = loader.load(corpus)
    assert rel in reloaded.reparsed
    assert reloaded.crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_crm_check_after_an_edit_decodes_only_what_it_checks(corpus: Path) -> None:
    """`crm check` (api.check with lazy) leaves the notes of the files it does not check
    again undecoded, and answers as a full check does."""
    from site_builder import api
    from site_builder.problems import sorted_problems
    from site_builder.validate import validate

    api.check(corpus)  # the cache, as a first `crm check` leaves it
    edited = corpus / first_contact(corpus)
    edited.write_text(edited.read_text(encoding="utf-8").replace("tier: ", "tier: Z\nold_tier: ", 1),
                      encoding="utf-8")
    result = api.check(corpus, lazy=True)
    sections = [c.sections for c in result.crm.contacts.values()]
    assert sum(isinstance(s, cache.LazySections) and s._list is None for s in sections) >= len(sections) - 1
    assert result.problems == sorted_problems(validate(loader.load(corpus, cache=False).crm))
    assert any(p.code == "invalid-tier" for p in result.problems)


def test_a_cached_check_loads_the_crm_lazily_when_asked(corpus: Path) -> None:
    """`crm due` on an unchanged tree: the answer comes from the check cache, and the CRM
    its stats need is loaded with every file's notes undecoded."""
    from site_builder import api

    old = 1_600_000_000_000_000_000  # stamps older than the cache's "racy" window
    for path in corpus.glob("*/*.md"):
        os.utime(path, ns=(old, old))
    api.check(corpus)
    answered = api.check(corpus, lazy=True)
    assert answered._crm is None  # from the check cache: nothing loaded yet
    lazy = answered.crm
    assert all(isinstance(c.sections, cache.LazySections) and c.sections._list is None
               for c in lazy.contacts.values())
    eager = api.check(corpus).crm
    assert not any(isinstance(c.sections, cache.LazySections) and c.sections._list is None
                   for c in eager.contacts.values())


# --- the sections kept apart from their shard (sections-XX.bin) ------------------------------


def shard_mates(root: Path) -> tuple[str, str]:
    """Two contact files whose entries share a parse shard (and so a sections file)."""
    rels = ["contacts/" + p.name for p in sorted((root / "contacts").glob("*.md"))]
    for first in rels:
        for second in rels:
            if first != second and cache._shard_of(first) == cache._shard_of(second):
                return first, second
    raise AssertionError("no two files share a shard")


def sections_file(root: Path, rel: str) -> Path:
    return root / cache.CACHE_DIR / f"sections-{cache._shard_of(rel):02x}.bin"


def never_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: object) -> None:
        raise AssertionError(f"parsed again: {source}")

    monkeypatch.setattr(cache, "_parse_source_again", refuse)


@pytest.mark.parametrize("pread", [True, False])
def test_a_files_sections_are_read_from_its_shards_sections_file_when_used(
        corpus: Path, monkeypatch: pytest.MonkeyPatch, pread: bool) -> None:
    """pread: the system has it (not Windows); else a seek and a read."""
    if not pread:
        monkeypatch.delattr(os, "pread")
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    never_parsed_again(monkeypatch)
    for lazy in (True, False):
        crm = loader.load(corpus, lazy=lazy).crm
        # Read last file first: not in the order they were written.
        assert {slug: list(c.sections) for slug, c in reversed(crm.contacts.items())} == {
            slug: c.sections for slug, c in fresh.contacts.items()}


def test_sections_stay_readable_after_their_shard_is_written_again(
        corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild writes the edited file's shard again while it loads; the other files of
    that shard, loaded with their sections still in the old sections file, read them
    from the new one afterwards, without parsing anything again."""
    edited, other = shard_mates(corpus)
    loader.load(corpus)
    with (corpus / edited).open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-20 call: One more\n\nA call.\n")
    before = sections_file(corpus, other).read_bytes()
    crm = loader.load(corpus, lazy=True).crm
    assert sections_file(corpus, other).read_bytes() != before  # written again, under another token
    never_parsed_again(monkeypatch)
    fresh = loader.load(corpus, cache=False).crm
    cache.ParseCache.open(corpus, lazy=True)._shard(cache._shard_of(other))  # the new file opened here too
    slug = Path(other).stem
    assert list(crm.contacts[slug].sections) == fresh.contacts[slug].sections
    assert list(crm.contacts[Path(edited).stem].sections) == fresh.contacts[Path(edited).stem].sections


def test_a_long_running_process_keeps_reading_right_sections_across_shard_writes(
        corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crm serve` keeps what it loaded (LoadMemory); later saves write again a shard
    whose sections file its files' sections are still in: those are read from that
    file as it was (kept open), never from the wrong place nor by parsing again."""
    edited, other = shard_mates(corpus)
    loader.load(corpus)
    memory = loader.LoadMemory()
    kept = loader.load(corpus, memory=memory, lazy=True).crm.contacts[Path(other).stem]
    for n in range(2):
        with (corpus / edited).open("a", encoding="utf-8") as handle:
            handle.write(f"\n## 2026-11-2{n} call: Save {n}\n\nA call.\n")
        loader.load(corpus, memory=memory, lazy=True)
    assert not kept.sections.decoded
    want = loader.load(corpus, cache=False).crm.contacts[Path(other).stem].sections
    never_parsed_again(monkeypatch)
    assert list(kept.sections) == want


def test_damaged_sections_are_parsed_again_from_the_file(corpus: Path) -> None:
    """A letter changed in a note's text in a sections file (bytes that still decode):
    that file's sections fail their CRC-32 and come from the file parsed again; the
    others of its shard are still used."""
    rel, other = shard_mates(corpus)
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    store = cache.ParseCache.open(corpus, lazy=True)
    sections = store._shard(cache._shard_of(rel))[rel][1][3].sections
    _, offset, length, _ = sections._at
    path = sections_file(corpus, rel)
    data = bytearray(path.read_bytes())
    start = cache._SECTIONS_HEAD_SIZE + offset
    word = fresh.contacts[Path(rel).stem].sections[0].body.split()[0].encode()
    at = data.index(word, start, start + length)
    data[at] ^= 0x20  # the same letter in the other case
    path.write_bytes(bytes(data))
    assert loader.load(corpus, lazy=True).crm.contacts == fresh.contacts
    eager = loader.load(corpus)
    assert rel in eager.reparsed and other not in eager.reparsed
    assert eager.crm.contacts == fresh.contacts


@pytest.mark.parametrize("damage", ["missing", "another write", "bad header"])
@pytest.mark.parametrize("lazy", [True, False])
def test_a_shard_without_its_own_sections_file_is_not_used(corpus: Path, damage: str, lazy: bool) -> None:
    """The shard names its sections file's token: a sections file of another write (a
    save cut short between the two files), a missing or a foreign one leaves the whole
    shard unused, lazily or not: its files are parsed again."""
    edited, other = shard_mates(corpus)
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    path = sections_file(corpus, other)
    older = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "bad header":
        path.write_bytes(b"CRM-SECTIONS 2 " + older[15:])
    else:
        with (corpus / edited).open("a", encoding="utf-8") as handle:
            handle.write("\n## 2026-11-20 call: One more\n\nA call.\n")
        fresh = loader.load(corpus, cache=False).crm
        loader.load(corpus)
        path.write_bytes(older)
    reloaded = loader.load(corpus, lazy=lazy)
    assert {edited, other} <= reloaded.reparsed
    assert reloaded.crm.contacts == fresh.contacts
    assert loader.load(corpus, lazy=lazy).reparsed == set()  # written right again


def test_a_save_drops_an_entry_whose_sections_can_neither_be_read_nor_parsed_again(corpus: Path) -> None:
    """Writing a shard again reads every entry's sections; one whose bytes are damaged
    and whose file changed since (so it cannot be parsed again either) is left out, a
    miss next time, rather than failing the build."""
    edited, other = shard_mates(corpus)
    fresh = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    store = cache.ParseCache.open(corpus, lazy=True)
    number = cache._shard_of(other)
    sections = store._shard(number)[other][1][3].sections
    sections._source = (corpus, other, "0" * 40)  # a digest its file does not have
    _, offset, length, _ = sections._at
    path = sections_file(corpus, other)
    data = bytearray(path.read_bytes())
    data[cache._SECTIONS_HEAD_SIZE + offset + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    store._dirty_shards.add(number)
    store.save()
    shard = cache.ParseCache.open(corpus, lazy=True)._shard(number)
    assert other not in shard and edited in shard
    reloaded = loader.load(corpus)
    assert other in reloaded.reparsed and reloaded.crm.contacts == fresh.contacts


# --- letting go of decoded sections (a long-running process after a full build) ------------


@pytest.mark.parametrize("cached", [False, True])
def test_decoded_sections_are_let_go_and_read_back_from_their_sections_file(
        corpus: Path, monkeypatch: pytest.MonkeyPatch, cached: bool) -> None:
    """cached: the files come from the cache; otherwise parsed now (the first build after
    a program upgrade), their sections written to the cache as they were parsed."""
    if cached:
        loader.load(corpus)
    memory = loader.LoadMemory()
    crm = loader.load(corpus, memory=memory).crm  # every file decoded, as a full build reads them
    want = loader.load(corpus, cache=False).crm.contacts
    sections = [c.sections for c in crm.contacts.values()]
    assert all(isinstance(s, cache.LazySections) and s.decoded for s in sections)
    assert memory.let_go_of_sections() == len(memory.files)
    assert not any(s.decoded for s in sections)
    never_parsed_again(monkeypatch)  # read from the sections file, not parsed
    assert crm.contacts == want
    assert all(s.decoded for s in sections)


def test_sections_are_let_go_only_when_many_are_decoded(corpus: Path) -> None:
    """A rebuild after an edit decodes a few files' sections, which the next one will
    likely read again; a build that decoded more than LET_GO_ABOVE of them lets go."""
    loader.load(corpus)
    memory = loader.LoadMemory()
    crm = loader.load(corpus, memory=memory, lazy=True).crm
    contacts = list(crm.contacts.values())
    few = 8
    for contact in contacts[:few]:
        list(contact.sections)
    assert memory.let_go_of_sections(most=few / len(memory.files)) == 0
    assert all(c.sections.decoded for c in contacts[:few])
    list(contacts[few].sections)
    assert memory.let_go_of_sections(most=few / len(memory.files)) == few + 1
    assert not any(c.sections.decoded for c in contacts)


def test_sections_that_could_not_be_read_back_are_kept(corpus: Path) -> None:
    """Sections with no place in a sections file (the cache could not be written) or no
    file to parse again are never let go."""
    made = cache.LazySections.of([])
    assert made.decoded and not made.let_go() and made.decoded
    loader.load(corpus)
    crm = loader.load(corpus, lazy=True).crm
    sections = next(iter(crm.contacts.values())).sections
    list(sections)
    sections._source = None
    assert not sections.let_go() and sections.decoded


def _open_sections_files(root: Path) -> int:
    folder = (root / cache.CACHE_DIR).resolve()
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith(str(folder)) and "/sections-" in target
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_a_long_running_process_does_not_keep_a_file_open_per_save(corpus: Path) -> None:
    """Each save writes again the shard of the file it changed; the sections of that
    file (parsed, so decoded) may be let go of later and read back, but holding the new
    sections file open for each of them would add an open file per save."""
    memory = loader.LoadMemory()
    loader.load(corpus, memory=memory, lazy=True)
    rels = sorted(memory.files)
    at_start = _open_sections_files(corpus)
    for n, rel in enumerate(rels[:20]):
        with (corpus / rel).open("a", encoding="utf-8") as handle:
            handle.write(f"\n## 2026-11-2{n % 9} call: Save {n}\n\nA call.\n")
        loader.load(corpus, memory=memory, lazy=True)
    assert _open_sections_files(corpus) <= at_start + 2
    memory.let_go_of_sections(most=0.0)
    crm = loader.load(corpus, memory=memory, lazy=True).crm
    assert crm.contacts == loader.load(corpus, cache=False).crm.contacts


def test_decoded_sections_whose_file_was_written_again_since_are_kept(corpus: Path) -> None:
    """A changed file's sections (parsed, so decoded) have their place in the sections
    file its save wrote; once a later save has written that shard again, there is
    nothing to read them back from, so they are not let go of."""
    first, second = shard_mates(corpus)
    memory = loader.LoadMemory()
    loader.load(corpus, memory=memory, lazy=True)
    for rel in (first, second):
        with (corpus / rel).open("a", encoding="utf-8") as handle:
            handle.write("\n## 2026-11-20 call: One more\n\nA call.\n")
        loader.load(corpus, memory=memory, lazy=True)
    older, newer = (memory.files[rel][1].entity.sections for rel in (first, second))
    assert older.decoded and newer.decoded
    assert not older.let_go() and older.decoded
    assert newer.let_go() and not newer.decoded
    want = loader.load(corpus, cache=False).crm.contacts
    assert list(newer) == want[Path(second).stem].sections

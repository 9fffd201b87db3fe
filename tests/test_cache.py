"""The parse cache and the check cache: same answers as without them, never trusted blindly."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest

from site_builder import api, cache, loader
from site_builder.model import CRM

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402  (benchmarks/generate.py, the corpus generator)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    generate.generate(root, contacts=40, sections=4, seed=3)
    return root


def _same(a: CRM, b: CRM) -> None:
    assert a.config == b.config
    assert list(a.contacts) == list(b.contacts)
    assert a.contacts == b.contacts
    assert a.orgs == b.orgs
    assert sorted(a.problems, key=lambda p: p.sort_key()) == sorted(b.problems, key=lambda p: p.sort_key())


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_generated_corpus_passes_check_and_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate.generate(a, contacts=120, sections=6, seed=11)
    generate.generate(b, contacts=120, sections=6, seed=11)
    files = sorted(p.relative_to(a) for p in a.rglob("*.md"))
    assert len(files) == 120 + 6
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    result = api.check(a, cache=False)
    assert result.errors == []
    crm = result.crm
    assert any(not n.isascii() for n in (c.name for c in crm.contacts.values()))
    assert any(o.parent for o in crm.orgs.values())
    assert {i.currency for c in crm.contacts.values() for i in c.invoices} == {"EUR", "USD"}
    assert any(s.participants for c in crm.contacts.values() for s in c.sections)
    assert any(c.custom for c in crm.contacts.values())


def test_cached_load_equals_uncached_load(corpus: Path) -> None:
    plain = loader.load_crm(corpus, cache=False)
    cold = loader.load(corpus)
    warm = loader.load(corpus)
    assert cold.reparsed == {f"contacts/{s}.md" for s in plain.contacts} | {f"orgs/{s}.md" for s in plain.orgs}
    assert warm.reparsed == set()
    _same(plain, cold.crm)
    _same(plain, warm.crm)
    assert (corpus / ".crm-cache" / "index.bin").is_file()


def test_parallel_parsing_gives_the_same_crm(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sequential = loader.load_crm(corpus, cache=False, workers=1)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(loader, "_CHUNK", 7)
    parallel = loader.load_crm(corpus, cache=False, workers=2)
    _same(sequential, parallel)


def test_an_edit_reparses_only_that_file(corpus: Path) -> None:
    loader.load(corpus)
    victim = sorted((corpus / "contacts").glob("*.md"))[3]
    _rewrite(victim, "tier: ", "tier: A\nxtier_note: ")
    loaded = loader.load(corpus)
    assert loaded.reparsed == {f"contacts/{victim.name}"}
    assert loaded.crm.contacts[victim.stem].custom.get("xtier_note") is not None
    _same(loader.load_crm(corpus, cache=False), loaded.crm)


def test_a_new_mtime_with_the_same_bytes_is_a_hit(corpus: Path) -> None:
    loader.load(corpus)
    old = 1_600_000_000_000_000_000
    for path in (corpus / "contacts").glob("*.md"):
        os.utime(path, ns=(old, old))  # like a git checkout: new stamps, same content
    first = loader.load(corpus)
    assert first.reparsed == set()
    second = loader.load(corpus)  # the stamps were refreshed: nothing is even read now
    assert second.reparsed == set()


def test_same_size_same_mtime_edit_is_still_seen(corpus: Path) -> None:
    """The racy case: an edit within one timestamp tick that keeps the size."""
    victim = sorted((corpus / "contacts").glob("*.md"))[0]
    loader.load(corpus)
    stamp = victim.stat()
    _rewrite(victim, "tier: ", "tier: ")  # no-op, then a same-size change:
    text = victim.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title: "))
    victim.write_text(text.replace(title, "title: " + "X" * (len(title) - len("title: ")), 1), encoding="utf-8")
    os.utime(victim, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert victim.stat().st_size == stamp.st_size and victim.stat().st_mtime_ns == stamp.st_mtime_ns
    crm = loader.load_crm(corpus)
    assert crm.contacts[victim.stem].title == "X" * (len(title) - len("title: "))


def test_additions_and_deletions(corpus: Path) -> None:
    loader.load(corpus)
    contacts = sorted((corpus / "contacts").glob("*.md"))
    contacts[0].unlink()
    shutil.copy(contacts[1], corpus / "contacts" / "new-person.md")
    loaded = loader.load(corpus)
    assert loaded.reparsed == {"contacts/new-person.md"}
    assert contacts[0].stem not in loaded.crm.contacts
    _same(loader.load_crm(corpus, cache=False), loaded.crm)
    assert f"contacts/{contacts[0].name}" not in cache.ParseCache.open(corpus).index


def test_the_index_this_process_wrote_is_not_read_again_until_another_writer_replaces_it(
        corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loader.load(corpus)  # writes index.bin, and keeps what it wrote
    reads: list[str] = []
    real = cache.read_blob
    monkeypatch.setattr(cache, "read_blob", lambda path, *a, **k: (reads.append(path.name), real(path, *a, **k))[1])
    first = cache.ParseCache.open(corpus)
    assert "index.bin" not in reads and first.index == real(corpus / ".crm-cache/index.bin", "index",
                                                               cache.program_fingerprint(cache.PARSE_MODULES))
    first.index.clear()  # the caller's copy: what is kept does not change with it
    assert cache.ParseCache.open(corpus).index and "index.bin" not in reads
    contact = next((corpus / "contacts").glob("*.md"))
    contact.write_text(contact.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    pid = os.fork()  # another process writes the index: this one must read it again
    if pid == 0:
        try:
            loader.load(corpus)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert cache.ParseCache.open(corpus).index[f"contacts/{contact.name}"][2] == cache.digest_bytes(contact.read_bytes())
    assert reads.count("index.bin") == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-version", "empty", "bit-flip"])
def test_a_damaged_cache_is_discarded_and_rebuilt(corpus: Path, damage: str) -> None:
    plain = loader.load_crm(corpus, cache=False)
    loader.load(corpus)
    folder = corpus / ".crm-cache"
    blobs = sorted(folder.glob("*.bin"))
    assert len(blobs) > 2
    for blob in blobs:
        data = blob.read_bytes()
        if damage == "garbage":
            blob.write_bytes(os.urandom(len(data)))
        elif damage == "truncated":
            blob.write_bytes(data[: len(data) // 2])
        elif damage == "empty":
            blob.write_bytes(b"")
        elif damage == "bit-flip":
            blob.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
        else:
            blob.write_bytes(data.replace(b'"program": "', b'"program": "0.0.1/', 1))
    loaded = loader.load(corpus)
    assert len(loaded.reparsed) == len(plain.contacts) + len(plain.orgs)
    _same(plain, loaded.crm)
    assert loader.load(corpus).reparsed == set()  # and it was written back, valid


def test_a_planted_pickle_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    blob = cache.encode_blob("index", cache.program_fingerprint(), {"contacts/a.md": Exploit()})
    assert b"system" in blob
    assert cache.decode_blob(blob, "index", cache.program_fingerprint()) is None
    assert not marker.exists()
    # The same payload without the header is refused before unpickling.
    assert cache.decode_blob(pickle.dumps({"x": 1}), "index", cache.program_fingerprint()) is None


def test_a_planted_entry_inside_a_valid_shard_cannot_run_code(corpus: Path, tmp_path: Path) -> None:
    """A shard whose header is right but which carries a foreign class in one file's entry
    is refused (and its files parsed again) without running anything."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    expected = loader.load(corpus, cache=False).crm
    loader.load(corpus)
    store = cache.ParseCache.open(corpus)
    rel = "contacts/" + sorted((corpus / "contacts").glob("*.md"))[0].name
    number = cache._shard_of(rel)
    shard = store._shard(number)
    digest = shard[rel][0]
    shard[rel] = (digest, ("x", (), True, Exploit()))
    assert cache.write_blob(store._shard_path(number), "parsed", store.fingerprint, shard)
    reloaded = loader.load(corpus)
    assert not marker.exists()
    assert rel in reloaded.reparsed
    _same(reloaded.crm, expected)


def test_yaml_timestamps_survive_the_cache(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": "---\nname: Ada\nmet: !!timestamp 2020-01-02\n---\nHi.\n"})
    plain = loader.load_crm(root, cache=False)
    loader.load_crm(root)
    _same(plain, loader.load_crm(root))


def test_no_cache_writes_nothing(corpus: Path) -> None:
    loader.load_crm(corpus, cache=False)
    api.check(corpus, cache=False)
    assert not (corpus / ".crm-cache").exists()


def test_cache_folder_link_is_not_written_through(corpus: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (corpus / ".crm-cache").symlink_to(outside)
    plain = loader.load_crm(corpus, cache=False)
    _same(plain, loader.load_crm(corpus))
    assert list(outside.iterdir()) == []


def test_unwritable_cache_still_loads(corpus: Path) -> None:
    (corpus / ".crm-cache").write_text("a file where the folder should be", encoding="utf-8")
    _same(loader.load_crm(corpus, cache=False), loader.load_crm(corpus))


# --- the check cache -------------------------------------------------------------------------


def _old_stamps(root: Path) -> None:
    """Files older than the racy window, so their stamps can be trusted without hashing."""
    old = 1_600_000_000_000_000_000
    for path in [*root.glob("contacts/*.md"), *root.glob("orgs/*.md")]:
        os.utime(path, ns=(old, old))


def test_unchanged_tree_is_answered_from_the_check_cache(corpus: Path) -> None:
    victim = sorted((corpus / "contacts").glob("*.md"))[5]
    _rewrite(victim, "tier: ", "tier: Z\nxx: ")
    _rewrite(victim, "\n## ", "\n## 2026-01-01 meting: typo\n\n@nobody-at-all\n\n## ")
    _old_stamps(corpus)
    first = api.check(corpus)
    assert first._crm is not None  # computed
    second = api.check(corpus)
    assert second._crm is None  # answered from the cache, nothing loaded
    assert second.problems == first.problems
    assert {p.code for p in second.problems} >= {"invalid-tier", "unknown-kind", "unknown-mention"}
    assert (second.contact_count, second.org_count) == (first.contact_count, first.org_count)
    assert second.crm.contacts.keys() == first.crm.contacts.keys()  # loaded on demand
    assert second.problems == api.check(corpus, cache=False).problems


def test_check_cache_follows_edits_deletions_and_config(corpus: Path) -> None:
    _old_stamps(corpus)
    assert api.check(corpus).errors == []
    victim = sorted((corpus / "contacts").glob("*.md"))[2]
    _rewrite(victim, "tier: ", "tier: Q\nxx: ")
    after_edit = api.check(corpus)
    assert [p.code for p in after_edit.errors] == ["invalid-tier"]
    _old_stamps(corpus)
    api.check(corpus)
    victim.unlink()
    after_delete = api.check(corpus)
    assert after_delete.errors == api.check(corpus, cache=False).errors
    assert after_delete.contact_count == 39
    _old_stamps(corpus)
    api.check(corpus)
    (corpus / "crm.yaml").write_text("touch_kinds: [\n", encoding="utf-8")
    assert any(p.path == "crm.yaml" for p in api.check(corpus).errors)


def test_check_command_output_is_the_same_warm(corpus: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _rewrite(sorted((corpus / "contacts").glob("*.md"))[0], "tier: ", "tier: Z\nxx: ")
    _old_stamps(corpus)
    cold = cli("check", "--root", str(corpus))
    warm = cli("check", "--root", str(corpus))
    assert cold.exit_code == warm.exit_code == 1
    assert cold.output == warm.output
    assert "40 contacts" in warm.output


def test_per_file_check_results_are_reused_only_while_valid(corpus: Path) -> None:
    from site_builder.problems import sorted_problems
    from site_builder.validate import validate

    def both() -> tuple[list, list]:  # type: ignore[type-arg]
        loaded = loader.load(corpus)
        return (sorted_problems(cache.validate_cached(loaded.crm, loaded.digests)),
                sorted_problems(validate(loaded.crm)))

    cached, plain = both()
    assert cached == plain
    people = sorted((corpus / "contacts").glob("*.md"))
    _rewrite(people[0], "tier: ", "tier: Z\nxx: ")  # an edit: that file is checked again
    cached, plain = both()
    assert cached == plain and any(p.code == "invalid-tier" for p in cached)
    mentioned = people[1]
    _rewrite(people[2], "\n## ", f"\n## 2026-01-01 call: About @{mentioned.stem}\n\nSee @{mentioned.stem}.\n\n## ")
    mentioned.unlink()  # another file's mention breaks: the check context changed
    cached, plain = both()
    assert cached == plain and any(p.code == "unknown-mention" and p.path == f"contacts/{people[2].name}"
                                   for p in cached)
    (corpus / "crm.yaml").write_text("touch_kinds: [meting]\n", encoding="utf-8")
    cached, plain = both()
    assert cached == plain


def test_check_results_kept_in_the_process_follow_edits_without_writing_checks_bin(corpus: Path) -> None:
    """`crm serve` keeps the checks' results (cache.KeptChecks): each answer is a full
    check's, and checks.bin is not written on every save."""
    from site_builder.problems import sorted_problems
    from site_builder.validate import validate

    kept = cache.KeptChecks()

    def both() -> tuple[list, list]:  # type: ignore[type-arg]
        loaded = loader.load(corpus)
        return (sorted_problems(cache.validate_cached(loaded.crm, loaded.digests, kept)),
                sorted_problems(validate(loaded.crm)))

    assert both()[0] == both()[1]
    people = sorted((corpus / "contacts").glob("*.md"))
    _rewrite(people[0], "tier: ", "tier: Z\nxx: ")
    cached, plain = both()
    assert cached == plain and any(p.code == "invalid-tier" for p in cached)
    mentioned = people[1]
    _rewrite(people[2], "\n## ", f"\n## 2026-01-01 call: About @{mentioned.stem}\n\nSee @{mentioned.stem}.\n\n## ")
    mentioned.unlink()
    cached, plain = both()
    assert cached == plain and any(p.code == "unknown-mention" for p in cached)
    (corpus / "crm.yaml").write_text("touch_kinds: [meting]\n", encoding="utf-8")
    cached, plain = both()
    assert cached == plain
    assert not (corpus / ".crm-cache" / "checks.bin").exists()


def test_check_results_follow_slugs_added_and_deleted(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding or deleting a contact re-checks only the files naming that slug or naming
    an unknown one (whose "did you mean" hint may change); the answer is always the one a
    full check gives."""
    import random

    from site_builder import validate as validate_mod
    from site_builder.problems import sorted_problems

    checked: list[str] = []

    def count(entity, crm):  # type: ignore[no-untyped-def]
        checked.append(entity.path)
        return iter(())

    monkeypatch.setattr(validate_mod, "ENTITY_CHECKS", [count, *validate_mod.ENTITY_CHECKS])

    def both() -> tuple[list, list]:  # type: ignore[type-arg]
        checked.clear()
        loaded = loader.load(corpus)
        cached = sorted_problems(cache.validate_cached(loaded.crm, loaded.digests))
        rechecked = len(checked)
        return cached, sorted_problems(validate_mod.validate(loaded.crm)), rechecked  # type: ignore[return-value]

    people = sorted((corpus / "contacts").glob("*.md"))
    _rewrite(people[0], "\n## ", "\n## 2026-01-01 call: About @ghost-writer\n\nSee @ghost-writer.\n\n## ")
    cached, plain, _ = both()
    assert cached == plain and any("ghost-writer" in p.message for p in cached)
    _, _, rechecked = both()
    assert rechecked == 0  # nothing changed: every result reused
    (corpus / "contacts" / "ghost-writers.md").write_text("---\nname: Ghost Writers\n---\n", encoding="utf-8")
    cached, plain, rechecked = both()
    assert cached == plain and any("did you mean 'ghost-writers'" in p.message for p in cached)
    assert rechecked < 10  # the new file, the one naming an unknown slug, those naming the new slug
    rng = random.Random(5)
    for step in range(12):
        files = sorted((corpus / "contacts").glob("*.md"))
        victim = rng.choice(files)
        if step % 3 == 0:
            victim.unlink()
        elif step % 3 == 1:
            (corpus / "contacts" / f"{victim.stem}-x.md").write_text(victim.read_text(encoding="utf-8"),
                                                                      encoding="utf-8")
        else:
            victim.rename(victim.with_name(f"renamed-{step}.md"))
        cached, plain, _ = both()
        assert cached == plain, step


# --- a cold load's cache written by a forked process ---------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_a_cold_load_writes_its_cache_in_a_forked_process(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From SAVE_APART_MIN parsed files a one-shot load leaves writing the parse cache to
    a forked process and goes on; the next load waits for it and parses nothing."""
    monkeypatch.setattr(loader, "SAVE_APART_MIN", 10)
    cold = loader.load(corpus)
    assert len(loader._saving) == 1
    warm = loader.load(corpus)
    assert loader._saving == [] and warm.reparsed == set() and len(cold.reparsed) >= 10
    _same(cold.crm, warm.crm)
    _same(loader.load_crm(corpus, cache=False), warm.crm)


def test_a_long_running_process_writes_its_cache_itself(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a LoadMemory (`crm serve`), the files it keeps learn their place in the cache
    (to be let go of and read back): the cache is written in the process."""
    monkeypatch.setattr(loader, "SAVE_APART_MIN", 10)
    memory = loader.LoadMemory()
    loader.load(corpus, memory=memory)
    assert loader._saving == []
    assert all(f.entity.sections._at is not None for _, f in memory.files.values() if f.entity is not None)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_the_crm_command_ends_only_once_the_cache_is_written(corpus: Path) -> None:
    """cli.run ends the process with os._exit: it first waits for the forked write (made
    slow here), so that the next command finds the whole cache."""
    import subprocess

    script = ("import time, site_builder.loader as l, site_builder.cache as c\n"
              "l.SAVE_APART_MIN = 10\n"
              "save = c.ParseCache.save\n"
              "c.ParseCache.save = lambda self: (time.sleep(1.0), save(self))[1]\n"
              "from site_builder.cli import run\nrun()\n")
    # Not reading its output, which the forked process holds open too: only its end counts.
    done = subprocess.run([sys.executable, "-c", script, "check", "--root", str(corpus)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    assert done.returncode == 0
    assert (corpus / ".crm-cache" / "index.bin").is_file()
    assert loader.load(corpus).reparsed == set()

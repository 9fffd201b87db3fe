"""The notes cache (site_builder/notes_cache.py): a site built with files' Markdown taken
from .crm-cache/notes-*.bin is byte-identical to one built without any cache, and an
entry is used only for the same bytes, program and mention targets."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Callable

import cmarkgfm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from site_builder import cache as cache_mod
from site_builder import cmark_free, incremental, notes_cache
from site_builder.build import build_site
from site_builder.loader import load_crm
from site_builder.render import GFM_EXTENSIONS

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

DAY = date(2026, 11, 22)
NEXT_DAY = date(2026, 11, 23)

ADA = """\
---
name: Ada Lovelace
org: acme
---
Works with @bob and @newbie; see #pricing.

## 2026-10-01 call @bob: First call

Talked to @bob about #pricing and @newbie. `@not-a-link` stays code.

```
@fenced #fenced
```

## 2026-11-01 meeting: Plans

Met @acme and @bob-org. **Bold**, a table:

| a | b |
|---|---|
| 1 | 2 |
"""
BOB = "---\nname: Bob Stone\n---\n\n## 2026-09-01 note: Hello\n\nSaw @ada at #conference.\n"
ACME = "---\nname: Acme\n---\n\n## 2026-08-01 note: Kick-off\n\nWith @ada.\n"


from test_incremental import assert_same_as_clean, tree  # noqa: E402  (tests/ is on the path)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def small_crm(root: Path) -> Path:
    write(root, "contacts/ada.md", ADA)
    write(root, "contacts/bob.md", BOB)
    write(root, "orgs/acme.md", ACME)
    (root / "crm.yaml").write_text("title: Test CRM\n", encoding="utf-8")
    return root


class Renders:
    """Counts the files whose Markdown is rendered (not taken from the cache) in this
    process: the builds below use one worker, so every page is rendered here."""

    def __init__(self) -> None:
        self.paths: list[str] = []


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Renders:
    counter = Renders()
    original = notes_cache.file_markdown

    def counting(entity, links):  # type: ignore[no-untyped-def]
        counter.paths.append(entity.path)
        return original(entity, links)

    monkeypatch.setattr(notes_cache, "file_markdown", counting)
    return counter


def assert_same_as_uncached(root: Path, out: Path, today: date, scratch: Path) -> None:
    assert_same_as_clean(root, out, scratch, today)


def build(root: Path, today: date) -> Path:
    out = root / "output"
    build_site(root, out, today, workers=1)
    return out


def notes_files(root: Path) -> list[Path]:
    return sorted(cache_mod.cache_dir(root).glob("notes-*.bin"))


# --- a warm cache gives the same site -----------------------------------------------------------------


def test_another_day_takes_every_file_from_the_cache(tmp_path: Path, renders: Renders) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    assert sorted(renders.paths) == ["contacts/ada.md", "contacts/bob.md", "orgs/acme.md"]
    assert notes_files(root)
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert renders.paths == []
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


@pytest.fixture
def made_backlinks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the pages whose backlinks HTML was made (not taken from the cache)."""
    from site_builder import fragments

    made: list[str] = []
    original = fragments._backlinks_html

    def counting(backlinks, name):  # type: ignore[no-untyped-def]
        made.append(name)
        return original(backlinks, name)

    monkeypatch.setattr(fragments, "_backlinks_html", counting)
    return made


def test_another_day_takes_every_pages_backlinks_from_the_cache(tmp_path: Path, made_backlinks: list[str]) -> None:
    root = small_crm(tmp_path / "crm")
    write(root, "contacts/quiet.md", "---\nname: Quiet Person\n---\n")  # mentioned by nobody
    build(root, DAY)
    assert sorted(made_backlinks) == ["Acme", "Ada Lovelace", "Bob Stone", "Quiet Person"]
    made_backlinks.clear()
    out = build(root, NEXT_DAY)
    assert made_backlinks == []
    assert "No other file mentions Quiet Person" in (out / "contacts" / "quiet.html").read_text(encoding="utf-8")
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


@pytest.mark.parametrize("change", ["mentioning-note-retitled", "mention-added", "mention-removed",
                                    "mentioning-file-renamed", "own-name", "mentioning-file-deleted"])
def test_a_page_whose_mentions_changed_makes_its_backlinks_again(tmp_path: Path, made_backlinks: list[str],
                                                                 change: str) -> None:
    """Each page's backlinks are kept for the files that mention it, as they were: any
    change to one of them, or to who mentions it, or to the page's own name, makes them
    again, and the site is the uncached one."""
    root = small_crm(tmp_path / "crm")
    write(root, "contacts/quiet.md", "---\nname: Quiet Person\n---\n")
    build(root, DAY)
    made_backlinks.clear()
    if change == "mentioning-note-retitled":  # bob mentions ada in "Hello"
        write(root, "contacts/bob.md", BOB.replace("note: Hello", "note: Goodbye"))
        expected = {"Ada Lovelace"}
    elif change == "mention-added":
        write(root, "contacts/bob.md", BOB + "\n## 2026-09-02 note: Later\n\nAlso @quiet.\n")
        expected = {"Quiet Person"}
    elif change == "mention-removed":
        write(root, "orgs/acme.md", ACME.replace("With @ada.", "With nobody."))
        expected = {"Ada Lovelace"}
    elif change == "mentioning-file-renamed":  # bob.md's page moves: ada's link to it too
        (root / "contacts" / "bob.md").rename(root / "contacts" / "robert.md")
        expected = {"Ada Lovelace", "Bob Stone"}
    elif change == "own-name":
        write(root, "contacts/quiet.md", "---\nname: Quieter Person\n---\n")
        expected = {"Quieter Person"}
    else:
        (root / "orgs" / "acme.md").unlink()
        expected = {"Ada Lovelace"}
    out = build(root, NEXT_DAY)
    assert expected <= set(made_backlinks) and len(made_backlinks) < 4  # the others are kept
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


def test_deleted_output_folder_is_rebuilt_from_the_cache(tmp_path: Path, renders: Renders) -> None:
    root = small_crm(tmp_path / "crm")
    out = build(root, DAY)
    shutil.rmtree(out)
    renders.paths.clear()
    build(root, DAY)
    assert renders.paths == []
    assert_same_as_uncached(root, out, DAY, tmp_path)


def test_template_change_re_renders_pages_but_not_their_markdown(tmp_path: Path, renders: Renders) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    theme = REPO / "templates" / "contact.html"
    write(root, "templates/contact.html", theme.read_text(encoding="utf-8").replace(
        "{% block main %}", "{% block main %}<p class=\"changed\">changed</p>", 1))
    renders.paths.clear()
    out = build(root, DAY)
    assert renders.paths == []
    assert 'class="changed"' in (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert_same_as_uncached(root, out, DAY, tmp_path)


def test_settings_change_re_renders_pages_but_not_their_markdown(tmp_path: Path, renders: Renders) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    (root / "crm.yaml").write_text("title: Another title\n", encoding="utf-8")
    renders.paths.clear()
    out = build(root, DAY)
    assert renders.paths == []
    assert "Another title" in (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert_same_as_uncached(root, out, DAY, tmp_path)


def test_changed_note_is_rendered_again(tmp_path: Path, renders: Renders) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    write(root, "contacts/bob.md", BOB.replace("Saw @ada at", "Lunch with @ada at"))
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert renders.paths == ["contacts/bob.md"]
    assert "Lunch with" in (out / "contacts" / "bob.html").read_text(encoding="utf-8")
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


@pytest.mark.parametrize("change", ["create", "delete", "to-org", "to-contact"])
def test_a_mention_that_leads_elsewhere_renders_the_file_again(tmp_path: Path, renders: Renders,
                                                                change: str) -> None:
    """Ada's file names @newbie (no file at first), @bob (a contact), @bob-org, @acme. Each
    change gives one of those slugs another target; ada.md's bytes stay the same."""
    root = small_crm(tmp_path / "crm")
    if change in ("delete", "to-org"):
        write(root, "contacts/newbie.md", "---\nname: New Bie\n---\n")
    if change == "to-contact":
        write(root, "orgs/bob-org.md", "---\nname: Bob Org\n---\n")
    build(root, DAY)
    if change == "create":
        write(root, "contacts/newbie.md", "---\nname: New Bie\n---\n")
    elif change == "delete":
        (root / "contacts" / "newbie.md").unlink()
    elif change == "to-org":
        (root / "contacts" / "newbie.md").unlink()
        write(root, "orgs/newbie.md", "---\nname: New Bie Ltd\n---\n")
    else:
        (root / "orgs" / "bob-org.md").unlink()
        write(root, "contacts/bob-org.md", "---\nname: Bob Org\n---\n")
    renders.paths.clear()
    out = build(root, NEXT_DAY)  # another day: every page is rendered, every entry is looked at
    assert "contacts/ada.md" in renders.paths
    assert "contacts/bob.md" not in renders.paths  # its mentions lead where they did
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


def test_incremental_rebuild_after_a_mention_target_appears(tmp_path: Path) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    write(root, "contacts/newbie.md", "---\nname: New Bie\n---\n")
    out = build(root, DAY)
    assert 'href="../contacts/newbie.html"' in (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert_same_as_uncached(root, out, DAY, tmp_path)


def test_forked_workers_send_their_entries_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               renders: Renders) -> None:
    """A build that renders its pages in forked workers keeps what they rendered."""
    root = tmp_path / "crm"
    generate.generate(root, contacts=30, sections=3, seed=11)
    monkeypatch.setattr(incremental, "PARALLEL_MIN_PAGES", 4)
    monkeypatch.setattr(incremental, "_PAGES_PER_TASK", 7)
    out = root / "output"
    build_site(root, out, DAY, workers=2)
    sources = {str(p.relative_to(root)) for folder in ("contacts", "orgs") for p in (root / folder).glob("*.md")}
    cache = notes_cache.NotesCache(load_crm(root), {})
    cache.load(sources)
    kept = {rel for shard in cache.shards.values() for rel in shard}
    assert kept == sources | {notes_cache._BACKLINKS + rel for rel in sources}  # and each page's backlinks
    renders.paths.clear()
    build_site(root, out, NEXT_DAY, workers=1)
    assert renders.paths == []
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


# --- a cache that cannot be trusted is not used ----------------------------------------------------------


def _entries(root: Path) -> dict[str, tuple[Path, dict[str, notes_cache.Entry]]]:
    found = {}
    fingerprint = notes_cache.fingerprint("../")
    for path in notes_files(root):
        shard = cache_mod.read_blob(path, notes_cache.KIND, fingerprint)
        for rel in shard:
            found[rel] = (path, shard)
    return found


def _plant(root: Path, rel: str, change: Callable[[notes_cache.Entry], notes_cache.Entry]) -> None:
    path, shard = _entries(root)[rel]
    shard[rel] = change(shard[rel])
    cache_mod.write_blob(path, notes_cache.KIND, notes_cache.fingerprint("../"), shard)


def _evil_html(sections: int, mentions: str = "") -> bytes:
    parts = [mentions, "<script>evil()</script>", *["<script>evil()</script>"] * sections]
    return notes_cache._pack("\x1e".join(parts))


def test_an_entry_for_other_bytes_is_not_used(tmp_path: Path, renders: Renders) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    _plant(root, "contacts/bob.md", lambda entry: ("0" * 40, _evil_html(1)))
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert renders.paths == ["contacts/bob.md"]
    assert "evil()" not in (out / "contacts" / "bob.html").read_text(encoding="utf-8")
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


def test_an_entry_is_used_for_its_digest(tmp_path: Path, renders: Renders) -> None:
    """The other side of the test above: what is stored for the file's digest is what
    the page shows (so the tests of stale entries do test the checks)."""
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    _plant(root, "contacts/bob.md", lambda entry: (entry[0], _evil_html(1, "ada\x1f../contacts/ada.html")))
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert renders.paths == []
    assert "evil()" in (out / "contacts" / "bob.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("mentions", ["ada\x1f../orgs/ada.html", "ada\x1f", "ada", "ada\x1f../contacts/ada.html\x1fx"])
def test_an_entry_whose_mentions_lead_elsewhere_is_not_used(tmp_path: Path, renders: Renders,
                                                            mentions: str) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    _plant(root, "contacts/bob.md", lambda entry: (entry[0], _evil_html(1, mentions)))
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert renders.paths == ["contacts/bob.md"]
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


@pytest.mark.parametrize("blob", [
    lambda entry: (entry[0], b"not lz4"),
    lambda entry: (entry[0], b"\xff\xff\xff\x7fclaims 2 GB"),
    lambda entry: (entry[0], _evil_html(5)),  # another number of sections
    lambda entry: (entry[0], __import__("lz4.block").block.compress(b"\xff\xfe")),  # not UTF-8
])
def test_a_damaged_entry_is_not_used(tmp_path: Path, renders: Renders,
                                     blob: Callable[[notes_cache.Entry], notes_cache.Entry]) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    _plant(root, "contacts/bob.md", blob)
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert renders.paths == ["contacts/bob.md"]
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign-program", "other-kind", "wrong-shape"])
def test_a_corrupt_or_foreign_shard_is_ignored(tmp_path: Path, renders: Renders, damage: str) -> None:
    root = small_crm(tmp_path / "crm")
    build(root, DAY)
    path, shard = _entries(root)["contacts/ada.md"]
    poisoned = {rel: (entry[0], _evil_html(2)) for rel, entry in shard.items()}
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "foreign-program":
        cache_mod.write_blob(path, notes_cache.KIND, "another program", poisoned)
    elif damage == "other-kind":
        cache_mod.write_blob(path, "parsed", notes_cache.fingerprint("../"), poisoned)
    else:
        cache_mod.write_blob(path, notes_cache.KIND, notes_cache.fingerprint("../"), {"contacts/ada.md": "x"})
    renders.paths.clear()
    out = build(root, NEXT_DAY)
    assert "contacts/ada.md" in renders.paths
    assert_same_as_uncached(root, out, NEXT_DAY, tmp_path)
    # and the damaged shard was written again, whole
    assert "contacts/ada.md" in _entries(root)


def test_deleted_files_leave_the_shards_they_were_in(tmp_path: Path) -> None:
    root = small_crm(tmp_path / "crm")
    write(root, "contacts/gone.md", "---\nname: Gone\n---\n\n## 2026-01-01 note: x\n\nhello\n")
    build(root, DAY)
    assert "contacts/gone.md" in _entries(root)
    (root / "contacts" / "gone.md").unlink()
    # an edit in the same shard rewrites it; the deleted file's entry goes with that
    same = [rel for rel, (path, _) in _entries(root).items()
            if path == _entries(root)["contacts/gone.md"][0] and not rel.startswith(notes_cache._BACKLINKS)]
    for rel in same:
        if rel != "contacts/gone.md":
            text = (root / rel).read_text(encoding="utf-8")
            (root / rel).write_text(text + "\n## 2026-11-20 note: more\n\nMore.\n", encoding="utf-8")
    build(root, NEXT_DAY)
    if len(same) > 1:
        assert "contacts/gone.md" not in _entries(root)
        assert notes_cache._BACKLINKS + "contacts/gone.md" not in _entries(root)  # its page's backlinks too


def test_no_cache_build_writes_no_notes_cache(tmp_path: Path) -> None:
    root = small_crm(tmp_path / "crm")
    build_site(root, root / "output", DAY, cache=False)
    assert notes_files(root) == []


# --- cmark_free keeps its parser between calls ----------------------------------------------------------


def test_a_kept_parser_forgets_the_last_document() -> None:
    """cmark_parser_finish resets the parser: nothing of one text reaches the next."""
    def html(text: str) -> str:
        return cmark_free.markdown_to_html_with_extensions(text, 0, GFM_EXTENSIONS)

    assert html("[ref]: http://a.example\n\n[ref]") == '<p><a href="http://a.example">ref</a></p>\n'
    assert html("[ref]") == "<p>[ref]</p>\n"
    assert html("```\nstill open") == "<pre><code>still open\n</code></pre>\n"
    assert html("after") == "<p>after</p>\n"
    assert html("| a |\n|---|\n| 1 |").startswith("<table>")
    assert html("- one\n\n- two") == "<ul>\n<li>\n<p>one</p>\n</li>\n<li>\n<p>two</p>\n</li>\n</ul>\n"
    assert html("- three\n- four") == "<ul>\n<li>three</li>\n<li>four</li>\n</ul>\n"


def test_a_failed_call_does_not_break_the_next() -> None:
    with pytest.raises(UnicodeEncodeError):
        cmark_free.markdown_to_html_with_extensions("\ud800", 0, GFM_EXTENSIONS)
    assert cmark_free.markdown_to_html_with_extensions("*x*", 0, GFM_EXTENSIONS) == "<p><em>x</em></p>\n"


def test_threads_each_get_a_parser() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Note {n}: *with* `code`, a [link](https://x.example/{n}) and\n\n- a list {n}" for n in range(400)]
    want = [cmarkgfm.markdown_to_html_with_extensions(t, options=0, extensions=GFM_EXTENSIONS) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda t: cmark_free.markdown_to_html_with_extensions(t, 0, GFM_EXTENSIONS), texts))
    assert got == want
    assert len(cmark_free._PARSERS) <= 1 or not cmark_free.AVAILABLE


AWKWARD = st.sampled_from([
    "```", "~~~", "```\ncode", "    indented", "[ref]: /url", "[ref]", "[ref]:\n/url 'title'", "<div>", "<!--",
    "-->", "<pre>", "</pre>", "<script>", "- item", "1. one", "> quote", "| a | b |", "|---|---|", "# heading",
    "Heading\n===", "---", "***", "- [ ] task", "~~gone~~", "www.example.com", "`span", "\\", "  ", "\t", "\n",
    "\n\n", "@ada", "#topic", "&amp;", "\x00", "\r\n", "張偉",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(AWKWARD, st.text(max_size=12)), max_size=10), min_size=1, max_size=6))
def test_kept_parser_matches_cmarkgfm_on_awkward_markdown_in_sequence(texts: list[list[str]]) -> None:
    """Texts rendered one after another through the kept parser give what cmarkgfm gives
    each of them alone."""
    for parts in texts:
        text = "\n".join(parts)
        want = cmarkgfm.markdown_to_html_with_extensions(text, options=0, extensions=GFM_EXTENSIONS)
        assert cmark_free.markdown_to_html_with_extensions(text, 0, GFM_EXTENSIONS) == want


def test_worker_tasks_are_whole_shards(tmp_path: Path) -> None:
    root = tmp_path / "crm"
    generate.generate(root, contacts=60, sections=1, seed=3)
    crm = load_crm(root)
    cache = notes_cache.NotesCache(crm, {})
    pages = [*(f"contacts/{s}.html" for s in crm.contacts), *(f"orgs/{s}.html" for s in crm.orgs)]
    tasks = cache.chunks(pages, 5)
    assert sorted(p for task in tasks for p in task) == sorted(pages)
    owner: dict[int, int] = {}
    for n, task in enumerate(tasks):
        for page in task:
            shard = notes_cache.shard_of(notes_cache.source_of(crm, page) or "")
            assert owner.setdefault(shard, n) == n
        assert len(task) <= 5 or len({notes_cache.shard_of(notes_cache.source_of(crm, p) or "") for p in task}) == 1


def test_a_few_pages_of_many_are_rendered_without_the_cache(tmp_path: Path) -> None:
    """Reading a shard costs more than rendering a few files' Markdown."""
    root = tmp_path / "crm"
    generate.generate(root, contacts=30, sections=1, seed=3)
    crm = load_crm(root)
    pages = [*(f"contacts/{s}.html" for s in crm.contacts), *(f"orgs/{s}.html" for s in crm.orgs)]
    assert notes_cache.for_pages(crm, {}, pages[:3]) is None
    assert notes_cache.for_pages(crm, {}, []) is None
    assert notes_cache.for_pages(crm, {}, pages) is not None
    assert notes_cache.for_pages(crm, {}, pages[: len(pages) // notes_cache.MIN_SHARE + 1]) is not None


def test_a_rebuild_after_one_edit_neither_reads_nor_writes_the_cache(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "crm"
    generate.generate(root, contacts=120, sections=2, seed=3)
    out = root / "output"
    build_site(root, out, DAY, workers=1)
    stamps = {p: p.stat().st_mtime_ns for p in notes_files(root)}
    assert stamps
    read: list[Path] = []
    original = cache_mod.read_blob

    def reading(path: Path, kind: str, fingerprint: str, *rest):  # type: ignore[no-untyped-def]
        read.append(path)
        return original(path, kind, fingerprint, *rest)

    monkeypatch.setattr(cache_mod, "read_blob", reading)
    edited = sorted((root / "contacts").glob("*.md"))[0]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n## 2026-11-20 note: More\n\nMore.\n", encoding="utf-8")
    build_site(root, out, DAY, workers=1)
    assert [p for p in read if p.name.startswith("notes-")] == []
    assert {p: p.stat().st_mtime_ns for p in notes_files(root)} == stamps
    assert_same_as_uncached(root, out, DAY, tmp_path)

"""The site-wide pages' row cache (rowcache.py): a site built with rows kept from the last
build is byte-identical to a clean one, and a cache that is corrupt, foreign or stale is
not used."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any, Callable

import jinja2
import pytest

from site_builder import build as build_mod
from site_builder import cache as cache_mod
from site_builder import rowcache
from site_builder.build import LIST_ROWS, build_site
from site_builder.site_data import parse_search_data_js

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

TODAY = date(2026, 11, 22)


from test_incremental import assert_same_as_clean, tree  # noqa: E402  (tests/ is on the path)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "crm"
    generate.generate(root, contacts=30, sections=3, seed=11)
    return root


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many rows each build's RowCaches rendered (the builds run in this process):
    its rows' and then its list pages' (build.RowStore.lists), added up."""
    counts: list[int] = []
    real_save = rowcache.RowCache.save

    def save(self: rowcache.RowCache) -> None:
        if self.name == rowcache.NAME or not counts:
            counts.append(self.misses)
        else:
            counts[-1] += self.misses
        real_save(self)

    monkeypatch.setattr(rowcache.RowCache, "save", save)
    return counts


def contacts_of(root: Path) -> list[Path]:
    return sorted((root / "contacts").glob("*.md"))


def replace_line(path: Path, key: str, line: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i, text in enumerate(lines) if text.startswith(f"{key}:"))
    lines[at] = line
    path.write_text("\n".join(lines), encoding="utf-8")


def edit_name(root: Path) -> None:
    replace_line(contacts_of(root)[3], "name", 'name: "Zoë <Renamed> & Co"')


def edit_tier(root: Path) -> None:
    path = contacts_of(root)[4]
    tier = next(line for line in path.read_text(encoding="utf-8").split("\n") if line.startswith("tier:"))
    replace_line(path, "tier", "tier: C" if tier != "tier: C" else "tier: A")


def add_tag(root: Path) -> None:
    replace_line(contacts_of(root)[5], "tags", "tags: [brand-new-tag, client]")


def remove_tags(root: Path) -> None:
    replace_line(contacts_of(root)[6], "tags", "tags: []")


def new_touch(root: Path) -> None:
    with contacts_of(root)[7].open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-21 call: Benchmark edit\n\nOne more call. #pricing\n")


def _set_field(root: Path, key: str, line: str) -> None:
    """Contact 10's `key:` line replaced by line (or added after its name)."""
    path = contacts_of(root)[10]
    lines: list[str] = []
    inside = False  # in the old value's indented lines (a block list)
    for text in path.read_text(encoding="utf-8").split("\n"):
        inside = text.startswith(f"{key}:") or (inside and text.startswith("  "))
        if not inside:
            lines.append(text)
    at = next(i for i, text in enumerate(lines) if text.startswith("name:")) + 1
    lines[at:at] = [line]
    path.write_text("\n".join(lines), encoding="utf-8")


# Fields only search-data.js shows (it searches them), each changed alone.
def edit_emails(root: Path) -> None:
    _set_field(root, "emails", 'emails: ["new-address@example.org"]')


def edit_phones(root: Path) -> None:
    _set_field(root, "phones", 'phones: ["+41 44 123 45 67"]')


def edit_aka(root: Path) -> None:
    _set_field(root, "aka", 'aka: ["Nickname <b>"]')


def edit_location(root: Path) -> None:
    _set_field(root, "location", 'location: "Zürich"')


def edit_searched_fields(root: Path) -> None:
    for edit in (edit_emails, edit_phones, edit_aka, edit_location):
        edit(root)


def add_contact(root: Path) -> None:
    text = contacts_of(root)[8].read_text(encoding="utf-8").replace("\nname: ", "\nname: Ghost ", 1)
    (root / "contacts" / "ghost-one.md").write_text(text, encoding="utf-8")


def delete_contact(root: Path) -> None:
    contacts_of(root)[9].unlink()


EDITS = [edit_name, edit_tier, add_tag, remove_tags, new_touch, edit_emails, edit_phones, edit_aka, edit_location,
         add_contact, delete_contact]


@pytest.mark.parametrize("edit", EDITS, ids=[e.__name__ for e in EDITS])
def test_rebuild_after_a_row_changing_edit_equals_a_clean_build(corpus: Path, tmp_path: Path, edit: Callable[[Path], None],
                                                               renders: list[int]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    assert renders[-1] > 30  # the first build renders every row
    edit(corpus)
    result = build_site(corpus, out, TODAY, workers=1)
    assert result.contacts == len(contacts_of(corpus))  # every file still parses: the edit was valid
    # Only the changed rows were rendered again (a directory row, its search-data row, its
    # due item and tag rows; a new contact or name can also change its neighbours' rows).
    assert renders[-1] < 12
    assert renders[-1] > 0 or edit is delete_contact  # a deletion only drops rows
    assert_same_as_clean(corpus, out, tmp_path)


def test_all_edits_in_a_row_and_the_forked_process(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    for edit in EDITS:
        edit(corpus)
        build_site(corpus, out, TODAY, workers=2)
    assert_same_as_clean(corpus, out, tmp_path)
    assert list((corpus / ".crm-cache").glob("rows-*.bin"))


def test_another_day_renders_every_row_again(corpus: Path, tmp_path: Path, renders: list[int]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    first = renders[-1]
    next_day = date(2026, 11, 23)
    build_site(corpus, out, next_day, workers=1)
    assert renders[-1] == first  # rows say "3 days ago": nothing of the other day is used
    assert_same_as_clean(corpus, out, tmp_path, next_day)


def test_unchanged_rows_are_not_rewritten(corpus: Path, tmp_path: Path, renders: list[int]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    shards = {p.name: p.read_bytes() for p in (corpus / ".crm-cache").glob("rows-*.bin")}
    assert shards
    (corpus / "crm.yaml").write_text((corpus / "crm.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    new_touch(corpus)
    build_site(corpus, out, TODAY, workers=1)
    after = {p.name: p.read_bytes() for p in (corpus / ".crm-cache").glob("rows-*.bin")}
    assert set(after) == set(shards)
    assert 0 < sum(after[name] != shards[name] for name in shards) < len(shards)


def _poison(corpus: Path, make: Callable[[int, dict[bytes, str]], bytes]) -> None:
    """Rewrite every row shard (the list pages' too) with make(shard number, its rows)."""
    key = _row_key(corpus)
    for name in (rowcache.NAME, LIST_ROWS):
        for n in range(rowcache.SHARDS):
            path = corpus / ".crm-cache" / f"{name}-{n:02x}.bin"
            stored = rowcache._read_shard(corpus / ".crm-cache", n, key, name) if path.exists() else {}
            path.write_bytes(make(n, stored))


def _row_key(corpus: Path) -> str:
    """The key the last build kept its rows under (read back from a shard's header)."""
    import json

    data = next((corpus / ".crm-cache").glob("rows-*.bin")).read_bytes()
    end = data.index(b"\n", len(cache_mod.MAGIC))
    return str(json.loads(data[len(cache_mod.MAGIC):end])["program"])


EVIL = '<script>alert("cached")</script>'


@pytest.mark.parametrize("how", ["garbage", "truncated", "foreign-key", "wrong-shape", "wrong-kind"])
def test_corrupt_or_foreign_row_cache_is_ignored(corpus: Path, tmp_path: Path, how: str,
                                                 renders: list[int]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    key = _row_key(corpus)

    def make(n: int, stored: dict[bytes, str]) -> bytes:
        evil = {digest: EVIL for digest in stored}
        if how == "garbage":
            return b"\x00not a cache\xff" * 7
        if how == "truncated":
            return cache_mod.encode_blob(rowcache.KIND, key, evil)[:-5]
        if how == "foreign-key":
            return cache_mod.encode_blob(rowcache.KIND, "another site/theme/day", evil)
        if how == "wrong-shape":
            return cache_mod.encode_blob(rowcache.KIND, key, {n: EVIL for n in range(3)} | {b"x" * 16: 7})
        return cache_mod.encode_blob("parsed", key, evil)

    _poison(corpus, make)
    shutil.rmtree(out)  # every page rendered again, from the cache if it were trusted
    build_site(corpus, out, TODAY, workers=1)
    # Every row rendered again, but search-data.js's: those pieces come with the
    # directory's rows (build.read_directory_memo), one per contact.
    assert renders[-1] == renders[0] - len(contacts_of(corpus))
    assert not any(EVIL.encode() in data for data in tree(out).values())
    assert_same_as_clean(corpus, out, tmp_path)


def test_cache_false_neither_reads_nor_writes_rows(corpus: Path, tmp_path: Path) -> None:
    build_site(corpus, tmp_path / "site", TODAY, cache=False)
    assert not list((corpus / ".crm-cache").glob("*rows-*.bin"))


# --- themes ------------------------------------------------------------------------------------


def builtin(name: str) -> str:
    return (REPO / "templates" / name).read_text(encoding="utf-8")


def test_user_index_that_loops_over_rows_itself(corpus: Path, tmp_path: Path) -> None:
    """An index.html written before cached_rows existed: its own loop, with r.contact."""
    (corpus / "templates").mkdir()
    (corpus / "templates" / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}<ul id="mine">\n'
        '{% for r in rows %}<li data-slug="{{ r.slug }}">{{ r.name }} · {{ r.contact.emails | first }}</li>\n'
        '{% endfor %}</ul>{% endblock %}', encoding="utf-8")
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    edit_name(corpus)
    build_site(corpus, out, TODAY, workers=1)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Zoë &lt;Renamed&gt; &amp; Co · " in html
    assert html.count("<li data-slug=") == len(contacts_of(corpus))
    assert_same_as_clean(corpus, out, tmp_path)


def test_user_row_macro_overrides_the_builtin_one(corpus: Path, tmp_path: Path) -> None:
    """A theme's rows.html with its own directory_row: used for every row, including
    those the built-in theme's build had kept, and cached in turn."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)  # rows of the built-in theme in the cache
    rows = builtin("rows.html")
    start = rows.index("{% macro directory_row(r) -%}")
    end = rows.index("{%- endmacro %}", start)
    mine = ('{% macro directory_row(r) -%}\n<tr data-slug="{{ r.slug }}" class="mine"><td>'
            '<a href="{{ r.href }}">{{ r.name | upper }}</a></td><td>{{ r.tier }}</td></tr>\n')
    (corpus / "templates").mkdir()
    (corpus / "templates" / "rows.html").write_text(rows[:start] + mine + rows[end:], encoding="utf-8")
    build_site(corpus, out, TODAY, workers=1)
    edit_name(corpus)
    build_site(corpus, out, TODAY, workers=1)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count('class="mine"') == len(contacts_of(corpus))
    assert "ZOË &lt;RENAMED&gt; &amp; CO" in html
    assert_same_as_clean(corpus, out, tmp_path)
    # and back to the built-in theme: its rows again, not the theme's cached ones
    shutil.rmtree(corpus / "templates")
    build_site(corpus, out, TODAY, workers=1)
    assert 'class="mine"' not in (out / "index.html").read_text(encoding="utf-8")
    assert_same_as_clean(corpus, out, tmp_path)


def test_user_macros_without_row_macros_still_work(corpus: Path, tmp_path: Path) -> None:
    """A theme's macros.html copied before the row macros existed (it has none of them)
    with its own badge: the built-in rows.html uses that badge, and rows kept with the
    built-in badge are not reused."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    macros = builtin("macros.html")
    assert "directory_row" not in macros and "macro badge(" in macros
    (corpus / "templates").mkdir()
    (corpus / "templates" / "macros.html").write_text(
        macros.replace('<span class="badge badge-{{ kind }}', '<span class="my-badge badge-{{ kind }}', 1),
        encoding="utf-8")
    build_site(corpus, out, TODAY, workers=1)
    tag_pages = [p.read_text(encoding="utf-8") for p in (out / "tags").glob("*.html")]
    assert any('<td data-label="Tier"><span class="my-badge' in page for page in tag_pages)
    assert_same_as_clean(corpus, out, tmp_path)


def test_search_data_from_cached_rows_is_the_same_data(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    edit_name(corpus)
    add_contact(corpus)
    build_site(corpus, out, TODAY)
    data = parse_search_data_js((out / "search-data.js").read_text(encoding="utf-8"))
    assert data["count"] == len(data["rows"]) == len(contacts_of(corpus))
    assert any(row[1] == "Zoë <Renamed> & Co" for row in data["rows"])
    edit_searched_fields(corpus)
    build_site(corpus, out, TODAY)
    data = parse_search_data_js((out / "search-data.js").read_text(encoding="utf-8"))
    haystacks = [row[-1] for row in data["rows"]]
    assert sum("new-address@example.org" in h and "zurich" in h and "nickname <b>" in h and "+41441234567" in h
               for h in haystacks) == 1
    assert "<Renamed>" not in (out / "search-data.js").read_text(encoding="utf-8")


# --- the template global itself --------------------------------------------------------------------


def _env(cache: rowcache.RowCache | None) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "m.html": "{% macro row(r) -%}<b>{{ r.name }}</b>{%- endmacro %}"
                  "{% macro other(r) -%}<i>{{ r.name }}</i>{%- endmacro %}",
        "page.html": '{% from "m.html" import row, other %}'
                     "{% for h in cached_rows(row, rows) %}{{ h }};{% endfor %}"
                     "{% for h in cached_rows(other, rows) %}{{ h }};{% endfor %}",
    }), autoescape=True)
    env.globals["cached_rows"] = rowcache.cached_rows_global(cache)
    return env


def test_cached_rows_keys_by_macro_and_values() -> None:
    rows: list[dict[str, Any]] = [{"name": "<a>", "contact": object()}, {"name": "b"}]
    cache = rowcache.RowCache(None, "k")
    assert _env(cache).get_template("page.html").render(rows=rows) == \
        "<b>&lt;a&gt;</b>;<b>b</b>;<i>&lt;a&gt;</i>;<i>b</i>;"
    assert cache.misses == 4
    again = rowcache.RowCache(None, "k", [{k: str(v) for k, v in shard.items()} for shard in cache.used])
    rows[1]["name"] = "c"
    assert _env(again).get_template("page.html").render(rows=rows) == \
        "<b>&lt;a&gt;</b>;<b>c</b>;<i>&lt;a&gt;</i>;<i>c</i>;"
    assert again.misses == 2  # only the changed row, once per macro
    assert _env(None).get_template("page.html").render(rows=rows) == \
        "<b>&lt;a&gt;</b>;<b>c</b>;<i>&lt;a&gt;</i>;<i>c</i>;"


def test_a_row_macro_is_not_given_the_contact() -> None:
    seen: list[Any] = []
    cache = rowcache.RowCache(None, "k")
    rowcache.cached_rows_global(cache)(lambda r: seen.append(r) or "x", [{"name": "a", "contact": object()}])
    assert seen == [{"name": "a"}]  # not a Jinja macro: rendered every time, uncached
    assert cache.misses == 0


def test_row_store_key_is_the_site_fingerprint(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys: list[str] = []
    real = rowcache.RowCache.load

    def load(folder: Path, key: str, memory: rowcache.RowMemory | None = None,
             name: str = rowcache.NAME) -> rowcache.RowCache:
        keys.append(key)
        return real(folder, key, memory, name)

    monkeypatch.setattr(rowcache.RowCache, "load", staticmethod(load))
    build_site(corpus, tmp_path / "a", TODAY, workers=1)
    build_site(corpus, tmp_path / "a", date(2026, 11, 23), workers=1)
    assert len(keys) == 4 and keys[0] == keys[1] != keys[2] == keys[3]  # the rows' and the list pages' rows
    assert build_mod.RowStore  # the glue build.write_site uses


def test_search_data_text_from_pieces_is_one_safe_json_of_the_payload() -> None:
    from site_builder.site_data import (FORMAT_VERSION, ROW_FIELDS, SEARCH_DATA_PREFIX, SearchRow, safe_json,
                                        search_data_js)

    tricky = SearchRow("a", "Zoë </script> & \u2028 \"x\"", "o", "<b>", "t", "A", "active", "s", "2026-01-01",
                       "x", 3, "", "", "due over", ("t<1>",), ("p&q",), ("Zoë", "a@b", "\u2029"))
    plain = SearchRow("b", "Bo", "", "", "", "", "", "", "", "", 0, "", "", "", (), (), ("Bo",))
    for rows in ([], [plain], [tricky, plain, tricky]):
        meta = {"today": "2026-11-22", "count": len(rows)}
        payload = {"version": FORMAT_VERSION, "fields": list(ROW_FIELDS), **meta,
                   "rows": [row.as_list() for row in rows]}
        assert search_data_js(rows, meta) == f"{SEARCH_DATA_PREFIX}{safe_json(payload)};\n"


# --- the directory's rows, kept between builds (build.read_directory_memo) ---------------------------


@pytest.fixture
def made_rows(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The slugs whose directory rows were made (not taken over), over every build here."""
    from site_builder import pages

    made: list[str] = []
    real_row = pages._RowMaker.row

    def row(self: Any, c: Any) -> dict[str, Any]:
        made.append(c.slug)
        return real_row(self, c)

    monkeypatch.setattr(pages._RowMaker, "row", row)
    return made


def directory_shards(corpus: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (corpus / ".crm-cache").glob("directory-*.bin")}


@pytest.mark.parametrize("edit", [new_touch, edit_name, edit_searched_fields, add_contact, delete_contact],
                         ids=lambda e: e.__name__)
def test_directory_rows_of_unchanged_files_are_taken_over(corpus: Path, tmp_path: Path, made_rows: list[str],
                                                          edit: Callable[[Path], None]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    assert len(made_rows) == 30
    before = directory_shards(corpus)
    made_rows.clear()
    edit(corpus)
    build_site(corpus, out, TODAY, workers=1)
    # The edited file's row and those whose figures it changes (its RFM neighbours), not 30.
    assert len(made_rows) < 8
    after = directory_shards(corpus)
    assert 0 < sum(after.get(name) != data for name, data in before.items()) < len(before)
    assert_same_as_clean(corpus, out, tmp_path)


def test_directory_rows_are_not_taken_over_on_another_day(corpus: Path, tmp_path: Path, made_rows: list[str]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    made_rows.clear()
    next_day = date(2026, 11, 23)
    build_site(corpus, out, next_day, workers=1)
    assert len(made_rows) == 30  # "3 days ago" is another text tomorrow
    assert_same_as_clean(corpus, out, tmp_path, next_day)


@pytest.mark.parametrize("how", ["garbage", "foreign-key", "wrong-shape", "row-with-contact", "other-file"])
def test_corrupt_or_foreign_directory_rows_are_ignored(corpus: Path, tmp_path: Path, how: str,
                                                       made_rows: list[str]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    key = _row_key(corpus)
    folder = corpus / ".crm-cache"
    for n in range(build_mod.DIRECTORY_SHARDS):
        path = build_mod._directory_file(folder, n)
        stored = cache_mod.read_blob(path, build_mod.DIRECTORY_KIND, key) or {}
        evil = {slug: (k, {**row, "name": EVIL}, digest, piece and piece.replace('"', EVIL, 1))
                for slug, (k, row, digest, piece) in stored.items()}
        if how == "garbage":
            data = b"\x00not a cache\xff" * 7
        elif how == "foreign-key":
            data = cache_mod.encode_blob(build_mod.DIRECTORY_KIND, "another site/theme/day", evil)
        elif how == "wrong-shape":
            data = cache_mod.encode_blob(build_mod.DIRECTORY_KIND, key,
                                         {slug: (k, row, digest) for slug, (k, row, digest, _) in evil.items()})
        elif how == "row-with-contact":  # a row must come without its Contact (None), never with a value
            data = cache_mod.encode_blob(build_mod.DIRECTORY_KIND, key, {
                slug: (k, {**row, "contact": "someone"}, *rest) for slug, (k, row, *rest) in evil.items()})
        else:  # the row kept for another file's digest: not this file's row
            data = cache_mod.encode_blob(build_mod.DIRECTORY_KIND, key, {
                slug: ((k[0], "0" * 40, *k[2:]), row, *rest) for slug, (k, row, *rest) in evil.items()})
        path.write_bytes(data)
    made_rows.clear()
    new_touch(corpus)
    build_site(corpus, out, TODAY, workers=1)
    assert len(made_rows) == 30
    assert not any(EVIL.encode() in data for data in tree(out).values())
    assert_same_as_clean(corpus, out, tmp_path)


# --- site-wide pages kept by the signatures of their rows ---------------------------------------------


@pytest.fixture
def rendered_pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the site-wide pages rendered (not kept), over every build here."""
    paths: list[str] = []
    real = build_mod.render_page

    def render_page(env: jinja2.Environment, page: Any) -> str:
        paths.append(page.path)
        return real(env, page)

    monkeypatch.setattr(build_mod, "render_page", render_page)
    return paths


def plain_note(root: Path) -> None:
    """A note that no figure and no row reads (no touch, nobody named)."""
    with contacts_of(root)[7].open("a", encoding="utf-8") as handle:
        handle.write("\nOne more thought, written down.\n")


def test_a_note_no_row_shows_keeps_the_tag_pages(corpus: Path, tmp_path: Path, rendered_pages: list[str],
                                                 renders: list[int]) -> None:
    """The directory and search-data.js are signed with each contact's file digest too (a
    theme's index.html may show more of the contact than its row): made again. The tag
    pages' rows have no contact: kept."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    rendered_pages.clear()
    plain_note(corpus)
    build_site(corpus, out, TODAY, workers=1)
    assert not [p for p in rendered_pages if p.startswith("tags/") and p != "tags/index.html"]
    assert "index.html" in rendered_pages
    assert_same_as_clean(corpus, out, tmp_path)
    # The kept pages' rows stayed cached: a later change renders only its own rows.
    rendered_pages.clear()
    edit_tier(corpus)
    build_site(corpus, out, TODAY, workers=1)
    assert "index.html" in rendered_pages and 0 < renders[-1] < 12
    assert_same_as_clean(corpus, out, tmp_path)


def test_with_no_file_changed_the_directory_and_search_data_are_kept(corpus: Path, tmp_path: Path,
                                                                     rendered_pages: list[str]) -> None:
    """Signed (for the next build) only by a build that made no row again: the first
    build made every row, the second signs, the third keeps."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    page = next((out / "contacts").glob("*.html"))
    for _ in range(2):
        page.unlink()  # by hand: the build is no no-op, but no row changed
        build_site(corpus, out, TODAY, workers=1)
    search = (out / "search-data.js").stat().st_mtime_ns
    rendered_pages.clear()
    page.unlink()
    result = build_site(corpus, out, TODAY, workers=1)
    assert page.is_file() and page.relative_to(out).as_posix() in result.changed
    assert "index.html" not in rendered_pages and not [p for p in rendered_pages if p.startswith("tags/")]
    assert "search-data.js" not in result.changed and (out / "search-data.js").stat().st_mtime_ns == search
    assert_same_as_clean(corpus, out, tmp_path)


def test_a_tag_change_renders_only_the_pages_of_that_contacts_tags(corpus: Path, tmp_path: Path,
                                                                   rendered_pages: list[str]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    tag_pages = {p.relative_to(out).as_posix() for p in (out / "tags").glob("*.html")} - {"tags/index.html"}
    rendered_pages.clear()
    edit_name(corpus)  # contact 3: its row on the directory and on its tags' pages
    build_site(corpus, out, TODAY, workers=1)
    again = {p for p in rendered_pages if p in tag_pages}
    assert 0 < len(again) < len(tag_pages)
    assert_same_as_clean(corpus, out, tmp_path)


@pytest.mark.parametrize("edit", [new_touch, edit_name, add_tag, remove_tags], ids=lambda e: e.__name__)
def test_only_the_tag_pages_rendered_have_their_rows_made(corpus: Path, tmp_path: Path, rendered_pages: list[str],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          edit: Callable[[Path], None]) -> None:
    """The tag pages are signed without their rows (pages.tag_page_signatures): a page
    kept has none made, and the pages whose rows changed are the ones rendered."""
    from site_builder import pages

    asked: list[str] = []
    real = pages.tag_contexts

    def tag_contexts(site: Any, tags: dict[str, str], crm: Any = None) -> dict[str, dict[str, Any]]:
        asked.extend(tags.values())
        return real(site, tags, crm)

    monkeypatch.setattr(pages, "tag_contexts", tag_contexts)
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    tag_pages = {p.relative_to(out).as_posix() for p in (out / "tags").glob("*.html")} - {"tags/index.html"}
    assert set(asked) == tag_pages  # the first build makes every page
    asked.clear()
    rendered_pages.clear()
    edit(corpus)
    build_site(corpus, out, TODAY, workers=1)
    tag_pages = {p.relative_to(out).as_posix() for p in (out / "tags").glob("*.html")} - {"tags/index.html"}
    again = {p for p in rendered_pages if p in tag_pages}
    # A new tag is a new link on every tag page; otherwise only the edited contact's tags.
    assert again == tag_pages if edit is add_tag else 0 < len(again) < len(tag_pages)
    assert set(asked) == again
    assert_same_as_clean(corpus, out, tmp_path)


@pytest.mark.parametrize("edit", [edit_emails, edit_location], ids=lambda e: e.__name__)
def test_a_user_index_that_shows_the_contact_is_signed_by_its_file(corpus: Path, tmp_path: Path,
                                                                  edit: Callable[[Path], None]) -> None:
    """A row's digest covers its values, not its Contact: a page showing more of the
    contact than the row has is signed with the contact's file digest too."""
    (corpus / "templates").mkdir()
    (corpus / "templates" / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}<ul id="mine">\n'
        '{% for r in rows %}<li>{{ r.name }} · {{ r.contact.emails | join(",") }} · {{ r.contact.location }}</li>\n'
        '{% endfor %}</ul>{% endblock %}', encoding="utf-8")
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    edit(corpus)
    build_site(corpus, out, TODAY, workers=1)
    assert_same_as_clean(corpus, out, tmp_path)


def test_row_memory_reads_again_only_the_shards_written_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crm serve` keeps the row shards it read (rowcache.RowMemory): the next save reads
    only those a build wrote since (their stamps differ), and none under another key."""
    folder = tmp_path / "cache"
    folder.mkdir()
    for n in range(rowcache.SHARDS):
        cache_mod.write_blob(rowcache._shard_path(folder, n), rowcache.KIND, "key-1", {bytes([n]) * 24: f"row {n}"})
    reads: list[int] = []
    real = rowcache._read_shard
    monkeypatch.setattr(rowcache, "_read_shard", lambda f, n, key, name: (reads.append(n), real(f, n, key, name))[1])
    memory = rowcache.RowMemory()
    first = memory.read(folder, "key-1")
    assert reads == list(range(rowcache.SHARDS)) and first[3] == {bytes([3]) * 24: "row 3"}
    reads.clear()
    cache_mod.write_blob(rowcache._shard_path(folder, 3), rowcache.KIND, "key-1", {bytes([3]) * 24: "row 3, changed"})
    again = memory.read(folder, "key-1")
    assert reads == [3] and again[3] == {bytes([3]) * 24: "row 3, changed"} and again[4] is first[4]
    reads.clear()
    assert memory.read(folder, "key-2") == [{}] * rowcache.SHARDS  # another day or theme: nothing kept is used
    assert reads == list(range(rowcache.SHARDS))
    # A build takes rows out of what it loaded: never out of what the memory keeps.
    cache = rowcache.RowCache.load(folder, "key-1", memory)
    cache.text("directory_row", bytes([5]) * 16, lambda: "rendered")
    assert memory.read(folder, "key-1")[5] == {bytes([5]) * 24: "row 5"}


def test_serve_reads_the_rows_once_then_only_what_a_save_changed(corpus: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from site_builder.loader import LoadMemory

    reads: list[tuple[str, int]] = []
    real = rowcache._read_shard
    monkeypatch.setattr(rowcache, "_read_shard", lambda f, n, key, name: (reads.append((name, n)), real(f, n, key, name))[1])
    memory = LoadMemory()
    out = tmp_path / "site"
    edited = contacts_of(corpus)[4]
    for n in range(3):
        reads.clear()
        build_site(corpus, out, TODAY, memory=memory, workers=2)
        edited.write_text(edited.read_text(encoding="utf-8") + f"\n## 2026-11-2{n} call\n\nA call.\n", encoding="utf-8")
    # The first build read every shard, the second those the first wrote (all: there
    # were none before), the third only those the second wrote (of the directory's rows
    # and of the list pages' rows, which this process renders in a rebuild).
    assert reads
    for name in (rowcache.NAME, LIST_ROWS):
        assert len([n for kind, n in reads if kind == name]) < rowcache.SHARDS // 2
    build_site(corpus, out, TODAY, memory=memory, workers=2)
    assert_same_as_clean(corpus, out, tmp_path)


@pytest.mark.parametrize("first", ["here", "forked"])
def test_a_rebuild_s_list_pages_are_rendered_by_the_process_free_first(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """The forked site-wide process was a rebuild's longest path: while it renders the
    directory, the tag pages and the search data, the list pages (build.LIST_PAGES) are
    rendered by whichever process is done with its own work first, this one or the
    forked one, and only by that one. A build that renders every page leaves them all to
    the forked process. Either way the site is a clean build's."""
    import os
    import time

    from site_builder import incremental

    here = os.getpid()
    log = tmp_path / "parts.txt"  # a file: the forked process's memory is its own
    claims: list[incremental.Claim] = []

    class KnownClaim(incremental.Claim):
        def __init__(self) -> None:
            super().__init__()
            claims.append(self)

    def wait_for_the_other() -> None:
        """Hold this process until the other one has taken the shared work (the list
        pages and, after an edit, writing the stats' memory)."""
        deadline = time.monotonic() + 60
        while not all(claim.taken for claim in claims):
            assert time.monotonic() < deadline, "the other process never took the list pages"
            time.sleep(0.01)

    def logged(real: Callable[..., None], part: str) -> Callable[..., None]:
        def run(*args: object) -> None:
            where = "here" if os.getpid() == here else "forked"
            if part == "rows" and where != first:
                wait_for_the_other()
            with log.open("a", encoding="utf-8") as handle:
                handle.write(f"{part} {where}\n")
            real(*args)
        return run

    def calendar(*args: object, **kwargs: object) -> None:
        if first == "forked":
            wait_for_the_other()
        real_calendar(*args, **kwargs)

    real_calendar = build_mod.write_calendar
    monkeypatch.setattr(incremental, "Claim", KnownClaim)
    monkeypatch.setattr(build_mod, "write_calendar", calendar)
    monkeypatch.setattr(build_mod, "_render_row_pages", logged(build_mod._render_row_pages, "rows"))
    monkeypatch.setattr(build_mod, "_render_list_pages", logged(build_mod._render_list_pages, "lists"))
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    assert log.read_text(encoding="utf-8").split("\n")[:-1] == ["rows forked", "lists forked"]
    assert not claims  # nothing to share out: every page is rendered
    log.unlink()
    edited = contacts_of(corpus)[3]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n## 2026-11-20 call\n\nA call.\n", encoding="utf-8")
    result = build_site(corpus, out, TODAY, workers=2)
    # Group by group (build.LIST_PAGE_GROUPS), each taken by the process free first: here
    # the other one waits until every group is taken.
    groups = len(build_mod.LIST_PAGE_GROUPS)
    assert sorted(log.read_text(encoding="utf-8").split("\n")[:-1]) == [f"lists {first}"] * groups + ["rows forked"]
    assert "due.html" in result.changed and "index.html" in result.changed
    assert_same_as_clean(corpus, out, tmp_path)


def test_the_list_page_groups_are_the_list_pages_once_each() -> None:
    """Each list page is in one group; only the group of the page of cached rows reads
    and writes them (build.LIST_ROW_PAGES)."""
    groups = build_mod.LIST_PAGE_GROUPS
    assert frozenset().union(*groups) == build_mod.LIST_PAGES
    assert sum(len(group) for group in groups) == len(build_mod.LIST_PAGES)
    assert build_mod.LIST_ROW_PAGES <= build_mod.LIST_PAGES
    assert all(page in build_mod.ROW_TEMPLATES for page in build_mod.LIST_ROW_PAGES)
    assert [page for page in build_mod.LIST_PAGES if page in build_mod.ROW_TEMPLATES] == list(build_mod.LIST_ROW_PAGES)


@pytest.fixture
def trees_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the dashboard's referral tree was written out (dashboard.referral_tree_html)."""
    from site_builder import dashboard

    made: list[int] = []
    real = dashboard.referral_tree_html

    def referral_tree_html(nodes: Any) -> Any:
        made.append(1)
        return real(nodes)

    monkeypatch.setattr(dashboard, "referral_tree_html", referral_tree_html)
    return made


def set_referrer(root: Path) -> None:
    """Contact 10 brought by contact 0: another referral tree."""
    people = contacts_of(root)
    _set_field(root, "referred_by", f"referred_by: {people[0].stem}")
    lines = people[10].read_text(encoding="utf-8").split("\n")
    assert any(line.startswith("referred_by:") for line in lines)


def test_the_referral_tree_is_kept_while_it_is_the_same(corpus: Path, tmp_path: Path, trees_made: list[int],
                                                        rendered_pages: list[str]) -> None:
    """The dashboard is signed by its summary's digest and its "who brought whom" tree is
    kept in .crm-cache by the tree's digest (build._keep_referral_tree): a touch moves the
    dashboard's charts, not the tree; a new referrer moves the tree."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    assert trees_made == [1]
    assert (corpus / ".crm-cache" / build_mod.REFERRAL_TREE_FILE).is_file()
    new_touch(corpus)
    rendered_pages.clear()
    build_site(corpus, out, TODAY, workers=1)
    assert "dashboard.html" in rendered_pages and trees_made == [1]
    assert_same_as_clean(corpus, out, tmp_path)
    trees_made.clear()
    set_referrer(corpus)
    build_site(corpus, out, TODAY, workers=1)
    assert trees_made == [1]
    assert_same_as_clean(corpus, out, tmp_path)
    trees_made.clear()
    (corpus / ".crm-cache" / build_mod.REFERRAL_TREE_FILE).write_bytes(b"damaged")
    new_touch(corpus)
    build_site(corpus, out, TODAY, workers=1)
    assert trees_made == [1]  # made again, not trusted
    assert_same_as_clean(corpus, out, tmp_path)


def test_a_dashboard_whose_summary_is_the_same_is_kept(corpus: Path, tmp_path: Path,
                                                       rendered_pages: list[str]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    rendered_pages.clear()
    edit_searched_fields(corpus)  # no figure reads them: the same summary
    build_site(corpus, out, TODAY, workers=1)
    assert "dashboard.html" not in rendered_pages
    assert_same_as_clean(corpus, out, tmp_path)


def test_a_memo_shard_of_any_other_shape_is_refused() -> None:
    """build._stored_rows_ok tells MemoEntry's shape field by field (in C loops)."""
    key = ("contacts/ada.md", "d" * 40, b"s" * 16, ("Org", None))
    good = {"ada": (key, {"contact": None, "name": "Ada"}, b"x" * 16, None),
            "bob": (key, {"contact": None, "name": "Bob"}, b"y" * 16, '"piece"')}
    assert build_mod._stored_rows_ok(good) and build_mod._stored_rows_ok({})
    bad = [
        {**good, 7: good["ada"]},  # a slug that is no text
        {**good, "eve": list(good["ada"])},  # an entry that is no tuple
        {**good, "eve": good["ada"][:3]},  # three fields
        {**good, "eve": ("key", *good["ada"][1:])},  # a key that is no tuple
        {**good, "eve": (key, [("contact", None)], b"z", None)},  # a row that is no dict
        {**good, "eve": (key, {"name": "Eve"}, b"z", None)},  # a row without "contact"
        {**good, "eve": (key, {"contact": "Eve", "name": "Eve"}, b"z", None)},  # with a contact
        {**good, "eve": (key, {"contact": None}, "digest", None)},  # a digest that is no bytes
        {**good, "eve": (key, {"contact": None}, b"z", b"piece")},  # a piece that is no text
    ]
    for shard in bad:
        assert not build_mod._stored_rows_ok(shard)

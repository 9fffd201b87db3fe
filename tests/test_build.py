"""crm build: the sample site, links, no external loads, atomic swap, output folder guards,
theme override, reproducibility and the CLI."""

from __future__ import annotations

import shutil
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import SAMPLE_ROOT, TODAY, TODAY_ARG
from site_builder.build import MARKER_FILE, BuildError, build_site
from site_builder.render import builtin_theme_dir
from site_builder.site_data import SEARCH_DATA_FILE, parse_search_data_js


class PageParser(HTMLParser):
    """Collects every tag with its attributes, the ids, and the text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self._stack: list[str] = []
        self.h1: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(attributes["id"] or "")
        if tag not in ("br", "img", "input", "meta", "link", "hr"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "h1" in self._stack:
            self.h1.append(data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def html_pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("site") / "output"
    result = build_site(SAMPLE_ROOT, out, TODAY)
    return out, result


# --- the sample site ---------------------------------------------------------------------


def test_every_contact_and_org_has_a_page(sample_site) -> None:
    out, result = sample_site
    contacts = sorted(p.stem for p in (SAMPLE_ROOT / "contacts").glob("*.md"))
    orgs = sorted(p.stem for p in (SAMPLE_ROOT / "orgs").glob("*.md"))
    assert contacts and orgs
    for slug in contacts:
        page = parse_page(out / "contacts" / f"{slug}.html")
        assert page.h1, slug
        assert {"timeline", "backlinks"} <= page.ids
    for slug in orgs:
        assert (out / "orgs" / f"{slug}.html").is_file()
    assert result.contacts == len(contacts) and result.orgs == len(orgs)
    for name in ("index.html", "due.html", "dashboard.html", "tags/index.html", SEARCH_DATA_FILE,
                 "style.css", "app.js"):
        assert (out / name).is_file(), name


def test_index_lists_everyone_with_links_to_their_pages(sample_site) -> None:
    out, _ = sample_site
    page = parse_page(out / "index.html")
    rows = [a.get("data-slug") for tag, a in page.tags if tag == "tr" and a.get("data-slug")]
    contacts = sorted(p.stem for p in (SAMPLE_ROOT / "contacts").glob("*.md"))
    assert sorted(rows) == contacts
    hrefs = {a.get("href") for tag, a in page.tags if tag == "a"}
    assert all(f"contacts/{slug}.html" in hrefs for slug in contacts)


def test_dom_contract_of_the_directory(sample_site) -> None:
    out, _ = sample_site
    page = parse_page(out / "index.html")
    by_id = {a.get("id"): (tag, a) for tag, a in page.tags if a.get("id")}
    assert by_id["search"][0] == "input" and by_id["search"][1]["type"] == "search"
    labels = {a.get("for") for tag, a in page.tags if tag == "label"}
    filters = ["filter-tag", "filter-org", "filter-tier", "filter-status", "filter-source", "filter-attention"]
    assert {"search", *filters} <= labels
    assert all(by_id[f][0] == "select" for f in filters)
    assert by_id["directory"][0] == "table" and "result-count" in by_id
    sorts = [a.get("data-sort") for tag, a in page.tags if tag == "button" and a.get("data-sort")]
    assert sorts == ["name", "org", "title", "tier", "status", "last_touch", "touches", "next_due"]
    html = (out / "index.html").read_text(encoding="utf-8")
    for value in ("due", "overdue", "never", "over"):
        assert f'<option value="{value}">' in html
    assert "16 contacts" in "".join(page.text)


def test_every_page_has_landmarks_and_a_skip_link(sample_site) -> None:
    out, _ = sample_site
    for path in html_pages(out):
        html = path.read_text(encoding="utf-8")
        page = parse_page(path)
        tags = [t for t, _ in page.tags]
        assert '<html lang="en">' in html, path
        assert "header" in tags and "footer" in tags, path
        assert any(t == "nav" and a.get("aria-label") == "Main" for t, a in page.tags), path
        assert any(t == "main" and a.get("id") == "main" for t, a in page.tags), path
        assert any(t == "a" and a.get("href") == "#main" for t, a in page.tags), path


def test_contact_page_contract(sample_site) -> None:
    out, _ = sample_site
    page = parse_page(out / "contacts" / "zoe-muller.html")
    assert "".join(page.h1).strip() == "Zoë Müller"
    notes = [a["id"] for t, a in page.tags if t == "article" and "note" in (a.get("class") or "").split()]
    assert "note-2026-11-20-1" in notes and "note-2024-11-12-1" in notes
    assert {"timeline", "planned", "backlinks", "deals", "invoices"} <= page.ids
    text = " ".join(page.text)
    assert "last touch 2 days ago" in text
    hrefs = [a.get("href") for t, a in page.tags if t == "a"]
    assert "mailto:zoe.mueller@nordlicht-logistics.de" in hrefs
    assert "tel:+49405550142" in hrefs
    assert "../orgs/nordlicht-logistics.html" in hrefs
    assert "../contacts/henrik-sondergaard.html" in hrefs  # referred by, and a mention


def test_planned_sections_are_apart_from_the_timeline(sample_site) -> None:
    out, _ = sample_site
    html = (out / "contacts" / "zoe-muller.html").read_text(encoding="utf-8")
    planned = html[html.index('<section id="planned"'):html.index("</section>", html.index('<section id="planned"'))]
    assert 'id="note-2026-11-27-1"' in planned
    timeline = html[html.index('<section id="timeline"'):]
    assert 'id="note-2026-11-27-1"' not in timeline


def test_relative_links_resolve_to_files_and_anchors_that_exist(sample_site) -> None:
    out, _ = sample_site
    checked = 0
    for path in html_pages(out):
        for tag, attrs in parse_page(path).tags:
            for name in ("href", "src"):
                url = attrs.get(name)
                if not url or (tag == "link" and attrs.get("rel") == "icon"):
                    continue
                parts = urlsplit(url)
                if parts.scheme:
                    assert parts.scheme in ("http", "https", "mailto", "tel"), (path, url)
                    continue
                target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
                assert target.is_file(), f"{path.relative_to(out)}: {url} -> missing {target}"
                assert target.is_relative_to(out.resolve()), (path, url)
                if parts.fragment and "=" not in parts.fragment and target.suffix == ".html":
                    assert parts.fragment in parse_page(target).ids, f"{path}: {url}: no such anchor"
                checked += 1
    assert checked > 500


def test_no_page_loads_anything_from_the_network(sample_site) -> None:
    out, _ = sample_site
    for path in html_pages(out):
        for tag, attrs in parse_page(path).tags:
            if tag in ("script", "img", "iframe", "audio", "video", "source", "embed", "object") and attrs.get("src"):
                assert not urlsplit(attrs["src"] or "").scheme, (path, attrs)
            if tag == "link":
                href = attrs.get("href") or ""
                assert href.startswith("data:") or not urlsplit(href).scheme, (path, attrs)
        text = path.read_text(encoding="utf-8")
        assert "@import" not in text and "url(http" not in text
    css = (out / "style.css").read_text(encoding="utf-8")
    assert "http" not in css.replace("http://www.w3.org", "") and "@import" not in css
    js = (out / "app.js").read_text(encoding="utf-8")
    assert "fetch(" not in js and "XMLHttpRequest" not in js and "http" not in js


def test_search_data_is_valid_and_safe(sample_site) -> None:
    out, _ = sample_site
    text = (out / SEARCH_DATA_FILE).read_text(encoding="utf-8")
    assert "</script" not in text.lower() and "<" not in text
    data = parse_search_data_js(text)
    rows = {row[0]: dict(zip(data["fields"], row)) for row in data["rows"]}
    assert set(rows) == {p.stem for p in (SAMPLE_ROOT / "contacts").glob("*.md")}
    zoe = rows["zoe-muller"]
    assert zoe["name"] == "Zoë Müller"
    assert "zoe muller" in zoe["haystack"] and "zoe.mueller@nordlicht-logistics.de" in zoe["haystack"]
    assert "张伟" in rows["zhang-wei"]["haystack"]
    assert zoe["last_touch"] == "2026-11-20" and zoe["touches"] == 11


def test_tag_pages_list_their_contacts(sample_site) -> None:
    out, _ = sample_site
    page = parse_page(out / "tags" / "client.html")
    hrefs = {a.get("href") for t, a in page.tags if t == "a"}
    assert "../contacts/zoe-muller.html" in hrefs


def test_org_page_shows_people_of_child_orgs_and_links_to_their_notes(sample_site) -> None:
    out, _ = sample_site
    page = parse_page(out / "orgs" / "nordlicht-group.html")
    hrefs = {a.get("href") for t, a in page.tags if t == "a"}
    assert {"../contacts/zoe-muller.html", "../contacts/jonas-weber.html", "../contacts/katrin-vogel.html"} <= hrefs
    assert "../orgs/nordlicht-logistics.html" in hrefs
    # A person's note is listed as a link to it on their page, not shown again in full.
    assert "../contacts/zoe-muller.html#note-2026-11-20-1" in hrefs
    assert "people-notes" in page.ids and not any(i.startswith("zoe-muller-note-") for i in page.ids)
    html = (out / "orgs" / "nordlicht-group.html").read_text(encoding="utf-8")
    assert html.count('<article class="note') == len([i for i in page.ids if i.startswith("note-")])


def test_due_page_lists_follow_ups_and_over_contacted(sample_site) -> None:
    out, _ = sample_site
    page = parse_page(out / "due.html")
    text = " ".join(page.text)
    assert "Ángela Torres" in text and "follow-up overdue by 12 days" in text
    over = (out / "due.html").read_text(encoding="utf-8").split('id="over-contacted"')[1]
    assert 'data-slug="zoe-muller"' in over


def test_dashboard_has_inline_svg_charts_and_no_script(sample_site) -> None:
    out, _ = sample_site
    html = (out / "dashboard.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 5 and "<script" not in html


# --- reproducibility -------------------------------------------------------------------------


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below folder with its bytes (the loader's own cache aside)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".crm-cache" not in p.relative_to(folder).parts}


def test_same_today_gives_byte_identical_output(tmp_path: Path, cli) -> None:
    # A copy of the sample: the shared repository's git history may move between builds.
    root = tmp_path / "crm"
    root.mkdir()
    for name in ("contacts", "orgs"):
        shutil.copytree(SAMPLE_ROOT / name, root / name)
    shutil.copy2(SAMPLE_ROOT / "crm.yaml", root / "crm.yaml")
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli("build", "--root", str(root), "--out", str(first), "--today", TODAY_ARG).exit_code == 0
    assert cli("build", "--root", str(root), "--out", str(second), "--today", TODAY_ARG).exit_code == 0
    a, b = tree(first), tree(second)
    assert a.keys() == b.keys() and a == b


# --- the output folder --------------------------------------------------------------------------


SMALL_CRM = {
    "contacts/ada.md": """\
        ---
        name: Ada Lovelace
        tags: [client]
        ---
        Met at @bob's salon.

        ## 2026-11-01 call: Hello
        Talked about #engines with @bob.
        """,
    "contacts/bob.md": "---\nname: Bob\n---\n",
}


def test_a_failed_build_leaves_the_previous_site_intact(make_crm, tmp_path: Path) -> None:
    root = make_crm(SMALL_CRM)
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    before = tree(out)
    (root / "templates").mkdir()
    # Fails on the second contact page only: the first pages are already written by then.
    (root / "templates" / "contact.html").write_text(
        '{% extends "base.html" %}{% block main %}{% if contact.slug == "bob" %}'
        '{{ contact.missing_method() }}{% endif %}{% endblock %}', encoding="utf-8")
    with pytest.raises(BuildError, match="contact.html"):
        build_site(root, out, TODAY)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".site")) == []


def test_a_broken_user_template_exits_2_with_its_name(make_crm, tmp_path: Path, cli) -> None:
    root = make_crm({**SMALL_CRM, "templates/index.html": "{% if %}"})
    result = cli("build", "--root", str(root), "--out", str(tmp_path / "o"), "--today", TODAY_ARG)
    assert result.exit_code == 2
    assert "index.html" in result.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("out", [".", "contacts", "orgs", "templates", "contacts/site", "templates/x", "..", ".git", ".crm-cache"])
def test_refuses_output_folders_that_would_harm_the_crm(make_crm, out: str, cli) -> None:
    root = make_crm(SMALL_CRM)
    (root / "templates").mkdir(exist_ok=True)
    before = tree(root)
    with pytest.raises(BuildError, match="refusing"):
        build_site(root, root / out, TODAY)
    result = cli("build", "--root", str(root), "--out", str(root / out), "--today", TODAY_ARG)
    assert result.exit_code == 2 and "refusing" in result.stderr
    assert tree(root) == before


def test_refuses_to_replace_a_folder_it_did_not_make(make_crm, tmp_path: Path) -> None:
    root = make_crm(SMALL_CRM)
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(BuildError, match="not made by crm build"):
        build_site(root, precious, TODAY)
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_replaces_its_own_previous_site_and_default_output(make_crm) -> None:
    root = make_crm(SMALL_CRM)
    result = build_site(root, None, TODAY)
    assert result.out == (root / "output").resolve()
    (root / "output" / "stale.html").write_text("old")
    build_site(root, None, TODAY)
    assert not (root / "output" / "stale.html").exists()
    assert (root / "output" / MARKER_FILE).is_file()
    assert [p.name for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


# --- themes -------------------------------------------------------------------------------------------


def test_a_user_template_overrides_one_file_and_the_rest_stays_built_in(make_crm, tmp_path: Path) -> None:
    root = make_crm({
        **SMALL_CRM,
        "templates/tag.html": '{% extends "base.html" %}{% block main %}<h1>MY TAG {{ tag }}</h1>{% endblock %}',
        "templates/style.css": "body { color: rebeccapurple; }",
    })
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    assert "MY TAG client" in (out / "tags" / "client.html").read_text(encoding="utf-8")
    assert (out / "style.css").read_text() == "body { color: rebeccapurple; }"
    assert "Skip to content" in (out / "tags" / "client.html").read_text(encoding="utf-8")  # built-in base
    assert (out / "app.js").read_bytes() == (builtin_theme_dir() / "app.js").read_bytes()
    assert "<h1>Ada Lovelace</h1>" in (out / "contacts" / "ada.html").read_text(encoding="utf-8").replace(
        '<h1 id="name">', "<h1>")


def test_a_user_template_linked_from_outside_the_crm_is_ignored(make_crm, tmp_path: Path) -> None:
    outside = tmp_path / "evil.html"
    outside.write_text("STOLEN", encoding="utf-8")
    root = make_crm(SMALL_CRM)
    (root / "templates").mkdir()
    (root / "templates" / "tags.html").symlink_to(outside)
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    assert "STOLEN" not in (out / "tags" / "index.html").read_text(encoding="utf-8")


# --- the command ----------------------------------------------------------------------------------------


def test_cli_builds_the_sample_and_says_where(tmp_path: Path, cli) -> None:
    out = tmp_path / "site"
    result = cli("build", "--root", str(SAMPLE_ROOT), "--out", str(out), "--today", TODAY_ARG)
    assert result.exit_code == 0, result.output
    assert "Built 16 contacts, 6 orgs into" in result.stdout
    assert "(0 errors, 0 warnings)" in result.stdout
    assert str(out / "index.html") in result.stdout


def test_cli_with_errors_builds_what_is_valid_prints_problems_and_exits_1(make_crm, tmp_path: Path, cli) -> None:
    root = make_crm({**SMALL_CRM, "contacts/broken.md": "---\nname: [unclosed\n---\n",
                     "contacts/carol.md": "---\nname: Carol\ntier: Z\n---\n"})
    out = tmp_path / "site"
    result = cli("build", "--root", str(root), "--out", str(out), "--today", TODAY_ARG)
    assert result.exit_code == 1
    assert "contacts/broken.md:" in result.stdout and "error" in result.stdout
    assert (out / "contacts" / "ada.html").is_file() and (out / "contacts" / "carol.html").is_file()
    assert not (out / "contacts" / "broken.html").exists()
    banner = (out / "index.html").read_text(encoding="utf-8")
    assert 'class="banner"' in banner and "crm check" in banner and 'href="problems.html"' in banner
    problems = (out / "problems.html").read_text(encoding="utf-8")
    assert "contacts/broken.md" in problems and 'href="contacts/carol.html"' in problems
    # Contact pages take the banner and the footer link from site-status.js (so that they
    # need not be rendered again when the totals change); tests/browser checks it shows.
    assert '<script src="../site-status.js"></script>' in (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    status = (out / "site-status.js").read_text(encoding="utf-8")
    assert status.startswith('window.CRM_STATUS = {"errors":2,"warnings":0,"total":2};') and "problems.html" in status


def test_cli_not_a_crm_exits_2(tmp_path: Path, cli) -> None:
    result = cli("build", "--root", str(tmp_path), "--today", TODAY_ARG)
    assert result.exit_code == 2


def test_build_help_documents_the_options(cli) -> None:
    result = cli("build", "--help")
    assert result.exit_code == 0
    for option in ("--root", "--out", "--today"):
        assert option in result.output


def test_mentions_link_only_to_files_that_exist(make_crm, tmp_path: Path) -> None:
    ada = textwrap.dedent(SMALL_CRM["contacts/ada.md"]) + "\nAlso @nobody-here and `@bob in code`.\n"
    root = make_crm({**SMALL_CRM, "contacts/ada.md": ada})
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    html = (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert '<a href="../contacts/bob.html">@bob</a>' in html
    assert "@nobody-here" in html and "nobody-here.html" not in html
    assert '<a href="../index.html#topic=engines">#engines</a>' in html
    assert "<code>@bob in code</code>" in html
    bob = parse_page(out / "contacts" / "bob.html")
    backlinks = {a.get("href") for t, a in bob.tags if t == "a"}
    assert "../contacts/ada.html#note-2026-11-01-1" in backlinks


def test_edit_link_from_crm_yaml(make_crm, tmp_path: Path) -> None:
    root = make_crm({**SMALL_CRM, "crm.yaml": "edit_url: https://git.example.com/edit/main/{path}\n"})
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    html = (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert 'href="https://git.example.com/edit/main/contacts/ada.md"' in html


def test_a_rebuild_that_changes_most_files_swaps_in_a_whole_new_folder(make_crm, tmp_path: Path) -> None:
    root = make_crm(SMALL_CRM)
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    folder_before = out.stat().st_ino
    css_before = (out / "style.css").stat().st_ino
    (root / "crm.yaml").write_text("title: Another title\n", encoding="utf-8")  # every page shows it
    result = build_site(root, out, TODAY)
    assert "Another title" in (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert len(result.changed) > 0.2 * len(result.files)
    assert out.stat().st_ino != folder_before  # swapped in, not patched file by file
    assert (out / "style.css").stat().st_ino == css_before  # unchanged: linked, not rewritten
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


def test_a_small_change_moves_only_the_changed_files_into_the_site(make_crm, tmp_path: Path) -> None:
    crm = dict(SMALL_CRM)
    for n in range(30):  # enough pages that one edit changes a small share of the files
        crm[f"contacts/extra-{n:02d}.md"] = f"---\nname: Extra {n:02d}\n---\n"
    root = make_crm(crm)
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    folder_before = out.stat().st_ino
    untouched = {rel: (out / rel).stat().st_ino for rel in ("style.css", "contacts/extra-05.html")}
    page_before = (out / "contacts" / "ada.html").stat().st_ino
    (root / "contacts" / "ada.md").write_text(
        textwrap.dedent(SMALL_CRM["contacts/ada.md"]).replace("Hello", "Hello again"), encoding="utf-8")
    result = build_site(root, out, TODAY)
    assert "Hello again" in (out / "contacts" / "ada.html").read_text(encoding="utf-8")
    assert 0 < len(result.changed) <= 0.2 * len(result.files)
    assert out.stat().st_ino == folder_before  # patched in place
    assert (out / "contacts" / "ada.html").stat().st_ino != page_before  # replaced by a rename
    assert {rel: (out / rel).stat().st_ino for rel in untouched} == untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []
    clean = tmp_path / "clean"
    build_site(root, clean, TODAY, cache=False)
    assert {rel: (out / rel).read_bytes() for rel in result.files} == {
        rel: (clean / rel).read_bytes() for rel in result.files}


def _gone(path: Path, seconds: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def test_a_large_replaced_site_is_deleted_without_waiting_for_it(make_crm, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from site_builder import build as build_mod

    monkeypatch.setattr(build_mod, "BACKGROUND_REMOVE_MIN_FILES", 0)
    root = make_crm(SMALL_CRM)
    build_site(root, None, TODAY)
    leftover = root / ".output.old-interrupted"  # a deletion that did not finish, earlier
    (leftover / "contacts").mkdir(parents=True)
    (leftover / "contacts" / "ada.html").write_text("old")
    result = build_site(root, None, date(2026, 1, 1))  # another day: every page again, a new folder swapped in
    assert (root / "output" / MARKER_FILE).is_file() and result.changed
    olds = [p for p in root.iterdir() if ".old-" in p.name]
    assert all(_gone(p) for p in olds) and _gone(leftover)
    assert [p.name for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []

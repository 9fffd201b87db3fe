"""Hostile input: a CRM whose every field tries to run script. No page may run any of it.

Each page is opened for real; a dialog (alert), `window.__xss` being set, an injected
element with an event handler, or a live javascript:/data:/vbscript: link fails the
test. The names must still be readable text and still be found by the search.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from .fixtures.browser_hostile import ALL_PAYLOADS, NAME_PAYLOADS, contact_slug
from .directory_page import mismatches, result_count, search, settle, visible_slugs
from .site_support import PageLog, html_pages, url_of

pytestmark = pytest.mark.browser

# Elements and attributes that only an injection would put into these pages.
_INJECTED_JS = r"""() => {
    const found = [];
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            if (/^on/i.test(attr.name) && /xss|alert/i.test(attr.value)) found.push(`${el.tagName} ${attr.name}=${attr.value}`);
        }
    }
    for (const el of document.querySelectorAll('iframe, object, embed, img[src="x"], base, meta[http-equiv="refresh"]')) {
        found.push(el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('style')) {
        if (/display\s*:\s*none\s*!important/.test(el.textContent)) found.push('user <style>');
    }
    for (const el of document.querySelectorAll('a[href], area[href], form[action], [formaction], [src]')) {
        const raw = el.getAttribute('href') || el.getAttribute('action') || el.getAttribute('formaction') || el.getAttribute('src');
        let scheme = '';
        try { scheme = new URL(raw, document.baseURI).protocol; } catch (e) { continue; }
        if (['javascript:', 'data:', 'vbscript:'].includes(scheme)) found.push(`${el.tagName} -> ${raw}`);
    }
    return found;
}"""


def assert_page_is_inert(page: Any, log: PageLog, where: str) -> None:
    assert page.evaluate("() => typeof window.__xss") == "undefined", f"{where}: injected script ran"
    assert log.dialogs == [], f"{where}: a dialog opened: {log.dialogs}"
    injected = page.evaluate(_INJECTED_JS)
    assert injected == [], f"{where}: injected markup is live: {injected}"


def test_hostile_crm_builds_inside_its_output_folder(hostile_site: Path) -> None:
    """A tag like '../../escaped-tag' must not write a page outside the site."""
    base = hostile_site.parent
    assert sorted(p.name for p in base.iterdir()) == ["crm", "site"], "the build wrote beside the site"
    for path in hostile_site.rglob("*"):
        assert path.resolve().is_relative_to(hostile_site.resolve()), path


def test_no_page_runs_injected_script(page: Any, page_log: PageLog, hostile_site: Path) -> None:
    pages = html_pages(hostile_site)
    assert "index.html" in pages
    for slug in (contact_slug(i) for i in range(len(NAME_PAYLOADS))):
        assert f"contacts/{slug}.html" in pages, f"no page for {slug}"
    assert "orgs/evil-org.html" in pages and "orgs/evil-child.html" in pages
    assert {"due.html", "dashboard.html"} <= set(pages)
    assert any(p.startswith("tags/") for p in pages)
    if shutil.which("git"):  # the hostile CRM is a git repository with hostile commit messages
        assert "changes.html" in pages
    for rel in pages:
        page.goto(url_of(hostile_site, rel))
        assert_page_is_inert(page, page_log, rel)
    assert page_log.page_errors == [], f"pages threw: {page_log.page_errors}"


def test_hostile_names_are_shown_as_text(page: Any, page_log: PageLog, hostile_site: Path) -> None:
    cases: list[tuple[str, object, object]] = []
    for index, name in enumerate(NAME_PAYLOADS):
        page.goto(url_of(hostile_site, f"contacts/{contact_slug(index)}.html"))
        cases.append((f"{contact_slug(index)} <h1>", page.text_content("h1").strip(), name))
        cases.append((f"{contact_slug(index)} <title> names the contact",
                      name in page.evaluate("() => document.title"), True))
        assert_page_is_inert(page, page_log, contact_slug(index))
    assert not mismatches(cases), mismatches(cases)


def test_directory_shows_every_hostile_name_as_text(page: Any, hostile_site: Path) -> None:
    page.goto(url_of(hostile_site))
    names = page.eval_on_selector_all(
        "#directory tbody tr[data-slug]", "rs => rs.map(r => [r.dataset.slug, r.querySelector('td a').textContent.trim()])")
    assert sorted(names) == sorted([contact_slug(i), n] for i, n in enumerate(NAME_PAYLOADS))


def test_typing_payloads_into_the_search_runs_nothing(page: Any, page_log: PageLog, hostile_site: Path) -> None:
    page.goto(url_of(hostile_site))
    for index, payload in enumerate(NAME_PAYLOADS):
        page.fill("#search", "")
        if index % 4 == 0:  # key by key for some (every intermediate prefix runs the search)
            page.click("#search")
            page.keyboard.type(payload)
        else:
            search(page, payload)
        slug = contact_slug(index)
        assert settle(lambda: slug in visible_slugs(page), True), f"searching {payload!r} did not find {slug}"
        assert_page_is_inert(page, page_log, f"search {payload!r}")
    for payload in ALL_PAYLOADS:
        search(page, payload)
        page.wait_for_timeout(20)
        assert_page_is_inert(page, page_log, f"pasted {payload!r}")
    assert page_log.page_errors == [], f"the search threw: {page_log.page_errors}"


HOSTILE_HASHES = (
    "q=%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D1%3E",
    "q=<img src=x onerror=alert(1)>",
    "tag=%22%3E%3Csvg%20onload%3Dwindow.__xss%3D1%3E&org=</script><script>alert(1)</script>",
    "sort=__proto__&tier=constructor&status=toString&attention=hasOwnProperty",
    "q=%E0%A4%A&sort=-&attention=%ZZ",  # malformed percent escapes
    "<script>window.__xss=1</script>",
)


def test_hostile_hash_runs_nothing_and_throws_nothing(new_context: Any, page_log: PageLog,
                                                      hostile_site: Path) -> None:
    context = new_context()
    for fragment in HOSTILE_HASHES:
        page = context.new_page()
        page.goto(url_of(hostile_site, hash_=fragment))
        page.wait_for_timeout(50)
        assert_page_is_inert(page, page_log, f"#{fragment}")
        assert page_log.page_errors == [], f"#{fragment} made the page throw: {page_log.page_errors}"
        # Nonsense filter values may match nobody; the page must still agree with itself.
        assert result_count(page) == len(visible_slugs(page)), f"#{fragment}"
        page.close()


def test_search_data_is_plain_data(hostile_site: Path) -> None:
    """search-data.js must stay data: no raw </script or line separators a parser could trip on."""
    text = (hostile_site / "search-data.js").read_text(encoding="utf-8")
    assert "</script" not in text.lower() and "<!--" not in text
    assert "\u2028" not in text and "\u2029" not in text
    start = text.index("=") + 1
    json.loads(text[start:].strip().rstrip(";"))


def test_hostile_commit_messages_are_shown_as_text(page: Any, page_log: PageLog, hostile_site: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed, so the hostile CRM has no history")
    page.goto(url_of(hostile_site, "changes.html"))
    text = page.inner_text("main")
    assert "<img src=x onerror=window.__xss=1> orgs" in text
    assert "</script><script>window.__xss=1</script>" in text
    assert_page_is_inert(page, page_log, "changes.html")

"""The site never touches the network and never logs an error, page after page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .directory_page import mismatches, search, settle, visible_slugs
from .site_support import PageLog, html_pages, url_of

pytestmark = pytest.mark.browser


_LANDMARKS_JS = """() => ({
    lang: document.documentElement.lang,
    header: !!document.querySelector('header'),
    nav: !!document.querySelector('nav[aria-label="Main"]'),
    main: !!document.querySelector('main#main'),
    skip: !!document.querySelector('a[href="#main"]'),
})"""
LANDMARKS = {"lang": "en", "header": True, "nav": True, "main": True, "skip": True}


def visit_all(page: Any, site: Path) -> list[str]:
    """Open every page; each must load and have the landmarks every page promises."""
    pages = html_pages(site)
    cases: list[tuple[str, object, object]] = []
    for rel in pages:
        response = page.goto(url_of(site, rel))
        assert response is None or response.ok, f"{rel} did not load"
        cases.append((f"{rel} landmarks", page.evaluate(_LANDMARKS_JS), LANDMARKS))
    assert not mismatches(cases), mismatches(cases)
    return pages


def assert_clean(log: PageLog) -> None:
    assert log.remote_requests == [], f"requests left the machine: {log.remote_requests}"
    assert log.console_errors == [], f"console errors: {log.console_errors}"
    assert log.page_errors == [], f"uncaught exceptions: {log.page_errors}"


def test_every_sample_page_loads_offline_without_errors(page: Any, page_log: PageLog, sample_site: Path) -> None:
    pages = visit_all(page, sample_site)
    for expected in ("index.html", "due.html", "dashboard.html", "contacts/zoe-muller.html",
                     "contacts/zhang-wei.html"):
        assert expected in pages, f"the sample site has no {expected}"
    assert any(p.startswith("orgs/") for p in pages) and any(p.startswith("tags/") for p in pages)
    assert_clean(page_log)


def test_clicking_through_from_the_directory_to_a_contact(page: Any, page_log: PageLog, sample_site: Path) -> None:
    page.goto(url_of(sample_site))
    search(page, "muller")
    assert settle(lambda: "zoe-muller" in visible_slugs(page), True)
    with page.expect_navigation():
        page.click('#directory tbody tr[data-slug="zoe-muller"] td:first-child a')
    assert page.url.endswith("/contacts/zoe-muller.html")
    assert page.text_content("h1").strip() == "Zoë Müller"
    # and on through the header navigation back to every top-level page
    for label in ("Due", "Dashboard", "Directory"):
        with page.expect_navigation():
            page.click(f'nav[aria-label="Main"] a:text-is("{label}")')
        page.wait_for_load_state("load")
    assert page.url.endswith("/index.html")
    assert_clean(page_log)


def test_every_people_page_loads_offline_without_errors(page: Any, page_log: PageLog, people_site: Path) -> None:
    visit_all(page, people_site)
    assert_clean(page_log)

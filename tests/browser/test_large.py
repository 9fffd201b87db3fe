"""More contacts than the directory renders at once (it shows the first 200 of the matches)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .fixtures.browser_bigcrm import write_big_crm
from .directory_page import result_count, search, settle, visible_slugs
from .site_support import build, url_of

pytestmark = pytest.mark.browser

CONTACTS = 260


@pytest.fixture(scope="module")
def large_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("large")
    return build(write_big_crm(base / "crm", contacts=CONTACTS, orgs=10), base / "site")


def test_search_reaches_contacts_beyond_the_first_page(page: Any, large_site: Path) -> None:
    page.goto(url_of(large_site))
    assert settle(lambda: result_count(page), CONTACTS) == CONTACTS
    shown = len(visible_slugs(page))
    assert 0 < shown < CONTACTS, f"{shown} rows shown at once out of {CONTACTS}"
    assert page.locator("#show-more").is_visible()
    # The last contact by slug is not among the first rows shown; the search must still find it.
    last = f"p{CONTACTS - 1:05d}"
    search(page, f"{last}.mail")
    assert settle(lambda: visible_slugs(page), [last]) == [last]
    assert result_count(page) == 1
    assert not page.locator("#show-more").is_visible()


def test_show_more_reveals_the_rest(page: Any, large_site: Path) -> None:
    page.goto(url_of(large_site))
    first = len(visible_slugs(page))
    page.click("#show-more")
    assert settle(lambda: len(visible_slugs(page)) > first, True), "show more showed nothing more"
    while page.locator("#show-more").is_visible():
        page.click("#show-more")
    slugs = visible_slugs(page)
    assert len(slugs) == CONTACTS and len(set(slugs)) == CONTACTS

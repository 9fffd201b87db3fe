"""On a phone (390x844) nothing makes the page scroll sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shutil

import pytest

from .site_support import LONG_ROOT, build, html_pages, url_of

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PAGES = ("index.html", "contacts/zoe-muller.html", "contacts/zhang-wei.html", "orgs/nordlicht-logistics.html",
         "due.html", "dashboard.html")
_WIDTHS_JS = """(width) => ({
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    culprits: Array.from(document.querySelectorAll('body *'))
        .filter(el => el.getBoundingClientRect().right > width + 1)
        .filter(el => !Array.from(el.children).some(c => c.getBoundingClientRect().right > width + 1))
        .slice(0, 6).map(el => el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '')
                         + ' "' + el.textContent.trim().slice(0, 40) + '"'),
})"""


def too_wide_pages(page: Any, site: Path, pages: list[str]) -> list[str]:
    too_wide = []
    for rel in pages:
        page.goto(url_of(site, rel))
        # Open anything folded away on small screens (the directory's filters), so it is measured too.
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        widths = page.evaluate(_WIDTHS_JS, PHONE["width"])
        if widths["doc"] > PHONE["width"] or widths["body"] > PHONE["width"]:
            too_wide.append(f"{rel} is {widths['doc']}px wide; sticking out: {widths['culprits']}")
    return too_wide


def test_no_horizontal_scroll_on_a_phone(new_context: Any, sample_site: Path) -> None:
    page = new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).new_page()
    too_wide = too_wide_pages(page, sample_site, list(PAGES))
    assert too_wide == [], f"on a {PHONE['width']}px phone:\n" + "\n".join(too_wide)


@pytest.fixture(scope="module")
def long_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/browser/fixtures/long: a name, e-mail, URL, tag, source and notes that cannot break at spaces."""
    root = tmp_path_factory.mktemp("long") / "crm"
    shutil.copytree(LONG_ROOT, root)
    return build(root, root.parent / "site")


def test_long_values_wrap_on_a_phone(new_context: Any, long_site: Path) -> None:
    page = new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).new_page()
    too_wide = too_wide_pages(page, long_site, [p for p in html_pages(long_site) if p != "index.html"])
    assert too_wide == [], f"on a {PHONE['width']}px phone:\n" + "\n".join(too_wide)


def test_directory_with_long_filter_options_fits_a_phone(new_context: Any, long_site: Path) -> None:
    page = new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).new_page()
    too_wide = too_wide_pages(page, long_site, ["index.html"])
    assert too_wide == [], f"on a {PHONE['width']}px phone:\n" + "\n".join(too_wide)


def test_phone_directory_still_shows_names(new_context: Any, sample_site: Path) -> None:
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.goto(url_of(sample_site))
    link = page.locator('#directory tbody tr[data-slug="zoe-muller"] td:first-child a')
    assert link.is_visible()
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

"""On a phone (390x844) nothing makes the page scroll sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .site_support import url_of

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PAGES = ("index.html", "contacts/zoe-muller.html", "contacts/zhang-wei.html", "orgs/nordlicht-logistics.html",
         "due.html", "dashboard.html")
_WIDTHS_JS = """() => ({
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    culprits: Array.from(document.querySelectorAll('body *'))
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(el => el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '')),
})"""


def test_no_horizontal_scroll_on_a_phone(new_context: Any, sample_site: Path) -> None:
    page = new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True).new_page()
    too_wide = []
    for rel in PAGES:
        page.goto(url_of(sample_site, rel))
        widths = page.evaluate(_WIDTHS_JS)
        if widths["doc"] > PHONE["width"] or widths["body"] > PHONE["width"]:
            too_wide.append(f"{rel} is {widths['doc']}px wide; sticking out: {widths['culprits']}")
    assert too_wide == [], f"on a {PHONE['width']}px phone:\n" + "\n".join(too_wide)


def test_phone_directory_still_shows_names(new_context: Any, sample_site: Path) -> None:
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.goto(url_of(sample_site))
    link = page.locator('#directory tbody tr[data-slug="zoe-muller"] td:first-child a')
    assert link.is_visible()
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

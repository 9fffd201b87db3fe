"""Printing: a contact page prints as a one-page brief without the site's chrome."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .directory_page import mismatches
from .site_support import url_of

pytestmark = pytest.mark.browser

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def pdf_pages(page: Any) -> int:
    """Pages in the PDF Chromium prints (A4, the print stylesheet applied)."""
    return len(_PDF_PAGE.findall(page.pdf(format="A4", print_background=False)))


@pytest.mark.parametrize("slug", ["zoe-muller", "zhang-wei"])
def test_contact_page_prints_on_one_page(page: Any, sample_site: Path, slug: str) -> None:
    """Zoë Müller is the sample's richest contact (7 invoices, 13 notes): the hardest case."""
    page.goto(url_of(sample_site, f"contacts/{slug}.html"))
    assert pdf_pages(page) == 1


def test_print_hides_navigation_and_search(page: Any, sample_site: Path) -> None:
    cases: list[tuple[str, object, object]] = []
    page.emulate_media(media="print")
    page.goto(url_of(sample_site, "contacts/zoe-muller.html"))
    cases.append(("contact: nav visible in print", page.locator('nav[aria-label="Main"]').is_visible(), False))
    cases.append(("contact: name visible in print", page.locator("h1").is_visible(), True))
    page.goto(url_of(sample_site, "index.html"))
    cases.append(("index: search visible in print", page.locator("#search").is_visible(), False))
    cases.append(("index: rows visible in print", page.locator("#directory tbody tr").first.is_visible(), True))
    assert not mismatches(cases), mismatches(cases)

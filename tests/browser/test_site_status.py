"""The problem banner on contact and org pages comes from site-status.js (so that those
pages need not be rendered again when the totals change); it must still show, as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .site_support import build, url_of

pytestmark = pytest.mark.browser

CRM = {
    "crm.yaml": "title: Status test\n",
    "contacts/ada.md": "---\nname: Ada <b>Byron</b>\norg: acme\n---\nSummary.\n",
    "orgs/acme.md": "---\nname: Acme\n---\n",
    "contacts/broken.md": "---\nname: [unclosed\n---\n",
    "contacts/carol.md": "---\nname: Carol\ntier: Z\n---\n",
}


def _banner(page: Any) -> str:
    banner = page.locator("div.banner[role=alert]")
    assert banner.count() == 1, f"expected one banner, found {banner.count()}"
    return banner.inner_text()


def test_contact_and_org_pages_show_the_banner_and_footer_link(make_crm, tmp_path: Path, page: Any) -> None:  # type: ignore[no-untyped-def]
    site = build(make_crm(CRM), tmp_path / "site")
    for rel in ("contacts/ada.html", "orgs/acme.html", "index.html"):
        page.goto(url_of(site, rel))
        text = _banner(page)
        assert "2 problems in your files (2 errors, 0 warnings): run crm check or see the list." in text, (rel, text)
        footer_link = page.locator("footer a", has_text="2 problems in your files")
        assert footer_link.count() == 1, rel
        assert page.locator("main").count() == 1 and page.locator("div.banner ~ main").count() == 1, rel
    page.goto(url_of(site, "contacts/ada.html"))
    with page.expect_navigation():
        page.locator("div.banner a", has_text="see the list").click()
    assert page.url.endswith("/problems.html")


def test_no_problems_no_banner(make_crm, tmp_path: Path, page: Any) -> None:  # type: ignore[no-untyped-def]
    files = {k: v for k, v in CRM.items() if k not in ("contacts/broken.md", "contacts/carol.md")}
    site = build(make_crm(files), tmp_path / "site")
    for rel in ("contacts/ada.html", "orgs/acme.html", "index.html"):
        page.goto(url_of(site, rel))
        assert page.locator(".banner").count() == 0, rel
        assert page.locator("footer a[href$='problems.html']").count() == 0, rel

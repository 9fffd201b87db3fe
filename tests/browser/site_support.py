"""Shared pieces of the browser suite: where things are, what a page did, built sites.

Kept out of conftest.py so that test modules can import them (tests/conftest.py is the
module other test files import as "conftest").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = HERE / "fixtures"
PEOPLE_ROOT = FIXTURES / "people"
LONG_ROOT = FIXTURES / "long"
SAMPLE_ROOT = REPO
TODAY = date(2026, 11, 22)
CHROMIUM = Path(os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Schemes a page may load without leaving the machine.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


# --- what a page did ----------------------------------------------------------------


@dataclass
class PageLog:
    """Everything observable that a page should never do."""

    remote_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(f"{page.url}: {exc}"))
        page.on("dialog", self._on_dialog)
        page.on("request", self._on_request)

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.location.get('url', '?')}: {message.text}")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_request(self, request: Any) -> None:
        if not request.url.startswith(LOCAL_SCHEMES):
            self.remote_requests.append(request.url)

    def route(self, route: Any) -> None:
        """Let local files through; record and abort anything that would use the network."""
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
            return
        if url not in self.remote_requests:
            self.remote_requests.append(url)
        route.abort()


# --- built sites ----------------------------------------------------------------------


def build(root: Path, out: Path) -> Path:
    """Build the site at root into out with the fixed today, through the Python API."""
    from site_builder.build import build_site

    result = build_site(root, out=out, today=TODAY)
    assert (result.out / "index.html").is_file(), f"build of {root} wrote no index.html"
    return result.out


def url_of(site: Path, rel: str = "index.html", hash_: str = "") -> str:
    url = (site / rel).as_uri()
    return f"{url}#{hash_}" if hash_ else url


def html_pages(site: Path) -> list[str]:
    """Every generated .html page, relative to the site root, sorted."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))

"""Real-browser fixtures: one Chromium per session, a fresh context per test, sites built once.

Every page a test opens is watched: requests that would leave the machine are recorded
and aborted, and console errors, uncaught exceptions and dialogs (alert/confirm/prompt)
are recorded. Off-machine requests and dialogs fail every test at teardown, because
they are security failures wherever they happen; console errors are asserted by the
tests that visit pages for that purpose (test_network.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from .site_support import CHROMIUM, CHROMIUM_ARGS, PEOPLE_ROOT, SAMPLE_ROOT, PageLog, build

# --- the browser --------------------------------------------------------------------


def _chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI"):
        raise RuntimeError(message + " -- browser tests never skip in CI")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


NewContext = Callable[..., Any]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def new_context(browser: Any, page_log: PageLog) -> Iterator[NewContext]:
    """Make a watched browser context with Playwright's context options (viewport, color_scheme...)."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.route("**/*", page_log.route)
        context.on("page", page_log.watch)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert page_log.dialogs == [], f"a page opened dialogs (script ran): {page_log.dialogs}"
    assert page_log.remote_requests == [], f"pages made network requests: {page_log.remote_requests}"


@pytest.fixture
def page(new_context: NewContext) -> Any:
    return new_context().new_page()


# --- built sites ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def people_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our own small CRM (tests/browser/fixtures/people), where every expected value is known."""
    root = tmp_path_factory.mktemp("people") / "crm"
    shutil.copytree(PEOPLE_ROOT, root)
    return build(root, root.parent / "site")


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's sample CRM (contacts/, orgs/, crm.yaml at the repo root)."""
    return build(SAMPLE_ROOT, tmp_path_factory.mktemp("sample") / "site")


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CRM whose every field tries to run script (see fixtures/browser_hostile.py)."""
    from .fixtures.browser_hostile import commit_hostile_history, write_hostile_crm

    base = tmp_path_factory.mktemp("hostile")
    root = write_hostile_crm(base / "crm")
    commit_hostile_history(root)
    return build(root, base / "site")



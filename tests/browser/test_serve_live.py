"""crm serve in a real Chromium: the open page reloads itself after a save, and build
errors appear in a banner as text (never as markup)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from test_serve import ADA, BOB, Live

TIMEOUT_MS = 15_000

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A plain context: this page talks to the live server on 127.0.0.1, which the watched
    contexts of the other browser tests (file: only) would abort. One Chromium per session:
    Playwright's sync API cannot be started twice in one process."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def test_live_reload_and_problem_banner(make_crm, page) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": ADA, "contacts/bob.md": BOB})
    running = Live(root)
    dialogs: list[str] = []
    hosts: set[str] = set()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    asked: list[str] = []
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.on("request", lambda request: asked.append(request.url) if "/__crm/problems" in request.url else None)
    try:
        page.goto(running.server.url + "contacts/ada.html")
        page.get_by_text("First summary.").wait_for(timeout=TIMEOUT_MS)
        assert page.locator("#crm-live-banner").count() == 0
        page.wait_for_timeout(1500)  # nothing changes: the page waits for the next build, it does not poll
        assert [url.split("/__crm/")[1] for url in asked] == ["problems", "problems?after=1"]

        (root / "contacts/ada.md").write_text(ADA.replace("First summary.", "Second summary."), encoding="utf-8")
        page.get_by_text("Second summary.").wait_for(timeout=TIMEOUT_MS)  # reloaded by itself

        hostile = "<img src=x onerror=alert(1)>"
        (root / "contacts/ada.md").write_text(ADA.replace("ada@example.com", f"'{hostile}'"), encoding="utf-8")
        # has_text: a plain write truncates first, so a build may briefly see an empty file
        banner = page.locator("#crm-live-banner", has_text="is not a valid email address")
        banner.wait_for(timeout=TIMEOUT_MS)
        assert f"'{hostile}' is not a valid email address" in banner.inner_text()
        assert banner.locator("img").count() == 0
        assert banner.get_attribute("role") == "alert"

        (root / "contacts/ada.md").write_text(ADA, encoding="utf-8")
        page.locator("#crm-live-banner").wait_for(state="detached", timeout=TIMEOUT_MS)
        assert dialogs == []
        assert hosts == {f"127.0.0.1:{running.server.server_address[1]}"}
    finally:
        running.close()


def test_a_hidden_tab_holds_no_request_open_and_catches_up_when_shown(make_crm, page) -> None:  # type: ignore[no-untyped-def]
    """Browsers allow six connections per host: a tab in the background lets go of its
    waiting request, and when shown asks at once, reloading if a build ended meanwhile."""
    root = make_crm({"contacts/ada.md": ADA, "contacts/bob.md": BOB})
    running = Live(root, watch=False)
    failed: list[str] = []
    asked: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url.split("/__crm/")[-1]))
    page.on("request", lambda request: asked.append(request.url.split("/__crm/")[-1])
            if "/__crm/problems" in request.url else None)
    set_visibility = """(state) => {
        Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    try:
        page.goto(running.server.url + "contacts/ada.html")
        page.get_by_text("First summary.").wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(500)
        assert asked == ["problems", "problems?after=1"]
        page.evaluate(set_visibility, "hidden")
        page.wait_for_timeout(300)
        assert failed == ["problems?after=1"]  # let go of
        (root / "contacts/ada.md").write_text(ADA.replace("First summary.", "Second summary."), encoding="utf-8")
        running.builder.build(["contacts/ada.md"])
        page.wait_for_timeout(500)
        assert page.get_by_text("First summary.").count() == 1 and len(asked) == 2  # hidden: no reload, no request
        page.evaluate(set_visibility, "visible")
        page.get_by_text("Second summary.").wait_for(timeout=TIMEOUT_MS)  # asked at once, and reloaded
    finally:
        running.close()

"""Screenshots of the sample site for a person to look at (not a test; nothing is asserted).

    python3 tests/browser/screenshots.py [OUT_DIR]    # default /tmp/shots

Builds the sample CRM with today fixed, then saves index, a contact page, an org page,
due and the dashboard in light, dark and phone layouts, full page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_support import CHROMIUM, CHROMIUM_ARGS, SAMPLE_ROOT, build, url_of  # noqa: E402

PAGES = {
    "index": "index.html",
    "contact": "contacts/zoe-muller.html",
    "contact-cjk": "contacts/zhang-wei.html",
    "org": "orgs/nordlicht-logistics.html",
    "due": "due.html",
    "dashboard": "dashboard.html",
}
MODES = {
    "light": {"viewport": {"width": 1280, "height": 900}},
    "dark": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
              "has_touch": True},
}


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    site = build(SAMPLE_ROOT, Path(tempfile.mkdtemp(prefix="crm-shots-")) / "site")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for mode, options in MODES.items():
            context = browser.new_context(**options)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else route.abort())
            page = context.new_page()
            for name, rel in PAGES.items():
                page.goto(url_of(site, rel))
                path = out / f"{name}-{mode}.png"
                page.screenshot(path=str(path), full_page=True)
                print(path)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/shots"))

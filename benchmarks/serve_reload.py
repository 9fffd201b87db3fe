"""Save to reloaded page under `crm serve`, timed in a real Chromium: what a user waits.

    python benchmarks/serve_reload.py ROOT CONTACT.md --today 2026-11-22 [--saves 6]

Starts what `crm serve` starts (LiveBuilder, the file watcher with its 0.2 s of quiet,
the server on 127.0.0.1), opens CONTACT.md's page in Chromium (/usr/bin/chromium, or
--chromium PATH; driven by the playwright package), then appends a dated section to the
file, times from the write to the page's next `load` event (the page reloads itself),
and waits a different while before the next save so that saves fall at different
moments of any polling. Prints the times sorted, and their median, in seconds. The file
is put back as it was afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("contact", type=Path, help="the contact file the saves change (relative to ROOT)")
    parser.add_argument("--today", required=True, type=date.fromisoformat)
    parser.add_argument("--saves", type=int, default=6)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from site_builder.serve import start_server, stop_server
    from site_builder.watch import LiveBuilder, watch_and_rebuild

    root = args.root.resolve()
    path = root / args.contact
    original, stat = path.read_bytes(), path.stat()
    builder = LiveBuilder(root, None, args.today, echo=lambda line: None)
    builder.build()
    server, thread = start_server(builder, 0)
    watcher, debouncer = watch_and_rebuild(root, builder)
    waits: list[float] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            loads: list[float] = []
            page.on("load", lambda: loads.append(time.perf_counter()))
            page.goto(f"{server.url}contacts/{path.stem}.html")
            page.wait_for_timeout(1500)
            for n in range(args.saves):
                marker = f"Reload benchmark {n}"
                saved = time.perf_counter()
                path.write_bytes(original + f"\n## 2026-11-21 call: {marker}\n\nOne more call.\n".encode())
                page.get_by_text(marker).first.wait_for(timeout=60_000)
                waits.append(min(t for t in loads if t > saved) - saved)
                page.wait_for_timeout(800 + 137 * n)
            browser.close()
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        watcher.stop()
        debouncer.stop()
        stop_server(server, thread)
    print("save to reloaded page (s):", " ".join(f"{w:.2f}" for w in sorted(waits)),
          f"median {statistics.median(waits):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One save under `crm serve`, timed: what LiveBuilder (serve and watch) does after a save.

    python benchmarks/serve_save.py ROOT CONTACT.md --today 2026-11-22

Builds once (as serve does when it starts), then appends a section to CONTACT.md and
builds again through the same LiveBuilder, which keeps what it loaded and the stats'
memory between builds (--saves N: N such saves, each appending another section). Prints
one JSON line about the last save's build: wall seconds, CPU seconds (this process and
the worker processes it waited for), the process's peak RSS in MB (the first build
included: it is the serve process's peak) and the seconds until the new site was in
place, when the open page reloads (reload_seconds). The file is put back as it was afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

EDIT = b"\n## 2026-11-21 call: Benchmark edit\n\nOne more call. #pricing\n"


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("contact", type=Path, help="the contact file the save changes")
    parser.add_argument("--today", required=True, type=date.fromisoformat)
    parser.add_argument("--saves", type=int, default=1, help="how many saves (the last one is timed)")
    args = parser.parse_args(argv)
    from site_builder.watch import LiveBuilder

    builder = LiveBuilder(args.root, None, args.today, echo=lambda line: None)
    builder.build()
    original = args.contact.read_bytes()
    stamp = args.contact.stat()
    try:
        for save in range(1, args.saves + 1):
            args.contact.write_bytes(original + EDIT * save)
            cpu, start = cpu_seconds(), time.perf_counter()
            status = builder.build([str(args.contact)])
            wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
            if status.failure:
                break
    finally:
        args.contact.write_bytes(original)
        os.utime(args.contact, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    if status.failure:
        print(status.failure, file=sys.stderr)
        return 2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # status.seconds: from the save's build starting until its site was in place, when
    # the open page reloads (the build's record is written after that).
    print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "peak_mb": peak, "reload_seconds": status.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

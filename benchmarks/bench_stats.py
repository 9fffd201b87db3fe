"""Time stats.compute() and stats.due_items() on a big CRM, after parsing.

    python benchmarks/bench_stats.py                      # 10,000 contacts x 20 sections
    python benchmarks/bench_stats.py --contacts 1000 --repeat 5

The corpus comes from generate.py (deterministic) into benchmarks/corpus/<N>x<S>/, the
same folder benchmarks/run.py uses, and is reused when it is already there. Loading
(reading and parsing the files) is timed on its own; the figure that matters is
compute(), which must stay under 1 s for 10,000 contacts with 200,000 sections. The best
of --repeat runs is reported, plus the median, since a shared machine adds noise.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

from site_builder.loader import load_crm  # noqa: E402
from site_builder.stats import compute, due_items  # noqa: E402

TODAY = date(2026, 11, 22)


def corpus(contacts: int, sections: int) -> Path:
    folder = HERE / "corpus" / f"{contacts}x{sections}"
    if not (folder / "crm.yaml").is_file() or len(list((folder / "contacts").glob("*.md"))) != contacts:
        print(f"generating {folder} ...", file=sys.stderr)
        generate.generate(folder, contacts, sections)
    return folder


def timed(func, repeat: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Wall-clock and CPU seconds of each run. CPU time is the steadier figure on a shared
    machine (other processes stretch the wall clock, not our CPU time)."""
    wall, cpu = [], []
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        func()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--sections", type=int, default=20, help="dated sections per contact")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    root = corpus(args.contacts, args.sections)
    start = time.perf_counter()
    crm = load_crm(root)
    load_seconds = time.perf_counter() - start
    n_sections = sum(len(e.sections) for e in crm.entities())

    stats_wall, stats_cpu = timed(lambda: compute(crm, TODAY), args.repeat)
    stats = compute(crm, TODAY)
    due_wall, _ = timed(lambda: due_items(crm, stats, TODAY, 7), args.repeat)

    print(f"corpus: {len(crm.contacts):,} contacts, {len(crm.orgs):,} orgs, {n_sections:,} sections ({root})")
    print(f"load (read + parse + model): {load_seconds:.2f} s")
    print(f"compute(): best {min(stats_wall):.3f} s wall ({min(stats_cpu):.3f} s CPU), "
          f"median {statistics.median(stats_wall):.3f} s wall over {args.repeat} runs")
    print(f"due_items(): best {min(due_wall) * 1000:.1f} ms")
    print(f"touches indexed: {stats.summary['touches']:,}; contacts due: "
          f"{len(due_items(crm, stats, TODAY, 7).attention):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

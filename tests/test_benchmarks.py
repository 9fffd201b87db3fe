"""benchmarks/run.py end to end on a tiny corpus: every scenario runs and has a figure in
the table it writes (the speeds themselves are recorded in docs/performance.md, never
asserted here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ROWS = ("crm check (cold: no cache)", "crm check (unchanged tree)", "crm stats --json",
        "crm build (cold: no cache, no output)", "rebuild, nothing changed", "rebuild, next day (every page again)",
        "rebuild, one contact edited", "rebuild, one contact added", "rebuild, one contact deleted",
        "crm serve: one save (contact edited)", "crm serve started with no cache: its second save")


def test_the_benchmark_runs_every_scenario(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", "30", "--sections", "3",
                           "--corpus-dir", str(tmp_path / "corpora"), "--results", str(tmp_path / "results")],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    written = list((tmp_path / "results").glob("*.md"))
    assert len(written) == 1
    table = written[0].read_text(encoding="utf-8")
    for label in ROWS:
        assert re.search(rf"\| {re.escape(label)} \| \d+\.\d\d s \(\d+\.\d\d s CPU\), \d+ MB \|", table), label
    assert re.search(r"\| crm serve: that save, until the page reloads \| \d+\.\d\d s \|", table)

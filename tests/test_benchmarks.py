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


def _timeline_module():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("timeline", REPO / "benchmarks" / "timeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_timeline_stage_exists() -> None:
    """benchmarks/timeline.py times functions by name: a renamed one must be renamed there."""
    import importlib

    for module_name, attribute in _timeline_module().STAGES:
        assert callable(getattr(importlib.import_module(module_name), attribute)), (module_name, attribute)


def test_the_timeline_reports_each_process(tmp_path: Path) -> None:
    """A build under benchmarks/timeline.py: the command's own output, then its stages by
    start and each process's totals (a CRM of 600 files: the site-wide pages and the
    checks are forked, as at 10,000)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import generate

    root = tmp_path / "crm"
    generate.generate(root, contacts=600, sections=2, seed=3)
    command = [sys.executable, str(REPO / "benchmarks" / "timeline.py"), "--root", str(root), "--min-ms", "0",
               "--", "build", "--today", "2026-11-22"]
    cold = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert cold.returncode == 0, cold.stderr
    assert "Built 600 contacts" in cold.stdout
    with (root / "contacts" / sorted(p.name for p in (root / "contacts").iterdir())[0]).open("a") as handle:
        handle.write("\n## 2026-11-21 call: One more\n\nA note.\n")
    edit = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert edit.returncode == 0, edit.stderr
    lines = edit.stderr.splitlines()
    assert not any("not found" in line for line in lines), edit.stderr
    stages = [line.split() for line in lines if re.match(r"(main|fork \d+) +\d+ +\d+ +\d+ +\d+  \w", line)]
    by_name = {row[-1]: row for row in stages}
    for name in ("build_site", "load", "read_memory", "page_signatures", "write_site", "commit"):
        assert by_name[name][0] == "main", name
    assert any(row[0] == "fork" and row[-1] == "render_site_wide" for row in stages), edit.stderr
    starts = [int(row[-5]) for row in stages]
    assert starts == sorted(starts)
    totals = lines[lines.index(next(line for line in lines if line.startswith("process   exited"))) + 1:]
    assert totals[0].startswith("main") and any(line.startswith("fork") for line in totals)

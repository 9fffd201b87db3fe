"""Time Hugo rendering the same generated corpus that benchmarks/run.py times crm on.

    python benchmarks/hugo_compare.py                      # 1,000 and 10,000 contacts x 20 sections, 3 runs each
    python benchmarks/hugo_compare.py --sizes 1000 --repeat 2
    python benchmarks/hugo_compare.py --big                # also 50,000 (about 400 MB of Markdown)

A reference point for `crm build`'s cold-build time (issue 7 quotes "Hugo 0.111 renders
the same 10,000 pages from the same files in about 13 s"). Corpora come from generate.py
(same seed, so the same files as run.py's) and are kept in --corpus-dir. For each size the
Hugo site in benchmarks/hugo/ (config and layouts) is copied to a work folder whose
content/contacts and content/orgs are symlinks to the corpus, and `hugo --quiet` builds it
into an emptied destination, each run a fresh process (Hugo has no build cache for pages:
every `hugo` run renders everything). Reported per run: wall time, CPU time (user +
system, from os.wait4), peak memory (RSS), load average before it; per size: output size
and HTML page count; min and median over the runs. If `hugo` is not installed the script
says so and exits 0 without measuring anything.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = HERE / "hugo"
sys.path.insert(0, str(HERE))
import run  # noqa: E402  (ensure_corpus, machine, folder_size, markdown_size)


@dataclass
class HugoRun:
    seconds: float
    cpu_seconds: float  # user + system of the hugo process (all its threads)
    peak_mb: float
    load: float  # 1-minute load average just before the run


def hugo_version(hugo: str) -> str:
    result = subprocess.run([hugo, "version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or result.stderr.strip()


def prepare_site(work: Path, corpus: Path) -> Path:
    """A fresh copy of benchmarks/hugo/ with the corpus linked in as its content.

    Copied rather than used in place because Hugo writes a .hugo_build.lock into the
    site folder, which must not land in the repository."""
    site = work / "site"
    if site.exists():
        shutil.rmtree(site)
    shutil.copytree(SITE, site)
    content = site / "content"
    content.mkdir()
    for section in ("contacts", "orgs"):
        (content / section).symlink_to(corpus / section, target_is_directory=True)
    return site


def run_hugo(hugo: str, site: Path, destination: Path, cache: Path) -> HugoRun:
    """One cold `hugo` build into an empty destination, in its own process."""
    shutil.rmtree(destination, ignore_errors=True)
    cmd = [hugo, "--quiet", "--source", str(site), "--destination", str(destination), "--cacheDir", str(cache)]
    # stderr to a file, not a pipe: Hugo blocks once a pipe nobody reads is full, and
    # os.wait4 (for the rusage) is called before anything could read it.
    errors = destination.parent / "hugo-stderr.log"
    load = os.getloadavg()[0]
    with errors.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=site, stdout=subprocess.DEVNULL, stderr=sink)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{errors.read_text(errors='replace')}")
    return HugoRun(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, load)


def bench_size(hugo: str, corpus: Path, work: Path, repeat: int) -> dict[str, object]:
    site = prepare_site(work, corpus)
    out = work / "public"
    runs = [run_hugo(hugo, site, out, work / "cache") for _ in range(repeat)]
    pages = sum(1 for _ in out.rglob("*.html"))
    return {"markdown_mb": run.markdown_size(corpus) / 1e6, "runs": runs,
            "output_mb": run.folder_size(out) / 1e6, "pages": pages}


@dataclass
class ServerRebuild:
    label: str
    hugo_ms: float  # Hugo's own "Total in N ms" for the rebuild
    cpu_seconds: float  # the server process's user + system time during the rebuild
    seconds: float  # from the file write to Hugo's "Total in" line (includes its event debounce)


def _cpu_of(pid: int) -> float:
    """User + system seconds of a running process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_mb_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _wait_for(log: Path, pattern: str, count: int, timeout: float) -> re.Match[str]:
    """The count-th match of pattern in the server's log, waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matches = list(re.finditer(pattern, log.read_text(errors="replace")))
        if len(matches) >= count:
            return matches[count - 1]
        time.sleep(0.02)
    raise SystemExit(f"hugo server: no {pattern!r} within {timeout:.0f} s; log: {log}")


def bench_server(hugo: str, corpus: Path, work: Path) -> dict[str, object]:
    """`hugo server` (full re-render on change, written to disk) and the rebuilds after one
    contact is edited, added and deleted, as run.py does them to crm; the corpus is restored.

    --disableFastRender because fast render only re-renders the pages a browser has open
    (none here); Hugo then re-reads the changed file and re-renders every page."""
    site = prepare_site(work, corpus)
    out = work / "public-server"
    shutil.rmtree(out, ignore_errors=True)
    log = work / "server.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [hugo, "server", "--source", str(site), "--destination", str(out), "--cacheDir", str(work / "cache"),
           "--renderToDisk", "--disableFastRender", "--disableLiveReload", "--bind", "127.0.0.1",
           "--port", str(port)]
    contacts = sorted((corpus / "contacts").glob("*.md"))
    victim = contacts[len(contacts) // 2]
    original = victim.read_bytes()
    stat = victim.stat()
    added = corpus / "contacts" / "benchmark-added-person.md"
    results: list[ServerRebuild] = []
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=site, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for(log, r"Web Server is available", 1, 600)
        peak_start = _peak_mb_of(proc.pid)
        steps = [
            ("one contact edited", lambda: victim.write_bytes(
                original + b"\n## 2026-11-21 call: Benchmark edit\n\nOne more call. #pricing\n")),
            ("one contact added", lambda: added.write_bytes(contacts[1].read_bytes())),
            ("one contact deleted", lambda: added.unlink()),
        ]
        for i, (label, change) in enumerate(steps, 1):
            time.sleep(1.0)  # let the watcher settle, so each change is its own rebuild
            cpu = _cpu_of(proc.pid)
            start = time.perf_counter()
            change()
            match = _wait_for(log, r"Total in (\d+) ms", i, 600)
            elapsed = time.perf_counter() - start
            results.append(ServerRebuild(label, float(match.group(1)), _cpu_of(proc.pid) - cpu, elapsed))
        peak = _peak_mb_of(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
        victim.write_bytes(original)
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        added.unlink(missing_ok=True)
        shutil.rmtree(out, ignore_errors=True)
    return {"rebuilds": results, "peak_mb_after_start": peak_start, "peak_mb": peak}


def server_table(columns: list[tuple[str, dict[str, object]]]) -> str:
    rows = ["| hugo server, rebuild after | " + " | ".join(name for name, _ in columns) + " |",
            "|---|" + "---|" * len(columns)]
    labels = [r.label for r in columns[0][1]["rebuilds"]]  # type: ignore[attr-defined]
    for index, label in enumerate(labels):
        cells = []
        for _, result in columns:
            r = result["rebuilds"][index]  # type: ignore[index]
            cells.append(f"{r.hugo_ms / 1000:.2f} s (Hugo's figure), {r.cpu_seconds:.2f} s CPU, "
                         f"{r.seconds:.2f} s from write to done")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    rows.append("| server peak memory (after start / at end) | " + " | ".join(
        f"{r['peak_mb_after_start']:.0f} / {r['peak_mb']:.0f} MB" for _, r in columns) + " |")
    return "\n".join(rows)


def _min_median(values: list[float], unit: str, digits: int) -> str:
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f}{unit}"


def table(columns: list[tuple[str, dict[str, object]]]) -> str:
    head = "| Hugo build (cold, min / median) | " + " | ".join(name for name, _ in columns) + " |"
    rows = [head, "|---|" + "---|" * len(columns)]

    def row(label: str, cell) -> None:  # type: ignore[no-untyped-def]
        rows.append(f"| {label} | " + " | ".join(cell(result) for _, result in columns) + " |")

    row("Markdown (MB)", lambda r: f"{r['markdown_mb']:.1f}")
    row("runs", lambda r: str(len(r["runs"])))
    row("wall time", lambda r: _min_median([x.seconds for x in r["runs"]], " s", 2))
    row("CPU time (user + system)", lambda r: _min_median([x.cpu_seconds for x in r["runs"]], " s", 2))
    row("peak memory (RSS)", lambda r: _min_median([x.peak_mb for x in r["runs"]], " MB", 0))
    row("load average before the runs", lambda r: ", ".join(f"{x.load:.1f}" for x in r["runs"]))
    row("output (MB)", lambda r: f"{r['output_mb']:.1f}")
    row("HTML pages", lambda r: f"{r['pages']:,}")
    return "\n".join(rows)


def runs_list(columns: list[tuple[str, dict[str, object]]]) -> str:
    lines = []
    for name, result in columns:
        for i, x in enumerate(result["runs"], 1):  # type: ignore[arg-type]
            lines.append(f"- {name}, run {i}: {x.seconds:.2f} s wall, {x.cpu_seconds:.2f} s CPU, "
                         f"{x.peak_mb:.0f} MB, load {x.load:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time Hugo on the corpora crm is benchmarked on.")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated contact counts (default 1000,10000)")
    parser.add_argument("--big", action="store_true",
                        help="also 50,000 contacts (406 MB of Markdown; Hugo 0.111 peaks at about 11 GB of RAM)")
    parser.add_argument("--sections", type=int, default=20, help="sections per contact (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="cold builds per size (default 3)")
    parser.add_argument("--corpus-dir", type=Path, default=Path(tempfile.gettempdir()) / "hugo-bench",
                        help="where corpora <N>x<sections>/ are kept (run.py's --corpus-dir works too)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the Hugo sites and their output go (default: CORPUS_DIR/hugo-work)")
    parser.add_argument("--hugo", default="hugo", help="the hugo executable (default: hugo on PATH)")
    parser.add_argument("--results", type=Path, default=None, help="also write the report to this file")
    parser.add_argument("--server", action="store_true",
                        help="also time `hugo server` rebuilds after one contact is edited, added, deleted")
    args = parser.parse_args(argv)

    hugo = shutil.which(args.hugo)
    if hugo is None:
        print(f"skipped: {args.hugo!r} not found on PATH. Install Hugo (Debian: apt-get install hugo) "
              f"or pass --hugo /path/to/hugo.", file=sys.stderr)
        return 0
    version = hugo_version(hugo)
    work_dir = args.work_dir or args.corpus_dir / "hugo-work"
    counts = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.big and 50000 not in counts:
        counts.append(50000)
    columns = []
    server_columns = []
    for count in counts:
        name = f"{count}x{args.sections}"
        corpus = run.ensure_corpus(args.corpus_dir / name, count, args.sections)
        if args.repeat > 0:
            print(f"hugo on {count} contacts, {args.repeat} runs ...", file=sys.stderr)
            columns.append((f"{count:,} x {args.sections}", bench_size(hugo, corpus, work_dir / name, args.repeat)))
        if args.server:
            print(f"hugo server on {count} contacts: edit, add, delete ...", file=sys.stderr)
            server_columns.append((f"{count:,} x {args.sections}", bench_server(hugo, corpus, work_dir / name)))
    sections = []
    if columns:
        sections.append(f"{table(columns)}\n\n{runs_list(columns)}")
    if server_columns:
        sections.append(server_table(server_columns))
    report = (f"# Hugo comparison {date.today().isoformat()}\n\n{run.machine()}\n\n{version}\n\n"
              f"Site: benchmarks/hugo/ (one page per contact and org, section and tag lists). "
              f"Each run is `hugo --quiet` into an emptied destination, in a fresh process; "
              f"CPU time is user + system over all of Hugo's threads.\n\n"
              + "\n\n".join(sections) + "\n")
    print(report)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(report, encoding="utf-8")
        print(f"written to {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

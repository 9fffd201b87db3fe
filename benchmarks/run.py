"""Time the crm commands on generated corpora and write a Markdown table.

    python benchmarks/run.py                       # 1,000 and 10,000 contacts x 20 sections
    python benchmarks/run.py --sizes 1000          # just one size
    python benchmarks/run.py --big                 # also 50,000 (about 400 MB of Markdown)

Each measurement runs the `crm` command (site_builder.cli:run, the console script) as its
own process (so imports and process start-up count, as they do for a user, with the
package's bytecode written first, as an install has it) and reads that process's peak memory
from os.wait4 (the largest of it and the worker processes it waited for). Corpora are
generated once into $TMPDIR/crm-benchmark/ by generate.py and reused; the
edit/add/delete steps are undone at the end, so a corpus stays byte-identical. Three rows
are not one command: the next-day build (`--today` one day later, which renders every
page again), one save under `crm serve` (serve_save.py: a process that builds once,
then again after the edit, keeping what it loaded as serve does), and the second save of
a `crm serve` started with no cache, as right after a program upgrade (every cache made
again, the old site in place; its peak memory is the one to watch).
Results go to benchmarks/results/<date>.md (and stdout).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402

TODAY = "2026-11-22"
NEXT_DAY = "2026-11-23"
SEARCH_DATA = "search-data.js"


@dataclass
class Measurement:
    label: str
    seconds: float
    cpu_seconds: float  # user + system, of the process and the workers it waited for
    peak_mb: float
    exit_code: int


# With --snapshot, the program is run from a frozen copy (see snapshot_code).
CODE_PATH: Path | None = None


def run_cli(args: list[str], cwd: Path) -> Measurement:
    """One `crm` invocation in a fresh process: wall time and peak RSS."""
    cmd = [sys.executable, "-c", "from site_builder.cli import run; run()", *args]
    env = dict(os.environ)
    if CODE_PATH is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(CODE_PATH), *filter(None, [env.get("PYTHONPATH")])])
        cwd = CODE_PATH
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):  # 1 = the CRM has problems, still a complete run
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err}")
    return Measurement(" ".join(args[:1]), elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                       proc.returncode)


def run_serve_save(root: Path, victim: Path, saves: int = 1) -> tuple[Measurement, float]:
    """serve_save.py in a fresh process: saves under `crm serve` after its first build
    (the last one timed; the peak memory is the process's, its first build included),
    and the seconds until that save's site was in place (the open page reloads then)."""
    cmd = [sys.executable, str(HERE / "serve_save.py"), str(root), str(victim), "--today", TODAY,
           "--saves", str(saves)]
    env = dict(os.environ)
    if CODE_PATH is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(CODE_PATH), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(cmd, cwd=CODE_PATH or REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"serve_save.py failed ({done.returncode}):\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return (Measurement("serve save", figures["seconds"], figures["cpu_seconds"], figures["peak_mb"], 0),
            figures["reload_seconds"])


def snapshot_code(folder: Path) -> Path:
    """Copy site_builder/ and templates/ so that edits made to the working tree while the
    benchmark runs (the cache keys on the program's source) cannot disturb it."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(REPO / "site_builder", folder / "site_builder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "templates", folder / "templates")
    return folder


def compile_bytecode(code: Path) -> None:
    """Write the package's bytecode (__pycache__) before anything is timed. An installed
    package has it (pip compiles at install; Python writes it on the first import), but an
    environment with PYTHONDONTWRITEBYTECODE set (this machine has it) would otherwise
    compile every module from source in every timed process: about 60 ms of each command."""
    if not compileall.compile_dir(code / "site_builder", quiet=1):
        raise SystemExit(f"could not compile {code / 'site_builder'}")


def ensure_corpus(folder: Path, contacts: int, sections: int, git: bool = True) -> Path:
    stamp = folder / ".generated"
    wanted = f"{contacts} {sections} seed=7 {_generator_digest()} git={git and GIT_COMMITS}\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    print(f"generating {contacts} x {sections} into {folder} ...", file=sys.stderr)
    generate.generate(folder, contacts, sections, seed=7)
    if git:
        make_git_history(folder)
    stamp.write_text(wanted)
    # Stamps older than the cache's "racy" window, as for files edited a while ago.
    old = time.time_ns() - 3600 * 10**9
    for path in [*folder.glob("contacts/*.md"), *folder.glob("orgs/*.md")]:
        os.utime(path, ns=(old, old))
    return folder


# The corpus's git history: one commit of every file, then this many less one, each adding
# a note to one contact in a hundred.
GIT_COMMITS = 10


def make_git_history(folder: Path) -> None:
    """Make the corpus a git repository with a history, as a user's CRM is (the site shows
    each file's history, read from git): one commit importing every file, then nine days
    each adding a note to one contact in a hundred, with fixed authors and dates, so the
    history is the same on every machine. The working tree is then clean."""
    def git(*args: str, when: str = "2026-10-01T09:00:00+00:00") -> None:
        env = {**os.environ, "GIT_AUTHOR_NAME": "Benchmark", "GIT_AUTHOR_EMAIL": "bench@example.com",
               "GIT_COMMITTER_NAME": "Benchmark", "GIT_COMMITTER_EMAIL": "bench@example.com",
               "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_CONFIG_GLOBAL": "/dev/null",
               "GIT_CONFIG_NOSYSTEM": "1"}
        subprocess.run(["git", "-C", str(folder), *args], env=env, check=True, capture_output=True)

    (folder / ".gitignore").write_text("output/\n.crm-cache/\n.generated\n", encoding="utf-8")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "Import")
    contacts = sorted(folder.glob("contacts/*.md"))
    for day in range(1, GIT_COMMITS):
        when = f"2026-10-{day + 1:02d}"
        for path in contacts[day::100]:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"\n## {when} call: Check-in {day}\n\nA short call.\n")
        git("commit", "-q", "-a", "-m", f"Notes of {when}", when=f"{when}T18:00:00+00:00")


def _generator_digest() -> str:
    import hashlib

    return hashlib.blake2b((HERE / "generate.py").read_bytes(), digest_size=8).hexdigest()


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def markdown_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in [*folder.glob("contacts/*.md"), *folder.glob("orgs/*.md")])


def clear_cache(root: Path) -> None:
    shutil.rmtree(root / ".crm-cache", ignore_errors=True)


def bench_size(root: Path, repeat: int) -> dict[str, object]:
    """Every scenario on one corpus; returns {row label: Measurement or figure}."""
    results: dict[str, object] = {}
    out = root / "output"
    base = ["--root", str(root)]
    build = ["build", *base, "--today", TODAY]

    def best(label: str, args: list[str], prepare=None) -> None:  # type: ignore[no-untyped-def]
        runs = []
        for _ in range(repeat):
            if prepare:
                prepare()
            runs.append(run_cli(args, REPO))
        results[label] = min(runs, key=lambda m: m.seconds)

    best("crm check (cold: no cache)", ["check", *base], prepare=lambda: clear_cache(root))
    best("crm check (unchanged tree)", ["check", *base])
    best("crm stats --json", ["stats", *base, "--today", TODAY, "--json"])

    def cold() -> None:
        clear_cache(root)
        shutil.rmtree(out, ignore_errors=True)

    best("crm build (cold: no cache, no output)", build, prepare=cold)
    results["output size (MB)"] = folder_size(out) / 1e6
    search = out / SEARCH_DATA
    results["search data (MB)"] = search.stat().st_size / 1e6 if search.exists() else 0.0
    best("rebuild, nothing changed", build)
    # Every page shows dates in words relative to today: the first build of a day renders
    # every page again, from the caches. The build after it puts today back (unmeasured).
    results["rebuild, next day (every page again)"] = run_cli(["build", *base, "--today", NEXT_DAY], REPO)
    run_cli(build, REPO)

    contacts = sorted((root / "contacts").glob("*.md"))
    victim = contacts[len(contacts) // 2]
    original = victim.read_bytes()
    added = root / "contacts" / "benchmark-added-person.md"
    try:
        victim.write_bytes(original + b"\n## 2026-11-21 call: Benchmark edit\n\nOne more call. #pricing\n")
        results["rebuild, one contact edited"] = run_cli(build, REPO)
        added.write_bytes(contacts[1].read_bytes())
        results["rebuild, one contact added"] = run_cli(build, REPO)
        added.unlink()
        results["rebuild, one contact deleted"] = run_cli(build, REPO)
        victim.write_bytes(original)
        run_cli(build, REPO)
        save, reload = run_serve_save(root, victim)
        results["crm serve: one save (contact edited)"] = save
        results["crm serve: that save, until the page reloads"] = f"{reload:.2f} s"
        # As right after a program upgrade: every cache made again, the old site in place.
        clear_cache(root)
        results["crm serve started with no cache: its second save"] = run_serve_save(root, victim, saves=2)[0]
    finally:
        victim.write_bytes(original)
        added.unlink(missing_ok=True)
        stat = contacts[0].stat()
        os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return results


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}, "
            f"commit {commit or '?'}")


def table(sizes: list[tuple[str, dict[str, object]]]) -> str:
    labels = list(sizes[0][1])
    head = "| measurement | " + " | ".join(name for name, _ in sizes) + " |"
    rule = "|---|" + "---|" * len(sizes)
    rows = [head, rule]
    for label in labels:
        cells = []
        for _, results in sizes:
            value = results.get(label)
            if isinstance(value, Measurement):
                cells.append(f"{value.seconds:.2f} s ({value.cpu_seconds:.2f} s CPU), {value.peak_mb:.0f} MB")
            elif isinstance(value, float):
                cells.append(f"{value:.1f}")
            else:
                cells.append(str(value))
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark crm check/stats/build on generated corpora.")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated contact counts (default 1000,10000)")
    parser.add_argument("--big", action="store_true",
                        help="also 50,000 contacts (406 MB of Markdown, about 3 GB of disk with the output; "
                             "many minutes on 2 CPUs). --sizes 50000 runs that size alone")
    parser.add_argument("--sections", type=int, default=20, help="sections per contact (default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest counts")
    parser.add_argument("--corpus-dir", type=Path, default=Path(tempfile.gettempdir()) / "crm-benchmark",
                        help="where corpora are kept (outside any git repository, or every commit "
                             "anyone makes to it changes the history the site shows)")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="folder for <date>.md")
    parser.add_argument("--no-git", action="store_true",
                        help="corpora that are not git repositories (by default each is one, with a history "
                             "of ten commits, as a user's CRM is; without git on the PATH, this is the default)")
    parser.add_argument("--live", action="store_true",
                        help="run the working tree's code instead of a frozen copy of it")
    args = parser.parse_args(argv)
    global CODE_PATH
    # What is measured, said when the code is copied (a commit made while the benchmark
    # runs is not the code it runs), and the load before anything runs.
    measured, load_before = machine(), os.getloadavg()[0]
    if not args.live:
        CODE_PATH = snapshot_code(args.corpus_dir / "code")
    compile_bytecode(CODE_PATH or REPO)
    counts = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.big and 50000 not in counts:
        counts.append(50000)
    columns = []
    git = not args.no_git and shutil.which("git") is not None
    for count in counts:
        root = ensure_corpus(args.corpus_dir / f"{count}x{args.sections}{'' if git else '-nogit'}", count,
                             args.sections, git)
        print(f"benchmarking {count} contacts ...", file=sys.stderr)
        results = {"Markdown (MB)": markdown_size(root) / 1e6, **bench_size(root, args.repeat)}
        columns.append((f"{count:,} x {args.sections}", results))
    report = (f"# Benchmark {date.today().isoformat()}\n\n{measured}\n\n"
              f"Wall time (CPU time: user + system, summed over worker processes) and peak memory "
              f"(RSS of the process or its largest worker) per command; `--today {TODAY}`; "
              f"{'each corpus a git repository of ' + str(GIT_COMMITS) + ' commits' if git else 'corpora outside git'}; "
              f"load average before the run: {load_before:.1f}.\n\n{table(columns)}\n")
    args.results.mkdir(parents=True, exist_ok=True)
    target = args.results / f"{date.today().isoformat()}.md"
    target.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where one `crm` command's time goes, process by process.

Runs the command in this process with a timer around each of the build's stages
(STAGES) and prints, for the main process and every process it forks, when each stage
started and how long it took (milliseconds since this script started, so Python's
imports are in it), with the page faults it took, then each process's CPU time and
peak memory. For finding what to make faster: the timelines in docs/performance.md
come from it. Nothing is timed in tests; the figures move with the machine's load.

    python benchmarks/timeline.py --root CRM [--min-ms 5] -- build --today 2026-11-22

The stages are functions looked up by name where their callers look them up; a stage
that no longer exists is reported (tests/test_benchmarks.py checks that none is
missing), never silently left out.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports below and the program's

import argparse  # noqa: E402
import atexit  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

# (module, attribute) of each stage: the module is the one its caller reads it from.
STAGES: tuple[tuple[str, str], ...] = (
    ("site_builder.build_start", "start_build"),
    ("site_builder.build", "build_site"),
    ("site_builder.build", "load"),
    ("site_builder.build", "check_and_compute"),
    ("site_builder.build", "compute_stats"),
    ("site_builder.build", "entity_checks"),
    ("site_builder.build", "read_git_history"),
    ("site_builder.build", "remember_directory_rows"),
    ("site_builder.build", "read_directory_memo"),
    ("site_builder.build", "write_directory_memo"),
    ("site_builder.build", "write_site"),
    ("site_builder.build", "render_site_wide"),
    ("site_builder.build", "write_search_data"),
    ("site_builder.build", "write_calendar"),
    ("site_builder.build", "save_build_state"),
    ("site_builder.build", "tag_files"),
    ("site_builder.build", "plan_pages"),
    ("site_builder.build", "_render_entities"),
    ("site_builder.incremental", "load_state"),
    ("site_builder.incremental", "unchanged_result"),
    ("site_builder.incremental", "scan_output"),
    ("site_builder.incremental", "trusted_output"),
    ("site_builder.incremental", "page_dependencies"),
    ("site_builder.incremental", "page_signatures"),
    ("site_builder.incremental", "render_forked"),
    ("site_builder.incremental", "render_entities_parallel"),
    ("site_builder.incremental", "commit"),
    ("site_builder.fs", "discover"),
    ("site_builder.cache", "validate_cached"),
    ("site_builder.stats_incremental", "read_memory"),
    ("site_builder.stats_incremental", "write_memory"),
    ("site_builder.stats_incremental", "build_index_for"),
    ("site_builder.stats", "due_items"),
    ("site_builder.pages", "filter_options"),
    ("site_builder.pages", "tag_contexts"),
    ("site_builder.pages", "backlink_index"),
)

_records: list[tuple[str, float, float, int]] = []  # (stage, start ms, took ms, page faults)
_main_pid = os.getpid()
_sink: str | None = None  # the file every process appends its records to


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, faults = time.perf_counter(), _faults()
        try:
            return function(*args, **kwargs)
        finally:
            _records.append((name, (start - STARTED) * 1000, (time.perf_counter() - start) * 1000,
                             _faults() - faults))
    return timed


def install(stages: tuple[tuple[str, str], ...] = STAGES) -> list[str]:
    """Put a timer around each stage; the stages not found ("module.attribute")."""
    missing = []
    for module_name, attribute in stages:
        try:
            module = importlib.import_module(module_name)
            function = getattr(module, attribute)
        except (ImportError, AttributeError):
            missing.append(f"{module_name}.{attribute}")
            continue
        setattr(module, attribute, _timed(attribute, function))
    return missing


def _flush() -> None:
    """Append this process's records and totals to the sink, in one write."""
    if _sink is None:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lines = [f"{os.getpid()}\t{name}\t{start:.1f}\t{took:.1f}\t{faults}\n" for name, start, took, faults in _records]
    lines.append(f"{os.getpid()}\t=\t{(time.perf_counter() - STARTED) * 1000:.1f}\t{usage.ru_utime * 1000:.0f}"
                 f"\t{usage.ru_stime * 1000:.0f}\t{usage.ru_maxrss // 1024}\t{usage.ru_minflt}\n")
    _records.clear()
    try:
        descriptor = os.open(_sink, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:  # the report is out already (a process that outlived the command)
        return
    try:
        os.write(descriptor, "".join(lines).encode())
    finally:
        os.close(descriptor)


def report(sink: str, min_ms: float) -> str:
    """The timeline: every stage of at least min_ms, by start, then each process's totals."""
    rows, totals, first = [], {}, {}
    for line in Path(sink).read_text().splitlines():
        pid, name, *values = line.split("\t")
        if name == "=":
            totals[pid] = values
            first.setdefault(pid, float("inf"))
        else:
            rows.append((float(values[0]), pid, name, float(values[1]), int(values[2])))
            first[pid] = min(first.get(pid, float("inf")), float(values[0]))
    # The main process, then the forked ones numbered by when their first stage started.
    order = {pid: n for n, pid in enumerate(sorted(first, key=lambda p: (int(p) != _main_pid, first[p])))}
    label = {pid: "main" if n == 0 and int(pid) == _main_pid else f"fork {n}" for pid, n in order.items()}
    out = [f"{'process':<8} {'start':>7} {'took':>7} {'end':>7} {'faults':>7}  stage (ms since start)"]
    for start, pid, name, took, faults in sorted(rows):
        if took >= min_ms:
            out.append(f"{label[pid]:<8} {start:7.0f} {took:7.0f} {start + took:7.0f} {faults:7d}  {name}")
    out.append("")
    out.append(f"{'process':<8} {'exited':>7} {'user ms':>7} {'sys ms':>7} {'peak MB':>7} {'faults':>7}")
    for pid, (ended, user, system, peak, faults) in sorted(totals.items(), key=lambda kv: order[kv[0]]):
        out.append(f"{label[pid]:<8} {float(ended):7.0f} {user:>7} {system:>7} {peak:>7} {faults:>7}")
    return "\n".join(out)


def _wait_for_children() -> None:
    """Wait for this process's forked processes to end, so that each has added its
    records (its end is recorded as it exits, not as it is waited for here)."""
    try:  # first each process pool's own thread, which waits for the pool's processes
        from concurrent.futures import process

        process._python_exit()  # type: ignore[attr-defined]
    except Exception as error:  # a report must never change how a process ends
        print(f"timeline: {error}", file=sys.stderr)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def main(argv: list[str] | None = None) -> int:
    global _sink
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the CRM folder (default: here)")
    parser.add_argument("--min-ms", type=float, default=5.0, help="leave out stages shorter than this")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then crm's arguments, e.g. -- build")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give crm's arguments after --, e.g. -- build --today 2026-11-22")
    missing = install()
    if missing:
        print("stages not found (renamed or gone?): " + ", ".join(missing), file=sys.stderr)
    handle, _sink = tempfile.mkstemp(prefix="crm-timeline-", suffix=".tsv")
    os.close(handle)
    real_exit = os._exit

    def finish() -> None:
        global _sink
        _flush()
        if os.getpid() == _main_pid and _sink is not None and os.path.exists(_sink):
            _wait_for_children()  # the build does not wait for its forked processes to end
            print(report(_sink, args.min_ms), file=sys.stderr)
            os.unlink(_sink)
            _sink = None

    def exiting(code: int) -> None:  # forked processes end here, and `crm` itself
        try:
            finish()
        except Exception as error:  # a report must never change how a process ends
            print(f"timeline: {error}", file=sys.stderr)
        real_exit(code)

    os._exit = exiting  # type: ignore[assignment]
    atexit.register(finish)
    os.register_at_fork(after_in_child=_records.clear)  # a forked process reports its own stages
    os.chdir(args.root)
    from site_builder.cli import run

    sys.argv = ["crm", *command]
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""incremental.ForkedJobs: jobs run one after another in one forked process; each
result is had without stopping the others, and an error is raised where it is asked for."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from site_builder import build as build_mod
from site_builder import incremental


def test_each_result_comes_from_the_forked_process_without_stopping_the_next() -> None:
    here = os.getpid()
    jobs = incremental.ForkedJobs.start([os.getpid, lambda: (time.sleep(0.2), os.getpid())[1]])
    assert jobs is not None
    first, second = jobs.job(0), jobs.job(1)
    pid = first.result()
    assert pid != here
    assert second.result() == pid  # the same process, still running after the first result
    second.cancel()


def test_an_error_is_raised_by_its_own_result_only() -> None:
    def fail() -> None:
        raise ValueError("broken check")

    jobs = incremental.ForkedJobs.start([fail, lambda: "fine"])
    assert jobs is not None
    with pytest.raises(ValueError, match="broken check"):
        jobs.job(0).result()
    assert jobs.job(1).result() == "fine"
    jobs.job(0).cancel()


def test_a_check_that_fails_in_the_forked_process_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import generate
    from datetime import date

    root = tmp_path / "crm"
    generate.generate(root, contacts=8, sections=2, seed=2)
    build_mod.build_site(root, tmp_path / "site", date(2026, 11, 22), workers=2)
    with (root / "contacts" / sorted(os.listdir(root / "contacts"))[0]).open("a", encoding="utf-8") as handle:
        handle.write("\nMore.\n")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("check crashed")

    monkeypatch.setattr(build_mod, "entity_checks", broken)
    with pytest.raises(RuntimeError, match="check crashed"):
        build_mod.build_site(root, tmp_path / "site", date(2026, 11, 22), workers=2)


@pytest.mark.parametrize("shared", [True, False])
def test_a_claim_is_taken_once_by_this_process_or_a_forked_one(monkeypatch: pytest.MonkeyPatch, shared: bool) -> None:
    """incremental.Claim: the first take() wins, here or in a process forked after the
    claim was made. Without shared memory for it, the work stays with this process:
    a forked process never takes it."""
    if not shared:
        with monkeypatch.context() as patch:
            def no_shared_memory(method: str) -> None:
                raise OSError(method)

            patch.setattr(multiprocessing, "get_context", no_shared_memory)
            claim = incremental.Claim()
    else:
        claim = incremental.Claim()
    assert not claim.taken
    took = incremental.Forked.start(claim.take)
    assert took is not None
    if shared:
        assert took.result() is True
        assert claim.taken  # seen here, as the forked process took it
        assert claim.take() is False
    else:
        assert took.result() is False
        assert not claim.taken
        assert claim.take() is True and claim.taken
        assert claim.take() is False


def _slow_to_end(value: int) -> int:
    """A job whose process then takes a second to end (a finalizer run as it exits)."""
    from multiprocessing import util

    util.Finalize(None, time.sleep, args=(1.0,), exitpriority=0)
    return value


def test_a_result_does_not_wait_for_its_process_to_end() -> None:
    """The build takes a forked job's result and goes on: the process's end (the kernel
    freeing its copy of the build's pages) is not waited for."""
    job = incremental.Forked.start(lambda: _slow_to_end(7))
    assert job is not None
    started = time.monotonic()
    assert job.result() == 7
    assert time.monotonic() - started < 0.8
    jobs = incremental.ForkedJobs.start([lambda: _slow_to_end(1), lambda: 2])
    assert jobs is not None
    started = time.monotonic()
    assert jobs.job(0).result() == 1 and jobs.job(1).result() == 2
    jobs.cancel()
    assert time.monotonic() - started < 0.8


def test_a_job_cancelled_while_it_runs_is_waited_for(tmp_path: Path) -> None:
    """Cancelled before it is done, a job is waited for: nothing of it runs on after."""
    marker = tmp_path / "done"

    def job() -> None:
        time.sleep(0.5)
        marker.write_text("done")

    started = incremental.Forked.start(job)
    assert started is not None
    time.sleep(0.1)  # running
    started.cancel()
    assert marker.exists()


def test_finish_forked_leaves_no_process_behind() -> None:
    """What _shut_down let end by itself is waited for by finish_forked (cli.run calls it
    before the command exits): no pool process is left waiting for a stop sign."""
    import multiprocessing as mp

    jobs = [incremental.Forked.start(lambda: 1) for _ in range(3)]
    assert all(job is not None and job.result() == 1 for job in jobs)
    incremental.finish_forked()
    assert incremental._ENDING == []
    assert mp.active_children() == []


def test_crm_build_in_a_pipe_ends_with_its_processes(tmp_path: Path) -> None:
    """`crm build` with its output captured (a pipe, as `crm build | cat` or a script
    has it) returns: none of its forked processes outlives it holding the pipe. A pool
    process that never got its stop sign once held a build's pipe open forever."""
    import shutil
    import subprocess
    import sys

    from conftest import REPO, TODAY_ARG

    root = tmp_path / "crm"
    for name in ("contacts", "orgs"):
        shutil.copytree(REPO / name, root / name)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(3):
        shutil.rmtree(root / ".crm-cache", ignore_errors=True)  # a cold build: forked jobs
        done = subprocess.run([sys.executable, "-c", "from site_builder.cli import run; run()", "build",
                               "--root", str(root), "--today", TODAY_ARG],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Built 16 contacts" in done.stdout


def test_ask_runs_a_function_where_the_jobs_ran_and_not_once_they_are_stopped() -> None:
    jobs = incremental.ForkedJobs.start([os.getpid])
    assert jobs is not None
    job = jobs.job(0)
    pid = job.result()
    assert job.ask(os.getpid) == pid != os.getpid()
    assert job.ask(int, "not a number") is None  # it failed there: None, not raised here
    job.cancel()
    assert job.ask(os.getpid) is None


def test_the_namers_stay_in_the_forked_process_and_are_asked_for(tmp_path: Path) -> None:
    """dependency_job sends the parts only; the namers of a few slugs are asked from the
    process that made them (incremental.namers_asked) and are page_dependencies's."""
    import sys
    from datetime import date

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import generate

    from site_builder.loader import load

    root = tmp_path / "crm"
    generate.generate(root, contacts=20, sections=3, seed=4)
    build_mod.build_site(root, tmp_path / "site", date(2026, 11, 22), workers=1)
    loaded = load(root)
    parts, named_by = incremental.page_dependencies(loaded.crm, loaded.digests)
    jobs = incremental.ForkedJobs.start([incremental.dependency_job(loaded.crm, loaded.digests)])
    assert jobs is not None
    job = jobs.job(0)
    try:
        assert job.result() == (parts, None)
        slugs = sorted(loaded.crm.contacts)[:5]
        asked = incremental.namers_asked(job, slugs)
        assert asked == {slug: set(named_by.get(slug, ())) for slug in slugs}
        assert any(asked.values())  # the sample's people name each other
    finally:
        job.cancel()
    assert incremental.namers_asked(job, slugs) is None
    assert incremental.namers_asked(incremental.Later(lambda: None), slugs) is None  # no process to ask


def test_a_rebuild_reads_the_namers_of_its_few_pages_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    from datetime import date

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import generate

    from site_builder import pages

    root = tmp_path / "crm"
    generate.generate(root, contacts=20, sections=3, seed=4)
    out = tmp_path / "site"
    build_mod.build_site(root, out, date(2026, 11, 22), workers=2)
    given: list[object] = []
    real = pages.backlink_index

    def backlink_index(crm: object, only: object = None, namers: object = None) -> object:
        given.append(namers)
        return real(crm, only, namers)  # type: ignore[arg-type]

    monkeypatch.setattr(pages, "backlink_index", backlink_index)
    people = sorted((root / "contacts").glob("*.md"))
    with people[3].open("a", encoding="utf-8") as handle:
        handle.write(f"\n## 2026-11-21 call: with @{people[7].stem}\n\nTalked.\n")
    result = build_mod.build_site(root, out, date(2026, 11, 22), workers=2)
    assert f"contacts/{people[7].stem}.html" in result.changed
    assert len(given) == 1 and isinstance(given[0], dict) and people[7].stem in given[0]
    from test_incremental import assert_same_as_clean

    assert_same_as_clean(root, out, tmp_path, date(2026, 11, 22))


def test_the_forked_jobs_cache_writes_come_after_their_results(tmp_path: Path) -> None:
    """checks.bin and deps.bin are written by the jobs process's last job
    (incremental.deferred_writes), after the checks and the parts were sent; a rebuild
    then finds both up to date."""
    import sys
    from datetime import date

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import generate

    from site_builder import cache as cache_mod
    from site_builder.loader import load

    root = tmp_path / "crm"
    generate.generate(root, contacts=20, sections=3, seed=4)
    out = tmp_path / "site"
    build_mod.build_site(root, out, date(2026, 11, 22), workers=2)
    with sorted((root / "contacts").glob("*.md"))[3].open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-21 call\n\nTalked.\n")
    loaded = load(root)
    deps = cache_mod.cache_dir(root) / incremental.DEPS_FILE
    checks = cache_mod.cache_dir(root) / "checks.bin"
    before = deps.stat().st_mtime_ns, checks.stat().st_mtime_ns
    left: list[object] = []
    incremental.page_dependencies(loaded.crm, loaded.digests, defer=left.append)
    build_mod.entity_checks(loaded.crm, loaded, True, defer=left.append)
    assert len(left) == 2 and (deps.stat().st_mtime_ns, checks.stat().st_mtime_ns) == before  # not yet
    for write in left:
        write()  # type: ignore[operator]
    assert incremental.read_dependencies(loaded.crm).digests == loaded.digests
    result = build_mod.build_site(root, out, date(2026, 11, 22), workers=2)
    assert incremental.read_dependencies(loaded.crm).digests == loaded.digests
    assert result.changed  # the edited page
    from test_incremental import assert_same_as_clean

    assert_same_as_clean(root, out, tmp_path, date(2026, 11, 22))


def test_render_workers_pause_the_cyclic_collector_for_each_chunk_only(tmp_path: Path) -> None:
    """Rendering makes no cycles, so a render worker renders a chunk without collecting
    (about 1,170 collections a worker in a cold build at 10,000 contacts), and collects
    again between chunks, which frees what a theme's cycles hold a chunk later at most."""
    import gc

    staging = tmp_path / "staging"
    staging.mkdir()
    seen: list[tuple[list[str], bool]] = []

    def render(site: object, writer: incremental.StagingWriter, paths: list[str]) -> None:
        seen.append((paths, gc.isenabled()))
        for rel in paths:
            writer.write(rel, f"{rel} rendered")

    assert gc.isenabled()
    incremental._JOB.update(site=None, staging=staging, trusted={}, render_entities=render)
    try:
        first = incremental._render_chunk(["contacts/a.html"])
        assert gc.isenabled()  # back on between chunks
        incremental._render_chunk(["contacts/b.html"])
    finally:
        incremental._JOB.clear()
    assert seen == [(["contacts/a.html"], False), (["contacts/b.html"], False)]
    assert first[0] == ["contacts/a.html"]
    assert (staging / "contacts/a.html").read_text() == "contacts/a.html rendered"

    gc.disable()  # a process that had it off keeps it off
    try:
        incremental._JOB.update(site=None, staging=staging, trusted={}, render_entities=render)
        incremental._render_chunk(["contacts/c.html"])
        assert not gc.isenabled()
    finally:
        incremental._JOB.clear()
        gc.enable()

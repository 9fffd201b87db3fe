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

    def broken(*args: object) -> None:
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

"""incremental.TwoStep: a forked process that answers first, then goes on only when told
to. Real processes, real pipes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from site_builder import incremental
from site_builder.incremental import TwoStep


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_first_answer_then_the_result_with_what_first_kept(tmp_path: Path) -> None:
    job = TwoStep.start(lambda: ("scanned", [1, 2, 3]), lambda kept: {"sum": sum(kept), "pid": os.getpid()})
    assert job is not None
    assert job.first() == "scanned"
    assert job.first() == "scanned"  # asked again: the same answer, nothing read twice
    result = job.result()
    assert result["sum"] == 6 and result["pid"] != os.getpid()
    assert job._pid in incremental._STOPPED  # not waited for: reaped later
    incremental._reap_stopped(wait=True)
    assert not _alive(job._pid) and job._pid not in incremental._STOPPED


def test_the_result_without_asking_for_the_first_answer() -> None:
    job = TwoStep.start(lambda: (1, "x" * 300_000), lambda kept: kept.upper())  # more than a pipe holds
    assert job is not None
    assert job.result() == "X" * 300_000


def test_cancelled_after_the_first_answer_the_rest_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = TwoStep.start(lambda: (True, None), lambda kept: marker.write_text("ran"))
    assert job is not None
    assert job.first() is True
    job.cancel()  # not waited for: it ends by itself
    incremental._reap_stopped(wait=True)
    assert not _alive(job._pid)
    assert not marker.exists()
    job.cancel()  # twice: nothing more to do


def test_prepare_runs_between_the_steps_and_a_stop_does_not_wait_for_it(tmp_path: Path) -> None:
    prepared, ran = tmp_path / "prepared", tmp_path / "ran"

    def prepare() -> None:
        time.sleep(0.5)
        prepared.write_text("x")

    job = TwoStep.start(lambda: (1, None), lambda kept: ran.write_text("x"), prepare)
    assert job is not None
    assert job.first() == 1
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 0.4  # the no-op build's answer does not wait for prepare()
    incremental._reap_stopped(wait=True)
    assert prepared.exists() and not ran.exists()

    job = TwoStep.start(lambda: (1, None), lambda kept: (prepared.read_text(), ran.write_text("y"))[0], prepare)
    assert job is not None
    assert job.result() == "x"  # then() after prepare()
    assert ran.read_text() == "y"


def test_cancelled_before_the_first_answer_the_process_is_stopped(tmp_path: Path) -> None:
    waiting = threading.Event()
    job = TwoStep.start(lambda: (waiting.wait(30), None), lambda kept: None)  # never set in the child
    assert job is not None
    job.cancel()
    assert not _alive(job._pid)


def test_the_rest_runs_while_this_process_goes_on(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = TwoStep.start(lambda: (None, "kept"), lambda kept: marker.write_text(kept))
    assert job is not None
    job.go_on()
    job.go_on()  # once is enough
    assert job.result() == 4
    assert marker.read_text() == "kept"


def test_an_error_in_either_step_is_raised_here(tmp_path: Path) -> None:
    def fail() -> tuple[object, object]:
        raise FileNotFoundError(2, "gone", "output/x.html")

    job = TwoStep.start(fail, lambda kept: None)
    assert job is not None
    with pytest.raises(FileNotFoundError, match="gone"):
        job.first()
    with pytest.raises(FileNotFoundError):
        job.result()

    job = TwoStep.start(lambda: (1, None), lambda kept: 1 / 0)
    assert job is not None
    assert job.first() == 1
    with pytest.raises(ZeroDivisionError):
        job.result()


def test_an_error_that_does_not_pickle_says_what_it_was() -> None:
    class Local(Exception):  # a class pickle cannot find by name
        pass

    def fail(kept: object) -> object:
        raise Local("the theme broke")

    job = TwoStep.start(lambda: (1, None), fail)
    assert job is not None
    with pytest.raises(RuntimeError, match="Local: the theme broke"):
        job.result()


def test_a_process_that_dies_gives_an_error_not_a_hang() -> None:
    job = TwoStep.start(lambda: (1, None), lambda kept: os._exit(3))
    assert job is not None
    assert job.first() == 1
    with pytest.raises(RuntimeError, match="ended without an answer"):
        job.result()

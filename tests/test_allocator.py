"""allocator.keep_freed_memory: one-shot commands have glibc's malloc keep freed memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from site_builder import allocator, cli

# A 4 MiB block, over glibc's default mmap threshold (128 KiB): a mapping of its own
# unless the allocator was told to serve it from the heap. mallinfo2 counts the mappings.
_PROBE = textwrap.dedent("""
    import ctypes, sys
    class Info(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Info
    if sys.argv[1] == "tuned":
        from site_builder import allocator
        assert allocator.keep_freed_memory()
    before = libc.mallinfo2().hblks
    block = bytearray(4 << 20)
    print(libc.mallinfo2().hblks - before)
""")


def _glibc() -> bool:
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2  # noqa: B018 (glibc 2.33 and later)
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc(), reason="glibc's malloc only")
def test_a_large_block_comes_from_the_heap_once_tuned() -> None:
    def mappings(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                              timeout=60, check=True)
        return int(done.stdout)

    assert mappings("default") == 1
    assert mappings("tuned") == 0


def test_one_shot_commands_tune_the_allocator_and_long_running_ones_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    runner = CliRunner()
    for name in sorted(cli.LONG_RUNNING):
        assert runner.invoke(cli.main, [name, "--help"]).exit_code == 0
    assert calls == []
    assert runner.invoke(cli.main, ["--help"]).exit_code == 0  # listing the commands runs none
    assert calls == []
    for name in sorted(set(cli.COMMANDS) - cli.LONG_RUNNING):
        assert runner.invoke(cli.main, [name, "--help"]).exit_code == 0
    assert len(calls) == len(set(cli.COMMANDS) - cli.LONG_RUNNING)

"""The `crm` console script (cli.run): exit codes and output survive its fast exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def crm(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from site_builder.cli import run; run()", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_output_and_success(tmp_path: Path) -> None:
    done = crm("check", "--root", str(REPO))
    assert done.returncode == 0, done.stderr
    assert "0 errors" in done.stdout + done.stderr


def test_a_failing_command_keeps_its_exit_code(tmp_path: Path) -> None:
    root = tmp_path / "crm"
    (root / "contacts").mkdir(parents=True)
    (root / "orgs").mkdir()
    (root / "contacts" / "ada.md").write_text("---\nname: Ada\ntier: Q\n---\n", encoding="utf-8")
    done = crm("check", "--root", str(root))
    assert done.returncode == 1
    assert "contacts/ada.md" in done.stdout + done.stderr


def test_usage_errors_and_help() -> None:
    assert crm("no-such-command").returncode == 2
    done = crm("--help")
    assert done.returncode == 0 and "Usage:" in done.stdout


def test_a_build_is_complete_when_the_process_ends(tmp_path: Path) -> None:
    out = tmp_path / "site"
    done = crm("build", "--root", str(REPO), "--out", str(out), "--today", "2026-11-22")
    assert done.returncode == 0, done.stderr
    assert (out / "index.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site.")]  # no staging folder left


def test_what_a_command_made_is_held_until_exit_only_when_asked() -> None:
    import gc
    import weakref

    from site_builder import loader

    class Made:  # a weakref-able stand-in for a build's stats or records
        pass

    try:
        first, second = Made(), Made()
        refs = weakref.ref(first), weakref.ref(second)
        loader.keep_until_exit(True)
        loader.hold_until_exit(first)
        loader.hold_until_exit(second)  # replaces what the last call held
        del first, second
        gc.collect()
        assert refs[0]() is None and refs[1]() is not None
        loader.keep_until_exit(False)
        gc.collect()
        assert refs[1]() is None
        third = Made()
        ref = weakref.ref(third)
        loader.hold_until_exit(third)  # off: not held
        del third
        gc.collect()
        assert ref() is None
    finally:
        loader.keep_until_exit(False)

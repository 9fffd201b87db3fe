"""What a build does in a forked process while it loads the CRM (build_start.early_work_forked):
the theme compiled (render.compile_theme), so that the build then compiles nothing itself,
its site is the same and a template that does not compile is still reported; and the
output folder scanned, so that a file changed or deleted by hand is still rewritten."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import pytest

from site_builder import build as build_mod
from site_builder import build_start
from site_builder import render
from site_builder.build import BuildError, build_site

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

from test_incremental import assert_same_as_clean  # noqa: E402

TODAY = date(2026, 11, 22)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "crm"
    generate.generate(root, contacts=12, sections=2, seed=3)
    return root


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """This process as a fresh `crm build` is the first time: nothing compiled yet (nor
    kept on disk: tests/test_template_cache.py), and a CRM counted as large. Returns the
    names of the templates this process compiles from source."""
    monkeypatch.setenv(render.TEMPLATE_CACHE_ENV, "off")
    monkeypatch.setattr(render, "_BYTECODE", render.MemoryBytecodeCache())
    monkeypatch.setattr(build_mod, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(build_start, "EARLY_WORK_MIN_FILES", 1)
    compiled: list[str] = []
    real = jinja2.Environment.compile

    def compile(self: jinja2.Environment, source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(name))
        return real(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    return compiled


def test_the_build_compiles_nothing_itself_and_its_site_is_the_same(corpus: Path, tmp_path: Path,
                                                                      fresh_process: list[str]) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    assert fresh_process == []  # every template came compiled from the forked process
    assert len(render._BYTECODE) >= 10
    assert_same_as_clean(corpus, out, tmp_path)


def test_without_the_fork_the_build_compiles_what_it_uses(corpus: Path, tmp_path: Path,
                                                         fresh_process: list[str]) -> None:
    build_site(corpus, tmp_path / "site", TODAY, workers=1)
    assert "contact.html" in fresh_process and "base.html" in fresh_process


def test_a_user_template_that_does_not_compile_is_reported(corpus: Path, tmp_path: Path,
                                                           fresh_process: list[str]) -> None:
    (corpus / "templates").mkdir()
    (corpus / "templates" / "contact.html").write_text('{% extends "base.html" %}\n{% block main %}\n{% if %}\n',
                                                       encoding="utf-8")
    with pytest.raises(BuildError, match=r"contact\.html:3"):
        build_site(corpus, tmp_path / "site", TODAY, workers=2)


def test_a_user_template_overrides_the_builtin_one_when_compiled_apart(corpus: Path, tmp_path: Path,
                                                                       fresh_process: list[str]) -> None:
    (corpus / "templates").mkdir()
    builtin = (render.builtin_theme_dir() / "dashboard.html").read_text(encoding="utf-8")
    (corpus / "templates" / "dashboard.html").write_text(builtin.replace("</h1>", " (ours)</h1>", 1),
                                                         encoding="utf-8")
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    assert fresh_process == []
    assert "(ours)</h1>" in (out / "dashboard.html").read_text(encoding="utf-8")


def test_rebuilds_with_the_output_scanned_early_find_what_was_changed_by_hand(
        corpus: Path, tmp_path: Path, fresh_process: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    jobs = _early_jobs(monkeypatch)
    contact = sorted((corpus / "contacts").glob("*.md"))[2]
    with contact.open("a", encoding="utf-8") as handle:
        handle.write("\nOne more line.\n")
    page = out / "contacts" / f"{sorted((corpus / 'contacts').glob('*.md'))[5].stem}.html"
    page.write_text("changed by hand", encoding="utf-8")
    (out / "dashboard.html").unlink()
    result = build_site(corpus, out, TODAY, workers=2)
    assert [job is not None for job in jobs] == [True]
    assert page.relative_to(out).as_posix() in result.changed and "dashboard.html" in result.changed
    assert_same_as_clean(corpus, out, tmp_path)


def test_only_compiled_code_is_taken() -> None:
    cache = render.MemoryBytecodeCache()
    cache.take({"key": b"code", 3: b"x", "other": "not bytes"})  # type: ignore[dict-item]
    assert cache.compiled() == {"key": b"code"}


def test_the_history_of_a_new_head_is_read_in_the_forked_process(corpus: Path, tmp_path: Path,
                                                                  fresh_process: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """After a commit the git history is read from git by the early process (into
    .crm-cache/history.bin), not by the build's own: that one reads the kept file."""
    import os
    import shutil
    import subprocess

    from site_builder import history as history_mod

    if shutil.which("git") is None:
        pytest.skip("needs git")
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": "2026-11-01T10:00:00+00:00", "GIT_COMMITTER_DATE": "2026-11-01T10:00:00+00:00"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(corpus), *args], env=env, check=True, capture_output=True)

    (corpus / ".gitignore").write_text("output/\n.crm-cache/\n", encoding="utf-8")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "Import")
    here: list[Path] = []
    real = history_mod._read
    monkeypatch.setattr(history_mod, "_read", lambda root, limit, **kw: (here.append(root), real(root, limit, **kw))[1])
    history_mod._MEMO.clear()
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    assert here == []  # read by the forked process, kept, and taken from there
    page = sorted((out / "contacts").glob("*.html"))[0].read_text(encoding="utf-8")
    assert "Import" in page or "2026-11-01" in page  # the file's history is on its page
    assert_same_as_clean(corpus, out, tmp_path)


def test_a_no_op_build_waits_for_the_scan_only_and_stops_the_rest(corpus: Path, tmp_path: Path,
                                                                  fresh_process: list[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The early process scans the output first: a build that finds nothing changed takes
    that verdict and stops the process before it compiles the theme or reads git."""
    _trusted_stamps(corpus)
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    marker = tmp_path / "then-ran"
    monkeypatch.setattr(build_mod, "load", lambda *a, **k: pytest.fail("a no-op build loads nothing"))
    real = render.compile_theme

    def compile_theme(root: Path) -> Any:
        marker.write_text("compiled", encoding="utf-8")  # in the forked process
        return real(root)

    monkeypatch.setattr(render, "compile_theme", compile_theme)
    jobs = _early_jobs(monkeypatch)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    result = build_site(corpus, out, TODAY, workers=2)
    assert [job is not None for job in jobs] == [True] and result.changed == []
    assert not marker.exists()  # stopped after its first answer
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_an_output_file_changed_by_hand_alone_is_seen_by_the_early_scan(corpus: Path, tmp_path: Path,
                                                                          fresh_process: list[str],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _trusted_stamps(corpus)
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    monkeypatch.setattr(render, "_BYTECODE", render.MemoryBytecodeCache())
    page = sorted((out / "contacts").glob("*.html"))[3]
    page.write_text("changed by hand", encoding="utf-8")
    result = build_site(corpus, out, TODAY, workers=2)  # the sources as recorded: only the scan can tell
    assert page.relative_to(out).as_posix() in result.changed
    assert_same_as_clean(corpus, out, tmp_path)


def _trusted_stamps(corpus: Path) -> None:
    """Source files older than the parse cache's "racy" window, as a user's files edited a
    while ago: their stamps are trusted, so a build with none changed can be a no-op."""
    old = 1_600_000_000_000_000_000
    for path in [*corpus.glob("contacts/*.md"), *corpus.glob("orgs/*.md")]:
        os.utime(path, ns=(old, old))


def test_crm_build_with_nothing_changed_never_imports_the_renderer(tmp_path: Path) -> None:
    """`crm build` answers a no-op from build_start.py: Jinja and the page modules are not
    imported at all (about 50 ms of a 0.4 s answer at 10,000 contacts), nor PyYAML nor the
    process pool, which only parsing needs (about 50 ms more). A real process: python -X
    importtime lists every module it imports."""
    import shutil
    import subprocess

    root = tmp_path / "crm"
    shutil.copytree(REPO / "contacts", root / "contacts")
    shutil.copytree(REPO / "orgs", root / "orgs")
    _trusted_stamps(root)
    env = {**os.environ, "CRM_TODAY": TODAY.isoformat(), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-X", "importtime", "-c", "from site_builder.cli import run; run()", "build",
               "--root", str(root)]

    def imported() -> set[str]:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        assert "Built 16 contacts" in done.stdout
        return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}

    first = imported()
    assert {"jinja2", "site_builder.pages", "yaml"} <= first  # the sanity of the test: a real build
    again = imported()
    assert "site_builder.build_start" in again
    assert not {"jinja2", "site_builder.build", "site_builder.pages", "site_builder.render"} & again
    assert not {"yaml", "site_builder.yamlsafe", "concurrent.futures.process"} & again


def test_an_output_as_recorded_is_not_sent_back(corpus: Path, tmp_path: Path, fresh_process: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """After an edit with the output as the last build left it, the early process sends
    back the compiled theme only: the build takes the output's stamps and digests from
    its record (41,000 entries at 10,000 contacts not pickled twice)."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    answers: list[Any] = []
    jobs = _early_jobs(monkeypatch, answers)
    contact = sorted((corpus / "contacts").glob("*.md"))[4]
    with contact.open("a", encoding="utf-8") as handle:
        handle.write("\n## 2026-11-20 call: Checked in\n\nAll well.\n")
    build_site(corpus, out, TODAY, workers=2)
    assert len(jobs) == 1 and len(answers) == 1 and answers[0][1] is None and answers[0][0]
    assert_same_as_clean(corpus, out, tmp_path)


def _early_jobs(monkeypatch: pytest.MonkeyPatch, answers: list[Any] | None = None) -> list[Any]:
    """The early job of each build from now on (None where it forks none), each started
    as in a new process (nothing compiled yet); answers: what their result() gave."""
    jobs: list[Any] = []
    real = build_start.early_work_forked

    def early(*args: Any) -> Any:
        monkeypatch.setattr(render, "_BYTECODE", render.MemoryBytecodeCache())
        job = real(*args)
        jobs.append(job)
        if job is not None and answers is not None:
            result = job.result

            def recorded_result() -> Any:
                answers.append(result())
                return answers[-1]

            job.result = recorded_result
        return job

    monkeypatch.setattr(build_start, "early_work_forked", early)
    return jobs

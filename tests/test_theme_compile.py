"""The theme compiled in a forked process while the build loads the CRM
(build._compile_theme_forked, render.compile_theme): the build then compiles nothing
itself, its site is the same, and a template that does not compile is still reported."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import pytest

from site_builder import build as build_mod
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
    """This process as a fresh `crm build` is: nothing compiled yet, and a CRM counted as
    large. Returns the names of the templates this process compiles from source."""
    monkeypatch.setattr(render, "_BYTECODE", render.MemoryBytecodeCache())
    monkeypatch.setattr(build_mod, "PARALLEL_MIN_FILES", 1)
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


def test_only_compiled_code_is_taken() -> None:
    cache = render.MemoryBytecodeCache()
    cache.take({"key": b"code", 3: b"x", "other": "not bytes"})  # type: ignore[dict-item]
    assert cache.compiled() == {"key": b"code"}

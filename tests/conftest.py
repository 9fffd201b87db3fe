"""Shared fixtures: the sample CRM, a fixed today, temporary CRMs written file by file."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner
from hypothesis import settings

# Property tests draw the same examples on every run, as every other test is the same on
# every run: a failure CI saw is the one a colleague sees. An example found by widening a
# test (max_examples) stays as an @example.
settings.register_profile("crm", derandomize=True, database=None)
settings.load_profile("crm")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_ROOT = REPO  # the sample CRM is the repository's own contacts/ and orgs/
TODAY = date(2026, 11, 22)
TODAY_ARG = TODAY.isoformat()

MakeCrm = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture
def make_crm(tmp_path: Path) -> MakeCrm:
    """Write {relative path: text or bytes} under a fresh root and return the root.

    Text is dedented, so fixtures can be written as indented triple-quoted strings.
    """

    def make(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "crm"
        (root / "contacts").mkdir(parents=True, exist_ok=True)
        (root / "orgs").mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        return root

    return make


@pytest.fixture
def cli() -> Callable[..., "object"]:
    """Run `crm ARGS...` in-process; returns click's Result (exit_code, output, stderr)."""
    from site_builder.cli import main

    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return run

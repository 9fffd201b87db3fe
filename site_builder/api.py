"""The Python API behind the CLI: every command is a function here (or in a module it
names) that tests can call directly, with the clock and the root passed in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .loader import load_crm
from .model import CRM
from .problems import Problem, sorted_problems
from .validate import validate

TODAY_ENV = "CRM_TODAY"


def resolve_today(value: str | date | None = None) -> date:
    """--today, else $CRM_TODAY, else the system clock (the only place that reads it)."""
    if isinstance(value, date):
        return value
    text = value or os.environ.get(TODAY_ENV)
    if text:
        return date.fromisoformat(text.strip())
    return date.today()


@dataclass(slots=True)
class CheckResult:
    crm: CRM
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def check(root: Path | str) -> CheckResult:
    """Load the CRM at root and run every check; problems come sorted by path and line."""
    crm = load_crm(Path(root))
    return CheckResult(crm, sorted_problems([*crm.problems, *validate(crm)]))

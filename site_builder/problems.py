"""Problems are plain data: where (path, line), how bad (severity), what (code, message).

Every stage returns problems instead of raising, so one bad file never stops the rest
of the CRM from loading (the beancount way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Literal

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # relative to the CRM root, POSIX separators
    line: int | None  # 1-based; None only for whole-file problems
    severity: Severity
    code: str
    message: str

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.path, self.line or 0, self.code, self.message)

    def format(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.severity}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class HasProblems:
    """Mixin for results that carry `problems`: their errors and warnings."""

    __slots__ = ()
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]


def error(path: str, line: int | None, code: str, message: str) -> Problem:
    return Problem(path, line, ERROR, code, message)


def warning(path: str, line: int | None, code: str, message: str) -> Problem:
    return Problem(path, line, WARNING, code, message)


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(set(problems), key=Problem.sort_key)


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)


def problems_as_text(problems: Iterable[Problem]) -> str:
    return "\n".join(p.format() for p in sorted_problems(problems))


def problems_as_json(problems: Iterable[Problem]) -> str:
    from .jsontext import indented_json

    return indented_json([p.to_dict() for p in sorted_problems(problems)])

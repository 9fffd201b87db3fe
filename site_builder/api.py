"""The Python API behind the CLI: every command is a function here (or in a module it
names) that tests can call directly, with the clock and the root passed in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from . import cache as cache_mod
from . import fs
from .config import CONFIG_FILE
from .loader import load, load_crm
from .model import CRM
from .problems import HasProblems, Problem, sorted_problems
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


class CheckResult(HasProblems):
    """Problems found by check(); crm is loaded on first use when the answer came from
    the check cache (an unchanged tree), so `crm check` need not load anything."""

    __slots__ = ("_crm", "_root", "problems", "contact_count", "org_count")

    def __init__(self, crm: CRM | None, problems: list[Problem], *, root: Path | None = None,
                 contact_count: int | None = None, org_count: int | None = None) -> None:
        self._crm = crm
        self._root = root
        self.problems = problems
        self.contact_count = len(crm.contacts) if crm is not None else contact_count or 0
        self.org_count = len(crm.orgs) if crm is not None else org_count or 0

    @property
    def crm(self) -> CRM:
        if self._crm is None:
            assert self._root is not None
            self._crm = load_crm(self._root)
        return self._crm


def check(root: Path | str, *, cache: bool = True) -> CheckResult:
    """Load the CRM at root and run every check; problems come sorted by path and line.

    With cache, an unchanged tree (same program, crm.yaml and file contents) is answered
    from <root>/.crm-cache/ without parsing anything (see cache.py)."""
    if cache:
        cached = _cached_check(Path(root))
        if cached is not None:
            return cached
    loaded = load(Path(root), cache=cache)
    crm = loaded.crm
    checked = cache_mod.validate_cached(crm, loaded.digests) if cache else validate(crm)
    result = CheckResult(crm, sorted_problems([*crm.problems, *checked]))
    if cache:
        key = cache_mod.tree_key(loaded.digests, loaded.config_bytes, loaded.discovery_problems)
        cache_mod.save_check(crm.root, key, cache_mod.CachedCheck(result.problems, result.contact_count,
                                                                  result.org_count))
    return result


def _cached_check(root: Path) -> CheckResult | None:
    root = fs.find_root(root)
    files, discovery = fs.discover(root)
    digests = cache_mod.stamped_digests(root, files)
    if digests is None:
        return None
    key = cache_mod.tree_key(digests, fs.read_optional(root / CONFIG_FILE, root), discovery)
    hit = cache_mod.load_check(root, key)
    if hit is None:
        return None
    return CheckResult(None, hit.problems, root=root, contact_count=hit.contact_count, org_count=hit.org_count)

"""The Python API behind the CLI: every command is a function here (or in a module it
names) that tests can call directly, with the clock and the root passed in."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import cache as cache_mod
from . import fs
from .clock import TODAY_ENV, resolve_today  # noqa: F401  (the API's, and the CLI's)
from .config import CONFIG_FILE, parse_config
from .loader import load
from .model import CRM, Config

if TYPE_CHECKING:
    from .stats import Stats
from .problems import HasProblems, Problem, sorted_problems
from .validate import validate


class CheckResult(HasProblems):
    """Problems found by check(); crm is loaded on first use when the answer came from
    the check cache (an unchanged tree), so `crm check` need not load anything."""

    __slots__ = ("_crm", "_root", "_digests", "_lazy", "problems", "contact_count", "org_count")

    def __init__(self, crm: CRM | None, problems: list[Problem], *, root: Path | None = None,
                 contact_count: int | None = None, org_count: int | None = None,
                 digests: dict[str, str] | None = None, lazy: bool = False) -> None:
        self._crm = crm
        self._root = root
        self._digests = digests
        self._lazy = lazy  # load the CRM on first use with its notes undecoded (loader.load's lazy)
        self.problems = problems
        self.contact_count = len(crm.contacts) if crm is not None else contact_count or 0
        self.org_count = len(crm.orgs) if crm is not None else org_count or 0

    @property
    def crm(self) -> CRM:
        if self._crm is None:
            self._load()
        return self._crm  # type: ignore[return-value]

    @property
    def digests(self) -> dict[str, str] | None:
        """Each file's content digest (loader.Loaded.digests); None when checked without the cache."""
        if self._crm is None and self._digests is None:
            self._load()
        return self._digests

    @property
    def root(self) -> Path:
        if self._crm is not None:
            return self._crm.root
        assert self._root is not None
        return self._root

    @property
    def loaded(self) -> bool:
        """Whether the CRM is loaded (an answer from the check cache loads it on first use)."""
        return self._crm is not None

    @property
    def config(self) -> Config:
        """crm.yaml's settings, read without loading the CRM when it is not loaded."""
        if self._crm is not None:
            return self._crm.config
        assert self._root is not None
        return parse_config(fs.read_optional(self._root / CONFIG_FILE, self._root))[0]

    def _load(self) -> None:
        assert self._root is not None
        loaded = load(self._root, lazy=self._lazy)
        self._crm, self._digests = loaded.crm, loaded.digests


def check(root: Path | str, *, cache: bool = True, lazy: bool = False) -> CheckResult:
    """Load the CRM at root and run every check; problems come sorted by path and line.

    With cache, an unchanged tree (same program, crm.yaml and file contents) is answered
    from <root>/.crm-cache/ without parsing anything (see cache.py). lazy (`crm check`,
    `crm due`: they read the notes of few files): each cached file's notes stay undecoded
    until read (loader.load's lazy), as a build after an edit loads them; a caller that
    goes on to read every file's (`crm stats`) leaves it off."""
    discovered = None
    if cache:
        cached, discovered = _cached_check(Path(root), lazy)
        if cached is not None:
            return cached
    loaded = load(Path(root), cache=cache, lazy=lazy, discovered=discovered)
    crm = loaded.crm
    checked = cache_mod.validate_cached(crm, loaded.digests) if cache else validate(crm)
    result = CheckResult(crm, sorted_problems([*crm.problems, *checked]), digests=loaded.digests if cache else None)
    if cache:
        key = loaded.tree_key()
        cache_mod.save_check(crm.root, key, cache_mod.CachedCheck(result.problems, result.contact_count,
                                                                  result.org_count))
    return result


def _cached_check(root: Path, lazy: bool = False) -> tuple[CheckResult | None, fs.Discovered]:
    """(the answer kept for this exact tree or None, the files found: a load reuses them)."""
    root = fs.find_root(root)
    discovered = fs.discover(root)
    files, discovery = discovered
    digests = cache_mod.stamped_digests(root, files)
    if digests is None:
        return None, discovered
    key = cache_mod.tree_key(digests, fs.read_optional(root / CONFIG_FILE, root), discovery)
    hit = cache_mod.load_check(root, key)
    if hit is None:
        return None, discovered
    return (CheckResult(None, hit.problems, root=root, contact_count=hit.contact_count, org_count=hit.org_count,
                        digests=digests, lazy=lazy), discovered)


def compute_stats(result: CheckResult, today: date) -> "Stats":
    """Every figure for the checked CRM as of today (stats.compute). With the cache, from
    what the last computation left in .crm-cache/stats.bin (stats_incremental): only
    what changed since is worked out again, and the memory is kept for the next one."""
    stats, keep = compute_stats_then_keep(result, today)
    keep()
    return stats


def compute_stats_then_keep(result: CheckResult, today: date) -> tuple["Stats", Callable[[], None]]:
    """compute_stats, and what keeps the memory for the next computation (writes it to
    .crm-cache/stats.bin when it changed), for a caller that shows the figures first:
    after a full computation (the first of a day) writing it takes about 0.4 s at
    10,000 contacts."""
    from .stats import compute
    from . import stats_incremental

    digests = result.digests
    if digests is None:
        return compute(result.crm, today), _nothing
    if not result.loaded:
        # An unchanged tree (the check cache's answer): today's memory for these very
        # files is the answer, without loading the CRM (`crm due` after the day's build).
        kept = stats_incremental.remembered_as_is(result.root, result.config, today, digests)
        if kept is not None:
            return kept, _nothing
    stats, memory, changed = stats_incremental.compute_remembered(result.crm, today, digests)
    if not changed:
        return stats, _nothing
    return stats, lambda: stats_incremental.write_memory(result.crm.root, memory)


def _nothing() -> None:
    pass

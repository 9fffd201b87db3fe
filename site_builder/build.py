"""crm build: load, validate, compute stats, render every page, swap the new site in.

The site is written into a fresh temporary folder next to the output folder and only
renamed into place once every page is written, so a failed or interrupted build leaves
the previous site as it was. Files inside that private temporary folder are written
directly (no per-file temp + fsync): nothing reads the folder until the swap, and at
10,000 contacts per-file fsyncs would dominate the build time.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import operator
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import jinja2
from markupsafe import Markup

from . import cache as cache_mod
from . import incremental, notes_cache, rowcache
# The start of a build (and the names that were this module's before it moved there).
from .build_start import (MARKER_FILE, MARKER_TEXT, PROTECTED_DIRS, BuildError, BuildResult,  # noqa: F401
                          Start, check_output_folder, result_from_record, start_build, theme_dirs)
from .build_start import load_state as _load_state  # noqa: F401
from .loader import PARALLEL_MIN_FILES, LoadMemory, Loaded, hold_until_exit, load
from .model import CRM
from .pages import (BacklinkPositions, DirectoryMemo, MemoEntry, Page, SiteInput, backlink_positions,
                    changes_page_signature, common_context, directory_rows, plan_pages, prepare_entity_pages,
                    problem_totals, remember_directory_rows, search_meta, search_row, search_row_sources, search_rows,
                    tag_files, tag_page_signatures, wanted_entities)
from .problems import Problem, sorted_problems
from .render import make_environment, take_compiled, theme_file
from .rowcache import RowCache, RowMemory, row_values
from .site_data import SEARCH_DATA_FILE, search_data_js, search_data_text, search_row_json
from .site_status import SITE_STATUS_FILE, site_status_js
from .validate import validate

STATIC_FILES = ("style.css", "app.js")
def swap_in(new: Path, out: Path, files: int = 0) -> None:
    """Replace out by new with two renames; the old site is deleted only afterwards: by a
    detached process when it has many files (files: about how many; the build does not
    wait for it), else here."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{_old_prefix(out)}", dir=out.parent))
        old.rmdir()
        os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        remove_tree(old, background=files >= BACKGROUND_REMOVE_MIN_FILES)


def _old_prefix(out: Path) -> str:
    return f".{out.name}.old-"


# A replaced site of at least this many files is deleted without waiting for it: at
# 10,000 contacts its 20,000 files took about a second at the end of every full build.
BACKGROUND_REMOVE_MIN_FILES = 2000


def remove_tree(folder: Path, background: bool = False) -> None:
    """Delete folder (not following links); with background, in a detached process (two
    forks, so that no process waits for it and none is left a zombie) that holds none of
    this process's files open (a pipe reading `crm build`'s output does not wait for it)."""
    if background:
        try:
            child = os.fork()
        except OSError:
            child = -1
        if child == 0:
            try:
                if os.fork() == 0:
                    _detach()
                    shutil.rmtree(folder, ignore_errors=True)
            finally:
                os._exit(0)
        if child > 0:
            os.waitpid(child, 0)
            return
    shutil.rmtree(folder, ignore_errors=True)


def _detach() -> None:
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 1 << 16)


def remove_leftovers(out: Path) -> None:
    """Old sites left beside out by a build whose deletion did not finish (the machine
    stopped meanwhile): deleted now, in the background."""
    for folder in out.parent.glob(f"{_old_prefix(out)}*"):
        if folder.is_dir() and not folder.is_symlink():
            remove_tree(folder, background=True)


# --- optional stages (other modules, present or not) ----------------------------------------


def compute_stats(crm: CRM, today: date, memory: LoadMemory | None = None, digests: dict[str, str] | None = None,
                  background: list[incremental.Forked | incremental.Later] | None = None
                  ) -> tuple[Any, Any, Any]:
    """(stats, due items, charts), the last two made when the due page and the dashboard
    are (incremental.Later, pages.resolved); (None, None, {}) while site_builder.stats is
    unavailable.
    With the files' digests (a cached build), only what the changed files can change is
    worked out again (stats_incremental), from what the last computation left: in memory
    (a long-running process) or in .crm-cache/stats.bin; that file is written by a forked
    process appended to background, when one is given and processes can be forked."""
    try:
        from . import stats as stats_module
    except ImportError:
        return None, None, {}
    if digests is not None:
        stats = _remembered_stats(crm, today, memory, digests, background)
    else:
        stats = stats_module.compute(crm, today)
    due_memory = None
    if memory is not None:
        memory.due = due_memory = memory.due or stats_module.DueMemory()
    due = incremental.Later(lambda: stats_module.due_items(crm.config, stats, today, within=7, memory=due_memory))
    return stats, due, incremental.Later(lambda: dashboard_charts(stats))


def _remembered_stats(crm: CRM, today: date, memory: LoadMemory | None, digests: dict[str, str],
                      background: list[incremental.Forked | incremental.Later] | None) -> Any:
    from . import stats_incremental

    stats, remembered, changed = stats_incremental.compute_remembered(
        crm, today, digests, memory.stats if memory is not None else None, signed=True)
    if memory is not None:
        # Kept in the process. Not written to stats.bin on every save (0.2 s at 10,000):
        # a `crm build` of the tree that serve built is a no-op, and after further edits
        # an older stats.bin still gives a correct result (files are compared by digest).
        memory.stats = remembered
    elif changed:
        def write() -> None:
            stats_incremental.write_memory(crm.root, remembered)

        # After a few files changed only the parts of stats.bin holding what changed are
        # written, in this process (a forked one would cost more: its pages copied as
        # this one goes on), later: while the forked site-wide pages render (write_site
        # runs such jobs before it waits for them), when this process is otherwise idle
        # (about 80 ms at 10,000 no longer before that fork). A full computation writes
        # every part: forked.
        few = remembered.changed is not None and remembered.stored is not None
        writer = incremental.Forked.start(write) if background is not None and not few else None
        if writer is not None:
            background.append(writer)  # type: ignore[union-attr]
        elif background is not None and few:
            background.append(incremental.Later(write))
        else:
            write()
    return stats


def check_and_compute(crm: CRM, loaded: Loaded, today: date, *, cache: bool, workers: int | None,
                      memory: LoadMemory | None = None,
                      background: list[incremental.Forked | incremental.Later] | None = None,
                      forked: incremental.Forked | incremental.ForkedJob | None = None,
                      ) -> tuple[list[Problem], Any, Any, Any]:
    """The entity checks and the stats. When most files must be checked (a cold build),
    the checks run in a forked process while this one computes the stats. forked: the
    checks, already running in a forked process (build_site). A long-running process
    (memory) keeps the checks' results it makes itself; a forked process writes them to
    checks.bin, where the next build reads them."""
    def checks(here: bool) -> list[Problem]:
        return entity_checks(crm, loaded, cache, memory if here else None)

    if forked is None and (workers or os.cpu_count() or 1) > 1 and len(loaded.reparsed) >= PARALLEL_MIN_FILES:
        forked = incremental.Forked.start(lambda: checks(False))
    try:
        stats, due, charts = compute_stats(crm, today, memory, loaded.digests if cache else None,
                                           background if (workers or os.cpu_count() or 1) > 1 else None)
    except BaseException:
        if forked is not None:
            forked.cancel()
        raise
    checked = forked.result() if forked is not None else checks(True)
    return checked, stats, due, charts


def remember_check(crm: CRM, loaded: Loaded, problems: list[Problem]) -> None:
    """Keep the build's problems as `crm check`'s answer for this tree (api.check finds
    the same ones the same way): a `crm check` or `crm due` right after a build then loads
    nothing (0.48 -> 0.18 s and 0.68 -> 0.35 s at 10,000 contacts)."""
    key = loaded.tree_key()
    cache_mod.save_check(crm.root, key, cache_mod.CachedCheck(problems, len(crm.contacts), len(crm.orgs)))


def entity_checks(crm: CRM, loaded: Loaded, cache: bool, memory: LoadMemory | None = None,
                  defer: Callable[[Callable[[], Any]], None] | None = None) -> list[Problem]:
    """defer: what checks.bin's writing is given to do later (cache.validate_cached)."""
    if not cache:
        return validate(crm)
    if memory is not None and memory.checks is None:
        memory.checks = cache_mod.KeptChecks()
    return cache_mod.validate_cached(crm, loaded.digests, memory.checks if memory is not None else None, defer)


def dashboard_charts(stats: Any) -> dict[str, Markup]:
    try:
        from . import charts
    except ImportError:
        return {}
    from .dashboard import make_charts

    return make_charts(stats.summary, charts)


def read_git_history(root: Path) -> Any:
    try:
        from .history import read_history
    except ImportError:
        return None
    return read_history(root)


def export_functions(crm: CRM | None = None) -> tuple[Any, Any]:
    """(contact -> vCard text, calendar builder). The site's vCards leave out the fields a
    file marks private (private_fields), like every other export, and name the org."""
    from .exports.ics import build_calendar
    from .exports.privacy import redact
    from .exports.vcard import contact_to_vcard

    def site_vcard(contact: Any) -> str:
        org = crm.orgs.get(contact.org) if crm is not None and contact.org else None
        return contact_to_vcard(redact(contact), org_name=org.name if org else None)

    return site_vcard, build_calendar


# --- building --------------------------------------------------------------------------------


def build_site(root: Path, out: Path | None = None, today: date | None = None, *,
               cache: bool = True, workers: int | None = None, memory: LoadMemory | None = None,
               committed: Callable[[list[Problem]], None] | None = None, start: Start | None = None) -> BuildResult:
    """Build the site into out (default <root>/output).

    With cache (the default) the build is incremental (see incremental.py): an unchanged
    tree is answered without loading it, only pages whose inputs changed are rendered,
    and only files whose bytes changed are written. workers caps the processes used to
    parse and render many files (default: one per CPU). memory (`crm serve`, `crm
    watch`): what this process loaded and computed last time, reused for the files that
    did not change; with it, the stats work out only what the changed files change.
    committed: called with the problems as soon as the new site is in place (`crm serve`
    tells the open page then), before the build's record is written; not called when
    the tree is found unchanged without loading it (the no-op answer). start: what
    build_start.start_build found with the same arguments (`crm build` has it, so that a
    no-op build never imports this module); made here otherwise."""
    if start is None:
        start = start_build(root, out, today, cache=cache, workers=workers, memory=memory)
    if start.answer is not None:
        return start.answer
    today, source, target, fingerprint, head = start.today, start.source, start.target, start.fingerprint, start.head
    state, discovered, early = start.state, start.discovered, start.early
    # A rebuild of the same site renders few pages and reads few files' sections.
    incremental_build = state is not None and state.fingerprint == fingerprint
    try:
        loaded = load(source, cache=cache, workers=workers, memory=memory, discovered=discovered,
                      lazy=incremental_build)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    crm = loaded.crm
    # A rebuild signs every page: the part of that which needs no stats is worked out in
    # a second process while this one checks and computes the stats; a long-running
    # process works it out from what it kept of the last build, when it is needed.
    parts: incremental.Forked | incremental.ForkedJob | incremental.Later | None = None
    forked_checks: incremental.ForkedJob | None = None
    caches_written: incremental.ForkedJob | None = None
    made_calendar: incremental.ForkedJob | None = None
    made_backlinks: incremental.ForkedJob | None = None
    if memory is not None and memory.calendar is None:
        memory.calendar = KeptPieces()
    if memory is not None and memory.rows is None:
        memory.rows = RowMemory()
    if memory is not None and memory.list_rows is None:
        memory.list_rows = RowMemory()
    # A long-running process renders every page as a one-shot build does (the forked
    # jobs below): working out the signatures' parts, the calendar and the backlinks in
    # this process too, which keeps every file it loaded, took its next-day build to
    # 627 MB at 10,000 contacts (585 MB so). What those jobs write (deps.bin, checks.bin,
    # the calendar's shards) is what its next save starts from.
    forked_in_full = memory is not None and cache and not incremental_build and _forks_jobs(workers) and _large(crm)
    if forked_in_full:
        memory.dependencies = memory.checks = None  # type: ignore[union-attr]
    if memory is not None and cache and not forked_in_full:
        def remembered() -> tuple[dict[str, bytes], Mapping[str, set[str]]]:
            # The first build starts from what the last `crm build` kept; the process's
            # memory is not written back on every save (a later `crm build` works out
            # the difference from the older file).
            memory.dependencies = memory.dependencies or incremental.read_dependencies(crm)
            return incremental.remembered_parts(crm, loaded.digests, memory.dependencies)

        parts = incremental.Later(remembered)
    elif cache and _forks_jobs(workers) and (incremental_build or _large(crm)):
        # One forked process checks the files, then works out the signatures' parts: the
        # checks are ready when the stats are, so the site-wide pages are forked sooner.
        # A build that renders every page (a large CRM's first build, another day) has it
        # also find every page's backlinks (pages.backlink_positions, which the render
        # workers need first) and make calendar.ics: all of it while the stats are
        # computed, when the other CPU was idle, rather than here or beside the render
        # workers. The stats take about 0.25 s longer (this process's pages are copied as
        # it writes to them); the build about 0.4 s less at 10,000 contacts, and the main
        # process's backlink index (0.5 to 1.2 s) is gone.
        # Their cache writes (checks.bin, deps.bin) are its last job, once the others'
        # results are sent: the build waits for it only at its end, long done by then.
        jobs: dict[str, Callable[[], Any]] = {
            "checks": lambda: entity_checks(crm, loaded, cache, defer=incremental.defer_writes())}
        if not incremental_build:
            jobs["backlinks"] = lambda: backlink_positions(crm)
        jobs["parts"] = incremental.dependency_job(crm, loaded.digests)
        if not incremental_build:
            jobs["calendar"] = lambda: calendar_text(crm, today, export_functions(crm)[1], loaded.digests)
        jobs["written"] = incremental.deferred_writes
        started = incremental.ForkedJobs.start(list(jobs.values()))
        if started is not None:
            job = {name: started.job(n) for n, name in enumerate(jobs)}
            forked_checks, parts = job["checks"], job["parts"]
            made_backlinks, made_calendar = job.get("backlinks"), job.get("calendar")
            caches_written = job["written"]
    background: list[incremental.Forked | incremental.Later] = []  # e.g. writing the stats' memory
    try:
        checked, stats, due, charts = check_and_compute(crm, loaded, today, cache=cache, workers=workers,
                                                        memory=memory, background=background, forked=forked_checks)
        problems = sorted_problems([*crm.problems, *checked])
        if cache:
            remember_check(crm, loaded, problems)
        vcard, calendar = export_functions(crm)
        scanned: tuple[dict[str, tuple[int, int]], dict[str, str]] | None = None
        if early is not None:  # before anything renders or is forked to, and before the history is read
            compiled, scanned = early.result()
            take_compiled(compiled)
            if scanned is None:  # the output as the record has it
                scanned = (state.manifest, state.digests)  # type: ignore[union-attr]
        site = SiteInput(crm=crm, problems=problems, today=today, stats=stats, due=due, charts=charts,
                         history=read_git_history(crm.root), vcards=vcard is not None,
                         calendar=calendar is not None and stats is not None)
        if memory is not None and cache:
            # Made here rather than in the forked process that shows them, so that this
            # process keeps them for the next save, which makes again only the changed ones.
            if memory.directory is None:
                memory.directory = read_directory_memo(RowStore(cache_mod.cache_dir(crm.root), fingerprint), today)
            memory.directory = remember_directory_rows(site, memory.directory or DirectoryMemo(), loaded.digests)
        writer = write_site(site, loaded, target, vcard, calendar, state=state, workers=workers,
                            fingerprint=fingerprint, cache=cache, parts=parts,
                            kept_calendar=memory.calendar if memory is not None else None,
                            made_calendar=made_calendar, made_backlinks=made_backlinks,
                            kept_rows=memory.rows if memory is not None else None,
                            kept_list_rows=memory.list_rows if memory is not None else None,
                            scanned=scanned, idle=[job for job in background if isinstance(job, incremental.Later)])
        if caches_written is not None:
            caches_written.result()  # (not cancelled with the others below: the next build reads them)
    finally:
        if early is not None:
            early.cancel()
        if parts is not None:
            parts.cancel()
        if forked_checks is not None:
            forked_checks.cancel()
        for job in background:
            job.result()
    if committed is not None:
        committed(problems)
    files = writer.written
    result = BuildResult(
        out=target, problems=problems, pages=sum(1 for f in files if f.endswith(".html")),
        contacts=len(crm.contacts), orgs=len(crm.orgs), files=sorted(files),
        features={"stats": stats is not None, "history": site.history is not None,
                  "vcards": site.vcards, "calendar": site.calendar},
        changed=sorted(writer.staged),
    )
    if cache:
        saved = save_build_state(site, loaded, target, writer, fingerprint, head, result)
        if memory is not None:
            path = incremental.state_path(source, target)
            memory.state = (path, cache_mod.file_stamp(path), saved)
    hold_until_exit(site, state, writer, checked, due, charts, background)
    return result


def _forks_jobs(workers: int | None) -> bool:
    return (workers or os.cpu_count() or 1) > 1


def _large(crm: CRM) -> bool:
    """Enough pages that rendering them all takes work processes forked beside this one."""
    return len(crm.contacts) + len(crm.orgs) >= incremental.PARALLEL_MIN_PAGES


def write_site(site: SiteInput, loaded: Loaded, target: Path, vcard: Any, calendar: Any, *,
               state: incremental.BuildState | None, workers: int | None,
               fingerprint: str, cache: bool = True,
               parts: incremental.Forked | incremental.Later | None = None,
               kept_calendar: KeptPieces | None = None, made_calendar: Any = None,
               made_backlinks: Any = None, kept_rows: RowMemory | None = None,
               kept_list_rows: RowMemory | None = None,
               scanned: tuple[dict[str, tuple[int, int]], dict[str, str]] | None = None,
               idle: list[incremental.Later] | None = None) -> incremental.StagingWriter:
    """Render what must be rendered into a staging folder; only then change the site:
    rename the few changed files into place, or (a first build, many changes) hard-link
    the unchanged files beside them and swap the whole folder in (commit_in_place). A
    failed build leaves the previous site as it was; unchanged files are neither
    rendered nor written again. parts: the job of build_site that works out the
    stats-free part of the page signatures (forked, or from a long-running process's
    memory); without it, that part is worked out here. kept_calendar: the calendar
    events a long-running process keeps (write_calendar); made_calendar: a job whose result
    is calendar.ics's text, made in a forked process (build_site); made_backlinks: one whose
    result is every page's backlinks (pages.backlink_positions). kept_rows,
    kept_list_rows: the site-wide pages' rows as a long-running process last read them.
    scanned: (on_disk, trusted) of the output, when build_site had them worked out while
    it loaded the CRM (trusted from the state given here, whatever its fingerprint).
    idle: jobs run once this process has rendered its pages, or by the forked site-wide
    process once it has rendered its own, whichever is free first (so a job may run in
    another process: what it changes in memory is not seen here)."""
    if scanned is not None:
        on_disk, trusted = scanned
    else:
        # The last build's record of the output holds for any fingerprint (another day, a
        # changed theme): what it lists with the stamp it had is as it was written.
        on_disk = incremental.scan_output(target)
        trusted = incremental.trusted_output(state, target, on_disk)
    if state is not None and state.fingerprint != fingerprint:
        state = None
    tags = site.tag_files_cache = tag_files(site.crm)  # also for the forked site-wide process
    shared = incremental.shared_digest(common_context(site, tags), tags)
    workers = workers or os.cpu_count() or 1
    staging = incremental.new_staging(target)
    background: incremental.Forked | None = None
    reuse = incremental.PageReuse(state.signatures if state is not None else {}, loaded.digests)
    try:
        writer = incremental.StagingWriter(staging, trusted)
        # The site-wide pages list everyone and change on almost every build: render them
        # (and search-data.js, from the same directory rows) in a second process while this
        # one works out and renders the changed pages. Their rows are kept in .crm-cache
        # for the next build, under the site's fingerprint (see rowcache.py).
        rows = RowStore(cache_mod.cache_dir(site.crm.root), fingerprint, kept_rows, kept_list_rows) if cache else None
        for store in (rows, rows.lists()) if rows is not None else ():
            if store.memory is not None:
                store.memory.read(store.folder, store.key, store.name)  # here, so that this process keeps what it read
        rebuild = state is not None and state.shared == shared  # else every page is rendered
        # Work that this process or the forked site-wide one can do, each piece done by
        # whichever is free first: a rebuild's LIST_PAGES, group by group, and the idle jobs.
        lists = [(incremental.Claim(), group) for group in LIST_PAGE_GROUPS] if rebuild and workers > 1 else None
        idle_jobs = [(incremental.Claim(), job) for job in idle or ()]

        def shared_work(into: incremental.StagingWriter) -> None:
            for claim, group in lists or ():
                if claim.take():
                    render_site_wide(site, into, reuse, rows, "lists", group)
            for claim, job in idle_jobs:
                if claim.take():
                    job.result()

        part: SiteWidePart = "all" if lists is None else "rows"
        if workers > 1:
            def site_wide(child: incremental.StagingWriter) -> None:
                render_site_wide(site, child, reuse, rows, part)
                shared_work(child)

            background = incremental.render_forked(site_wide, writer)
        if background is None:
            render_site_wide(site, writer, reuse, rows, part)
        signatures: dict[str, str] = {}

        def dependencies() -> tuple[dict[str, bytes], Mapping[str, set[str]] | None]:
            """(dependency parts of the signatures, named_by; None: kept by the forked
            process that made the parts, incremental.namers_asked)."""
            ready = parts.result() if parts is not None else None
            if ready is not None:
                return ready  # type: ignore[no-any-return]
            # No job (a first build, another day, a new theme, one CPU): the forked job's
            # work, here.
            return incremental.page_dependencies(site.crm, loaded.digests, remember=cache)

        def sign(ready: tuple[dict[str, bytes], Mapping[str, set[str]] | None]) -> None:
            signatures.update(incremental.page_signatures(site.crm, loaded.digests, site.stats, site.problems,
                                                          shared, site.history, parts=ready[0]))

        entity_pages = [*(f"contacts/{slug}.html" for slug in site.crm.contacts),
                        *(f"orgs/{slug}.html" for slug in site.crm.orgs)]
        vcards = _vcard_files(site)
        def calendar_ics() -> None:
            write_calendar(site, writer, calendar, loaded.digests if cache else None, kept=kept_calendar,
                           made=made_calendar, target=target)

        if rebuild:
            ready = dependencies()
            sign(ready)
            dirty = [p for p in entity_pages if state.signatures.get(p) != signatures[p]
                     or p not in trusted or vcards.get(p, p) not in trusted]
            # The few pages' backlinks are then looked for in their namers only: from the
            # forked process that made the parts, which kept them, when they did not come.
            if ready[1] is not None:
                site.namers = ready[1]
            elif _renders_here(workers, dirty):  # (workers read every file's mentions once)
                site.namers = incremental.namers_asked(parts, {page.rsplit("/", 1)[-1][:-len(".html")]
                                                               for page in dirty})
            _render_entities(site, writer, vcard, dirty, workers, digests=loaded.digests if cache else None)
            calendar_ics()
        else:
            # Every page is rendered: sign them (for the next build) and make calendar.ics
            # (every file's events again, on another day: 0.5 s at 10,000, which was the
            # build's last half second on one CPU) while the workers render.
            def meanwhile() -> None:
                sign(dependencies())
                calendar_ics()

            dirty = entity_pages
            if made_backlinks is not None:
                site.backlinks_cache = BacklinkPositions(site.crm, made_backlinks.result())
            _render_entities(site, writer, vcard, dirty, workers, meanwhile=meanwhile,
                             digests=loaded.digests if cache else None)
        shared_work(writer)
        if background is not None:
            writer.absorb(background.result())
            background = None
        for _, job in idle_jobs:
            job.cancel()  # run here, or taken by the forked process (which has now run it)
        rendered = set(dirty)
        kept = [page for page in entity_pages if page not in rendered]
        writer.keep_all(kept)
        writer.keep_all([vcards[page] for page in kept if page in vcards])
        if commit_in_place(state, target, writer):
            incremental.commit(staging, target, writer, on_disk)
        else:
            if target.exists():
                link_unchanged(staging, target, writer)
            remove_leftovers(target)
            swap_in(staging, target, len(writer.written))
    except BaseException:
        if background is not None:
            background.cancel()
        if parts is not None:
            parts.cancel()
        incremental.remove_staging(staging)
        raise
    incremental.remove_staging(staging)
    writer.signatures = {**signatures, **writer.page_signatures}  # type: ignore[attr-defined]
    writer.shared = shared  # type: ignore[attr-defined]
    return writer


# Above this share of changed files, swapping in a whole new folder is as cheap as moving
# the changed files one by one, and it is all-or-nothing.
IN_PLACE_MAX_SHARE = 0.2


def commit_in_place(state: incremental.BuildState | None, target: Path, writer: incremental.StagingWriter) -> bool:
    """Move only the changed files into the existing site (each an atomic rename) rather
    than hard-linking every unchanged file into a new folder and swapping it in: after one
    edit at 10,000 contacts that is 8 renames instead of 20,000 links. Everything was
    rendered before the first rename, so a failed build still changes nothing; only a
    crash during the renames can leave a site with some files new and some old, each
    whole, and the next build rewrites those (the recorded manifest no longer matches)."""
    if state is None or not (target / MARKER_FILE).is_file():
        return False
    if len(writer.staged) > IN_PLACE_MAX_SHARE * max(1, len(writer.written)):
        return False
    # A folder of the site replaced by a symbolic link must not lead the renames out of it.
    folders = {str(Path(rel).parent) for rel in writer.staged} - {"."}
    return not any((target / folder).is_symlink() for folder in folders)


def link_unchanged(staging: Path, target: Path, writer: incremental.StagingWriter) -> None:
    """Give the staging folder every file of the site that was not re-staged, as a hard
    link to the previous site's copy (same bytes, size and mtime; a copy where the file
    system cannot link)."""
    staged = set(writer.staged)
    made: set[Path] = set()
    for rel in writer.written:
        if rel in staged:
            continue
        dest = staging / rel
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        try:
            os.link(target / rel, dest)
        except OSError:
            shutil.copy2(target / rel, dest)


def _vcard_files(site: SiteInput) -> dict[str, str]:
    """Contact page -> its vCard (contacts/<slug>.vcf), for the contacts that get one.
    (For a page without one, vcards.get(page, page) is the page itself.)"""
    if not site.vcards:
        return {}
    return {f"contacts/{slug}.html": f"contacts/{slug}.vcf" for slug, c in site.crm.contacts.items() if not c.private}


def _render_entities(site: SiteInput, writer: incremental.StagingWriter, vcard: Any, entity_paths: list[str],
                     workers: int, meanwhile: Callable[[], None] = lambda: None,
                     digests: dict[str, str] | None = None) -> None:
    """The given contact and org pages (and their vCards), in worker processes when there
    are many; this process runs meanwhile() while they render (or after, without them).
    With digests (a cached build) and enough pages, the files' Markdown comes from the
    notes cache; each worker's task is then the pages of whole shards of it, so that a
    worker reads and writes back only its own shards (notes_cache.NotesCache.chunks)."""
    if digests is not None:
        site.notes_cache = notes_cache.for_pages(site.crm, digests, entity_paths)
    if not _renders_here(workers, entity_paths):
        def entities(site: SiteInput, chunk_writer: Any, paths: list[str]) -> None:
            render_entity_pages(site, chunk_writer, vcard, paths)

        prepare_entity_pages(site)  # once, for every forked worker to inherit
        split = site.notes_cache.chunks if site.notes_cache is not None else None
        if incremental.render_entities_parallel(site, writer, entity_paths, entities, workers, meanwhile, split):
            return
    render_entity_pages(site, writer, vcard, entity_paths)
    meanwhile()


def _renders_here(workers: int, entity_paths: list[str]) -> bool:
    """Whether _render_entities renders these pages in this process (else in workers)."""
    return workers <= 1 or len(entity_paths) < incremental.PARALLEL_MIN_PAGES


def save_build_state(site: SiteInput, loaded: Loaded, target: Path, writer: incremental.StagingWriter,
                     fingerprint: str, head: str, result: BuildResult) -> incremental.BuildState:
    record = {
        "problems": [(p.path, p.line, p.severity, p.code, p.message) for p in result.problems],
        "pages": result.pages, "contacts": result.contacts, "orgs": result.orgs, "files": result.files,
        "features": result.features,
    }
    tree_key = loaded.tree_key()
    manifest, digests = incremental.manifest_after(target, writer)
    state = incremental.BuildState(fingerprint, tree_key, writer.shared,  # type: ignore[attr-defined]
                                   writer.signatures, manifest, digests, record, head)  # type: ignore[attr-defined]
    incremental.save_state(site.crm.root, target, state)
    return state


# The built-in templates whose long lists are cached_rows (see rowcache.py).
ROW_TEMPLATES = ("index.html", "due.html", "tag.html")


@dataclass(frozen=True, slots=True)
class RowStore:
    """Where the site-wide pages' rows are kept (.crm-cache) and the key they are kept
    under (the site fingerprint: program, theme, crm.yaml, today, output folder); memory:
    the rows as a long-running process last read them (LoadMemory.rows); list_memory:
    the same for the list pages' rows (LoadMemory.list_rows, see lists)."""

    folder: Path
    key: str
    memory: RowMemory | None = None
    list_memory: RowMemory | None = None
    name: str = rowcache.NAME

    def lists(self) -> RowStore:
        """Where the rows of LIST_PAGES are kept: files of their own, as the process that
        renders those pages is not always the one that renders the others, and a row
        cache drops the rows its process did not show."""
        return RowStore(self.folder, self.key, self.list_memory, None, LIST_ROWS)


# The site-wide pages made from the stats and the history rather than from the
# directory's rows. The forked process that renders the site-wide pages was a rebuild's
# longest path, and the build's own process waited for it: a rebuild's list pages are
# rendered by whichever of the two is done with its own work first (at 50,000 contacts
# the build's own process, by about 0.7 s; at 10,000 the two finish about together).
LIST_PAGES = frozenset({"due.html", "dashboard.html", "changes.html", "problems.html"})
LIST_ROWS = "list-rows"  # their rows' files: list-rows-XX.bin
LIST_ROW_PAGES = LIST_PAGES & frozenset(ROW_TEMPLATES)  # those of them made of cached rows (the due page)
# A rebuild's list pages in the groups that the two processes take, each group by
# whichever is free first: under `crm serve` the build's own process was last by about
# 0.13 s at 10,000 contacts, rendering them all while the forked one had finished.
LIST_PAGE_GROUPS = (frozenset({"due.html"}), frozenset({"dashboard.html"}),
                    frozenset({"changes.html", "problems.html"}))

SiteWidePart = Literal["all", "rows", "lists"]


def render_site_wide(site: SiteInput, writer: incremental.StagingWriter,
                     reuse: incremental.PageReuse | None = None, rows: RowStore | None = None,
                     part: SiteWidePart = "all", lists: frozenset[str] = LIST_PAGES) -> None:
    """The site-wide pages (directory, due, dashboard, tags, changes, problems),
    search-data.js, the site-status script and the theme's static files; contact and
    org pages, their vCards and calendar.ics are written by the callers of this. With
    reuse, a page whose context signs the same as last time is kept, not rendered. With
    rows, the rows of the last build are reused and this build's are kept for the next.
    part: "lists", only LIST_PAGES (of them, lists); "rows", everything else; "all", both."""
    # The cyclic GC off while the site-wide pages are made: their 50,000 new rows and
    # strings set off collections that scan the stats (not frozen like the loaded CRM)
    # over and over, about a seventh of the time, and in the forked process every object
    # a collection writes to is a page copied. Nothing here needs it (the few cycles
    # Jinja makes are collected once it is on again, or end with the forked process);
    # nothing made here lives on, so nothing is frozen.
    with cache_mod.gc_paused(freeze=False):
        if part != "lists":
            _render_row_pages(site, writer, reuse, rows)
        if part != "rows":
            # Only the process that shows cached list rows reads and writes them (a row
            # cache drops the rows its process did not show).
            store = rows.lists() if rows is not None and lists & LIST_ROW_PAGES else None
            _render_list_pages(site, writer, reuse, store, lists, rows)


def _render_row_pages(site: SiteInput, writer: incremental.StagingWriter,
                      reuse: incremental.PageReuse | None, rows: RowStore | None) -> None:
    kept: DirectoryMemo | None = None
    if rows is not None and site.directory_rows_cache is None and reuse is not None and reuse.digests:
        # `crm build`: the directory's rows of the last build, taken over where the same
        # file, stats and org give the same row (`crm serve` keeps them in its memory).
        kept = read_directory_memo(rows, site.today)
        remembered = remember_directory_rows(site, kept, reuse.digests)
    row_cache = RowCache.load(rows.folder, rows.key, rows.memory, rows.name) if rows is not None else None
    env = make_environment(site.crm.root, site.today, row_cache)
    writer.write(MARKER_FILE, MARKER_TEXT)
    known = site.directory_row_digests  # the directory's rows and the tag rows made from them
    if reuse is not None:
        reuse.rows = known
    # Tag pages signed without their rows: only those whose signature moved are made.
    signed = _sign_tag_pages(site, writer, reuse, row_cache)
    pages = plan_pages(site, [], site_paths=lambda path: path not in LIST_PAGES and path not in signed.kept)
    if row_cache is not None and known:
        row_cache.know_digests(known)
    _render_pages(site, writer, reuse, env, pages, row_cache, known, signed.signatures)
    write_search_data(site, writer, row_cache, reuse.digests if reuse is not None else None, reuse)
    if kept is not None:  # after search-data.js: the rows' pieces go with them
        write_directory_memo(rows, kept, remembered, site.search_pieces)  # type: ignore[arg-type]
    totals = problem_totals(site)
    writer.write(SITE_STATUS_FILE, site_status_js(totals["errors"], totals["warnings"]))
    for name in STATIC_FILES:
        writer.write(name, theme_file(name, site.crm.root).read_bytes())
    if row_cache is not None:
        row_cache.save()
        row_cache.release()


def _render_list_pages(site: SiteInput, writer: incremental.StagingWriter,
                       reuse: incremental.PageReuse | None, rows: RowStore | None,
                       lists: frozenset[str] = LIST_PAGES, kept_in: RowStore | None = None) -> None:
    """rows: where the list pages' rows are kept (when one of lists shows rows);
    kept_in: where the site-wide pages keep the rest (the dashboard's referral tree)."""
    row_cache = RowCache.load(rows.folder, rows.key, rows.memory, rows.name) if rows is not None else None
    env = make_environment(site.crm.root, site.today, row_cache)
    signed = _sign_changes_page(site, writer, reuse) if "changes.html" in lists else SignedPages()
    pages = plan_pages(site, [], site_paths=lambda path: path in lists and path not in signed.kept)
    known = _with_dashboard_summary(env, pages, reuse, kept_in)
    saved = reuse.rows if reuse is not None else None
    if reuse is not None and known is not None:
        reuse.rows = known  # (for this call only: the summary signed by its digest)
    try:
        _render_pages(site, writer, reuse, env, pages, row_cache, None, signed.signatures)
    finally:
        if reuse is not None:
            reuse.rows = saved
    if row_cache is not None:
        row_cache.save()
        row_cache.release()


# The dashboard's "who brought whom" tree (the stats summary's referral_tree, about 2,400
# nodes at 10,000 contacts) was nine tenths of the dashboard's context: signing the page
# pickled it node by node through the page signer (about 25 ms after every edit) and the
# page wrote it out again (about 35 ms), though an edit seldom changes who brought whom.
# The summary is plain data from the stats (no contact or org objects in it), so it is
# signed by a digest of its pickle, made in C; and the tree's HTML is kept in
# .crm-cache/referral-tree.bin by the digest of the tree, under the site's fingerprint.
REFERRAL_TREE_FILE = "referral-tree.bin"
REFERRAL_TREE_KIND = "referral-tree"


def _with_dashboard_summary(env: jinja2.Environment, pages: list[Page], reuse: incremental.PageReuse | None,
                            store: RowStore | None) -> dict[int, tuple[Any, bytes | None]] | None:
    """When pages has the dashboard: the rows the page signer knows (reuse.rows) with its
    stats summary among them, signed by its digest, and the environment's referral tree
    kept in store (_keep_referral_tree); else None."""
    dashboard = next((page for page in pages if page.path == "dashboard.html"), None)
    summary = dashboard.context.get("summary") if dashboard is not None else None
    if type(summary) is not dict:
        return None
    tree_digest = _keep_referral_tree(env, summary.get("referral_tree"), store)
    if reuse is None:
        return None
    return {**(reuse.rows or {}), id(summary): (summary, _summary_digest(summary, tree_digest))}


def _summary_digest(summary: dict[str, Any], tree_digest: bytes | None) -> bytes:
    rest = {key: value for key, value in summary.items() if key != "referral_tree"}
    h = hashlib.blake2b(cache_mod.stable_bytes(rest), digest_size=16)
    h.update(tree_digest if tree_digest is not None else cache_mod.stable_bytes(summary.get("referral_tree")))
    return h.digest()


def _keep_referral_tree(env: jinja2.Environment, tree: Any, store: RowStore | None) -> bytes | None:
    """The tree's digest (None for no tree); the environment's referral_tree_html then
    gives this tree's HTML from store when the last build kept it for the same tree,
    else makes it and keeps it there."""
    if not isinstance(tree, list) or not tree:
        return None
    digest = hashlib.blake2b(cache_mod.stable_bytes(tree), digest_size=16).digest()
    make = env.globals["referral_tree_html"]
    if store is None:
        return digest
    path = store.folder / REFERRAL_TREE_FILE

    def referral_tree_html(nodes: Any) -> Markup:
        if nodes is not tree:  # another tree (a theme's own): made as it is
            return make(nodes)  # type: ignore[no-any-return]
        kept = cache_mod.read_blob(path, REFERRAL_TREE_KIND, store.key)
        if type(kept) is tuple and len(kept) == 2 and kept[0] == digest and type(kept[1]) is str:
            return Markup(kept[1])
        made = make(nodes)
        cache_mod.write_blob(path, REFERRAL_TREE_KIND, store.key, (digest, str(made)))
        return made  # type: ignore[no-any-return]

    env.globals["referral_tree_html"] = referral_tree_html
    return digest


@dataclass
class SignedPages:
    """Site-wide pages signed before their contexts are made (tag pages, changes.html)."""
    signatures: dict[str, str] = field(default_factory=dict)  # page -> its signature
    kept: set[str] = field(default_factory=set)  # those of them kept as they are


def _sign_changes_page(site: SiteInput, writer: incremental.StagingWriter,
                       reuse: incremental.PageReuse | None) -> SignedPages:
    """changes.html signed without its context (pages.changes_page_signature), and kept
    as the last build left it when the signature is the same and the file trusted."""
    signed = SignedPages()
    signature = changes_page_signature(site, reuse.signature) if reuse is not None else None
    if signature is None:
        return signed
    signed.signatures["changes.html"] = writer.page_signatures["changes.html"] = signature
    if reuse.previous.get("changes.html") == signature and "changes.html" in writer.trusted:  # type: ignore[union-attr]
        writer.keep("changes.html")
        signed.kept.add("changes.html")
    return signed


def _sign_tag_pages(site: SiteInput, writer: incremental.StagingWriter, reuse: incremental.PageReuse | None,
                    row_cache: RowCache | None) -> SignedPages:
    """The tag pages' signatures (pages.tag_page_signatures) and those of them kept as the
    last build left them (the same signature, the file trusted)."""
    signed = SignedPages()
    if reuse is None or row_cache is None:
        return signed
    if site.tag_files_cache is None:
        site.tag_files_cache = tag_files(site.crm)
    signatures = tag_page_signatures(site, site.tag_files_cache, reuse.signature)
    if signatures is None:
        return signed
    signed.signatures = signatures
    for path, signature in signatures.items():
        writer.page_signatures[path] = signature
        if reuse.previous.get(path) == signature and path in writer.trusted:
            writer.keep(path)
            signed.kept.add(path)
    if signed.kept:
        row_cache.keep_unused = True  # the kept pages' rows stay cached
    return signed


def _render_pages(site: SiteInput, writer: incremental.StagingWriter, reuse: incremental.PageReuse | None,
                  env: jinja2.Environment, pages: list[Page], row_cache: RowCache | None,
                  known: dict[int, Any] | None, presigned: dict[str, str] | None = None) -> None:
    """presigned: pages already signed (and kept, if they could be: left out of pages)."""
    for page in pages:
        signed_already = presigned is not None and page.path in presigned  # (its signature recorded)
        if not signed_already and reuse is not None and _signed_page(page, row_cache, known,
                                                                     site.directory_rows_made):
            signature = reuse.signature(page.path, page.template, page.context)
            if signature is not None:
                writer.page_signatures[page.path] = signature
                if reuse.previous.get(page.path) == signature and page.path in writer.trusted:
                    writer.keep(page.path)
                    if row_cache is not None:
                        row_cache.keep_unused = True  # the kept page's rows stay cached
                    continue
        writer.write(page.path, render_page(env, page))


# directory-XX.bin: the directory's rows (pages.DirectoryMemo) split by a hash of the slug,
# so that after one edit the few shards of the rows made again are written, not all.
DIRECTORY_KIND = "directory"
DIRECTORY_SHARDS = 64


def _directory_shard(slug: str) -> int:
    return zlib.crc32(slug.encode()) % DIRECTORY_SHARDS


def _directory_file(folder: Path, shard: int) -> Path:
    return folder / f"directory-{shard:02x}.bin"


def read_directory_memo(store: RowStore, today: date) -> DirectoryMemo:
    """The rows the last `crm build` kept under store's key (the site fingerprint, which
    has today, crm.yaml and the program in it); a shard that is missing, foreign or of
    the wrong shape gives nothing (its rows are made again)."""
    rows: dict[str, Any] = {}
    for shard in range(DIRECTORY_SHARDS):
        stored = cache_mod.read_blob(_directory_file(store.folder, shard), DIRECTORY_KIND, store.key)
        if isinstance(stored, dict) and _stored_rows_ok(stored):
            rows.update(stored)
    return DirectoryMemo(today, rows)


_FIRST, _SECOND, _THIRD, _FOURTH = (operator.itemgetter(n) for n in range(4))
_CONTACT_OF = operator.methodcaller("get", "contact", False)


def _stored_rows_ok(stored: dict[Any, Any]) -> bool:
    """Whether every entry of a memo shard has MemoEntry's shape, each row's "contact"
    None: slug -> (tuple, dict, bytes, str or None). Told a field at a time, in C loops
    (an entry at a time, 10,000 entries took about 10 ms of every rebuild)."""
    entries = stored.values()
    if not stored:
        return True
    if (set(map(type, stored)) != {str} or set(map(type, entries)) != {tuple}
            or set(map(len, entries)) != {4}):
        return False
    return (set(map(type, map(_FIRST, entries))) == {tuple} and set(map(type, map(_SECOND, entries))) == {dict}
            and set(map(type, map(_THIRD, entries))) == {bytes}
            and set(map(type, map(_FOURTH, entries))) <= {str, type(None)}
            and set(map(_CONTACT_OF, map(_SECOND, entries))) == {None})


def write_directory_memo(store: RowStore, old: DirectoryMemo, new: DirectoryMemo,
                         pieces: dict[int, tuple[dict[str, Any], str]] | None = None) -> None:
    """Write the shards whose rows differ from old's (a row made again, added or gone, or
    its search-data.js piece made), each row's "contact" None (the Contact is this build's
    object, filled in when the row is taken over). pieces: the rows' pieces, by id(row)
    (SiteInput.search_pieces). A row without a digest (it could not be pickled) is not kept."""
    pieces = pieces or {}

    def piece_of(entry: MemoEntry) -> str | None:
        found = pieces.get(id(entry[1]))
        return found[1] if found is not None and found[0] is entry[1] else entry[3]

    # A row's piece changes with its key (made again: its entry's piece is None) or
    # comes for a row whose entry had none.
    dirty = {_directory_shard(slug) for slug, entry in new.rows.items()
             if (was := old.rows.get(slug)) is None or was[0] != entry[0] or was[2] != entry[2]
             or (entry[3] is None and id(entry[1]) in pieces)}
    dirty |= {_directory_shard(slug) for slug in old.rows.keys() - new.rows.keys()}
    shards: dict[int, dict[str, Any]] = {shard: {} for shard in dirty}
    for slug, entry in new.rows.items():
        shard = shards.get(_directory_shard(slug))
        if shard is not None and entry[2] is not None:
            values = dict(entry[1])
            values["contact"] = None
            shard[slug] = (entry[0], values, entry[2], piece_of(entry))
    for number, shard in sorted(shards.items()):
        cache_mod.write_blob(_directory_file(store.folder, number), DIRECTORY_KIND, store.key, shard)


# The pages of rows whose digests a build can know (SiteInput.directory_row_digests): the
# directory and the tag pages. The due list's rows are made in every build.
KNOWN_ROW_TEMPLATES = ("index.html", "tag.html")


def _signed_page(page: Page, row_cache: RowCache | None, known: dict[int, Any] | None, made: int = 0) -> bool:
    """Whether a site-wide page is signed (and kept when its signature is the last one).
    A page of cached rows whose digests are not known renders about as fast as its
    context can be signed; one whose rows are known is signed by their digests, but for
    the directory after a row was made again (its signature is another one: 10,000 rows
    signed for nothing)."""
    if row_cache is None or page.template not in ROW_TEMPLATES:
        return True
    if known is None or page.template not in KNOWN_ROW_TEMPLATES:
        return False
    return not (made and page.template == "index.html")


def write_search_data(site: SiteInput, writer: Any, row_cache: RowCache | None = None,
                      digests: dict[str, str] | None = None, reuse: incremental.PageReuse | None = None) -> None:
    """search-data.js; with row_cache, a row's JSON is kept from the last build when its
    directory row and the contact's searched fields are unchanged. With the files' digests
    the contact stands for its file's digest (what search_row reads of it is made from
    that file alone; crm.yaml and the program are in the cache's key), which costs a look-up
    instead of pickling its fields again; the directory row's digest is the one its HTML
    was found by."""
    rows = directory_rows(site)
    meta = search_meta(site, rows)
    if row_cache is None:
        writer.write(SEARCH_DATA_FILE, search_data_js(search_rows(rows), meta))
        return
    signature = _search_data_signature(rows, meta, reuse, site.directory_rows_made)
    if signature is not None and reuse is not None:
        writer.page_signatures[SEARCH_DATA_FILE] = signature
        if reuse.previous.get(SEARCH_DATA_FILE) == signature and SEARCH_DATA_FILE in writer.trusted:
            writer.keep(SEARCH_DATA_FILE)
            row_cache.keep_unused = True
            return
    pieces = site.search_pieces

    def piece(row: dict[str, Any]) -> str:
        found = pieces.get(id(row))
        if found is not None and found[0] is row:
            return found[1]
        text = _search_piece(row_cache, row, digests)  # type: ignore[arg-type]
        pieces[id(row)] = (row, text)
        return text

    writer.write(SEARCH_DATA_FILE, search_data_text(map(piece, rows), meta))


def _search_data_signature(rows: list[dict[str, Any]], meta: dict[str, Any],
                           reuse: incremental.PageReuse | None, made: int = 0) -> str | None:
    """search-data.js is made from the directory's rows (each with what its contact's
    file says) and meta: signed by each row's digest and file digest, where every row's
    digest is known; None otherwise."""
    if reuse is None or not reuse.rows or made:  # (a row made again: another signature)
        return None
    known, digests = reuse.rows, reuse.digests
    h = hashlib.blake2b(cache_mod.stable_bytes(meta), digest_size=16)
    for row in rows:
        entry = known.get(id(row))
        if entry is None or entry[0] is not row or entry[1] is None:
            return None
        h.update(entry[1])
        h.update(digests.get(row["contact"].path, "-").encode())
    return h.hexdigest()


def _search_piece(row_cache: RowCache, row: dict[str, Any], digests: dict[str, str] | None) -> str:
    """One contact's row of search-data.js, from the cache when its inputs are unchanged."""
    def render() -> str:
        return search_row_json(search_row(row))

    digest = row_cache.row_digest(row)
    file_digest = digests.get(row["contact"].path) if digests is not None else None
    if digest is None or file_digest is None:
        return row_cache.html("search-row", (row_values(row), search_row_sources(row)), render, str)
    return row_cache.text("search-row/file", hashlib.blake2b(digest + file_digest.encode(), digest_size=16).digest(),
                          render)


CALENDAR_MODULES = ("exports/ics.py", "exports/privacy.py", "exports/vcard.py", "model.py", "parse.py", "cache.py")


def write_calendar(site: SiteInput, writer: Any, calendar: Any, digests: dict[str, str] | None = None,
                   kept: KeptPieces | None = None, made: Any = None, target: Path | None = None) -> None:
    """calendar.ics, when the site has one and a calendar builder is given (calendar_text).
    made: a job (Forked's interface) whose result() is that text, made meanwhile. target:
    the output folder, whose calendar.ics a few changed files' pieces are spliced into."""
    if not site.calendar or calendar is None:
        return
    if made is None and kept is None and digests is not None:
        trusted = writer.trusted.get("calendar.ics")
        if _calendar_kept_as_is(site.crm, site.today, calendar, digests, trusted):
            writer.keep("calendar.ics")
            return
        spliced = _calendar_spliced(site.crm, site.today, calendar, digests, trusted, target) \
            if target is not None else None
        if spliced is not None:
            writer.write("calendar.ics", spliced[0], digest=spliced[1])
            return
    text = made.result() if made is not None else calendar_text(site.crm, site.today, calendar, digests, kept)
    writer.write("calendar.ics", text, digest=kept.digest_of(text) if kept is not None else None)


# calendar-head.bin: what the calendar's shards make, for one program version and one
# day: the calendar's header, its text's digest, the shards' stamps, each file's digest
# (the files in the calendar, in its order) and, in the same order, the length in bytes
# of each file's two pieces (its events, its planned events: _calendar_spliced).
CALENDAR_HEAD = "calendar-head.bin"
CalendarHead = tuple[str, str, list[tuple[int, int, int] | None], dict[str, str], list[int], list[int]]


def _recorded_calendar_head(crm: CRM, today: date, calendar: Any,
                            trusted: str | None) -> tuple[Path, str, CalendarHead] | None:
    """(the cache folder, the calendar's key, calendar-head.bin) when the head is the
    record of the calendar.ics in the output (trusted: its digest, when its stamp is the
    one the last build recorded) and of the shards as they are; else None. Only for the
    site's calendar (build_calendar)."""
    from .exports.ics import build_calendar

    if trusted is None or calendar is not build_calendar:
        return None
    folder = cache_mod.cache_dir(crm.root)
    key = _calendar_key(today)
    head = cache_mod.read_blob(folder / CALENDAR_HEAD, "calendar-head", key)
    if not _is_calendar_head(head) or head[1] != trusted or head[2] != _shard_stamps(folder):
        return None
    return folder, key, head


def _calendar_kept_as_is(crm: CRM, today: date, calendar: Any, digests: dict[str, str],
                         trusted: str | None) -> bool:
    """Whether calendar.ics in the output (trusted: its digest, when its stamp is the one
    the last build recorded) is what this build would write: it is the text the shards
    make (the head says so, for the shards as they are), and the events of the files
    changed since are the ones the shards have. A rebuild after an edit then reads the
    shards of the changed files only, not the 16 (a fifteenth of its time in its own
    process at 10,000 contacts). Only for the site's calendar (build_calendar).
    When it is, those files' pieces are kept under their new digests (_rekey_calendar)."""
    from .exports.ics import same_calendar

    recorded = _recorded_calendar_head(crm, today, calendar, trusted)
    if recorded is None:
        return False
    folder, key, head = recorded
    files = head[3]
    changed = [path for path, digest in digests.items() if files.get(path) != digest]
    if len(changed) > CALENDAR_KEPT_MAX_CHANGED:  # (files gone: same_calendar says no)
        return False
    old: dict[str, Any] = {path: (digest, None, None) for path, digest in files.items()}
    by_shard: dict[int, list[str]] = {}
    for path in changed:
        if path in files:  # (a new file is not in the shards: same_calendar looks at it)
            by_shard.setdefault(_calendar_shard(path), []).append(path)
    shards: dict[int, dict[str, Any]] = {}
    for shard, paths in by_shard.items():
        stored = shards[shard] = cache_mod.read_blob(_shard_file(folder, shard), "calendar", key)
        if not isinstance(stored, dict):
            return False
        for path in paths:
            piece = stored.get(path)
            if not (type(piece) is tuple and len(piece) == 3 and piece[0] == files[path]):
                return False
            old[path] = piece
    made = same_calendar(crm, today, head[0], old, digests)
    if made is None:
        return False
    if len(made) >= CALENDAR_REKEY_MIN:
        _rekey_calendar(folder, key, head, shards, made)
    return True


# From this many files whose events a kept calendar.ics was checked against (every file
# changed since calendar-head.bin was written, which a calendar kept as is does not
# write), their pieces are written under their new digests: otherwise every later build
# reads each of them whole to make its events again (about 3 ms each at 10,000 contacts,
# 50 ms after a morning's sixteen edits), until 64 of them make the calendar in full.
# Below it, the one or two files of the edit itself: not worth writing the head for.
CALENDAR_REKEY_MIN = 3


def _rekey_calendar(folder: Path, key: str, head: CalendarHead, shards: dict[int, dict[str, Any]],
                    made: dict[str, Any]) -> None:
    """Put the pieces made again (each as it was, under its file's new digest) in their
    shards, then write the head for them: the same calendar, header and text digest.
    The shards first: a head written before them, or not at all (a build cut short),
    does not match their stamps, and the calendar is made in full next time."""
    for path, piece in made.items():
        shards[_calendar_shard(path)][path] = piece
    for shard in sorted({_calendar_shard(path) for path in made}):
        cache_mod.write_blob(_shard_file(folder, shard), "calendar", key, shards[shard])
    files = dict(head[3])
    files.update((path, piece[0]) for path, piece in made.items())
    new_head: CalendarHead = (head[0], head[1], _shard_stamps(folder), files, head[4], head[5])  # (the same pieces)
    cache_mod.write_blob(folder / CALENDAR_HEAD, "calendar-head", key, new_head)


CALENDAR_KEPT_MAX_CHANGED = 64  # beyond this many changed files, the calendar is made in full


def _is_calendar_head(head: Any) -> bool:
    return (type(head) is tuple and len(head) == 6 and type(head[0]) is str and type(head[1]) is str
            and type(head[2]) is list and type(head[3]) is dict and type(head[4]) is list
            and type(head[5]) is list and len(head[4]) == len(head[5]) == len(head[3])
            and set(map(type, head[4])) <= {int} and set(map(type, head[5])) <= {int})


def _write_calendar_head(folder: Path, key: str, header: str, text_digest: str, pieces: dict[str, Any]) -> None:
    """pieces: every file's (digest, events, planned events), in the calendar's order."""
    head: CalendarHead = (header, text_digest, _shard_stamps(folder),
                          {path: piece[0] for path, piece in pieces.items()},
                          [_byte_length(piece[1]) for piece in pieces.values()],
                          [_byte_length(piece[2]) for piece in pieces.values()])
    cache_mod.write_blob(folder / CALENDAR_HEAD, "calendar-head", key, head)


def _byte_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# The most files whose events a calendar.ics is spliced for (beyond it: made in full).
CALENDAR_SPLICED_MAX_CHANGED = 64


def _calendar_spliced(crm: CRM, today: date, calendar: Any, digests: dict[str, str], trusted: str | None,
                      target: Path) -> tuple[bytes, str] | None:
    """calendar.ics (its bytes and their digest) as the last one in the output (trusted:
    its digest, when its stamp is the one the last build recorded) with the pieces of
    the files changed, added or deleted since put in place of theirs, when the head
    knows where each file's pieces are in it; else None (made in full). Each region of
    the calendar (everyone's events, then everyone's planned events) lists the files in
    the calendar's order, which is the CRM's (_calendar_order). An addition or a deletion
    at 10,000 contacts made the calendar from the 16 shards (about 0.15 s of the build);
    this reads the head, the last calendar and the shards of the changed files. The
    shards of those files and the head are written for the new calendar."""
    from .exports.ics import CALENDAR_END, calendar_header, file_piece

    recorded = _recorded_calendar_head(crm, today, calendar, trusted)
    if recorded is None:
        return None
    folder, key, head = recorded
    header, _, _, files, people_lengths, planned_lengths = head
    if header != calendar_header(crm):
        return None
    paths = list(files)
    changed = sorted({*(path for path, digest in digests.items() if files.get(path) != digest),
                      *(files.keys() - digests.keys())}, key=_calendar_order)
    if len(changed) > CALENDAR_SPLICED_MAX_CHANGED or paths != sorted(paths, key=_calendar_order):
        return None
    try:
        old = (target / "calendar.ics").read_bytes()
    except OSError:
        return None
    head_bytes, end_bytes = header.encode("utf-8"), CALENDAR_END.encode("utf-8")
    people_at = list(accumulate(people_lengths, initial=len(head_bytes)))  # where each file's piece starts
    planned_at = list(accumulate(planned_lengths, initial=people_at[-1]))
    if (len(old) != planned_at[-1] + len(end_bytes) or not old.startswith(head_bytes)
            or not old.endswith(end_bytes)):
        return None
    # (offset, old bytes replaced, new bytes) in each region; a file new to the calendar
    # goes before the first file after it.
    edits: list[tuple[int, int, bytes]] = []
    planned_edits: list[tuple[int, int, bytes]] = []
    pieces: dict[str, tuple[str, str, str] | None] = {}
    for path in changed:
        at = bisect.bisect_left(paths, _calendar_order(path), key=_calendar_order)
        was = at < len(paths) and paths[at] == path
        made = file_piece(crm, path, today) if path in digests else None
        if made is None and not was:
            continue  # (a private file, in no calendar)
        people, planned = (made[0].encode("utf-8"), made[1].encode("utf-8")) if made is not None else (b"", b"")
        edits.append((people_at[at], people_lengths[at] if was else 0, people))
        planned_edits.append((planned_at[at], planned_lengths[at] if was else 0, planned))
        pieces[path] = (digests[path], made[0], made[1]) if made is not None else None
    parts, done = [], 0
    for offset, length, new in (*edits, *planned_edits):  # (in the order of their offsets)
        parts += (old[done:offset], new)
        done = offset + length
    parts.append(old[done:])
    text = b"".join(parts)
    digest = cache_mod.digest_bytes(text)
    if not _write_spliced_calendar(folder, key, header, digest, files, people_lengths, planned_lengths, pieces):
        return None
    return text, digest


def _calendar_order(path: str) -> str:
    """Where a file's pieces are in the calendar: in the CRM's order, the contacts then
    the orgs, each by slug (loader.assemble), which is the order of the paths without
    their ".md" ("contacts/ada" before "contacts/ada-2", unlike the paths themselves)."""
    return path[:-3] if path.endswith(".md") else path


def _write_spliced_calendar(folder: Path, key: str, header: str, digest: str, files: dict[str, str],
                            people_lengths: list[int], planned_lengths: list[int],
                            pieces: dict[str, tuple[str, str, str] | None]) -> bool:
    """The shards of the files whose pieces changed (None: out of the calendar), then the
    head for the spliced calendar; False, with nothing written, when a shard is not as
    the head says (a shard missing then and now, in a small CRM, is an empty one)."""
    shards: dict[int, dict[str, Any]] = {}
    for path in pieces:
        number = _calendar_shard(path)
        if number not in shards:
            shard_file = _shard_file(folder, number)
            stored = cache_mod.read_blob(shard_file, "calendar", key) if shard_file.exists() else {}
            if not isinstance(stored, dict):
                return False
            shards[number] = stored
    lengths = dict(zip(files, zip(people_lengths, planned_lengths)))
    order = dict(files)
    for path, piece in pieces.items():
        shard = shards[_calendar_shard(path)]
        if piece is None:
            shard.pop(path, None)
            order.pop(path, None)
            lengths.pop(path, None)
        else:
            shard[path] = piece
            order[path] = piece[0]
            lengths[path] = (_byte_length(piece[1]), _byte_length(piece[2]))
    for number, shard in sorted(shards.items()):
        cache_mod.write_blob(_shard_file(folder, number), "calendar", key, shard)
    paths = sorted(order, key=_calendar_order)
    head: CalendarHead = (header, digest, _shard_stamps(folder), {path: order[path] for path in paths},
                          [lengths[path][0] for path in paths], [lengths[path][1] for path in paths])
    cache_mod.write_blob(folder / CALENDAR_HEAD, "calendar-head", key, head)
    return True


def _calendar_key(today: date) -> str:
    return f"{cache_mod.program_fingerprint(CALENDAR_MODULES)}/{today.isoformat()}"


def calendar_text(crm: CRM, today: date, calendar: Any, digests: dict[str, str] | None = None,
                  kept: KeptPieces | None = None) -> str:
    """calendar.ics's text, by calendar(crm, stats, today, ...) (exports.ics.build_calendar,
    which reads no stats: None is given, so it can be made before they are). With the
    files' digests, each file's events are kept in .crm-cache/calendar-XX.bin (for this
    program and today) and only changed files' events are made again. kept: what a
    long-running process read or wrote last time (LoadMemory.calendar)."""
    if digests is None:
        return calendar(crm, None, today)  # type: ignore[no-any-return]
    from .exports.ics import Pieces

    folder = cache_mod.cache_dir(crm.root)
    key = _calendar_key(today)
    kept = kept if kept is not None else KeptPieces()
    old = kept.read(folder, key)
    pieces = Pieces(old, kept.text_of(old))
    text: str = calendar(crm, None, today, pieces=pieces, digests=digests)
    if pieces.same_text:
        # Only digests moved (a note's text edited): the shards on disk keep the old ones,
        # and a build reading them makes those few files' events again.
        kept.keep(folder, key, pieces.new)
    elif pieces.changed:
        kept.write(folder, key, old, pieces.new)
    kept.remember_text(pieces.header, text)
    if (pieces.changed and not pieces.same_text) or not kept.head_written:
        # After the shards: a head of another write does not match their stamps.
        _write_calendar_head(folder, key, pieces.header, kept.digest_of(text) or "", pieces.new)
        kept.head_written = True
    return text


# calendar-XX.bin: the pieces split by a hash of the file's path, so that after one edit
# one sixteenth of them (about 0.6 MB at 10,000) is written again, not all.
CALENDAR_SHARDS = 16


def _calendar_shard(path: str) -> int:
    return zlib.crc32(path.encode()) % CALENDAR_SHARDS


class KeptPieces:
    """Reads and writes the calendar's shards, and keeps the pieces it last read or wrote
    with the stamps the shards had then: a long-running process (`crm serve`, whose
    LoadMemory holds one) takes them from here instead of reading every shard again on
    every save.
    Any other writer of a shard (a `crm build` beside it, a damaged or planted file)
    changes its stamp, and then the shards are read and checked as always."""

    def __init__(self) -> None:
        self.kept: tuple[Path, str, list[tuple[int, int, int] | None], dict[str, Any]] | None = None
        # The calendar last made from a pieces dict (that very dict), its header and text,
        # and the text's digest: see ics.Pieces.text.
        self.text: tuple[dict[str, Any], str, str, str | None] | None = None
        self.head_written = False  # calendar-head.bin written for what it holds (by this process)

    def text_of(self, pieces: dict[str, Any]) -> tuple[str, str] | None:
        known = self.text
        return (known[1], known[2]) if known is not None and known[0] is pieces else None

    def remember_text(self, header: str, text: str) -> None:
        """text (with its header) as the calendar of the pieces held now (read, written or kept)."""
        known = self.text
        digest = known[3] if known is not None and known[2] is text else None
        if self.kept is not None:
            self.text = (self.kept[3], header, text, digest)

    def digest_of(self, text: str) -> str | None:
        """text's digest, worked out once per text made (a StagingWriter's digest)."""
        known = self.text
        if known is None or known[2] is not text:
            return None
        if known[3] is None:
            self.text = known = (*known[:3], cache_mod.digest_bytes(text.encode("utf-8")))
        return known[3]

    def keep(self, folder: Path, key: str, pieces: dict[str, Any]) -> None:
        """Hold pieces as what the shards give, without writing them (see calendar_text)."""
        if self.kept is not None and self.kept[0] == folder and self.kept[1] == key:
            self.kept = (folder, key, self.kept[2], pieces)

    def read(self, folder: Path, key: str) -> dict[str, Any]:
        kept = self.kept
        # A shard missing then and now (a small CRM fills few of them) was written by no
        # one since: what this process holds is still what the shards give.
        if kept is not None and kept[0] == folder and kept[1] == key and kept[2] == _shard_stamps(folder):
            return kept[3]
        pieces: dict[str, Any] = {}
        for shard in range(CALENDAR_SHARDS):
            stored = cache_mod.read_blob(_shard_file(folder, shard), "calendar", key)
            if isinstance(stored, dict):  # a shard missing or not trusted: its files' events are made again
                pieces.update(stored)
        self.kept = (folder, key, _shard_stamps(folder), pieces)
        return pieces

    def write(self, folder: Path, key: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Write the shards where new differs from old (an entry made again or gone)."""
        changed = {_calendar_shard(path) for path, piece in new.items() if old.get(path) is not piece}
        changed |= {_calendar_shard(path) for path in old.keys() - new.keys()}
        shards: list[dict[str, Any]] = [{} for _ in range(CALENDAR_SHARDS)]
        for path, piece in new.items():
            shards[_calendar_shard(path)][path] = piece
        for shard in sorted(changed):
            cache_mod.write_blob(_shard_file(folder, shard), "calendar", key, shards[shard])
        if len(changed) == CALENDAR_SHARDS:  # a full write: the one file of older versions goes
            with contextlib.suppress(OSError):
                (folder / "calendar.bin").unlink()
        self.kept = (folder, key, _shard_stamps(folder), new)


def _shard_file(folder: Path, shard: int) -> Path:
    return folder / f"calendar-{shard:02x}.bin"


def _shard_stamps(folder: Path) -> list[tuple[int, int, int] | None]:
    return [cache_mod.file_stamp(_shard_file(folder, shard)) for shard in range(CALENDAR_SHARDS)]



def render_entity_pages(site: SiteInput, writer: Any, vcard: Any, entity_paths: list[str]) -> None:
    """Only the given contact/org pages (and their vCards): one worker's share."""
    notes = site.notes_cache
    if notes is not None:
        notes.load_for_pages(entity_paths)
    # One environment per build and process: a render worker renders many chunks.
    if site.entity_env is None:
        site.entity_env = make_environment(site.crm.root, site.today)
    env = site.entity_env
    for page in plan_pages(site, entity_paths, site_pages=False):
        writer.write(page.path, render_page(env, page))
    write_vcards(site, writer, vcard, entity_paths)
    if notes is not None:  # what was rendered afresh; its shards are then let go
        notes.save(notes.take_fresh())


def write_vcards(site: SiteInput, writer: Any, vcard: Any, entity_paths: list[str]) -> None:
    """The vCards of the contacts whose pages are in entity_paths (private ones have none)."""
    if vcard is None:
        return
    for contact in wanted_entities(site.crm.contacts, "contacts", entity_paths):
        if not contact.private:
            writer.write(f"contacts/{contact.slug}.vcf", vcard(contact))


def render_page(env: jinja2.Environment, page: Page) -> str:
    try:
        return env.get_template(page.template).render(page.context)
    except jinja2.TemplateSyntaxError as exc:
        raise BuildError(f"template {exc.filename or exc.name}:{exc.lineno}: {exc.message}") from exc
    except Exception as exc:  # a user's template can fail in any way; name the page and template
        raise BuildError(f"template {page.template} failed while rendering {page.path}: "
                         f"{type(exc).__name__}: {exc}") from exc

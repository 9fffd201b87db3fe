"""Root folder -> CRM: discover files, read each once, parse, build the model.

The only stage that touches the file system on the way in. Validation is a separate
stage (validate.py) so that callers that only need data, such as the benchmarks, can
skip it.
"""

from __future__ import annotations

import atexit
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cache as cache_mod
from . import fs
from .config import CONFIG_FILE, parse_config
from .model import CRM, Contact, Org
from .parse import ParsedFile, parse_file
from .problems import Problem, error


def parse_source(file: fs.SourceFile) -> ParsedFile:
    try:
        data = fs.read_bytes(file)
    except OSError as exc:
        parsed = ParsedFile(path=file.rel, ok=False)
        parsed.problems.append(error(file.rel, None, "unreadable", f"cannot read file: {exc.strerror or exc}"))
        return parsed
    return parse_file(file.rel, data)


def assemble(root: Path, config_bytes: bytes | None, files: list[cache_mod.LoadedFile],
             extra_problems: list[Problem]) -> CRM:
    """Pure: loaded files -> CRM. Files that could not be parsed are left out."""
    config, problems = parse_config(config_bytes)
    problems = [*extra_problems, *problems]
    contacts: dict[str, Contact] = {}
    orgs: dict[str, Org] = {}
    for file in files:
        problems.extend(file.problems)
        entity = file.entity
        if isinstance(entity, Contact):
            contacts[entity.slug] = entity
        elif isinstance(entity, Org):
            orgs[entity.slug] = entity
    return CRM(root=root, config=config, contacts=dict(sorted(contacts.items())),
               orgs=dict(sorted(orgs.items())), problems=problems)


def load_crm(root: Path, *, cache: bool = True, workers: int | None = None) -> CRM:
    """The CRM at root. With cache, parsed files are kept in <root>/.crm-cache/ (see
    cache.py); the result is the same either way. workers caps the parsing processes
    (default: one per CPU; 1 parses in this process)."""
    return load(root, cache=cache, workers=workers).crm


@dataclass(slots=True)
class Loaded:
    """A CRM plus what the caches downstream need: each file's content digest, the
    config's bytes, discovery problems and which files were (re)parsed this time."""

    crm: CRM
    digests: dict[str, str]  # rel path -> content digest (files that could be read)
    config_bytes: bytes | None
    discovery_problems: list[Problem]
    reparsed: set[str] = field(default_factory=set)
    _tree_key: str | None = field(default=None, repr=False, compare=False)

    def tree_key(self) -> str:
        """cache.tree_key of these files and settings (made once: a build keeps both the
        check's answer and its own record under it, about 5 ms each at 10,000 files)."""
        if self._tree_key is None:
            self._tree_key = cache_mod.tree_key(self.digests, self.config_bytes, self.discovery_problems)
        return self._tree_key


# A rebuild after an edit decodes the sections of about one kept file in eight; a build
# that renders every page decodes all of them (about 200 MB at 10,000 contacts).
LET_GO_ABOVE = 0.25


@dataclass
class LoadMemory:
    """What the last load in this process read, for a long-running process (`crm serve`,
    `crm watch`) that loads the same CRM after every save: a file whose digest is
    unchanged is taken from here, not unpickled from the cache again. The model objects
    are never changed after loading, so sharing them between builds is safe."""

    files: dict[str, tuple[str, cache_mod.LoadedFile]] = field(default_factory=dict)
    # What the last stats computation was made from (a stats_incremental.StatsMemory,
    # made by the first build that has stats): the next one works out only what changed.
    stats: Any = None
    # The pages' dependency map and parts (an incremental.DependencyMemory, made by the
    # first build): the next build works out again only the pages the changed files reach.
    dependencies: Any = None
    # The calendar's kept events as last read or written (a build.KeptPieces).
    calendar: Any = None
    # The directory's rows of the last build (a pages.DirectoryMemo).
    directory: Any = None
    # The site-wide pages' rows as last read from .crm-cache (a rowcache.RowMemory).
    rows: Any = None
    list_rows: Any = None  # the same for the list pages' rows (build.RowStore.lists)
    # The entity checks' results as last made (a cache.KeptChecks).
    checks: Any = None
    # Each contact's due items as last made (a stats_due.DueMemory).
    due: Any = None
    # The build state last read or written: (its file, the file's stamp, incremental.BuildState).
    state: Any = None

    def let_go_of_sections(self, most: float = LET_GO_ABOVE) -> int:
        """When more than `most` of the kept files have their sections decoded (a build
        that rendered every page, or many saves' worth), let go of those objects: they
        are read back from the cache when needed. Returns how many were let go."""
        decoded = [e.sections for _, f in self.files.values() if (e := f.entity) is not None
                   and isinstance(e.sections, cache_mod.LazySections) and e.sections.decoded]
        if len(decoded) <= most * len(self.files):
            return 0
        return sum(sections.let_go() for sections in decoded)


def load(root: Path, *, cache: bool = True, workers: int | None = None,
         memory: LoadMemory | None = None, discovered: fs.Discovered | None = None,
         lazy: bool = False) -> Loaded:
    """discovered: fs.discover(root) when the caller has just made it (a build looks at
    the files' stamps before it decides to load them); otherwise it is made here. lazy:
    the caller reads the sections of few files (a rebuild after an edit): each file's
    stay bytes until read (cache.LazySections); otherwise all are made at once."""
    root = fs.find_root(root)
    finish_cache_writes()  # what an earlier load is still writing is read here
    with cache_mod.gc_paused():
        loaded = _load(root, cache, workers, memory if cache else None, discovered, lazy)
    if _kept.on:
        _kept.loaded = loaded
    return loaded


@dataclass
class _KeptUntilExit:
    """Once on (cli.run, a one-shot process that ends with os._exit), the last Loaded is
    held here, so nothing frees that CRM object by object when the command is done with
    it. Only the last one, so a long-running process keeps no more than it already does."""

    on: bool = False
    loaded: Loaded | None = None
    others: tuple[object, ...] = ()


_kept = _KeptUntilExit()


def keep_until_exit(keep: bool) -> None:
    _kept.on, _kept.loaded, _kept.others = keep, None, ()


def hold_until_exit(*objects: object) -> None:
    """Once keep_until_exit is on, hold these (what a command made from the last CRM it
    loaded: its stats, its pages' records) until the process ends, in place of what the
    last call held, so that returning from the command frees none of it object by object."""
    if _kept.on:
        _kept.others = objects


def _load(root: Path, cache: bool, workers: int | None, memory: LoadMemory | None = None,
          discovered: fs.Discovered | None = None, lazy: bool = False) -> Loaded:
    files, discovery = discovered if discovered is not None else fs.discover(root)
    config_bytes = fs.read_optional(root / CONFIG_FILE, root)
    if cache:
        parsed, digests, reparsed = _parse_cached(root, files, workers, memory, lazy)
    else:
        results = parse_many(files, workers, lazy)
        parsed = [p for p, _ in results]
        digests = {f.rel: d for f, (_, d) in zip(files, results) if d is not None}
        reparsed = {f.rel for f in files}
    crm = assemble(root, config_bytes, parsed, discovery)
    return Loaded(crm, digests, config_bytes, discovery, reparsed)


# Below this many files to parse, starting processes costs more than it saves.
PARALLEL_MIN_FILES = 500
_CHUNK = 200
_OWN_SHARE = 1.05  # of an equal share (see parse_many)


def parse_many(files: list[fs.SourceFile], workers: int | None = None,
               lazy: bool = False) -> list[tuple[cache_mod.LoadedFile, str | None]]:
    """Parse files (in order), in worker processes when there are many; each result
    comes with the digest of the bytes parsed (None if unreadable). A worker's files
    come back with their sections as bytes (cache.encode_loaded); unless lazy, they are
    made into objects as each chunk comes (see cache.ParseCache.open on why)."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(files) < PARALLEL_MIN_FILES:
        return list(map(_parse_one, files))
    # Imported here: a process pool costs a command about 30 ms of imports, which only a
    # parse of many files pays for.
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # This process parses a share itself instead of waiting, a little more than an equal
    # one: a worker also pickles what it parsed (about a quarter of the cost of parsing
    # it), and unpickling it here costs about half that. Measured at 10,000 files, cold
    # `crm check`: 0.9 of an equal share, 4.28 to 4.57 s; 1.05, 3.96 to 4.35 s; 1.2 no
    # better (three interleaved runs each).
    own = int(len(files) * _OWN_SHARE / workers)
    theirs = files[own:]
    chunks = [theirs[i:i + _CHUNK] for i in range(0, len(theirs), _CHUNK)]
    try:
        with ProcessPoolExecutor(max_workers=min(workers - 1, len(chunks))) as pool:
            pending = pool.map(_parse_chunk, chunks)
            results = list(map(_parse_one, files[:own]))
            for chunk_result in pending:
                chunk = [(cache_mod.decode_loaded(e), d) for e, d in chunk_result]
                if not lazy:
                    for loaded, _ in chunk:
                        sections = loaded.entity.sections if loaded.entity is not None else None
                        if isinstance(sections, cache_mod.LazySections):
                            sections.items()
                results.extend(chunk)
    except (OSError, BrokenProcessPool):  # no processes allowed here (sandbox, limits): do it inline
        return list(map(_parse_one, files))
    return results


def _parse_chunk(files: list[fs.SourceFile]) -> list[tuple[cache_mod.Encoded, str | None]]:
    """Worker: read, hash, parse and build; a chunk's results travel as one pickle."""
    return [(cache_mod.encode_loaded(loaded, lazy=False), digest) for loaded, digest in map(_parse_one, files)]


def _parse_one(file: fs.SourceFile) -> tuple[cache_mod.LoadedFile, str | None]:
    try:
        data = fs.read_bytes(file)
    except OSError:
        return cache_mod.load_parsed(parse_source(file)), None
    return cache_mod.load_parsed(parse_file(file.rel, data)), cache_mod.digest_bytes(data)


# From this many files parsed, a one-shot command (no LoadMemory) writes them to the
# cache in a forked process while it goes on: about 1.1 s at 10,000 files (pickling
# every file's sections and contact), which it spent before anything else. A
# long-running process writes them itself: the files it keeps learn their place in the
# cache's sections files, from which it reads them back (LoadMemory.let_go_of_sections).
SAVE_APART_MIN = PARALLEL_MIN_FILES
_saving: list[int] = []  # forked processes writing a ParseCache


def _save_apart(store: cache_mod.ParseCache) -> None:
    # A bare fork, not incremental.Forked: nothing comes back, and cli.run ends with
    # os._exit, which waitpid suits better than a process pool's shutdown.
    try:
        child = os.fork()
    except (AttributeError, OSError):  # no fork here: write it now
        store.save()
        return
    if child == 0:
        code = 1
        try:
            store.save()  # a cache file that cannot be written costs only speed, as always
            code = 0
        except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the command says so
            pass
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _saving.append(child)


def finish_cache_writes() -> None:
    """Wait for the cache writes a load left to a forked process: before this process
    ends (cli.run, atexit) or loads again."""
    while _saving:
        child = _saving.pop()
        try:
            os.waitpid(child, 0)
        except ChildProcessError:  # already waited for
            pass


atexit.register(finish_cache_writes)


def _parse_cached(root: Path, files: list[fs.SourceFile], workers: int | None,
                  memory: LoadMemory | None = None,
                  lazy: bool = False) -> tuple[list[cache_mod.LoadedFile], dict[str, str], set[str]]:
    store = cache_mod.ParseCache.open(root, lazy)
    now = cache_mod.now_ns()
    parsed: dict[str, cache_mod.LoadedFile] = {}
    digests: dict[str, str] = {}
    misses: list[fs.SourceFile] = []
    found: list[tuple[fs.SourceFile, str]] = []
    stamped: set[str] = set()  # the files whose digest their stamp gave: nothing to remember
    for file in files:
        digest = store.known_digest(file)
        if digest is not None:
            stamped.add(file.rel)
        elif file.rel in store.index:
            # Stamp changed: the bytes may not have (git checkout, touch, copy).
            try:
                digest = cache_mod.digest_bytes(fs.read_bytes(file))
            except OSError:
                digest = None
        if digest is None:
            misses.append(file)
        else:
            found.append((file, digest))
    indexed = memory is None and lazy and _few_contacts_changed(store, files, misses, found)
    for file, digest in found:
        hit = None
        if memory is not None:
            remembered = memory.files.get(file.rel)
            hit = remembered[1] if remembered is not None and remembered[0] == digest else None
        if hit is None and indexed and file.rel.startswith("contacts/"):
            hit = store.get_indexed(file.rel, digest)
        if hit is None:
            hit = store.get(file.rel, digest)
        if hit is None:
            misses.append(file)
            continue
        parsed[file.rel] = hit
        digests[file.rel] = digest
        if file.rel not in stamped:
            store.remember(file, digest, now)
    for file, (result, digest) in zip(misses, parse_many(misses, workers, lazy)):
        parsed[file.rel] = result
        if digest is not None:
            digests[file.rel] = digest
            store.put(file, digest, cache_mod.encode_loaded(result), now)
    store.prune({f.rel for f in files})
    if len(misses) >= SAVE_APART_MIN and memory is None:
        _save_apart(store)
    else:
        store.save()
    store.forget_index()
    if memory is not None:
        memory.files = {rel: (digests[rel], result) for rel, result in parsed.items() if rel in digests}
    return [parsed[f.rel] for f in files], digests, {f.rel for f in misses}


# Up to this many changed contact files (and no org file changed, added or deleted), a
# one-shot rebuild reads the contacts from their shards' indexes (ParseCache.get_indexed):
# beyond it the stats are worked out in full (stats_incremental.MAX_CHANGED_FILES), and an
# addition or a deletion ranks everyone, which read every contact whole anyway.
INDEXED_MAX_CHANGED = 64


def _few_contacts_changed(store: cache_mod.ParseCache, files: list[fs.SourceFile],
                          unknown: list[fs.SourceFile], found: list[tuple[fs.SourceFile, str]]) -> bool:
    """Whether only a few contact files changed and none was added or deleted. unknown:
    the files without a digest (new, or unreadable); found: the others, with theirs."""
    if unknown or len(files) != len(store.index):
        return False
    index = store.index
    changed = [file for file, digest in found if index[file.rel][2] != digest]
    return len(changed) <= INDEXED_MAX_CHANGED and all(file.rel.startswith("contacts/") for file in changed)

"""`crm watch` (and the watching half of `crm serve`): rebuild the site after every save.

Watches contacts/, orgs/, templates/ and crm.yaml with watchdog, waits for a short
quiet period (an editor's save is several events: a temporary file, a rename, a
chmod...), then rebuilds once. A failed build is reported and the watcher keeps going.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from watchdog.events import (
    EVENT_TYPE_CLOSED, EVENT_TYPE_CREATED, EVENT_TYPE_DELETED, EVENT_TYPE_MODIFIED, EVENT_TYPE_MOVED, FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from .problems import ERROR, WARNING, Problem

QUIET_SECONDS = 0.2
# After an event that ends a save (a file closed after writing, renamed into place or
# deleted), a build waits only this long, for the other files of a "save all"; after
# any other (created, modified: the writer may not be done), QUIET_SECONDS. Where the
# file system tells no closes (macOS, Windows), an ordinary save waits QUIET_SECONDS.
SETTLED_SECONDS = 0.03
CHANGE_EVENTS = (EVENT_TYPE_CREATED, EVENT_TYPE_DELETED, EVENT_TYPE_MODIFIED, EVENT_TYPE_MOVED, EVENT_TYPE_CLOSED)
SETTLING_EVENTS = (EVENT_TYPE_CLOSED, EVENT_TYPE_MOVED, EVENT_TYPE_DELETED)
EDITOR_TEMP_SUFFIXES = ("~", ".swp", ".swx", ".swo", ".swn", ".tmp", ".bak", ".orig")


# --- which changes matter (pure) ----------------------------------------------------


def is_editor_temp(name: str) -> bool:
    """Swap, backup and lock files editors write next to the real one (vim's .x.swp and
    its 4913 probe, emacs's .#x and #x#, x~, macOS's .DS_Store, our own .x.tmp)."""
    return (
        name.startswith(".")
        or name.endswith(EDITOR_TEMP_SUFFIXES)
        or name == "4913"
        or (name.startswith("#") and name.endswith("#"))
    )


def is_relevant(rel: str) -> bool:
    """Does a change to this path (relative to the root, POSIX) change the site?"""
    parts = rel.split("/")
    if not parts or any(p in ("", ".", "..") for p in parts) or is_editor_temp(parts[-1]):
        return False
    if rel == "crm.yaml":
        return True
    if parts[0] in ("contacts", "orgs"):
        return len(parts) == 2 and parts[1].endswith(".md")
    return parts[0] == "templates" and len(parts) > 1


def changed_paths(event: FileSystemEvent, root: str) -> list[str]:
    """The paths an event is about, relative to root; for a rename both ends, because an
    editor's atomic save renames a temporary file onto the real one."""
    raw = [event.src_path]
    if event.event_type == EVENT_TYPE_MOVED:
        raw.append(getattr(event, "dest_path", ""))
    paths = []
    for path in raw:
        text = os.fsdecode(path) if path else ""
        if text:
            paths.append(os.path.relpath(text, root).replace(os.sep, "/"))
    return paths


# --- debouncing -------------------------------------------------------------------------


class Debouncer:
    """Runs `action` in its own thread once no poke has come for a while: `quiet`
    seconds after the last poke, or `settled` seconds when the last poke said that its
    event ended a save. Pokes during a run lead to exactly one more run afterwards."""

    def __init__(self, action: Callable[[], None], quiet: float = QUIET_SECONDS,
                 settled: float = SETTLED_SECONDS) -> None:
        self._action = action
        self._quiet = quiet
        self._settled = settled
        self._cond = threading.Condition()
        self._pending = False
        self._due = 0.0  # time.monotonic() when the run may start
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="crm-rebuild", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self, settled: bool = False) -> None:
        with self._cond:
            self._pending = True
            self._due = time.monotonic() + (self._settled if settled else self._quiet)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                while not self._stopped:
                    remaining = self._due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._stopped:
                    return
                self._pending = False
            self._action()


# --- watching -----------------------------------------------------------------------------


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "Watcher") -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in CHANGE_EVENTS:
            return
        paths = changed_paths(event, self._watcher.root_text)
        # A watched folder created after we started (templates/, or a copied theme) is
        # watched from now on, and what it already holds counts as a change.
        added = self._watcher.schedule_missing() if event.is_directory else []
        if added or any(is_relevant(p) for p in paths):
            self._watcher.on_change(paths, event.event_type in SETTLING_EVENTS and not added)


class Watcher:
    """Calls on_change(paths, settled) for every relevant change under root; settled:
    the event ends a save (see SETTLING_EVENTS)."""

    def __init__(self, root: Path, on_change: Callable[[list[str], bool], None]) -> None:
        self.root = root.resolve()
        self.root_text = str(self.root)
        self.on_change = on_change
        self._observer = Observer()
        self._handler = _Handler(self)
        self._scheduled: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        # Not one recursive watch on the root: the site is rebuilt into output/ and git
        # writes into .git/, and neither should wake us up.
        self._observer.schedule(self._handler, self.root_text, recursive=False)
        self.schedule_missing()
        self._observer.start()

    def schedule_missing(self) -> list[str]:
        """Watch the folders that exist now and are not watched yet; returns them."""
        added = []
        with self._lock:
            for folder, recursive in (("contacts", False), ("orgs", False), ("templates", True)):
                path = self.root / folder
                if folder not in self._scheduled and path.is_dir() and not path.is_symlink():
                    self._observer.schedule(self._handler, str(path), recursive=recursive)
                    self._scheduled.add(folder)
                    added.append(folder)
        return added

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)


# --- rebuilding -------------------------------------------------------------------------


@dataclass(slots=True)
class BuildStatus:
    number: int = 0  # increases with every finished build, failed or not
    ok: bool = False
    errors: list[str] = field(default_factory=list)  # formatted problems, for the banner
    warnings: int = 0
    failure: str = ""  # why the build itself failed (the old site is still served)
    seconds: float = 0.0

    def banner_lines(self) -> list[str]:
        lines = [f"Build failed: {self.failure} (showing the previous build)"] if self.failure else []
        return lines + self.errors


# Making what the builds froze collectable again and collecting (cache.release_frozen) is
# a pass over every object of the loaded CRM: 0.6 s at 10,000 contacts. A save's build
# leaves only a few hundred objects in cycles behind (measured: about 250), which stay
# frozen until then; so the pass runs before every RELEASE_EVERY-th build, not every save.
RELEASE_EVERY = 25


class LiveBuilder:
    """Builds the site, keeps the latest BuildStatus, and tells the terminal what changed."""

    def __init__(self, root: Path, out: Path | None, today: date | None,
                 echo: Callable[[str], None] = print) -> None:
        self.root = root
        self.out = out
        self.today = today
        self.echo = echo
        self.status = BuildStatus()
        self._seen: set[Problem] | None = None
        self._lock = threading.Lock()
        # Notified whenever status changes: a served page waits on it for the next build.
        self._published = threading.Condition()
        from .loader import LoadMemory

        self._memory = LoadMemory()  # the files the last build loaded, reused while unchanged

    def build(self, changed: list[str] | None = None) -> BuildStatus:
        from .build import build_site  # imported here so `crm fmt` etc. never load the renderer
        from .cache import release_frozen

        started = time.perf_counter()
        with self._lock:
            try:
                if self.status.number % RELEASE_EVERY == 0:
                    release_frozen()  # what earlier builds loaded and froze may be garbage now
                touched = set(changed or ())
                shown: list[BuildStatus] = []

                def committed(problems: list[Problem]) -> None:
                    # The site is in place: the open page may reload now, before the
                    # build's record is written and its problems are printed.
                    shown.append(self._status_of(problems, touched, started))
                    self._publish(shown[0])

                result = build_site(self.root, self.out, self.today, memory=self._memory, committed=committed)
            except Exception as exc:  # the watcher must survive any failure of one build
                status = BuildStatus(self.status.number + 1, False, self.status.errors, self.status.warnings,
                                     f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
                self.echo(f"crm: build {status.number} failed: {status.failure}")
                self._publish(status)
                return status
            self.out = result.out
            self._memory.let_go_of_sections()
            status = shown[0] if shown else self._status_of(result.problems, touched, started)
            self._report(status, result.problems, changed)
            if not shown:
                self._publish(status)
            return status

    def _status_of(self, problems: list[Problem], touched: set[str], started: float) -> BuildStatus:
        # The files just saved first: that is where the user is looking.
        errors = sorted((p for p in problems if p.severity == ERROR), key=lambda p: p.path not in touched)
        warnings = sum(1 for p in problems if p.severity == WARNING)
        return BuildStatus(self.status.number + 1, not errors, [p.format() for p in errors], warnings, "",
                           time.perf_counter() - started)

    def _publish(self, status: BuildStatus) -> None:
        with self._published:
            self.status = status
            self._published.notify_all()

    def wait_for_build(self, after: int, timeout: float, stop: Callable[[], bool] = lambda: False) -> BuildStatus:
        """The status as soon as its build number is no longer `after` (at once if it
        is not now), or as it is when timeout seconds pass or stop() turns true (checked
        whenever wake() is called)."""
        with self._published:
            self._published.wait_for(lambda: self.status.number != after or stop(), timeout)
            return self.status

    def wake(self) -> None:
        """Have every wait_for_build look at its stop() again (a server shutting down)."""
        with self._published:
            self._published.notify_all()

    def _report(self, status: BuildStatus, problems: list[Problem], changed: list[str] | None) -> None:
        current = set(problems)
        if self._seen is None:  # first build: the errors, and only a count of warnings
            new = [p for p in problems if p.severity == "error"]
        else:
            new = [p for p in problems if p not in self._seen]
        fixed = len(self._seen - current) if self._seen is not None else 0
        self._seen = current
        what = f" after changes to {', '.join(sorted(set(changed)))}" if changed else ""
        self.echo(f"build {status.number}{what}: {len(status.errors)} errors, {status.warnings} warnings"
                  + (f", {fixed} fixed" if fixed else "") + f" ({status.seconds:.2f} s)")
        for problem in new:
            self.echo(f"  {problem.format()}")


def watch_and_rebuild(root: Path, builder: LiveBuilder, quiet: float = QUIET_SECONDS) -> tuple[Watcher, Debouncer]:
    """Start watching; returns the running watcher and debouncer (stop both when done)."""
    changed: list[str] = []
    lock = threading.Lock()

    def rebuild() -> None:
        with lock:
            paths = list(changed)
            changed.clear()
        builder.build(paths)

    debouncer = Debouncer(rebuild, quiet)

    def on_change(paths: list[str], settled: bool = False) -> None:
        with lock:
            changed.extend(p for p in paths if is_relevant(p))
        debouncer.poke(settled)

    watcher = Watcher(root, on_change)
    debouncer.start()
    watcher.start()
    return watcher, debouncer

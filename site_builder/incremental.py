"""Incremental and parallel site builds: render only the pages whose inputs changed, write
only the files whose bytes changed, and answer an unchanged tree without loading it.

What a page depends on (its signature, recorded in <root>/.crm-cache/build-*.bin):
- everything site-wide, as one fingerprint: the program (every site_builder module), the
  theme files (built-in and the user's templates/), crm.yaml, today, the output folder.
  A change there re-renders every page;
- the context every page shares (site title, owner, today's features, tag list): a change
  there re-renders every page. The contact/org counts and the problem totals are not
  part of it: only the site-wide pages show them (contact and org pages get the banner
  from site-status.js), so adding or deleting a contact re-renders only the pages that
  show it;
- for a contact or org page: the content digest of its own file and of every file in its
  dependency set (the slugs it references: org, parent, referred_by, @mentions; the
  entities that reference it: backlinks, referrals, members; for an org also its family
  of parent and child orgs, their members and what those members reference), its stats
  entry, the problems reported for its file and its git history. Of slugs a page only
  links to or names, only their existence and name count. A slug with no file counts too, so
  creating the file a mention names re-renders the mentioning page.
The site-wide pages (directory, due, dashboard, tags, changes, search data, calendar)
are rendered on every build that is not a no-op, their long lists from the rows kept by
the last build where a row's values are unchanged (rowcache.py); only changed bytes are
written. A build
is a no-op (answered from the record, nothing loaded) when the sources' stamps, the
fingerprint, git's HEAD and the output folder's stamps are all as recorded.

Safety: pages are rendered into a private staging folder next to the output (only files
whose bytes differ from the output are staged); only when every page rendered are the
staged files moved into place (each an atomic rename) and pages that no longer exist
deleted. A failed build leaves the previous site untouched. The output folder is checked
against the recorded manifest (size and mtime of every file), so a file changed or
deleted by hand is rewritten. tests/test_incremental*.py prove that an incremental
build is byte-identical to a clean one after random edits, additions, renames and
deletions.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import hashlib
import io
import os
import pickle
import select
import shutil
import signal
import struct
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, MutableMapping

from . import cache as cache_mod
from . import fs
from .config import CONFIG_FILE
from .model import CRM, Entity
from .problems import Problem

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

BUILD_KIND = "build"
# Below this many pages, forking workers costs more than rendering in this process.
PARALLEL_MIN_PAGES = 400
_PAGES_PER_TASK = 250

OutStamp = tuple[int, int]  # size, mtime_ns of an output file


# --- fingerprints ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def all_modules() -> tuple[str, ...]:
    """The package's source files, walked once per process (a build asks up to four
    times): the code that runs does not change while it runs."""
    package = Path(__file__).parent
    return tuple(sorted(str(p.relative_to(package)) for p in package.rglob("*.py")))


def theme_digest(root: Path, theme_dirs: Iterable[Path]) -> str:
    """Every file of the built-in theme and of the user's templates/, by name and bytes."""
    h = hashlib.blake2b(digest_size=16)
    for folder in theme_dirs:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            if not fs.is_inside(path, folder):
                continue
            h.update(f"\0{folder}\0{path.relative_to(folder)}\0".encode())
            try:
                h.update(path.read_bytes())
            except OSError:
                h.update(b"?")
    return h.hexdigest()


def git_head(root: Path) -> str:
    """HEAD's commit, or '-' outside git: history shown on the pages changes with it."""
    if not any((parent / ".git").exists() for parent in (root, *root.parents)):
        return "-"
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.strip() or "-"


def site_fingerprint(root: Path, target: Path, today: date, theme_dirs: Iterable[Path]) -> str:
    config = fs.read_optional(root / CONFIG_FILE, root)
    parts = [
        cache_mod.program_fingerprint(all_modules()),
        theme_digest(root, theme_dirs),
        cache_mod.digest_bytes(config) if config is not None else "-",
        today.isoformat(),
        str(target),
    ]
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=20).hexdigest()


def state_path(root: Path, target: Path) -> Path:
    name = hashlib.blake2b(str(target).encode(), digest_size=6).hexdigest()
    return cache_mod.cache_dir(root) / f"build-{name}.bin"


# --- the recorded state of the last build ---------------------------------------------------------


@dataclass
class BuildState:
    fingerprint: str
    tree_key: str  # cache.tree_key of the sources at the time
    shared: str  # digest of the context every page shares
    signatures: dict[str, str]  # entity page -> signature
    # Every output file -> its stamp, and the digest of its bytes (the same keys): apart,
    # so that the scan of the output (the same dict) is compared and kept as it is, not
    # made into 20,500 tuples once more (25 ms at the end of an edit's build).
    manifest: dict[str, OutStamp]
    digests: dict[str, str]
    result: dict[str, Any]  # what build_site returned, for the no-op answer
    head: str  # git's HEAD then: a new commit changes the history shown, so it is no no-op

    def to_payload(self) -> tuple[Any, ...]:
        return (self.fingerprint, self.tree_key, self.shared, self.signatures, self.manifest, self.digests,
                self.result, self.head)


def load_state(root: Path, target: Path) -> BuildState | None:
    payload = cache_mod.read_blob(state_path(root, target), BUILD_KIND, cache_mod.program_fingerprint(all_modules()))
    try:
        state = BuildState(*payload)  # type: ignore[misc]
    except TypeError:
        return None
    ok = (type(state.signatures) is dict and type(state.manifest) is dict and type(state.digests) is dict
          and type(state.result) is dict and state.manifest.keys() == state.digests.keys()
          and cache_mod.all_of(state.manifest.values(), tuple, 2) and cache_mod.all_of(state.digests.values(), str))
    return state if ok else None


def save_state(root: Path, target: Path, state: BuildState) -> None:
    cache_mod.write_blob(state_path(root, target), BUILD_KIND, cache_mod.program_fingerprint(all_modules()),
                         state.to_payload())


def forget_state(root: Path, target: Path) -> None:
    try:
        state_path(root, target).unlink()
    except OSError:
        pass


# --- the output folder as it is on disk -------------------------------------------------------------


def scan_output(target: Path) -> dict[str, tuple[int, int]]:
    """Every file under target: rel path -> (size, mtime_ns); symlinks are not followed."""
    found: dict[str, tuple[int, int]] = {}
    if not target.is_dir():
        return found
    stack = [(target, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                else:
                    st = entry.stat(follow_symlinks=False)
                    found[rel] = (st.st_size, st.st_mtime_ns)
    return found


def trusted_output(state: BuildState | None, target: Path,
                   on_disk: dict[str, tuple[int, int]] | None = None) -> dict[str, str]:
    """Output files whose digest is known: from the recorded manifest where the stamp on
    disk still matches; without a record, by hashing what is there (a cold build into an
    existing site still leaves its unchanged files alone). on_disk: scan_output(target),
    when the caller has it."""
    on_disk = scan_output(target) if on_disk is None else on_disk
    if state is not None:
        if on_disk == state.manifest:  # (as after a build left the output alone: the usual case)
            return state.digests
        return {rel: digest for rel, digest in state.digests.items() if on_disk.get(rel) == state.manifest[rel]}
    trusted: dict[str, str] = {}
    for rel in on_disk:
        try:
            trusted[rel] = cache_mod.digest_bytes((target / rel).read_bytes())
        except OSError:
            continue
    return trusted


# --- the no-op build ---------------------------------------------------------------------------------


def unchanged_result(state: BuildState | None, root: Path, target: Path, fingerprint: str,
                     head: str, discovered: fs.Discovered | None = None,
                     as_recorded: Callable[[], bool] | None = None) -> dict[str, Any] | None:
    """The previous build's result when nothing it depends on changed and the output is
    exactly as that build left it; None otherwise. Reads no source file in full.
    discovered: fs.discover(root), when the caller has it. as_recorded: whether the
    output's stamps are the recorded ones, when the caller has it worked out (asked
    last, only when everything else is unchanged)."""
    if state is None or state.fingerprint != fingerprint:
        return None
    files, discovery = discovered if discovered is not None else fs.discover(root)
    digests = cache_mod.stamped_digests(root, files)
    if digests is None:
        return None
    if cache_mod.tree_key(digests, fs.read_optional(root / CONFIG_FILE, root), discovery) != state.tree_key:
        return None
    if head != state.head:
        return None
    if as_recorded is not None:
        return state.result if as_recorded() else None
    on_disk = scan_output(target)
    if on_disk != state.manifest:
        return None
    return state.result


# --- dependencies ---------------------------------------------------------------------------------


def naming_face(entity: Entity) -> str:
    """A digest of all that a contact page shows of another file that names it, outside
    its org's family: the file's path and name, what its front matter names, the slugs
    its summary @mentions, and each section that names anyone: its date, kind, title,
    number among that day's notes (its note id) and the slugs it names, in file order.
    That is what the page's backlinks ("Mentioned elsewhere") and referrals are made of;
    the rest of the file (note bodies, sections naming no one, contact details) is not
    on that page. So a note added or edited without a change in whom it names leaves the
    pages of the people the file names as they were: at 10,000 contacts a file names
    about 30 of them, and each was rendered again after any edit of it."""
    # Here, not at the top: a build answered as a no-op imports this module, and pages
    # brings in Jinja and cmark.
    from .pages import note_numbers
    from .render import MENTION_SCAN

    sections = entity.sections
    numbers = note_numbers(sections)
    rows = [(s.date.toordinal(), s.kind, s.title, n, tuple(s.participants), tuple(s.mentions))
            for s, n in zip(sections, numbers) if s.participants or s.mentions]
    summary = tuple(dict.fromkeys(MENTION_SCAN.findall(entity.summary))) if "@" in entity.summary else ()
    head = (entity.path, entity.name, getattr(entity, "org", None), getattr(entity, "referred_by", None),
            getattr(entity, "parent", None), summary)
    return hashlib.blake2b(cache_mod.stable_bytes((head, rows)), digest_size=16).hexdigest()


_SEP = "\0"


def _joined(names: set[str]) -> str | set[str]:
    """names as one string, or the set itself when a name holds the separator (a slug
    written in YAML may hold anything): splitting must give back exactly names."""
    if not names:
        return ""
    text = _SEP.join(names)
    return text if text and text.count(_SEP) == len(names) - 1 else names  # ({""} joins to "")


def _split(stored: str | set[str]) -> set[str]:
    """The set a stored entry stands for (_joined's inverse)."""
    if type(stored) is not str:
        return set(stored)
    return set(stored.split(_SEP)) if stored else set()


def joined_form(sets: Mapping[str, set[str]]) -> dict[str, str | set[str]]:
    """Every entry of sets in its stored form (as JoinedSets keeps and deps.bin holds them)."""
    if isinstance(sets, JoinedSets):
        return sets.joined()
    return {key: _joined(names) for key, names in sets.items()}


class JoinedSets(MutableMapping[str, set[str]]):
    """key -> set of strings, each kept as one "\0"-joined string until it is first read
    (then the set, the same object at every later read). The dependency map's references
    and namers hold about 300,000 names each at 10,000 contacts, of which an edit reads a
    few hundred: read from deps.bin as sets they took about 95 ms of every edit's build,
    and sending the namers to the main process about 85 ms more (pickled there, unpickled
    here); as joined strings, about 10 ms each. default: a missing key read by [] is added
    as an empty set (as a defaultdict(set)); get, `in` and pop never add one."""

    __slots__ = ("_joined", "_sets", "_default")

    def __init__(self, joined: dict[str, str | set[str]] | None = None, default: bool = False) -> None:
        self._joined: dict[str, str | set[str]] = joined if joined is not None else {}
        self._sets: dict[str, set[str]] = {}
        self._default = default

    @classmethod
    def of(cls, sets: Mapping[str, set[str]], default: bool = False) -> JoinedSets:
        return cls(joined_form(sets), default)

    def joined(self) -> dict[str, str | set[str]]:
        """Every entry in its stored form (the read ones joined again)."""
        found = dict(self._joined)
        for key, names in self._sets.items():
            found[key] = _joined(names)
        return found

    def __getitem__(self, key: str) -> set[str]:
        found = self._sets.get(key)
        if found is not None:
            return found
        if key in self._joined:
            found = self._sets[key] = _split(self._joined.pop(key))
            return found
        if not self._default:
            raise KeyError(key)
        found = self._sets[key] = set()
        return found

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __contains__(self, key: object) -> bool:
        return key in self._sets or key in self._joined

    def __setitem__(self, key: str, names: set[str]) -> None:
        self._joined.pop(key, None)
        self._sets[key] = names

    def __delitem__(self, key: str) -> None:
        if self._sets.pop(key, None) is None:
            del self._joined[key]

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            found = self[key]
            del self._sets[key]
            return found
        if default:
            return default[0]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        # A snapshot: reading an entry moves it from one dict to the other.
        return iter([*self._sets, *self._joined])

    def __len__(self) -> int:
        return len(self._sets) + len(self._joined)

    def __reduce__(self) -> tuple[Any, ...]:
        return JoinedSets, (self.joined(), self._default)


@dataclass
class DependencyMap:
    crm: CRM
    refs: MutableMapping[str, set[str]] = field(default_factory=dict)  # entity key -> slugs it names
    # slug -> entity keys (a defaultdict(set), or a JoinedSets with default)
    named_by: MutableMapping[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # org slug -> contact keys
    children: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # org slug -> child orgs
    faces: dict[str, str] = field(default_factory=dict)  # entity key -> naming_face

    @classmethod
    def of(cls, crm: CRM) -> "DependencyMap":
        deps = cls(crm)
        for contact in crm.contacts.values():
            deps._add(f"c:{contact.slug}", contact)
            if contact.org:
                deps.members[contact.org].add(f"c:{contact.slug}")
        for org in crm.orgs.values():
            deps._add(f"o:{org.slug}", org)
            if org.parent:
                deps.children[org.parent].add(org.slug)
        return deps

    def _add(self, key: str, entity: Entity) -> None:
        names = cache_mod.references(entity)
        self.refs[key] = names
        for slug in names:
            self.named_by[slug].add(key)
        self.faces[key] = naming_face(entity)

    def _remove(self, key: str) -> set[str]:
        """Forget a file's entries; the slugs it named."""
        old_refs = self.refs.pop(key, set())
        for named in old_refs:
            namers = self.named_by.get(named)
            if namers is not None:
                namers.discard(key)
        self.faces.pop(key, None)
        return old_refs

    def family(self, slug: str) -> set[str]:
        """The org, its parents up the chain and its children down the tree."""
        seen: set[str] = set()
        current: str | None = slug
        while current and current not in seen:  # parents (cycles are possible: stop there)
            seen.add(current)
            org = self.crm.orgs.get(current)
            current = org.parent if org else None
        todo = [slug]
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    def slugs_for(self, key: str) -> tuple[set[str], set[str], set[str]]:
        """(slugs whose whole file can change this entity's page, slugs of which only what
        a page shows of a file naming it can (naming_face), slugs of which only the
        existence and name can: those it merely links to or names)."""
        slug = key[2:]
        named = set(self.refs.get(key, set()))
        namers = {other[2:] for other in self.named_by.get(slug, ())}
        if key.startswith("c:"):
            # Its backlinks and referrals show what the naming files say (naming_face).
            contact = self.crm.contacts[slug]
            whole = {slug} | (self.family(contact.org) if contact.org else set())
            return whole, namers - whole, named
        # An org page shows its family's people and their notes, with the links in them.
        whole = {slug} | namers
        family = self.family(slug)
        whole |= family
        for org in family:
            for other in (*self.members.get(org, ()), *self.named_by.get(org, ())):
                whole.add(other[2:])
                named |= self.refs.get(other, set())
        return whole, set(), named - whole


class _PartHashes(dict[str, int]):
    """slug -> a 128-bit number standing for one part of a page's inputs, made on first
    use. A set of slugs is signed by the sum of their numbers (mod 2**128): no sorting and
    no string building per page, which mattered with 750,000 slugs named across 10,000
    pages; a change goes unnoticed only if two random 128-bit sums collide."""

    def __init__(self, describe: Callable[[str], str]) -> None:
        super().__init__()
        self.describe = describe

    def __missing__(self, slug: str) -> int:
        value = self[slug] = int.from_bytes(
            hashlib.blake2b(self.describe(slug).encode(), digest_size=16).digest(), "big")
        return value


_MASK = (1 << 128) - 1


def _set_hash(parts: _PartHashes, slugs: Iterable[str]) -> bytes:
    return (sum(map(parts.__getitem__, slugs)) & _MASK).to_bytes(16, "big")


def dependency_parts(crm: CRM, digests: dict[str, str], deps: DependencyMap | None = None) -> dict[str, bytes]:
    """Entity page path -> the part of its signature that comes from the files it shows
    (see slugs_for): everything but its stats entry, problems and history. It needs
    neither the stats nor the checks, so a build can work it out beside them."""
    deps = deps if deps is not None else DependencyMap.of(crm)
    return _parts_of(crm, digests, deps, [*(f"c:{s}" for s in crm.contacts), *(f"o:{s}" for s in crm.orgs)])


def _page_of(key: str) -> str:
    return f"contacts/{key[2:]}.html" if key.startswith("c:") else f"orgs/{key[2:]}.html"


def _parts_of(crm: CRM, digests: dict[str, str], deps: DependencyMap, keys: Iterable[str]) -> dict[str, bytes]:
    """dependency_parts of the given entity keys' pages only."""
    def whole(slug: str) -> str:
        return f"{slug}\0{digests.get(f'contacts/{slug}.md', '-')}/{digests.get(f'orgs/{slug}.md', '-')}"

    def named(slug: str) -> str:
        contact, org = crm.contacts.get(slug), crm.orgs.get(slug)
        return (f"@{slug}\0{contact.name if contact else '-'}"
                f"\0{org.name if org else '-'}\0{bool(contact)}{bool(org)}")

    faces = deps.faces

    def face(slug: str) -> str:
        return f"{slug}\0{faces.get(f'c:{slug}', '-')}/{faces.get(f'o:{slug}', '-')}"

    whole_parts, face_parts, named_parts = _PartHashes(whole), _PartHashes(face), _PartHashes(named)
    parts: dict[str, bytes] = {}
    for key in keys:
        whole_slugs, face_slugs, named_slugs = deps.slugs_for(key)
        parts[_page_of(key)] = (_set_hash(whole_parts, whole_slugs) + _set_hash(face_parts, face_slugs)
                                + _set_hash(named_parts, named_slugs))
    return parts


# Above this many changed files, the dependency map is made again in full (as the stats do).
MAX_REMEMBERED_CHANGES = 64


@dataclass
class DependencyMemory:
    """The dependency map and every page's dependency part as the last build made them,
    and the file digests they were made from. Making them in full is a pass over every
    file's references and every page's dependency set (about 1.1 s of CPU at 10,000
    contacts); after a change only the pages the changed files can reach are worked out
    again (remembered_parts). `crm serve` and `crm watch` keep it in the process; `crm
    build` reads it from and writes it to .crm-cache/deps.bin (read_dependencies)."""

    digests: dict[str, str] = field(default_factory=dict)
    deps: DependencyMap | None = None
    parts: dict[str, bytes] = field(default_factory=dict)
    people: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # contact slug -> (name, org)
    # slug -> the orgs whose family (DependencyMap.family) holds it. Families are made of
    # org files only, so this holds while only contact files change; it is made with the
    # map. (Not family(slug) itself: with a cycle of parents, families are not symmetric.)
    in_family: dict[str, set[str]] = field(default_factory=dict)
    last: str = ""  # "full" or "incremental": how the last result was made (for tests)

    def forget(self) -> None:
        self.digests, self.deps, self.parts, self.people, self.in_family, self.last = {}, None, {}, {}, {}, ""


def remembered_parts(crm: CRM, digests: dict[str, str],
                     memory: DependencyMemory) -> tuple[dict[str, bytes], Mapping[str, set[str]]]:
    """(dependency_parts, the dependency map's named_by) for crm, made from memory where
    only a few contact files changed since, else in full; memory is updated. The result
    equals a full computation's (tests/test_incremental_deps.py)."""
    try:
        changed = _changed_contact_slugs(crm, digests, memory)
        if changed is None:
            deps = DependencyMap.of(crm)
            memory.parts, memory.deps, memory.last = dependency_parts(crm, digests, deps), deps, "full"
            memory.in_family = _orgs_by_family_member(deps)
        else:
            _update_parts(crm, digests, memory, changed)
            memory.last = "incremental"
        memory.digests = dict(digests)
        if changed is None:
            memory.people = {slug: (c.name, c.org) for slug, c in crm.contacts.items()}
        else:
            for slug in changed:
                contact = crm.contacts.get(slug)
                if contact is None:
                    memory.people.pop(slug, None)
                else:
                    memory.people[slug] = (contact.name, contact.org)
    except BaseException:
        memory.forget()  # half updated: never trusted
        raise
    assert memory.deps is not None
    return memory.parts, memory.deps.named_by


def _changed_contact_slugs(crm: CRM, digests: dict[str, str], memory: DependencyMemory) -> set[str] | None:
    """The slugs of the contact files changed, added or removed since memory was made;
    None when the map must be made in full: no memory, too many changes, an org file
    changed (an org's family and people reach far), or a changed contact's slug is also
    an org's (both files count towards that slug)."""
    if memory.deps is None:
        return None
    old = memory.digests
    changed = [path for path in digests.keys() | old.keys() if digests.get(path) != old.get(path)]
    if len(changed) > MAX_REMEMBERED_CHANGES or not all(
            path.startswith("contacts/") and path.endswith(".md") for path in changed):
        return None
    slugs = {path[len("contacts/"):-len(".md")] for path in changed}
    if any(slug in crm.orgs for slug in slugs):  # (no org file changed: the orgs are as they were)
        return None
    return slugs


def _orgs_by_family_member(deps: DependencyMap) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for org in deps.crm.orgs:
        for member in deps.family(org):
            found[member].add(org)
    return found


def _update_parts(crm: CRM, digests: dict[str, str], memory: DependencyMemory, changed: set[str]) -> None:
    """Update memory's map for the changed contact files, then make again the parts of
    every page they can reach.

    A contact page's part covers its own file, the naming faces of the files that name
    it, its org's family (org files only) and the names of the slugs it names; so a
    changed contact reaches its own page, the pages of the slugs it names (before and
    after: it is one of their namers; their parts change only if its face did) and, when
    its name or existence changed, the pages of the files that name it.

    An org page's part covers its family's files, the people of each org of the family
    and the files naming one (its "gathered" files), and the names of what those name;
    so a changed contact reaches the org pages whose family holds its org or an org it
    names (before and after), and a renamed, created or deleted one those whose family
    holds an org that a file naming it belongs to or names (or that file, if an org)."""
    deps = memory.deps
    assert deps is not None
    reached: set[str] = set(changed)
    renamed = set()
    for slug in changed:
        old, new = memory.people.get(slug), crm.contacts.get(slug)
        if (old is None) != (new is None) or (old is not None and new is not None and old[0] != new.name):
            renamed.add(slug)
    # Who names them: named_by changes only by the changed files' entries, and those
    # are reached anyway, so the namers before the update are all it takes.
    namers = {key for slug in renamed for key in deps.named_by.get(slug, ())}
    reached |= {key[2:] for key in namers}
    # Slugs whose families' org pages are reached (see the docstring).
    gathering: set[str] = set()
    for key in namers:  # (a file's references include its org)
        gathering |= deps.refs.get(key, set())
        if key.startswith("o:"):
            gathering.add(key[2:])
    for slug in changed:
        key = f"c:{slug}"
        old_refs = deps._remove(key)
        old = memory.people.get(slug)
        if old is not None and old[1]:
            deps.members[old[1]].discard(key)
        reached |= old_refs
        gathering |= old_refs  # (they include its org)
    deps.crm = crm
    for slug in changed:
        new = crm.contacts.get(slug)
        if new is None:
            memory.parts.pop(f"contacts/{slug}.html", None)
            continue
        key = f"c:{slug}"
        deps._add(key, new)
        if new.org:
            deps.members[new.org].add(key)
        reached |= deps.refs[key]
        gathering |= deps.refs[key]
    orgs = {org for slug in gathering for org in memory.in_family.get(slug, ())}
    keys = [*(f"c:{s}" for s in sorted(reached) if s in crm.contacts), *(f"o:{s}" for s in sorted(orgs))]
    memory.parts.update(_parts_of(crm, digests, deps, keys))


def dependency_job(crm: CRM, digests: dict[str, str],
                   remember: bool = True) -> Callable[[], tuple[dict[str, bytes], None]]:
    """page_dependencies as a job for a forked process (ForkedJobs; result: (parts,
    None)), from and into the memory the last build left in .crm-cache/deps.bin
    (remember). The map of every file's references is about 35 MB at 10,000 contacts:
    made there, it is never in the main process, whose memory is a build's peak. The
    namers stay there too, for namers_asked: the main process wants those of the few
    pages it renders, and the whole map (6.6 MB pickled) took it 20 to 70 ms to receive,
    the pool's thread unpickling it beside the build."""
    def job() -> tuple[dict[str, bytes], None]:
        parts, named_by = page_dependencies(crm, digests, remember, defer=defer_writes())
        _FORKED_NAMERS["named_by"] = named_by
        return parts, None

    return job


# In a ForkedJobs process: the cache writes its jobs left for after their results were
# sent (deferred_writes, its last job). deps.bin (15 MB at 10,000 contacts) and
# checks.bin written before the results were sent made the main process wait for the
# signatures' parts up to about 50 ms after an edit.
_DEFERRED: list[Callable[[], Any]] = []


def deferred_writes() -> None:
    """Do the writes the jobs before this one left (_DEFERRED), in their order: the last
    job of a ForkedJobs process whose other jobs were given _DEFERRED.append."""
    while _DEFERRED:
        _DEFERRED.pop(0)()


def defer_writes() -> Callable[[Callable[[], Any]], None]:
    """What a job of a ForkedJobs process gives its cache writes to (deferred_writes)."""
    return _DEFERRED.append


# In the process a dependency_job ran in: the namers it made, for namers_asked.
_FORKED_NAMERS: dict[str, Mapping[str, set[str]]] = {}


def kept_namers(slugs: list[str]) -> dict[str, set[str]] | None:
    """Run in the forked process (ForkedJob.ask): slug -> the keys of the files that name
    it, for each of slugs; None when no dependency_job ran there."""
    named_by = _FORKED_NAMERS.get("named_by")
    if named_by is None:
        return None
    return {slug: set(named_by.get(slug, ())) for slug in slugs}


def namers_asked(job: Any, slugs: Iterable[str]) -> dict[str, set[str]] | None:
    """The namers of slugs from the process that ran job (a ForkedJob of a
    dependency_job); None when they cannot be had (the caller then reads every file)."""
    ask = getattr(job, "ask", None)
    if ask is None:
        return None
    found = ask(kept_namers, sorted(slugs))
    return found if isinstance(found, dict) else None


def page_dependencies(crm: CRM, digests: dict[str, str], remember: bool = True,
                      defer: Callable[[Callable[[], Any]], None] | None = None
                      ) -> tuple[dict[str, bytes], Mapping[str, set[str]]]:
    """(dependency_parts, the dependency map's named_by). remember: from what the last
    build kept in .crm-cache/deps.bin, which is written back when the files changed
    (given to defer to do later, when there is one: see deferred_writes)."""
    if not remember:
        deps = DependencyMap.of(crm)
        return dependency_parts(crm, digests, deps), deps.named_by
    memory = read_dependencies(crm)
    changed = memory.digests != digests
    made = remembered_parts(crm, digests, memory)
    if changed:
        def write() -> None:
            write_dependencies(crm.root, memory)

        if defer is not None:
            defer(write)
        else:
            write()
    return made


DEPS_KIND = "deps"
DEPS_FILE = "deps.bin"
_STORED_SETS = (str, set)  # JoinedSets' stored forms


def read_dependencies(crm: CRM) -> DependencyMemory:
    """The memory the last `crm build` left (for remembered_parts), or an empty one when
    there is none or it is foreign, stale or malformed (it is then never trusted). Only
    each file's references and who names each slug are kept (making the latter again
    costs three times as much as reading it); the rest of the map is made from crm (whose
    orgs are those of the memory whenever remembered_parts uses it: an org change is a
    full computation)."""
    payload = cache_mod.read_blob(cache_mod.cache_dir(crm.root) / DEPS_FILE, DEPS_KIND,
                                  cache_mod.program_fingerprint(all_modules()))
    try:
        digests, refs, named_by, parts, people, faces = payload  # type: ignore[misc]
        ok = (isinstance(digests, dict) and isinstance(parts, dict) and isinstance(people, dict)
              and isinstance(faces, dict) and faces.keys() == refs.keys()
              and all(type(face) is str for face in faces.values())
              and type(refs) is dict and all(type(names) in _STORED_SETS for names in refs.values())
              and type(named_by) is dict and all(type(keys) in _STORED_SETS for keys in named_by.values())
              and all(type(v) is tuple and len(v) == 2 for v in people.values()))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        return DependencyMemory()
    deps = DependencyMap(crm, refs=JoinedSets(refs), named_by=JoinedSets(named_by, default=True), faces=faces)
    for contact in crm.contacts.values():
        if contact.org:
            deps.members[contact.org].add(f"c:{contact.slug}")
    for org in crm.orgs.values():
        if org.parent:
            deps.children[org.parent].add(org.slug)
    return DependencyMemory(digests, deps, parts, people, _orgs_by_family_member(deps))


def write_dependencies(root: Path, memory: DependencyMemory) -> None:
    """Keep memory for the next `crm build`, when it changed; a cache that cannot be
    written costs only speed."""
    if memory.deps is None or memory.last not in ("full", "incremental"):
        return
    payload = (memory.digests, joined_form(memory.deps.refs), joined_form(memory.deps.named_by), memory.parts,
               memory.people, memory.deps.faces)
    cache_mod.write_blob(cache_mod.cache_dir(root) / DEPS_FILE, DEPS_KIND,
                         cache_mod.program_fingerprint(all_modules()), payload)


def page_signatures(crm: CRM, digests: dict[str, str], stats: Any, problems: list[Problem],
                    shared: str, history: Any = None, deps: DependencyMap | None = None,
                    parts: dict[str, bytes] | None = None) -> dict[str, str]:
    """Entity page path -> signature over everything the page is made from."""
    if parts is None:
        parts = dependency_parts(crm, digests, deps)
    by_path: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_path[problem.path].append(problem)
    contact_stats = getattr(stats, "contacts", None) if stats is not None else None
    org_stats = getattr(stats, "orgs", None) if stats is not None else None
    # Each entry's stats_sign, where the stats computation kept them (most are unchanged
    # after an edit); the others are made here.
    contact_signs = getattr(stats, "contact_signs", None) or {}
    org_signs = getattr(stats, "org_signs", None) or {}
    history_signs: dict[str, bytes] = {}
    if history is not None:
        from .history import file_signs  # (imported once there is a history)

        history_signs = file_signs(history)
    shared_bytes = shared.encode()

    signatures: dict[str, str] = {}
    for entity, page, table, signs in (
        *((e, f"contacts/{s}.html", contact_stats, contact_signs) for s, e in crm.contacts.items()),
        *((e, f"orgs/{s}.html", org_stats, org_signs) for s, e in crm.orgs.items()),
    ):
        h = hashlib.blake2b(shared_bytes, digest_size=16)
        h.update(parts[page])
        sign = signs.get(entity.slug)
        h.update(sign if sign is not None else
                 cache_mod.stats_sign(table.get(entity.slug) if isinstance(table, dict) else None))
        own = by_path.get(entity.path)
        h.update(cache_mod.stable_bytes([(p.line, p.severity, p.code, p.message) for p in own]) if own else b"-")
        if history is not None:  # the page shows its file's git history (history.file_history_sign)
            h.update(history_signs.get(entity.path, b"-"))
        signatures[page] = h.hexdigest()
    return signatures


def shared_digest(common: dict[str, Any], tags: dict[str, str]) -> str:
    return hashlib.blake2b(cache_mod.stable_bytes((common, tags)), digest_size=16).hexdigest()


# --- writing into the staging folder ------------------------------------------------------------


# A file opened for writing, made if missing and emptied if not (binary on Windows too).
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def write_new_file(path: Path, payload: bytes) -> None:
    """path's bytes become payload, through the file descriptor alone: Path.write_bytes's
    buffered file object (an fstat, an isatty ioctl and a seek besides the write) took
    about twice the user CPU (3,000 pages: 63 to 114 ms against 26 to 46), 20,500 files
    in a cold build. The kernel's part, making the file, is the same either way."""
    fd = os.open(path, _WRITE_FLAGS, 0o666)
    try:
        view = memoryview(payload)
        while view:  # a regular file takes it whole, but for a signal or a full disk
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


class StagingWriter:
    """Collects every output file's digest; stages only files whose bytes differ from the
    trusted output (so unchanged files are never rewritten)."""

    def __init__(self, staging: Path, trusted: dict[str, str]) -> None:
        self.staging = staging
        self.trusted = trusted
        self.written: list[str] = []  # every file of the site, changed or not
        self.stamps: dict[str, str] = {}  # rel -> digest
        self.staged: list[str] = []
        self.page_signatures: dict[str, str] = {}  # site-wide page -> signature of its context
        # The output folder's stamps once the build is committed, where commit() knew them
        # without scanning the folder again (see manifest_after).
        self.output_stamps: dict[str, tuple[int, int]] | None = None
        self._made: set[Path] = set()

    def write(self, rel: str, data: str | bytes, digest: str | None = None) -> None:
        """digest: data's, when the caller knows it (then unchanged data is not even encoded)."""
        payload = None
        if digest is None:
            payload = data.encode("utf-8") if isinstance(data, str) else data
            digest = cache_mod.digest_bytes(payload)
        self.written.append(rel)
        self.stamps[rel] = digest
        if self.trusted.get(rel) == digest:
            return
        if payload is None:
            payload = data.encode("utf-8") if isinstance(data, str) else data
        path = self.staging / rel
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        write_new_file(path, payload)
        self.staged.append(rel)

    def keep(self, rel: str) -> None:
        """A file not re-rendered this time: it stays as it is in the output."""
        self.written.append(rel)
        self.stamps[rel] = self.trusted[rel]

    def keep_all(self, rels: list[str]) -> None:
        """keep() of each (20,000 files after an edit at 10,000 contacts: in C loops)."""
        self.written.extend(rels)
        self.stamps.update(zip(rels, map(self.trusted.__getitem__, rels)))

    def absorb(self, other: tuple[list[str], dict[str, str], list[str]]
               | tuple[list[str], dict[str, str], list[str], dict[str, str]]) -> None:
        written, stamps, staged, *signed = other
        self.written.extend(written)
        self.stamps.update(stamps)
        self.staged.extend(staged)
        for signatures in signed:
            self.page_signatures.update(signatures)


class _EntityPickler(pickle.Pickler):
    """Pickles a page context with every contact and org in it replaced by its file's
    path and content digest: the context's bytes then change exactly when what the
    template can see changes, without pickling whole files' sections."""

    def __init__(self, file: Any, digests: dict[str, str],
                 rows: dict[int, tuple[Any, bytes | None]] | None = None) -> None:
        super().__init__(file, protocol=5)
        self.fast = True  # no memo: the bytes depend on values, not on shared objects (see cache.stable_bytes)
        self.digests = digests
        self.rows = rows or {}

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Entity):
            return (obj.path, self.digests.get(obj.path, "-"))
        if obj.__class__ is dict:
            # A site-wide row whose digest is known (SiteInput.directory_row_digests): the
            # digest of its values and, for a directory row, its contact's file.
            known = self.rows.get(id(obj))
            if known is not None and known[0] is obj and known[1] is not None:
                contact = obj.get("contact")
                if contact is None:
                    return ("row", known[1])
                if isinstance(contact, Entity):
                    return ("row", known[1], contact.path, self.digests.get(contact.path, "-"))
        return None


@dataclass
class PageReuse:
    """Lets a build keep a site-wide page (the directory, a tag page, due, dashboard)
    whose template context is the same as last time instead of rendering it again."""

    previous: dict[str, str]  # page path -> context signature recorded by the last build
    digests: dict[str, str]  # source rel path -> content digest
    # id(row) -> (row, its digest) of the rows whose digests are known (a directory row
    # and a tag row made from one; the dashboard's stats summary, plain data): signed by
    # their digests, not pickled whole.
    rows: dict[int, tuple[Any, bytes | None]] | None = None

    def signature(self, path: str, template: str, context: dict[str, Any]) -> str | None:
        """None when the context cannot be pickled: such a page is always rendered."""
        buffer = io.BytesIO()
        try:
            _EntityPickler(buffer, self.digests, self.rows).dump((path, template, context))
        except Exception:
            return None
        return hashlib.blake2b(buffer.getvalue(), digest_size=16).hexdigest()


# --- rendering, in this process or in forked workers ------------------------------------------------

# The forked workers inherit this (the CRM, stats, ... are not pickled to them).
_JOB: dict[str, Any] = {}


def _render_chunk(paths: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    job = _JOB
    writer = StagingWriter(job["staging"], job["trusted"])
    # No cyclic collection while a chunk renders: rendering makes no cycles (a cold build
    # at 10,000 contacts: 7 unreachable objects in all), but each worker ran about 1,170
    # collections, about 0.7 s of CPU in all. Re-enabled between chunks, so that what a theme's
    # cycles hold is freed by the next collection, at most a chunk later.
    collecting = gc.isenabled()
    gc.disable()
    try:
        job["render_entities"](job["site"], writer, paths)
    finally:
        if collecting:
            gc.enable()
    return writer.written, writer.stamps, writer.staged


def render_entities_parallel(site: Any, writer: StagingWriter, paths: list[str],
                             render_entities: Callable[[Any, Any, list[str]], None], workers: int,
                             meanwhile: Callable[[], None],
                             split: Callable[[list[str], int], list[list[str]]] | None = None) -> bool:
    """Render entity pages in forked processes while this one runs meanwhile() (the
    site-wide pages); False, with nothing rendered, when processes are unavailable.
    split(paths, size): the tasks, of about size pages each, when the caller groups the
    pages in its own way (notes_cache.NotesCache.chunks); by default runs of paths."""
    try:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return False
    if split is not None:
        chunks = split(paths, _PAGES_PER_TASK)
    else:
        chunks = [paths[i:i + _PAGES_PER_TASK] for i in range(0, len(paths), _PAGES_PER_TASK)]
    # The same workers render every chunk. Replacing them every 16 chunks (a bound on
    # what a worker accumulates, from when cmarkgfm leaked) made each new worker copy
    # again the pages of the build's process it touched: at 50,000 contacts 16 workers
    # instead of 2, about 290,000 page faults each, and a cold build about 5% slower,
    # with the same peak memory.
    try:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context)
    except OSError:
        return False
    _JOB.update(site=site, staging=writer.staging, trusted=writer.trusted, render_entities=render_entities)
    futures: list[Any] = []
    try:
        futures.extend(pool.submit(_render_chunk, chunk) for chunk in chunks)
        meanwhile()
        for future in futures:
            writer.absorb(future.result())  # a worker's exception is raised here
    finally:
        _shut_down(pool, futures)
        _JOB.clear()
    return True


class Forked:
    """job() run in one forked process while this process goes on; result() waits and
    returns what job returned (it travels back pickled, so keep it small). The child
    starts with this process's memory: the CRM, stats, ... are not pickled to it."""

    def __init__(self, pool: ProcessPoolExecutor, future: Any) -> None:
        self._pool = pool
        self._future = future

    @classmethod
    def start(cls, job: Callable[[], Any]) -> "Forked | None":
        """None, with nothing started, where processes cannot be forked."""
        started = _fork_jobs([job])
        return cls(started[0], started[1][0]) if started is not None else None

    def result(self) -> Any:
        try:
            return self._future.result()  # the job's exception is raised here
        finally:
            self.cancel()

    def cancel(self) -> None:
        _shut_down(self._pool, [self._future])


def _shut_down(pool: ProcessPoolExecutor, futures: list[Any]) -> None:
    """Stop a pool's forked process: with every job done, without waiting for it to end
    (its exit, the kernel freeing a copy of this process's pages, took 25 to 40 ms at
    10,000 contacts that the build waited for at its end; finish_forked waits for it, by
    then long ended); else waiting, so that nothing of a cancelled job runs on after."""
    # The pool's own thread tells its process to stop, then waits for it: that thread is
    # what finish_forked waits for. (An attribute of the standard library's, not
    # documented: where it is missing the pool is waited for here, as before.)
    thread = getattr(pool, "_executor_manager_thread", None) if all(f.done() for f in futures) else None
    pool.shutdown(wait=thread is None, cancel_futures=True)
    if thread is not None:
        _ENDING.append(thread)


_ENDING: list[Any] = []  # the threads of pools stopped without waiting for their processes


def finish_forked() -> None:
    """Wait for the pools' processes that a build let end by themselves (_shut_down):
    before a one-shot command exits (cli.run), and as a build starts (a long-running
    process). A command that ended before a pool's thread had told its process to stop
    would leave that process waiting for the word forever, holding the command's output
    open. Also reaps the TwoStep processes that have ended."""
    while _ENDING:
        _ENDING.pop().join()
    _reap_stopped()


class TwoStep:
    """A forked process that answers twice: first() as soon as it has it, then, only if
    this process asks it to go on, then(kept) (kept: what first() kept for it). first()
    and prepare() (run between the two, while the process waits to be told) must change
    nothing outside the process: stopping the process before it is told to go on never
    cuts anything short (a no-op build scans the output this way while it looks at the
    sources, and stops there). result() and cancel() as Forked's. The answers travel
    back pickled through a pipe; an exception raised in the process is raised here."""

    def __init__(self, pid: int, answers: int, go: int) -> None:
        self._pid, self._answers, self._go = pid, answers, go
        self._first: tuple[bool, Any] | None = None
        self._done = False

    @classmethod
    def start(cls, first: Callable[[], tuple[Any, Any]], then: Callable[[Any], Any],
              prepare: Callable[[], None] | None = None) -> "TwoStep | None":
        """None, with nothing started, where processes cannot be forked."""
        _reap_stopped()
        try:
            answers_read, answers_write = os.pipe()
            go_read, go_write = os.pipe()
        except (AttributeError, OSError):
            return None
        try:
            pid = os.fork()
        except (AttributeError, OSError):
            for descriptor in (answers_read, answers_write, go_read, go_write):
                os.close(descriptor)
            return None
        if pid == 0:  # pragma: no cover - runs in the forked process (its coverage is not gathered)
            os.close(answers_read)
            os.close(go_write)
            _quiet_output()  # its answers and errors go through the pipe
            _two_steps(first, then, prepare, answers_write, go_read)
        os.close(answers_write)
        os.close(go_read)
        return cls(pid, answers_read, go_write)

    def first(self) -> Any:
        """What first() returned (waits for it)."""
        if self._first is None:
            self._first = _receive(self._answers)
        ok, value = self._first
        if not ok:
            raise value
        return value

    def go_on(self) -> None:
        """Let then() run (once; at once, so that it runs while this process goes on)."""
        if self._go >= 0:
            _write_all(self._go, b"g")
            os.close(self._go)
            self._go = -1

    def result(self) -> Any:
        """What then() returned (asks for it, and waits)."""
        self.first()
        self.go_on()
        try:
            ok, value = _receive(self._answers)
        except BaseException:
            self.cancel()
            raise
        # Its answer is all it had to give: it is reaped later, not waited for (see _shut_down).
        self._done = True
        os.close(self._answers)
        _STOPPED.append(self._pid)
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the process. Told to go on, it is waited for (as Forked's); else it is
        not: still in first(), it is killed; past it (in prepare(), or waiting), it is
        told to stop, and ends by itself, reaped later (a no-op build does not wait for
        the renderer that prepare() imports)."""
        if self._done:
            return
        self._done = True
        if self._go < 0:
            os.close(self._answers)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            return
        os.close(self._go)  # an end of file: it exits without running then()
        self._go = -1
        answered = self._first is not None or bool(select.select([self._answers], [], [], 0)[0])
        os.close(self._answers)
        if not answered:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            return
        _STOPPED.append(self._pid)


_STOPPED: list[int] = []  # TwoStep processes told to stop, not yet reaped


def _reap_stopped(wait: bool = False) -> None:
    for pid in list(_STOPPED):
        try:
            done, _ = os.waitpid(pid, 0 if wait else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _STOPPED.remove(pid)


atexit.register(_reap_stopped, True)


def _quiet_output() -> None:  # pragma: no cover - runs in the forked process
    """Point this process's stdout and stderr at the null device: a TwoStep process told
    to stop ends a little after the command (it finishes prepare()), and must not hold
    the command's output pipe open meanwhile (`crm build | cat` would wait for it)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for descriptor in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, descriptor)
    os.close(null)


def _two_steps(first: Callable[[], tuple[Any, Any]], then: Callable[[Any], Any], prepare: Callable[[], None] | None,
               answers: int, go: int) -> None:  # pragma: no cover - runs in the forked process
    """TwoStep's forked process, to its end (os._exit: nothing of the parent's atexit)."""
    code = 1
    try:
        try:
            message, kept = first()
            _send(answers, (True, message))
        except Exception as error:
            _send(answers, (False, _portable(error)))
            return
        if prepare is not None:
            with contextlib.suppress(Exception):  # then() meets the same error, and says so
                prepare()
        if os.read(go, 1) != b"g":  # stopped: the parent has its answer
            code = 0
            return
        try:
            _send(answers, (True, then(kept)))
        except Exception as error:
            _send(answers, (False, _portable(error)))
            return
        code = 0
    except BaseException:  # Ctrl-C reaches the whole process group: the parent says so
        pass
    finally:
        os._exit(code)


def _portable(error: Exception) -> Exception:
    """error itself when it pickles, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(error, protocol=5))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


_LENGTH = struct.Struct("<Q")


def _send(descriptor: int, value: Any) -> None:
    data = pickle.dumps(value, protocol=5)
    _write_all(descriptor, _LENGTH.pack(len(data)) + data)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def _receive(descriptor: int) -> tuple[bool, Any]:
    """One answer of a TwoStep process: (ok, value), or (False, an error) when the
    process ended without giving it."""
    head = _read_exactly(descriptor, _LENGTH.size)
    data = _read_exactly(descriptor, _LENGTH.unpack(head)[0]) if head is not None else None
    if data is None:
        return False, RuntimeError("a forked process of the build ended without an answer")
    return pickle.loads(data)  # type: ignore[no-any-return]


def _read_exactly(descriptor: int, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        part = os.read(descriptor, min(left, 1 << 20))
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


_FORKED: dict[str, Any] = {}


class ForkedJobs:
    """Jobs run one after another in one forked process while this one goes on (one
    fork, its copied pages paid once); job(i).result() waits for the i-th and returns
    what it returned, without stopping the others. Cancelling any stops them all."""

    def __init__(self, pool: ProcessPoolExecutor, futures: list[Any]) -> None:
        self._pool = pool
        self._futures = futures

    @classmethod
    def start(cls, jobs: list[Callable[[], Any]]) -> "ForkedJobs | None":
        """None, with nothing started, where processes cannot be forked."""
        started = _fork_jobs(jobs)
        return cls(*started) if started is not None else None

    def job(self, index: int) -> "ForkedJob":
        return ForkedJob(self, index)

    def cancel(self) -> None:
        _shut_down(self._pool, self._futures)


class ForkedJob:
    """One of ForkedJobs, with Forked's interface."""

    def __init__(self, jobs: ForkedJobs, index: int) -> None:
        self._jobs, self._index = jobs, index

    def result(self) -> Any:
        return self._jobs._futures[self._index].result()  # the job's exception is raised here

    def ask(self, function: Callable[..., Any], *args: Any) -> Any:
        """function(*args) run in the jobs' process after its jobs, where what they left
        in its memory is (function and args are pickled to it: a module's function);
        None when that process cannot run it (stopped, broken) or it failed."""
        try:
            future = self._jobs._pool.submit(function, *args)
        except Exception:  # (RuntimeError: shut down; BrokenProcessPool)
            return None
        self._jobs._futures.append(future)  # (stopped with the others: _shut_down)
        try:
            return future.result()
        except Exception:
            return None

    def cancel(self) -> None:
        self._jobs.cancel()


def _fork_jobs(jobs: list[Callable[[], Any]]) -> tuple[ProcessPoolExecutor, list[Any]] | None:
    """One forked process running jobs one after another: (its pool, a future per job),
    or None where processes cannot be forked. The jobs are not pickled: with fork, the
    first submit starts the process, which has its copy of _FORKED."""
    try:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
    except ValueError:
        return None
    _FORKED["jobs"] = jobs
    try:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        futures = [pool.submit(_run_forked_job, i) for i in range(len(jobs))]
    except OSError:
        return None
    finally:
        _FORKED.clear()
    return pool, futures


def _run_forked_job(index: int) -> Any:
    return _FORKED["jobs"][index]()


class Claim:
    """A piece of work that either this process or one forked from it after this was
    made does: whichever calls take() first gets True, every other call False."""

    def __init__(self) -> None:
        try:
            # Shared memory with a lock, which a forked process inherits.
            import multiprocessing

            self._taken: Any = multiprocessing.get_context("fork").Value("b", 0)
        except (ValueError, OSError):  # no fork here (nothing is forked) or no shared memory
            self._taken = None
        self._here = False
        self._maker = os.getpid()

    def take(self) -> bool:
        if self._taken is None:
            # Without shared memory the work stays with the process that made the claim.
            if os.getpid() != self._maker:
                return False
            taken, self._here = self._here, True
            return not taken
        with self._taken.get_lock():
            if self._taken.value:
                return False
            self._taken.value = 1
            return True

    @property
    def taken(self) -> bool:
        return bool(self._taken.value) if self._taken is not None else self._here


class Later:
    """job() run in this process when its result is first asked for (Forked's interface),
    where forking would cost more than the job: result() returns what job returned
    (None once cancelled). The job is held as long as this is, run or not: what it holds
    (writing the stats' memory holds all of it) is then freed with whatever holds this,
    which a one-shot build keeps until it exits (loader.hold_until_exit), rather than in
    the middle of the build (16 to 20 ms at 10,000 contacts)."""

    def __init__(self, job: Callable[[], Any]) -> None:
        self._job = job
        self._pending = True
        self._value: Any = None

    def result(self) -> Any:
        if self._pending:
            self._pending = False
            self._value = self._job()
        return self._value

    def cancel(self) -> None:
        self._pending = False


def render_forked(job: Callable[[StagingWriter], None], writer: StagingWriter) -> Forked | None:
    """job(writer) in a forked process, into the same staging folder; absorb result()
    into writer. An incremental build renders the site-wide pages so while it signs the
    pages and renders the changed ones."""
    staging, trusted = writer.staging, writer.trusted

    def run() -> tuple[list[str], dict[str, str], list[str], dict[str, str]]:
        # No cyclic collection in this short-lived process: the first one after the
        # site-wide pages (made with it paused) scanned all they made, 20 to 30 ms at
        # 10,000 contacts at the end of the build's longest path, to free nothing that
        # the process's end does not.
        gc.disable()
        child = StagingWriter(staging, trusted)
        job(child)
        return child.written, child.stamps, child.staged, child.page_signatures

    return Forked.start(run)


# --- committing ------------------------------------------------------------------------------------


def commit(staging: Path, target: Path, writer: StagingWriter,
           on_disk: dict[str, tuple[int, int]] | None = None) -> None:
    """Move the staged files into the output, then delete what the site no longer has.
    on_disk: the output's stamps as scanned at the start of this build (trusted_output),
    so that the folder is not scanned twice more (here and for the manifest; 20,000
    stat calls each at 10,000 contacts); writer.output_stamps is then the stamps after."""
    made: set[Path] = set()
    after = dict(on_disk) if on_disk is not None else None
    for rel in writer.staged:
        dest = target / rel
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        os.replace(staging / rel, dest)
        if after is not None:
            st = os.stat(dest, follow_symlinks=False)
            after[rel] = (st.st_size, st.st_mtime_ns)
    keep = set(writer.written)
    stale = [rel for rel in (after if after is not None else scan_output(target)) if rel not in keep]
    for rel in stale:
        try:
            os.unlink(target / rel)
        except FileNotFoundError:  # already gone (deleted by hand since the scan)
            pass
        if after is not None:
            del after[rel]
    if stale:
        _remove_empty_folders(target)
    writer.output_stamps = after


def _remove_empty_folders(target: Path) -> None:
    for folder, subfolders, files in os.walk(target, topdown=False):
        if Path(folder) != target and not subfolders and not files:
            try:
                os.rmdir(folder)
            except OSError:
                pass


def new_staging(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))


def manifest_after(target: Path, writer: StagingWriter) -> tuple[dict[str, OutStamp], dict[str, str]]:
    """(manifest, digests) of BuildState: the output's stamps after the commit, and the
    digests of the files the build wrote or kept, of the files in both."""
    on_disk = writer.output_stamps if writer.output_stamps is not None else scan_output(target)
    if on_disk.keys() == writer.stamps.keys():  # every build that wrote its whole site: kept as they are
        return on_disk, writer.stamps
    digests = {rel: digest for rel, digest in writer.stamps.items() if rel in on_disk}
    return {rel: on_disk[rel] for rel in digests}, digests


def remove_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)

"""The cache in <root>/.crm-cache/: parsed files and check results, never trusted blindly.

Why: parsing 10,000 contact files (YAML + Markdown sections) takes about 9 s of CPU;
unpickling the same data takes about 0.3 s, and answering `crm check` for a tree that
did not change needs only the file stamps.

Layout (all files written atomically through fs.write_atomic):
- `index.bin`: {rel path: (size, mtime_ns | None, content digest)}. A file whose size and
  mtime_ns match its entry has that digest without being read; otherwise it is read and
  hashed (blake2b), so a `git checkout` or `touch` that changes the mtime but not the
  bytes still hits. Like git's "racy" entries, a file modified within RACY_NS of the
  moment the index is written gets mtime None, so its next use re-hashes it: an edit in
  the same clock tick with the same size is never missed.
- `parsed-XX.bin` (SHARDS shards by path): {rel path: (digest, the file's contact or org
  and its parse problems: see encode_loaded)}. An
  entry is used only if its digest equals the file's current digest. Sharding keeps an
  incremental save small: one edited file rewrites one shard of ~1/64 of the data.
- `sections-XX.bin`: the bytes of the sections of each file of `parsed-XX.bin`, which
  names where each file's are (LazySections, SECTIONS_MAGIC): read only when used.
- `hot-XX.bin`: the index of the contacts of `parsed-XX.bin`, written with it: each
  one's digest, parse problems and model.INDEXED_FIELDS (an IndexedContact), which is
  all a rebuild after an edit reads of most contacts. Such a rebuild reads these instead
  of the shards (ParseCache.get_indexed), and a shard only for a contact it reads more
  of. Orgs have shards of their own (ORG_SHARDS), which every load reads.
- `check.bin`: the problems `crm check` found for one exact tree (a key over the program,
  crm.yaml and every file's digest), so an unchanged tree is answered from it.

Every cache file starts with a header line: a magic string, then JSON with the kind,
the program fingerprint (site_builder.__version__ + a hash of the source files whose
output is stored + the Python version), the payload's length and its CRC-32.
Anything that does not match, fails to load or has the wrong shape is discarded and
rebuilt. Payloads are pickles read with an Unpickler that refuses every class except the datetime types YAML can produce, Decimal
and the model's plain record classes (Contact, Org, Deal, Invoice, Birthday, Section),
which it creates without running any code of theirs; so a planted cache file cannot run
code.
"""

from __future__ import annotations

import contextlib
import copyreg
import functools
import gc
import hashlib
import io
import json
import os
import pickle
import sys
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import __version__, fs
from .model import (CONTACT_COLD_FIELDS, CRM, Contact, Entity, IndexedContact, LazyContact, Org, build_contact,
                    build_org, cold_values, indexed_state, new_indexed_contact, new_lazy_contact, packed_cold,
                    packed_contact_state, raw_front_matter, set_raw_front_matter, unpack_cold)
from .parse import MENTION, ParsedFile
from .problems import Problem

CACHE_DIR = ".crm-cache"
MAGIC = b"CRM-CACHE 1\n"
SHARDS = 64
RACY_NS = 2_000_000_000  # 2 s: more than any file system's timestamp granularity we know

# The modules whose code decides what a parsed file or a check result looks like.
PARSE_MODULES = ("cache.py", "parse.py", "yamlsafe.py", "problems.py", "model.py")
CHECK_MODULES = (*PARSE_MODULES, "model.py", "loader.py", "config.py", "validate.py", "api.py", "fs.py")

Encoded = tuple[Any, ...]  # see encode_loaded
Stamp = tuple[int, int | None, str]  # size, mtime_ns (None: re-hash next time), digest


# --- fingerprints and digests ------------------------------------------------------------


@lru_cache(maxsize=None)
def program_fingerprint(modules: tuple[str, ...] = PARSE_MODULES) -> str:
    """site_builder's version, a hash of the named source files, and the Python version."""
    h = hashlib.blake2b(digest_size=16)
    package = Path(__file__).parent
    for name in modules:
        h.update(name.encode())
        try:
            h.update((package / name).read_bytes())
        except OSError:  # e.g. a zipped install: fall back to the version alone
            h.update(b"?")
    return f"{__version__}/{h.hexdigest()}/{sys.implementation.cache_tag}/{sys.version.split()[0]}"


def stable_bytes(value: Any) -> bytes:
    """value's bytes for a signature: they depend on its values only. A plain pickle
    writes an object met twice as a back-reference, so two equal values whose strings
    happen to be shared differently (parsed afresh, from the cache, from a worker) gave
    different bytes, and the first rebuild after a cold build re-rendered a third of the
    pages. Without the memo (the pickler's fast mode) every value is written out."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True  # no memo; the values signed here hold no cycles
    try:
        pickler.dump(value)
    except Exception:  # something unpicklable in a context: its repr still tells changes apart
        return repr(value).encode()
    return buffer.getvalue()


def stats_sign(entry: Any) -> bytes:
    """16 bytes standing for one contact's or org's figures (a Stats entry) in the
    signatures of the pages that show them: stable_bytes, hashed."""
    return hashlib.blake2b(stable_bytes(entry), digest_size=16).digest()


def digest_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of a cache file, None when it is not there: a file
    replaced by another writer (written to a temporary file, then renamed) has another."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def cache_dir(root: Path) -> Path:
    return root / CACHE_DIR


# --- guarded blobs -----------------------------------------------------------------------


class _SafeUnpickler(pickle.Unpickler):
    """Only built-in containers and the datetime types YAML's !!timestamp can produce."""

    ALLOWED = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timedelta"),
               ("datetime", "timezone"), ("decimal", "Decimal"),
               # The model's plain records: made with __new__ and given their fields,
               # no code of theirs runs (a Birthday is made by its __init__, which only
               # sets its three fields).
               ("site_builder.model", "Contact"), ("site_builder.model", "Org"),
               ("site_builder.model", "Deal"), ("site_builder.model", "Invoice"),
               ("site_builder.model", "Birthday"), ("site_builder.parse", "Section"),
               # A contact whose less-read fields stay packed (a PackedCold, below):
               # made empty (no arguments), then given its fields.
               ("site_builder.model", "LazyContact"), ("site_builder.model", "new_lazy_contact"),
               ("site_builder.cache", "PackedCold"),
               # A file's sections as bytes (its __setstate__ takes bytes and nothing
               # else); they are decoded by this same unpickler when read.
               ("site_builder.cache", "LazySections"),
               # A file's front matter and its lines as bytes, the same way.
               ("site_builder.cache", "PackedFrontMatter"),
               # A contact of a parse shard's index (hot-XX.bin): made empty, then given
               # its indexed fields; and what fills them all, made with no arguments.
               ("site_builder.model", "IndexedContact"), ("site_builder.model", "new_indexed_contact"),
               ("site_builder.cache", "HotShard"), ("site_builder.cache", "LoadedFile")}

    _found: dict[tuple[str, str], Any] = {}  # each allowed class, once looked up

    def find_class(self, module: str, name: str) -> Any:
        found = self._found.get((module, name))
        if found is not None:
            return found
        if (module, name) in self.ALLOWED:
            found = self._found[(module, name)] = super().find_class(module, name)
            return found
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a cache file")


def payload_check(body: bytes) -> int:
    """What a cache file's header says of its payload, to catch damage (a truncated or
    bit-flipped file): CRC-32, which catches every burst of up to 32 flipped bits and
    reads 100 MB in 25 ms where blake2b takes 110 ms (at 10,000 contacts a rebuild
    reads about 180 MB of cache). No checksum stops a deliberately planted file; the
    restricted unpickler does (nothing in a cache file can run code)."""
    return zlib.crc32(body)


def encode_blob(kind: str, fingerprint: str, payload: Any) -> bytes:
    """A cache file's bytes, as write_blob writes them."""
    buffer = io.BytesIO()
    _dump_blob(buffer, kind, fingerprint, payload)
    return buffer.getvalue()


def decode_blob(data: bytes, kind: str, fingerprint: str) -> Any | None:
    """The payload, or None when the blob is foreign, stale, truncated or corrupt."""
    if not data.startswith(MAGIC):
        return None
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    return _decode_body(data[len(MAGIC):end], data[end + 1:], kind, fingerprint)


def _decode_body(header_line: bytes, body: bytes, kind: str, fingerprint: str,
                 unpickler: Callable[[Any], pickle.Unpickler] | None = None) -> Any | None:
    try:
        header = json.loads(header_line)
    except ValueError:
        return None
    if (not isinstance(header, dict) or header.get("kind") != kind or header.get("program") != fingerprint
            or header.get("length") != len(body) or header.get("crc32") != payload_check(body)):
        return None
    try:
        with gc_paused():
            return (unpickler or _SafeUnpickler)(io.BytesIO(body)).load()
    except Exception:  # anything at all: a cache is never worth a crash
        return None


# The header line that write_blob reserves and fills in once the payload is written.
_HEADER_WIDTH = 512


def read_blob(path: Path, kind: str, fingerprint: str,
              unpickler: Callable[[Any], pickle.Unpickler] | None = None) -> Any | None:
    """A cache file's payload, or None (see decode_blob). The header line and the
    payload are read apart, so the payload is one bytes object (not the file's bytes and
    then a slice of them: the stats' memory is 14 MB at 10,000 contacts)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                return None
            header_line = handle.readline(_HEADER_WIDTH + 1)
            if not header_line.endswith(b"\n"):
                return None
            body = handle.read()
    except OSError:
        return None
    return _decode_body(header_line[:-1], body, kind, fingerprint, unpickler)


class _ChecksumWriter:
    """A file that keeps the length and CRC-32 of what is written to it."""

    def __init__(self, handle: Any) -> None:
        self.handle, self.length, self.crc = handle, 0, 0

    def write(self, data: Any) -> int:
        self.length += len(data) if isinstance(data, bytes) else memoryview(data).nbytes
        self.crc = zlib.crc32(data, self.crc)
        return self.handle.write(data)


def _dump_blob(handle: Any, kind: str, fingerprint: str, payload: Any,
               pickler: Callable[[Any], pickle.Pickler] | None = None) -> None:
    """The payload pickled straight into handle behind a reserved header line, filled
    in last (padded with spaces): no pickle of it, and no copy with its header, is held
    in memory (at 10,000 contacts that was up to 30 MB at the peak of a build)."""
    handle.write(MAGIC + b" " * _HEADER_WIDTH + b"\n")
    sink = _ChecksumWriter(handle)
    (pickler(sink) if pickler is not None else pickle.Pickler(sink, protocol=5)).dump(payload)
    header = json.dumps({"kind": kind, "program": fingerprint, "length": sink.length, "crc32": sink.crc},
                        sort_keys=True).encode()
    if len(header) > _HEADER_WIDTH:
        raise OSError(f"cache header too long ({len(header)} bytes)")
    handle.seek(len(MAGIC))
    handle.write(header)


def write_blob(path: Path, kind: str, fingerprint: str, payload: Any,
               pickler: Callable[[Any], pickle.Pickler] | None = None) -> bool:
    """Write atomically (a temporary file, then a rename), without fsync: a cache file
    lost in a crash is rebuilt, and its checksum catches one half-written, while 65
    fsyncs would add seconds to a cold build. False (and no exception) when the cache
    folder is not writable."""
    return _write_atomically(path, lambda handle: _dump_blob(handle, kind, fingerprint, payload, pickler))


def _write_atomically(path: Path, write: Callable[[Any], None]) -> bool:
    """write(handle) into a temporary file beside path, then renamed over it (see
    write_blob); False when the cache folder is not writable."""
    try:
        _ensure_cache_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                write(handle)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError:
        return False
    return True


# --- a memory kept in shards: a head and parts written only when they change ---------------------


def read_sharded(folder: Path, name: str, kind: str, fingerprint: str,
                 parts: int) -> tuple[tuple[bytes, ...], Any, list[Any]] | None:
    """(the parts' generations, the head, each part's payload) as write_sharded left them
    in folder/<name>.bin and folder/<name>-XX.bin; None when the head or any part is
    missing, foreign, damaged or of another generation than the head names (a write that
    was cut short, or a part from another time): a memory is whole or not used."""
    stored = read_blob(folder / f"{name}.bin", kind, fingerprint)
    if not (isinstance(stored, tuple) and len(stored) == 2 and isinstance(stored[0], tuple)
            and len(stored[0]) == parts and all(type(g) is bytes for g in stored[0])):
        return None
    generations, head = stored
    payloads = []
    for number, generation in enumerate(generations):
        part = read_blob(_part_path(folder, name, number), kind, fingerprint)
        if not (isinstance(part, tuple) and len(part) == 2 and part[0] == generation):
            return None
        payloads.append(part[1])
    return generations, head, payloads


def write_sharded(folder: Path, name: str, kind: str, fingerprint: str, head: Any,
                  payloads: dict[int, Any], generations: tuple[bytes, ...] | None,
                  parts: int) -> tuple[bytes, ...] | None:
    """Write the given parts (number -> payload; every part when generations is None:
    those of the memory as read, for the parts not given), each under a new generation,
    then the head naming every part's generation. A reader finds the old head with the
    old parts or the new head with the new ones, never a mix (read_sharded). The new
    generations, or None when the cache folder is not writable."""
    if generations is None and len(payloads) != parts:
        raise ValueError("a first write gives every part")
    fresh = os.urandom(8)
    now = list(generations) if generations is not None else [fresh] * parts
    for number, payload in sorted(payloads.items()):
        if not write_blob(_part_path(folder, name, number), kind, fingerprint, (fresh, payload)):
            return None
        now[number] = fresh
    if not write_blob(folder / f"{name}.bin", kind, fingerprint, (tuple(now), head)):
        return None
    return tuple(now)


def _part_path(folder: Path, name: str, number: int) -> Path:
    return folder / f"{name}-{number:02x}.bin"


def _ensure_cache_dir(folder: Path) -> None:
    if folder.is_symlink():  # never write through a link, which might lead out of the root
        raise OSError(f"{folder} is a symbolic link")
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():  # so the cache stays out of git even without the root's .gitignore
        fs.write_atomic(ignore, "*\n")


@contextlib.contextmanager
def gc_paused(freeze: bool = True) -> Iterator[None]:
    """Building hundreds of thousands of small objects triggers the cyclic GC over and
    over (about half of the unpickling time); none of them may form cycles, which would
    stay until the next collection (tests/test_memory_cycles.py). freeze: what was
    made is kept out of later collections (objects that live on, like a loaded CRM)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # Without this, the first collections after enabling scan every object just
            # made (1 to 2 s at 10,000 files) only to find them alive. Frozen objects are
            # still freed by reference counting.
            if freeze:
                gc.freeze()
            gc.enable()


def release_frozen() -> None:
    """Make what gc_paused froze collectable again and collect cyclic garbage: for a
    long-running process (`crm serve`, `crm watch`), every so many rebuilds
    (watch.RELEASE_EVERY). A one-shot command never needs it; collecting there scanned
    the whole loaded CRM (0.2 s per call at 10,000 files, five calls per build)."""
    gc.unfreeze()
    gc.collect()


# --- loaded files: the built contact or org, with the parser's problems ------------------


@dataclass(slots=True)
class LoadedFile:
    """One file as the loader needs it: its contact or org (None when it could not be
    parsed) and the problems found while reading it."""

    path: str
    problems: list[Problem]
    ok: bool
    entity: Entity | None


def load_parsed(parsed: ParsedFile) -> LoadedFile:
    """Build the file's model object. The cache keeps this rather than the parse result:
    building 10,000 contacts again on every load cost more than unpickling them."""
    entity: Entity | None = None
    if parsed.ok:
        entity = build_contact(parsed) if parsed.path.startswith("contacts/") else build_org(parsed)
    return LoadedFile(parsed.path, parsed.problems, parsed.ok, entity)


def encode_loaded(loaded: LoadedFile, lazy: bool = True) -> Encoded:
    """One file's cache entry: its contact or org as an object, but its sections as the
    bytes of their pickle (LazySections), made into objects only when something reads
    them. A rebuild after an edit reads the sections of about one file in eight (the
    changed files, the people whose figures they change, the files naming the pages it
    renders). lazy=False: the entity as it is (a parsing worker's result, which the main
    process makes into objects as it comes anyway)."""
    problems = tuple((p.path, p.line, p.severity, p.code, p.message) for p in loaded.problems)
    entity = loaded.entity
    if lazy and entity is not None and not isinstance(entity.sections, LazySections):
        entity.sections = LazySections.of(entity.sections)  # type: ignore[assignment]
    return (loaded.path, problems, loaded.ok, entity)


_UNDECODED = object()  # what _decode_kept gives for bytes that do not decode


def _decode_kept(data: bytes | None) -> Any:
    """A kept pickle's value by the restricted unpickler, or _UNDECODED."""
    if not gc.isenabled():  # a caller decoding many at once has paused it already
        return _unpickle_kept(data)
    with gc_paused():
        return _unpickle_kept(data)


def _unpickle_kept(data: bytes | None) -> Any:
    try:
        return _SafeUnpickler(io.BytesIO(data or b"")).load()
    except Exception:
        return _UNDECODED


def _parse_source_again(source: tuple[Path, str, str] | None) -> Entity | None:
    """The file's entity parsed again, when its bytes are still the ones cached (root,
    file, digest); else the error that says what to do."""
    try:
        data = (source[0] / source[1]).read_bytes() if source is not None else None
    except OSError:
        data = None
    if source is None or data is None or digest_bytes(data) != source[2]:
        where = f" for {source[1]}" if source is not None else ""
        raise RuntimeError(f"{CACHE_DIR}/ holds a damaged entry{where}; delete {CACHE_DIR}/ and run again")
    from .parse import parse_file

    return load_parsed(parse_file(source[1], data)).entity


def _kept_state(data: bytes | None, value: Any) -> tuple[None, dict[str, Any]]:
    """__getstate__ of a value kept as its pickle's bytes: the bytes, made if needed."""
    return None, {"_data": data if data is not None else pickle.dumps(value, protocol=5)}


def _kept_bytes(state: Any, what: str) -> bytes:
    """What a cache file may give such a value (__setstate__): bytes and nothing else."""
    data = state[1].get("_data") if isinstance(state, tuple) and len(state) == 2 and isinstance(
        state[1], dict) else None
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"not a file's {what}")
    return data


# Where a file's sections are in a parse shard's sections file (sections-XX.bin): that file
# (SectionsFile, below), and the offset, length and CRC-32 of their bytes there.
SectionsAt = tuple["SectionsFile", int, int, int]


class LazySections:
    """A file's sections (a list of parse.Section, newest first), kept as the bytes of
    their pickle until first read, then as the list (the bytes are let go). Reads like the
    list: iteration, len, indexing, comparison. A cached file's bytes stay in its shard's
    sections file until read (_at; see ParseCache). Decoded by the same restricted
    unpickler as every cache file; if that fails (a cache file planted with a valid
    checksum, or a sections file replaced since), the sections come from parsing the file
    again, when its bytes are still the ones cached."""

    __slots__ = ("_data", "_list", "_source", "_at")

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._list: list[Any] | None = None
        self._source: tuple[Path, str, str] | None = None  # root, file and its digest, to parse again
        self._at: SectionsAt | None = None

    @classmethod
    def of(cls, sections: list[Any]) -> "LazySections":
        made = cls()
        made._list = sections
        return made

    @classmethod
    def at(cls, where: SectionsAt) -> "LazySections":
        made = cls()
        made._at = where
        return made

    @property
    def decoded(self) -> bool:
        return self._list is not None

    def items(self) -> list[Any]:
        found = self._list
        if found is None:
            if not self.try_decode():
                self._list = self._parse_again()
                self._data = None
            found = self._list
        return found  # type: ignore[return-value]

    def try_decode(self) -> bool:
        """Decode the bytes now, if not done yet; False when they do not decode."""
        if self._list is not None:
            return True
        data = self._data if self._data is not None else read_sections(self._at)
        found = _decode_kept(data)
        if not isinstance(found, list):
            return False
        # The place is kept (with the file open): a long-running process may let go of
        # the objects again (let_go) and read them back from there when needed.
        self._list, self._data = found, None
        return True

    def let_go(self) -> bool:
        """Let go of the decoded objects when they can be read back (their place in a
        sections file, and the file to parse again should that fail); True if done.
        For a long-running process after a build that decoded every file's sections."""
        if self._list is None or self._at is None or self._source is None:
            return False
        if self._at[0].descriptor() is None:  # its file replaced since: nothing to read back
            return False
        self._list = None
        return True

    def packed(self) -> bytes:
        """The bytes of the sections' pickle, as held, read or made."""
        data = self._data if self._data is not None else read_sections(self._at)
        if data is None:
            data = pickle.dumps(self.items(), protocol=5)
        return data

    def _parse_again(self) -> list[Any]:
        entity = _parse_source_again(self._source)
        return list(entity.sections) if entity is not None else []

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return None, {"_data": self.packed()}

    def __setstate__(self, state: Any) -> None:
        # What a cache file gives: only bytes are taken (decoded when read, as above).
        self._data, self._list, self._source, self._at = _kept_bytes(state, "sections"), None, None, None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items())

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self.items())

    def __len__(self) -> int:
        return len(self.items())

    def __bool__(self) -> bool:
        return bool(self.items())

    def __getitem__(self, index: Any) -> Any:
        return self.items()[index]

    def __contains__(self, value: Any) -> bool:
        return value in self.items()

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, LazySections):
            other = other.items()
        return self.items() == other

    __hash__ = None  # type: ignore[assignment]  # like the list it stands for

    def __repr__(self) -> str:
        return repr(self.items())


# --- a parse shard's sections file -----------------------------------------------------------
#
# sections-XX.bin holds the bytes of the sections of every file of parsed-XX.bin, one
# after another behind a header line naming a random token; the shard names the token
# and each file's place. The sections are 80 of the 102 MB of parse shards at 10,000
# contacts, and a rebuild after an edit reads few of them: kept apart, its load reads
# 22 MB, not 102. A shard whose token is not its sections file's (a write cut short
# between the two files) is not used; a file's bytes whose CRC-32 does not match are
# not decoded (the file is parsed again, as for any undecodable sections).

SECTIONS_MAGIC = b"CRM-SECTIONS 1 "
_TOKEN_BYTES = 8
_SECTIONS_HEAD_SIZE = len(SECTIONS_MAGIC) + 2 * _TOKEN_BYTES + 1


def _sections_head(token: str) -> bytes:
    return SECTIONS_MAGIC + token.encode("ascii") + b"\n"


def _read_at(fd: int, length: int, offset: int) -> bytes:
    """length bytes at offset, without moving a shared position where the system has
    pread (everywhere but Windows, where a seek and a read do, as builds never overlap)."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, length)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


class SectionsFile:
    """One sections file as this process found or wrote it: its path, its token and,
    once opened, a descriptor, which the sections still to be read share. Reads stay on
    that file even after a later save has replaced it at its path (a long-running
    process keeps files loaded before that save); it is closed when none needs it."""

    __slots__ = ("path", "token", "_fd")

    def __init__(self, path: Path, token: str, fd: int | None = None) -> None:
        self.path, self.token, self._fd = path, token, fd

    def descriptor(self) -> int | None:
        """The open file, or None when the file at path is not (or no longer) this one."""
        if self._fd is None:
            self._fd = self._open()
        return self._fd if self._fd >= 0 else None

    def _open(self) -> int:
        try:
            fd = os.open(self.path, _READ_FLAGS)
        except OSError:
            return -1
        try:
            head = _read_at(fd, _SECTIONS_HEAD_SIZE, 0)
        except OSError:
            head = b""
        if head != _sections_head(self.token):
            os.close(fd)
            return -1
        return fd

    def read(self, offset: int, length: int) -> bytes | None:
        fd = self.descriptor()
        if fd is None:
            return None
        try:
            data = _read_at(fd, length, _SECTIONS_HEAD_SIZE + offset)
        except OSError:
            return None
        return data if len(data) == length else None

    def read_all(self) -> bytes | None:
        """The bytes after the header (a load that decodes every file's reads them once)."""
        fd = self.descriptor()
        if fd is None:
            return None
        try:
            size = os.fstat(fd).st_size - _SECTIONS_HEAD_SIZE
        except OSError:
            return None
        return self.read(0, size)

    def __del__(self) -> None:
        if self._fd is not None and self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)


def read_sections(at: SectionsAt | None) -> bytes | None:
    """One file's sections' bytes from its shard's sections file, or None when that file
    is gone or damaged there."""
    if at is None:
        return None
    file, offset, length, crc = at
    data = file.read(offset, length)
    return data if data is not None and zlib.crc32(data) == crc else None


def _sections_place(*args: Any) -> Any:
    """Stands in a shard's pickle for a file's sections kept in its sections file: only
    _ShardUnpickler makes them (with its sections file's path)."""
    raise pickle.UnpicklingError("a file's sections outside a parse shard")


class _ShardUnpickler(_SafeUnpickler):
    """A parse shard's reader: a file's sections come as their place in the sections
    file at sections_path (LazySections.at), each checked for its shape; files holds the
    sections files named, by token."""

    def __init__(self, file: Any, sections_path: Path) -> None:
        super().__init__(file)
        self.sections_path = sections_path
        self.files: dict[str, SectionsFile] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("site_builder.cache", "_sections_place"):
            # Not a bound method: the unpickler's memo keeps what find_class gives, and
            # a cycle through it would keep the whole shard until a garbage collection.
            return functools.partial(_sections_at, self.sections_path, self.files)
        return super().find_class(module, name)


def _sections_at(path: Path, files: dict[str, SectionsFile], token: Any, offset: Any, length: Any,
                 crc: Any) -> LazySections:
    if not (type(token) is str and len(token) == 2 * _TOKEN_BYTES
            and all(type(n) is int and n >= 0 for n in (offset, length, crc))):
        raise pickle.UnpicklingError("not a file's place in a sections file")
    file = files.get(token)
    if file is None:
        file = files[token] = SectionsFile(path, token)
    return LazySections.at((file, offset, length, crc))


def _write_shard_sections(sections_path: Path,
                          shard: dict[str, tuple[str, Encoded]]) -> dict[int, tuple[Any, ...]] | None:
    """Write every entry's sections into a new sections file at sections_path and point
    each undecoded LazySections there (the file written is kept open for them); the
    arguments of each one's place (by id) for the shard's pickle, or None when the file
    could not be written (then nothing is changed)."""
    lazy: list[LazySections] = []
    chunks: list[bytes] = []
    for rel, (_, encoded) in list(shard.items()):
        sections = getattr(encoded[3], "sections", None) if isinstance(encoded, tuple) and len(encoded) == 4 else None
        if isinstance(sections, LazySections):
            try:
                chunk = sections.packed()  # read before the file is replaced
            except RuntimeError:  # unreadable here and its file changed since: a miss next time
                del shard[rel]
                continue
            lazy.append(sections)
            chunks.append(chunk)
    file = write_token_file(sections_path, chunks)
    if file is None:
        return None
    token = file.token
    # Decoded sections get the same place, to be read back only if let go of (let_go),
    # which opens the file, when it is still the one at its path: held open for them
    # all from now, every save would keep one more file open (its changed files' own).
    if_let_go = SectionsFile(sections_path, token)
    places: dict[int, tuple[Any, ...]] = {}
    offset = 0
    for sections, chunk in zip(lazy, chunks):
        place = (token, offset, len(chunk), zlib.crc32(chunk))
        places[id(sections)] = place
        sections._at = (file if sections._list is None else if_let_go, *place[1:])
        sections._data = None
        offset += len(chunk)
    return places


def all_of(values: Iterable[object], kind: type, length: int | None = None) -> bool:
    """Whether every value is exactly of kind (and of length): a shape check of what a
    cache file held, over 10,000 entries in C (set, map, type, len), where a generator
    took 20 ms of a rebuild."""
    values = values if isinstance(values, (list, tuple)) else list(values)
    if not values:
        return True
    if set(map(type, values)) != {kind}:
        return False
    return length is None or set(map(len, values)) == {length}  # type: ignore[arg-type]


def is_token(value: Any) -> bool:
    """Whether value can be a token file's token (read from a cache file: checked first)."""
    return type(value) is str and len(value) == 2 * _TOKEN_BYTES and value.isascii() and value.isalnum()


def write_token_file(path: Path, chunks: list[bytes]) -> SectionsFile | None:
    """Write chunks one after another behind a header line naming a new random token
    (a sections file, or the stats' figures: what names a place in it names the token
    too, so that a file of another write is never read), atomically; the file, already
    open for reading (it stays readable after a later write replaces it at its path),
    or None when it could not be written."""
    token = os.urandom(_TOKEN_BYTES).hex()
    opened: list[int] = []

    def write(handle: Any) -> None:
        handle.write(_sections_head(token))
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        opened.append(os.open(handle.name, _READ_FLAGS))  # the file renamed next, whatever comes later

    if not _write_atomically(path, write):
        for fd in opened:
            os.close(fd)
        return None
    return SectionsFile(path, token, opened[0])


def _shard_pickler(places: dict[int, tuple[Any, ...]]) -> Callable[[Any], pickle.Pickler]:
    """A pickler for a parse shard that writes each file's sections as their place in
    the sections file (places, by id), through a dispatch table: called for LazySections
    only, not for every object as persistent_id would be."""
    def reduce_sections(sections: LazySections) -> Any:
        place = places.get(id(sections))
        return (_sections_place, place) if place is not None else sections.__reduce_ex__(5)

    def make(sink: Any) -> pickle.Pickler:
        pickler = pickle.Pickler(sink, protocol=5)
        pickler.dispatch_table = {**copyreg.dispatch_table, LazySections: reduce_sections,  # type: ignore[misc]
                                  Contact: _reduce_packed_contact, LazyContact: _reduce_packed_contact}
        return pickler

    return make


def _reduce_packed_contact(contact: Contact) -> Any:
    """A contact as a parse shard keeps it: a LazyContact with its less-read fields
    packed (model.CONTACT_COLD_FIELDS); one still packed is written as it is."""
    packed = packed_cold(contact)
    if packed is None:
        packed = PackedCold.of(cold_values(contact))
    return new_lazy_contact, (), (None, packed_contact_state(contact, packed))


class PackedCold:
    """The fields of a cached contact that few builds read for many contacts
    (model.CONTACT_COLD_FIELDS, held by a model.LazyContact), kept as the bytes of
    their pickle until one is read, like PackedFrontMatter; decoded by the restricted
    unpickler, or if that fails, from the file parsed again when its bytes are still
    the ones cached."""

    __slots__ = ("_data", "_value", "_source")

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._value: tuple[Any, ...] | None = None
        self._source: tuple[Path, str, str] | None = None  # root, file and its digest, to parse again

    @classmethod
    def of(cls, values: tuple[Any, ...]) -> "PackedCold":
        made = cls()
        made._value = values
        return made

    def unpack_cold(self) -> tuple[Any, ...]:
        if not self.try_decode():
            entity = _parse_source_again(self._source)
            if not isinstance(entity, Contact):
                raise RuntimeError(f"{CACHE_DIR}/ holds a damaged entry for {self._source[1]}; "  # type: ignore[index]
                                   f"delete {CACHE_DIR}/ and run again")
            self._value, self._data = cold_values(entity), None
        return self._value  # type: ignore[return-value]

    def try_decode(self) -> bool:
        """Decode the bytes now, if not done yet; False when they do not decode."""
        if self._value is not None:
            return True
        found = _decode_kept(self._data)
        if not (isinstance(found, tuple) and len(found) == len(CONTACT_COLD_FIELDS)):
            return False
        self._value, self._data = found, None
        return True

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return _kept_state(self._data, self._value)

    def __setstate__(self, state: Any) -> None:
        self._data, self._value, self._source = _kept_bytes(state, "contact fields"), None, None


class PackedFrontMatter:
    """A cached file's front matter and the line of each of its keys (Entity.meta and
    Entity.lines), kept as the bytes of their pickle until either is first read (see
    model._FrontMatterField), like LazySections: a rebuild reads them for the changed
    files only. Decoded by the restricted unpickler; if that fails, from the file parsed
    again when its bytes are still the ones cached."""

    __slots__ = ("_data", "_value", "_source")

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._value: tuple[dict[str, Any], dict[Any, int]] | None = None
        self._source: tuple[Path, str, str] | None = None  # root, file and its digest, to parse again

    @classmethod
    def of(cls, meta: dict[str, Any], lines: dict[Any, int]) -> "PackedFrontMatter":
        made = cls()
        made._value = (meta, lines)
        return made

    def may_have_key(self, key: str) -> bool:
        """False only when the front matter has no such top-level key, told without
        decoding it: a pickle writes every str it holds in full (as UTF-8) at least once,
        so a key whose bytes are not in the pickle is not in the dict. (A full build on
        another day asks every contact for `private_fields`: decoding all 10,000 front
        matters for that took about 0.25 s of CPU.)"""
        if self._value is not None:
            return key in self._value[0]
        if self._data is None:
            return True
        return key.encode("utf-8", "surrogatepass") in self._data

    def unpack_front_matter(self) -> tuple[dict[str, Any], dict[Any, int]]:
        if self._value is None and not self.try_decode():
            self._value = self._parse_again()
            self._data = None
        return self._value  # type: ignore[return-value]

    def try_decode(self) -> bool:
        """Decode the bytes now, if not done yet; False when they do not decode."""
        if self._value is not None:
            return True
        found = _decode_kept(self._data)
        if not (isinstance(found, tuple) and len(found) == 2 and type(found[0]) is dict and type(found[1]) is dict):
            return False
        self._value, self._data = found, None
        return True

    def _parse_again(self) -> tuple[dict[str, Any], dict[Any, int]]:
        entity = _parse_source_again(self._source)
        return raw_front_matter(entity) if entity is not None else ({}, {})

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return _kept_state(self._data, self._value)

    def __setstate__(self, state: Any) -> None:
        # What a cache file gives: only bytes are taken (decoded when read, as above).
        self._data, self._value, self._source = _kept_bytes(state, "front matter"), None, None


def pack_front_matter(shard: dict[str, tuple[str, Encoded]]) -> None:
    """Give every entry's contact or org its front matter and lines as one packed object
    (PackedFrontMatter), so that the shard is pickled with them packed: the objects stay
    in it, still read as before (model._FrontMatterField), and one still packed is
    written as it is (Entity.__getstate__ gives the fields as held)."""
    for _, encoded in shard.values():
        entity = encoded[3] if isinstance(encoded, tuple) and len(encoded) == 4 else None
        if isinstance(entity, Entity):
            meta, lines = raw_front_matter(entity)
            if meta.__class__ is dict:
                packed = PackedFrontMatter.of(meta, lines)
                set_raw_front_matter(entity, packed)


def decode_loaded(encoded: Encoded) -> LoadedFile:
    path, problems, ok, entity = encoded
    if not isinstance(path, str) or not (entity is None or isinstance(entity, (Contact, Org))):
        raise ValueError("not a loaded file")
    if entity is not None and not isinstance(entity.sections, (LazySections, list)):
        raise ValueError("not a file's sections")
    if entity is not None and entity.__class__ is LazyContact and not isinstance(packed_cold(entity), PackedCold):
        raise ValueError("not a contact's packed fields")
    if entity is not None:
        front, lines = raw_front_matter(entity)
        if not ((front.__class__ is dict and lines.__class__ is dict)
                or (front.__class__ is PackedFrontMatter and lines is front)):
            raise ValueError("not a file's front matter")
    return LoadedFile(path, [Problem(*p) for p in problems], bool(ok), entity)


# The orgs' parse shards, numbered after the contacts': a rebuild that reads the contacts
# from their index (hot-XX.bin) still reads every org whole, and 500 orgs spread over the
# contacts' shards made it read all of those.
ORG_SHARDS = 4


def _shard_of(rel: str) -> int:
    first = hashlib.blake2b(rel.encode(), digest_size=2).digest()[0]
    return SHARDS + first % ORG_SHARDS if rel.startswith("orgs/") else first % SHARDS


class HotShard:
    """What fills the IndexedContacts of one hot-XX.bin (model.fill_indexed): the parse
    cache that read it, and the sections file its contacts' sections are in, named by
    the token of its write (as a shard names it). Pickled with only that token."""

    __slots__ = ("token", "store", "sections_file")

    def __init__(self, token: str) -> None:
        self.token = token
        self.store: ParseCache | None = None
        self.sections_file: SectionsFile | None = None

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return HotShard, (self.token,)

    def full(self, rel: str, digest: str) -> Contact:
        """The whole contact of file rel at digest: from its parse shard, else from the
        file parsed again while its bytes are still the ones indexed."""
        store = self.store
        loaded = store.get(rel, digest) if store is not None else None
        entity = loaded.entity if loaded is not None else None
        if not isinstance(entity, Contact) or entity.__class__ is IndexedContact:
            entity = _parse_source_again((store.root, rel, digest) if store is not None else None)
        if not isinstance(entity, Contact):
            raise RuntimeError(f"{CACHE_DIR}/ holds a damaged entry for {rel}; delete {CACHE_DIR}/ and run again")
        return entity

    def sections_at(self, place: Any, rel: str, digest: str) -> LazySections | None:
        """A contact's sections at place (offset, length, CRC-32) in the sections file;
        None when that is not a place (the whole contact is read instead)."""
        if self.sections_file is None or self.store is None or not (
                len(place) == 3 and all(type(n) is int and n >= 0 for n in place)):
            return None
        sections = LazySections.at((self.sections_file, *place))
        sections._source = (self.store.root, rel, digest)
        return sections


class _ToIndex:
    """A shard's contact as its hot-XX.bin entry pickles it: an IndexedContact."""

    __slots__ = ("state",)

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state


def _reduce_to_index(wrapped: _ToIndex) -> Any:
    return new_indexed_contact, (), (None, wrapped.state)


def _hot_entries(shard: dict[str, tuple[str, Encoded]], places: dict[int, tuple[Any, ...]],
                 before: dict[str, Any]) -> tuple[HotShard, dict[str, Any]]:
    """A parse shard's index: (its HotShard, {rel: (digest, the file as loaded, its
    contact an IndexedContact)}) for every contact of the shard read without a problem
    (the few others are read from the shard); places: where its sections file has each
    file's sections (by id, from _write_shard_sections); before: the index as read, whose
    entries of the same digest give their fields again (a shard's contacts keep most of
    theirs packed: unpacking them took about 5 ms a shard)."""
    token = next(iter(places.values()))[0] if places else "0" * 2 * _TOKEN_BYTES
    source = HotShard(token)
    entries = {}
    for rel, (digest, encoded) in shard.items():
        contact = encoded[3] if isinstance(encoded, tuple) and len(encoded) == 4 else None
        if isinstance(contact, Contact) and not encoded[1]:
            place = places.get(id(contact.sections))
            where = place[1:] if place is not None else None
            old = before.get(rel)
            try:
                if (type(old) is tuple and len(old) == 2 and old[0] == digest and old[1].__class__ is LoadedFile
                        and old[1].entity.__class__ is IndexedContact):
                    state = indexed_state(old[1].entity, (source, digest), where)
                else:
                    state = indexed_state(contact, (source, digest), where)
            except Exception:  # packed fields that do not decode, of a file changed since: not indexed
                continue
            entries[rel] = (digest, LoadedFile(rel, [], bool(encoded[2]), _ToIndex(state)))  # type: ignore[arg-type]
    return source, entries


def _hot_pickler(sink: Any) -> pickle.Pickler:
    pickler = pickle.Pickler(sink, protocol=5)
    pickler.dispatch_table = {**copyreg.dispatch_table, _ToIndex: _reduce_to_index}  # type: ignore[misc]
    return pickler


# --- the parse cache ---------------------------------------------------------------------


# index.bin as this process last read or wrote it: (file stamp, fingerprint, index). A
# build opens the parse cache twice (the no-op test, then the load), and `crm serve` on
# every save: reading 10,000 stamps back took about 9 ms each time. Every entry is
# checked against its file's stamp before use, so even an outdated index is only slower.
_INDEX_READ: dict[Path, tuple[tuple[int, int, int], str, dict[str, Stamp]]] = {}


def _read_index(path: Path, fingerprint: str) -> dict[str, Stamp] | None:
    """index.bin's entries (a copy the caller may change), None when missing or untrusted."""
    stamp = file_stamp(path)  # before reading: a file replaced meanwhile is read again next time
    known = _INDEX_READ.get(path)
    if stamp is not None and known is not None and known[0] == stamp and known[1] == fingerprint:
        return dict(known[2])
    index = read_blob(path, "index", fingerprint)
    if not _is_index(index):
        return None
    if stamp is not None:
        _INDEX_READ[path] = (stamp, fingerprint, dict(index))
    return index  # type: ignore[no-any-return]


def _remember_index(path: Path, fingerprint: str, index: dict[str, Stamp]) -> None:
    stamp = file_stamp(path)
    if stamp is not None:
        _INDEX_READ[path] = (stamp, fingerprint, dict(index))
    else:
        _INDEX_READ.pop(path, None)


@dataclass
class ParseCache:
    """Per-file stamps and parsed results for one root; load with ParseCache.open."""

    root: Path
    fingerprint: str
    index: dict[str, Stamp] = field(default_factory=dict)
    _shards: dict[int, dict[str, tuple[str, Encoded]]] = field(default_factory=dict)
    _dirty_shards: set[int] = field(default_factory=set)
    _index_dirty: bool = False
    _hot: dict[str, Any] | None = None  # every hot-XX.bin's entries, once read
    # Sections made into objects as each shard is read (see open), not when first used.
    eager: bool = True

    @classmethod
    def open(cls, root: Path, lazy: bool = False) -> "ParseCache":
        """lazy: each file's sections stay bytes until read (LazySections), for a caller
        that reads few of them (a rebuild after an edit). Otherwise they are decoded as
        each shard is read: a caller that reads them all then frees each shard's bytes
        before the next shard comes, where decoding them later, in any order, left 80 MB
        of freed 8 KB blocks that small objects cannot reuse (peak memory +70 to 90 MB at
        10,000 contacts)."""
        fingerprint = program_fingerprint(PARSE_MODULES)
        cache = cls(root, fingerprint, eager=not lazy)
        index = _read_index(cache.folder / "index.bin", fingerprint)
        if index is not None:
            cache.index = index
        return cache

    @property
    def folder(self) -> Path:
        return cache_dir(self.root)

    def known_digest(self, file: fs.SourceFile) -> str | None:
        """The file's digest from its stamp alone, or None when it must be read."""
        stamp = self.index.get(file.rel)
        if stamp is None or stamp[1] is None or stamp[0] != file.size or stamp[1] != file.mtime_ns:
            return None
        return stamp[2]

    def get(self, rel: str, digest: str) -> LoadedFile | None:
        entry = self._shard(_shard_of(rel)).get(rel)
        if entry is None or entry[0] != digest:
            return None
        try:
            loaded = decode_loaded(entry[1])
        except Exception:  # a well-formed blob of the wrong shape: treat it as a miss
            return None
        entity = loaded.entity
        if entity is not None:
            sections, (front, _) = entity.sections, raw_front_matter(entity)
            if isinstance(sections, LazySections):
                sections._source = (self.root, rel, digest)
            if isinstance(front, PackedFrontMatter):
                front._source = (self.root, rel, digest)
            packed = packed_cold(entity)
            if packed is not None:
                packed._source = (self.root, rel, digest)
        return loaded

    def get_indexed(self, rel: str, digest: str) -> LoadedFile | None:
        """The contact file rel at digest as its shard's index has it (an IndexedContact,
        see model.INDEXED_FIELDS), or None (not indexed: get() it)."""
        hot = self._hot
        if hot is None:
            hot = self._hot = self._read_indexes()
        entry = hot.get(rel)
        # Each entry's shape checked as it is used (its source and sections when read: a
        # planted one gives an error or a whole contact read instead, never code).
        if type(entry) is not tuple or len(entry) != 2 or entry[0] != digest:
            return None
        loaded = entry[1]
        if loaded.__class__ is not LoadedFile:
            return None
        contact = loaded.entity
        if not (contact.__class__ is IndexedContact and loaded.path == rel and contact.path == rel
                and loaded.problems.__class__ is list and not loaded.problems
                and type(contact._source) is tuple and len(contact._source) == 2
                and contact._source[0].__class__ is HotShard):
            return None
        return loaded  # type: ignore[no-any-return]

    def forget_index(self) -> None:
        """Let go of the indexes read (their contacts hold this cache, to fill them)."""
        self._hot = None

    def _read_indexes(self) -> dict[str, Any]:
        """Every contact shard's index, in one map (a rebuild looks every contact up)."""
        found: dict[str, Any] = {}
        for number in range(SHARDS):
            found.update(self._read_hot(number))
        return found

    def _read_hot(self, number: int) -> dict[str, Any]:
        """hot-XX.bin's entries, {} when it is missing, damaged, of the wrong shape, or
        of another write than the shard's sections file."""
        loaded = read_blob(self._hot_path(number), "hot", self.fingerprint)
        if not (type(loaded) is tuple and len(loaded) == 2 and type(loaded[0]) is HotShard
                and type(loaded[1]) is dict and is_token(loaded[0].token)):
            return {}
        source, entries = loaded
        file = SectionsFile(self._sections_path(number), source.token)
        if entries and file.descriptor() is None:
            return {}
        source.store, source.sections_file = self, file
        return entries  # type: ignore[no-any-return]

    def put(self, file: fs.SourceFile, digest: str, encoded: Encoded, now_ns: int) -> None:
        racy = file.mtime_ns >= now_ns - RACY_NS
        stamp: Stamp = (file.size, None if racy else file.mtime_ns, digest)
        if self.index.get(file.rel) != stamp:
            self.index[file.rel] = stamp
            self._index_dirty = True
        sections = getattr(encoded[3], "sections", None)
        if isinstance(sections, LazySections) and sections._source is None:
            sections._source = (self.root, file.rel, digest)  # to parse again, as for a cached file
        number = _shard_of(file.rel)
        shard = self._shard(number)
        if shard.get(file.rel, ("",))[0] != digest:
            shard[file.rel] = (digest, encoded)
            self._dirty_shards.add(number)

    def remember(self, file: fs.SourceFile, digest: str, now_ns: int) -> None:
        """Record a fresh stamp for a file whose content was found unchanged."""
        racy = file.mtime_ns >= now_ns - RACY_NS
        stamp: Stamp = (file.size, None if racy else file.mtime_ns, digest)
        if self.index.get(file.rel) != stamp:
            self.index[file.rel] = stamp
            self._index_dirty = True

    def prune(self, present: set[str]) -> None:
        """Forget files that no longer exist."""
        for rel in [r for r in self.index if r not in present]:
            del self.index[rel]
            self._index_dirty = True
            number = _shard_of(rel)
            if self._shard(number).pop(rel, None) is not None:
                self._dirty_shards.add(number)

    def save(self) -> None:
        """Write what changed; a read-only or full disk only costs speed next time. A
        shard's sections file first, then the shard that names it (see SECTIONS_MAGIC)."""
        for number in sorted(self._dirty_shards):
            shard = self._shards[number]
            pack_front_matter(shard)
            places = _write_shard_sections(self._sections_path(number), shard)
            if places is not None and write_blob(self._shard_path(number), "parsed", self.fingerprint, shard,
                                                 _shard_pickler(places)) and number < SHARDS:
                # After the shard: an index of an older write names another sections file.
                before = self._hot if self._hot is not None else self._read_hot(number)
                write_blob(self._hot_path(number), "hot", self.fingerprint, _hot_entries(shard, places, before),
                           _hot_pickler)
        self._dirty_shards.clear()
        if self._index_dirty:
            if write_blob(self.folder / "index.bin", "index", self.fingerprint, self.index):
                _remember_index(self.folder / "index.bin", self.fingerprint, self.index)
            self._index_dirty = False

    def _shard_path(self, number: int) -> Path:
        return self.folder / f"parsed-{number:02x}.bin"

    def _sections_path(self, number: int) -> Path:
        return self.folder / f"sections-{number:02x}.bin"

    def _hot_path(self, number: int) -> Path:
        return self.folder / f"hot-{number:02x}.bin"

    def _shard(self, number: int) -> dict[str, tuple[str, Encoded]]:
        shard = self._shards.get(number)
        if shard is None:
            shard = self._read_shard(number)
            if self.eager:
                decode_sections(shard)
            self._shards[number] = shard
        return shard

    def _read_shard(self, number: int) -> dict[str, tuple[str, Encoded]]:
        """The shard's entries, {} when it or its sections file is missing, damaged, or
        of another write than the other; eager: with every file's sections' bytes read."""
        readers: list[_ShardUnpickler] = []

        def reader(file: Any) -> _ShardUnpickler:
            readers.append(_ShardUnpickler(file, self._sections_path(number)))
            return readers[-1]

        loaded = read_blob(self._shard_path(number), "parsed", self.fingerprint, reader)
        if not _is_shard(loaded):
            return {}
        files = list(readers[0].files.values()) if readers else []
        if len(files) > 1:
            return {}
        if files:
            if self.eager:
                found = files[0].read_all()
                if found is None:
                    return {}
                _fill_sections(loaded, found)
            elif files[0].descriptor() is None:
                return {}
        return loaded  # type: ignore[no-any-return]


def _is_index(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, tuple) and len(v) == 3 for k, v in value.items()
    )


def _fill_sections(shard: dict[str, tuple[str, Encoded]], found: bytes) -> None:
    """Give each entry's sections their bytes from its sections file (read whole),
    so that decoding them all costs one read, not one per file; bytes whose CRC-32 does
    not match are left to read_sections (which refuses them too)."""
    for _, encoded in shard.values():
        sections = getattr(encoded[3], "sections", None)
        if isinstance(sections, LazySections) and sections._at is not None and sections._data is None:
            _, offset, length, crc = sections._at
            data = found[offset:offset + length]
            if len(data) == length and zlib.crc32(data) == crc:
                sections._data = data


def decode_sections(shard: dict[str, tuple[str, Encoded]]) -> None:
    """Make every entry's sections into objects now; an entry whose sections do not
    decode is dropped (its file is then parsed again, like any miss). The front matter
    stays packed even so (PackedFrontMatter): a full build reads it in its forked
    checks and render workers, each for its own files, and `crm stats` not at all
    (decoding it here made `crm stats --json` at 10,000 peak 90 MB higher). A contact's
    packed fields (model.LazyContact) are unpacked too: here, once, rather than in each
    forked process that reads them all (the checks, the stats, the pages), which made
    a day's first build 0.5 s slower."""
    with gc_paused():
        for rel, (_, encoded) in list(shard.items()):
            entity = encoded[3] if isinstance(encoded, tuple) and len(encoded) == 4 else None
            sections = getattr(entity, "sections", None)
            if isinstance(sections, LazySections) and not sections.try_decode():
                del shard[rel]
            elif entity.__class__ is LazyContact:
                if packed_cold(entity).try_decode():  # type: ignore[union-attr]
                    unpack_cold(entity)
                else:
                    del shard[rel]


def _is_shard(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)
        and isinstance(v[1], tuple) and len(v[1]) == 4
        for k, v in value.items()
    )


def now_ns() -> int:
    """The clock, read only here: it decides which stamps are too fresh to trust."""
    return time.time_ns()


# --- the check cache ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedCheck:
    problems: list[Problem]
    contact_count: int
    org_count: int


def tree_key(digests: dict[str, str], config: bytes | None, discovery: list[Problem]) -> str:
    """One key for everything a check result depends on."""
    h = hashlib.blake2b(digest_size=20)
    h.update(program_fingerprint(CHECK_MODULES).encode())
    h.update(b"\0config\0" + (digest_bytes(config).encode() if config is not None else b"-"))
    for rel in sorted(digests):
        h.update(f"\0{rel}\0{digests[rel]}".encode())
    for problem in discovery:
        h.update(f"\0!{problem.format()}".encode())
    return h.hexdigest()


def stamped_digests(root: Path, files: list[fs.SourceFile]) -> dict[str, str] | None:
    """Every file's digest from the index alone; None unless all stamps match (then the
    caller must load, which also refreshes the stamps)."""
    cache = ParseCache.open(root)
    digests: dict[str, str] = {}
    for file in files:
        digest = cache.known_digest(file)
        if digest is None:
            return None
        digests[file.rel] = digest
    return digests


def load_check(root: Path, key: str) -> CachedCheck | None:
    stored = read_blob(cache_dir(root) / "check.bin", "check", program_fingerprint(CHECK_MODULES))
    try:
        stored_key, problems, contacts, orgs = stored  # type: ignore[misc]
        if stored_key != key:
            return None
        return CachedCheck([Problem(*p) for p in problems], int(contacts), int(orgs))
    except Exception:  # wrong shape or None: not a usable answer
        return None


def save_check(root: Path, key: str, result: CachedCheck) -> None:
    payload = (key, [(p.path, p.line, p.severity, p.code, p.message) for p in result.problems],
               result.contact_count, result.org_count)
    write_blob(cache_dir(root) / "check.bin", "check", program_fingerprint(CHECK_MODULES), payload)


def clear(root: Path) -> None:
    """Delete the cache files (only ours: *.bin in .crm-cache/)."""
    folder = cache_dir(root)
    if folder.is_dir() and not folder.is_symlink():
        for path in folder.glob("*.bin"):
            with contextlib.suppress(OSError):
                os.unlink(path)


# --- per-file check results -----------------------------------------------------------------


def _check_context(crm: CRM) -> str:
    """What every entity check may look at besides its own file: the settings (touch
    kinds). Which slugs exist matters to the reference checks only: see validate_cached."""
    h = hashlib.blake2b(digest_size=16)
    h.update(program_fingerprint(CHECK_MODULES).encode())
    h.update(repr(crm.config).encode())
    return h.hexdigest()


# Problems whose text depends on which slugs exist: an unknown reference, with its
# "did you mean" hint drawn from every slug.
SLUG_PROBLEM_CODES = frozenset({"unknown-org", "unknown-contact", "unknown-mention"})
# When more slugs than this appeared or went, every file is checked again.
_FEW_SLUG_CHANGES = 64


def references(entity: Entity) -> set[str]:
    """Every slug this entity's file names: the ones whose existence its checks (and its
    page) depend on."""
    found: set[str] = set()
    for value in (getattr(entity, "org", None), getattr(entity, "referred_by", None),
                  getattr(entity, "parent", None)):
        if isinstance(value, str) and value:
            found.add(value)
    for section in entity.sections:
        found.update(section.participants)
        found.update(section.mentions)
    if "@" in entity.summary:
        found.update(MENTION.findall(entity.summary))
    # One string object per slug across files: a full dependency map, which holds every
    # file's set (incremental.DependencyMap.of), then shares them (at 10,000 contacts its
    # sets took 56 MB instead of 75). deps.bin keeps them joined (incremental.JoinedSets).
    return set(map(sys.intern, found))


def _named_key(entity: Entity) -> str:
    """The slugs a file names as one string, "\0a\0b\0", so a few changed slugs are found
    with substring tests (a set per file would make the cache several times bigger)."""
    return "\0" + "\0".join(sorted(references(entity))) + "\0"


def _changed_slugs(old: Any, crm: CRM) -> set[str] | None:
    """Slugs that appeared or went since the stored results; None if that is unknown."""
    try:
        old_contacts, old_orgs = set(old[0]), set(old[1])
    except Exception:
        return None
    return (old_contacts ^ crm.contacts.keys()) | (old_orgs ^ crm.orgs.keys())


CheckEntry = tuple[str, tuple[tuple[Any, ...], ...], bool, str]  # digest, problems, names an unknown slug, named


@dataclass
class KeptChecks:
    """The entity checks' results as a long-running process (`crm serve`) last made them:
    checks.bin is read once and then this is used, and not written again on every save
    (reading and writing its 7 MB at 10,000 contacts cost about 40 ms a save). A later
    `crm check` or `crm build` starts from the older checks.bin and checks again the
    files whose bytes changed since."""

    stored: Any = None


def validate_cached(crm: CRM, digests: dict[str, str], kept: KeptChecks | None = None,
                    defer: Callable[[Callable[[], Any]], None] | None = None) -> list[Problem]:
    """validate.validate(crm), with each file's entity-check results kept in checks.bin and
    reused while its bytes and the settings are unchanged. A contact or org added or
    deleted re-checks only the files that name that slug or name an unknown one (their
    "did you mean" hint may change); so after one edit, addition or deletion only a few
    files are checked again. CRM-wide checks always run. kept: a long-running process's
    results, in place of checks.bin. defer: given the writing of checks.bin to do later
    (a forked process's jobs: incremental.deferred_writes), instead of doing it here."""
    from .validate import CRM_CHECKS, ENTITY_CHECKS

    fingerprint = program_fingerprint(CHECK_MODULES)
    path = cache_dir(crm.root) / "checks.bin"
    stored = kept.stored if kept is not None and kept.stored is not None else read_blob(path, "checks", fingerprint)
    context = _check_context(crm)
    slugs = (tuple(crm.contacts), tuple(crm.orgs))
    store: dict[str, CheckEntry] = {}
    changed_slugs: set[str] | None = set()
    if (isinstance(stored, tuple) and len(stored) == 3 and stored[0] == context
            and isinstance(stored[2], dict)):
        changed_slugs = _changed_slugs(stored[1], crm) if stored[1] != slugs else set()
        if changed_slugs is not None and len(changed_slugs) <= _FEW_SLUG_CHANGES:
            store = stored[2]
    problems: list[Problem] = []
    fresh: dict[str, CheckEntry] = {}
    changed = False
    for entity in crm.entities():
        digest = digests.get(entity.path)
        entry = store.get(entity.path)
        if (digest is not None and entry is not None and entry[0] == digest
                and (not changed_slugs or not (entry[2] or any(f"\0{slug}\0" in entry[3]
                                                               for slug in changed_slugs)))):
            found = [Problem(*p) for p in entry[1]]
            fresh[entity.path] = entry
        else:
            found = [p for check in ENTITY_CHECKS for p in check(entity, crm)]
            changed = True
            if digest is not None:
                fresh[entity.path] = (digest, tuple((p.path, p.line, p.severity, p.code, p.message) for p in found),
                                      any(p.code in SLUG_PROBLEM_CODES for p in found), _named_key(entity))
        problems.extend(found)
    if kept is not None:
        kept.stored = (context, slugs, fresh)
    elif changed or len(fresh) != len(store) or changed_slugs:
        def write() -> None:
            write_blob(path, "checks", fingerprint, (context, slugs, fresh))

        if defer is not None:
            defer(write)
        else:
            write()
    for crm_check in CRM_CHECKS:
        problems.extend(crm_check(crm))
    return problems

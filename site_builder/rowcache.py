"""Row-level reuse for the site-wide pages: a row's HTML is kept from one build to the next.

The directory, the due list and the tag pages list everyone, so every build that is not a
no-op renders them again; after one edit almost every row is the same as last time. A row
is rendered by a macro of the theme (rows.html's directory_row, due_item, tag_row) that a
page template calls through the `cached_rows(macro, rows)` template global: each row's HTML
is looked up by (which macro, the row's values) and only rows not seen in the last build
are rendered (`cached_rows_html` gives the same rows joined into one Markup). search-data.js
is made the same way from per-row JSON pieces, each keyed by its directory row's digest and
its contact's file digest (build._search_piece).

What a row's HTML may depend on, and where each is in the key:
- the row's values: its dict (without its Contact object, which the macro is not given),
  pickled without the memo: str, int, None, dates, lists and tuples of those are written
  out in full (a row that cannot be pickled is rendered every time); a row object is
  keyed once per build (its digest is kept by id while the row is held), however many
  pages show it;
- the macro: its name and where it is defined (template file and line);
- everything else the macro can see (the theme's files, the program, crm.yaml, today and
  the output folder): the build's site fingerprint, the key of the cache files. Any change
  there discards every row.
A macro given to cached_rows must therefore make its HTML from its argument alone (and the
filters, which know today); the built-in ones do, and docs/templates.md says so.

Layout: <root>/.crm-cache/rows-XX.bin, SHARDS files by the first byte of the row's digest,
each a guarded blob (cache.read_blob: kind, program key, length and digest checked, the
restricted unpickler) holding {key: HTML text}, a key being the 16-byte digest of the
row's values and 8 bytes of the digest of the macro's identity. A shard is rewritten only when
this build rendered a row of it or stopped using one (unused rows are dropped, so the
cache holds what the last build showed and no more; but when a page of rows was kept
without being rendered, because its signature was the last one, the rows it would have
looked up stay, until the next day's key discards them all). Anything that does not load
or has the wrong shape is discarded.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from markupsafe import Markup, escape

from . import cache as cache_mod

KIND = "rows"
SHARDS = 16
NAME = "rows"  # the files' names: rows-XX.bin (build.RowStore.lists keeps some rows apart)


def row_values(row: Any) -> Any:
    """What a row macro is given: the row without its Contact (the macro's HTML must be a
    function of the cached values, and a whole Contact is not one of them)."""
    if isinstance(row, dict) and "contact" in row:
        values = dict(row)  # a copy in C, then one key out: 6 times faster than a comprehension
        del values["contact"]
        return values
    return row


class _ValuePickler:
    """Pickles values for keys with one reused Pickler in fast mode (no memo): the bytes
    depend on the values only, not on which equal strings happen to be one object (with
    the memo a row's bytes changed when its strings were shared differently), and a
    reused fast Pickler costs about two thirds of pickle.dumps per small row. The bytes
    can be read back into the values, so two different rows never give the same bytes."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._pickler = pickle.Pickler(self._buffer, protocol=5)
        self._pickler.fast = True

    def dumps(self, values: Any) -> bytes | None:
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        try:
            self._pickler.dump(values)
        except Exception:  # something that cannot be pickled (or a cycle): such a row is not cached
            return None
        return buffer.getvalue()


_PICKLER = threading.local()


def value_bytes(values: Any) -> bytes | None:
    """The values' bytes for a key (see _ValuePickler), or None when they cannot be pickled."""
    pickler = getattr(_PICKLER, "pickler", None)
    if pickler is None:
        pickler = _PICKLER.pickler = _ValuePickler()
    return pickler.dumps(values)


def macro_identity(macro: Any) -> str | None:
    """The macro's name and where it is defined; None for anything that is not a Jinja
    macro we can place (its rows are then rendered every time)."""
    code = getattr(getattr(macro, "_func", None), "__code__", None)
    name = getattr(macro, "name", None)
    if code is None or not isinstance(name, str):
        return None
    return f"{name}@{code.co_filename}:{code.co_firstlineno}"


def values_digest(values: Any) -> bytes | None:
    """The 16-byte digest a row is keyed by (of row_values(row)); None when the values
    cannot be pickled."""
    data = value_bytes(values)
    return None if data is None else hashlib.blake2b(data, digest_size=16).digest()


class RowCache:
    """The rows of the last build (read from .crm-cache/) and those used by this one."""

    def __init__(self, folder: Path | None, key: str, stored: list[dict[bytes, str]] | None = None,
                 name: str = NAME) -> None:
        self.folder = folder
        self.key = key
        self.name = name  # of its files: <name>-XX.bin
        # The last build's rows not (yet) used by this one: a row found here moves to used,
        # and what is left was not shown.
        self.old: list[dict[bytes, str]] = stored if stored is not None else [{} for _ in range(SHARDS)]
        self.used: list[dict[bytes, str]] = [{} for _ in range(SHARDS)]
        self.rendered = [0] * SHARDS
        # id(row) -> (row, its HTML) per macro, for rows shown more than once in a build (a
        # contact on several tag pages is one shared dict); holding the row keeps its id unique.
        self._seen: dict[tuple[str, int], tuple[Any, str]] = {}
        # id(row) -> (row, the digest of its values): one row is keyed once per build even
        # when several things are made from it (its directory row and its search-data row).
        self._digests: dict[int, tuple[Any, bytes | None]] = {}
        self._hashers: dict[str, bytes] = {}  # macro name -> 8 bytes of its digest, for keys
        # Set when a page (or search-data.js) of these rows was kept without rendering it:
        # the rows it did not look up stay cached (else the next page to change would
        # render them all again). The cache's key has today in it, so such rows go at the
        # latest the next day.
        self.keep_unused = False

    @classmethod
    def load(cls, folder: Path, key: str, memory: RowMemory | None = None, name: str = NAME) -> RowCache:
        """The last build's rows (in folder/<name>-XX.bin); memory: a long-running
        process's, from which only the shards written since it last read them are read
        (each one copied, as a build takes rows out of what it loaded)."""
        if memory is None:
            return cls(folder, key, [_read_shard(folder, n, key, name) for n in range(SHARDS)], name)
        return cls(folder, key, [dict(shard) for shard in memory.read(folder, key, name)], name)

    def row_digest(self, row: Any) -> bytes | None:
        """The digest of what a macro is given of row (row_values: its values without its
        Contact), worked out once per row object and build; None when it cannot be pickled."""
        known = self._digests.get(id(row))
        if known is None:
            known = self._digests[id(row)] = (row, values_digest(row_values(row)))
        return known[1]

    def know_digests(self, known: dict[int, tuple[Any, bytes | None]]) -> None:
        """Rows whose digests the caller already has: id(row) -> (row, row_digest(row))."""
        self._digests.update(known)

    def html(self, name: str, values: Any, render: Callable[[], str], wrap: Callable[[str], str] = Markup) -> str:
        """The row's HTML (wrap(text): Markup, or str for text that is not HTML) from the
        last build, or render() when it was not there."""
        data = value_bytes(values)
        if data is None:
            return wrap(render())
        return wrap(self.text(name, hashlib.blake2b(data, digest_size=16).digest(), render))

    def text(self, name: str, digest: bytes, render: Callable[[], str]) -> str:
        """The text kept for (name, digest) (the digest of values: row_digest, or of several
        such digests), or render() when the last build did not have it. The key is the
        digest and 8 bytes of the name's own digest, not a hash of the two: no hashing per
        row shown."""
        tag = self._hashers.get(name)
        if tag is None:
            tag = self._hashers[name] = hashlib.blake2b(name.encode(), digest_size=8).digest()
        key = digest + tag
        shard = digest[0] % SHARDS
        used = self.used[shard]
        found = used.get(key)
        if found is None:
            found = self.old[shard].pop(key, None)
            if found is None:
                found = render()
                self.rendered[shard] += 1
            used[key] = found
        return found

    @property
    def misses(self) -> int:
        return sum(self.rendered)

    def save(self) -> None:
        """Write the shards this build changed (rendered into, or stopped using a row of;
        with keep_unused, only those rendered into, keeping the rows not looked up), as
        plain text (the cache's unpickler takes no Markup)."""
        if self.folder is None:
            return
        for n in range(SHARDS):
            if self.keep_unused:
                if self.rendered[n]:
                    rows = {digest: str(html) for digest, html in (*self.old[n].items(), *self.used[n].items())}
                    cache_mod.write_blob(_shard_path(self.folder, n, self.name), KIND, self.key, rows)
            elif self.rendered[n] or self.old[n]:
                rows = {digest: str(html) for digest, html in self.used[n].items()}
                cache_mod.write_blob(_shard_path(self.folder, n, self.name), KIND, self.key, rows)


    def release(self) -> None:
        """Let go of this build's rows. The Jinja environment that holds this cache (through
        the cached_rows global) is in reference cycles, so without this its 100,000 row
        objects would wait for a full collection of the cyclic GC (0.1 to 0.17 s at 10,000)
        instead of being freed at once."""
        self._seen.clear()
        self._digests.clear()
        self.used = [{} for _ in range(SHARDS)]
        self.old = [{} for _ in range(SHARDS)]


class RowMemory:
    """The row shards as a long-running process (`crm serve`) last read them, with the
    stamps their files had then: its site-wide pages are made in a forked process, which
    writes the few shards a save changes, so the next save reads those again (the stamp
    of a file replaced differs) and takes the others from here (about 40 ms at 10,000
    contacts, 37,000 rows, to read them all)."""

    def __init__(self) -> None:
        self._kept: list[tuple[str, tuple[int, int, int], dict[bytes, str]] | None] = [None] * SHARDS

    def read(self, folder: Path, key: str, name: str = NAME) -> list[dict[bytes, str]]:
        shards = []
        for n in range(SHARDS):
            path = _shard_path(folder, n, name)
            stamp = cache_mod.file_stamp(path)  # before reading: a file replaced meanwhile is read again next time
            kept = self._kept[n]
            if kept is not None and stamp is not None and kept[0] == f"{path}\n{key}" and kept[1] == stamp:
                shards.append(kept[2])
                continue
            shard = _read_shard(folder, n, key, name)
            self._kept[n] = (f"{path}\n{key}", stamp, shard) if stamp is not None else None
            shards.append(shard)
        return shards


def _shard_path(folder: Path, n: int, name: str = NAME) -> Path:
    return folder / f"{name}-{n:02x}.bin"


def _read_shard(folder: Path, n: int, key: str, name: str = NAME) -> dict[bytes, str]:
    stored = cache_mod.read_blob(_shard_path(folder, n, name), KIND, key)
    if not isinstance(stored, dict):
        return {}
    # (told in C loops: an entry at a time, 37,000 rows took about 6 ms of every rebuild)
    if stored and (set(map(type, stored)) != {bytes} or set(map(type, stored.values())) != {str}):
        return {}
    return stored


def cached_rows_global(cache: RowCache | None) -> Callable[[Any, Iterable[Any]], list[Markup]]:
    """The `cached_rows(macro, rows)` template global: each row's HTML (Markup), in order,
    from the cache where it has it; without a cache (or for a value that is not a Jinja
    macro) every row is rendered by calling macro(row)."""
    def cached_rows(macro: Any, rows: Iterable[Any]) -> list[Markup]:
        return [Markup(text) for text in rows_text(cache, macro, rows)]

    return cached_rows


def rows_text(cache: RowCache | None, macro: Any, rows: Iterable[Any]) -> list[str]:
    """Each row's HTML as text (what cached_rows gives, not yet wrapped in Markup)."""
    name = macro_identity(macro) if cache is not None else None
    if cache is None or name is None:
        return [macro(row_values(row)) for row in rows]
    out = []
    seen = cache._seen
    for row in rows:
        known = seen.get((name, id(row)))
        if known is None:
            known = seen[(name, id(row))] = (row, _row_text(cache, name, macro, row))
        out.append(known[1])
    return out


def _row_text(cache: RowCache, name: str, macro: Any, row: Any) -> str:
    digest = cache.row_digest(row)
    if digest is None:  # a row that cannot be pickled is rendered every time
        return macro(row_values(row))  # type: ignore[no-any-return]
    return cache.text(name, digest, lambda: macro(row_values(row)))


def cached_rows_html_global(cache: RowCache | None) -> Callable[..., Markup]:
    """The `cached_rows_html(macro, rows, before="", after="")` template global: the rows
    of cached_rows as one Markup, each row between before and after (escaped: they are
    meant for whitespace). The same text as a {% for %} loop over cached_rows that writes
    before, the row and after, without a Jinja iteration, escape() call and Markup object
    per row (at 10,000 contacts a third of the directory's and tag pages' rendering)."""
    def cached_rows_html(macro: Any, rows: Iterable[Any], before: str = "", after: str = "") -> Markup:
        texts = rows_text(cache, macro, rows)
        if not texts:
            return Markup("")
        head, tail = str(escape(before)), str(escape(after))
        return Markup(head + (tail + head).join(texts) + tail)

    return cached_rows_html

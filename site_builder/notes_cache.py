"""Each file's rendered Markdown (its summary and its notes' bodies), kept between builds.

Why: a build on another day, after a template or crm.yaml change, or into a deleted
output folder renders every contact and org page again, and turning 200,000 notes'
Markdown into HTML was the largest single share of that work (about 3 s of CPU at
10,000 contacts; 0.4 s from this cache). Their HTML depends on nothing that changes
with the day.

What the HTML of a file depends on, and so what an entry is checked against on use:
- the file's bytes: its content digest (loader's Loaded.digests);
- the program: a fingerprint of the modules that parse and render it and of the cmark
  library, and the pages' base ("../"): all in the cache files' header, so a change of
  any of them discards every entry;
- where its @mentions lead: for every slug the linking asked about, the href it got
  (a contact's page, an org's, or no link). A mentioned contact created, deleted or
  turned into an org gives another href, and the entry is rendered again.
#topics' links depend only on the topic's text and the base.

Each page's backlinks ("Mentioned elsewhere", fragments.backlinks_html) are kept here too,
in the shard of the page's own file: their HTML is made from the files that mention the
page (their names, notes' dates, kinds and titles, and where their pages are), so an
entry holds a digest of those files' paths and content digests, in order, with the
page's name and base, and is used only while that digest is the same (backlinks_key).

Layout: .crm-cache/notes-XX.bin, SHARDS shards by source path (as cache.py shards the
parse cache), each {rel path: (digest, LZ4 block of the file's HTML)}: about a third
of the HTML's size (49 MB at 10,000 contacts x 20 notes, from 150 MB). LZ4 rather than
zlib: at 10,000 contacts it compresses the 150 MB in 0.23 s of CPU and expands it in
0.14 s, where zlib's fastest level took 1.15 s and 0.62 s (a cold build compresses all
of it, a build on another day expands all of it); zlib made the files 35 MB. A build
that renders many pages in forked workers gives each worker the pages of whole shards
(chunks), so a worker reads only its shards and writes back those that changed itself: the build's
process never holds the cache, and no two workers write the same shard. A build that
renders a few pages of many (a rebuild after an edit) does without it (for_pages).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import lz4.block
from markupsafe import Markup

from . import cache as cache_mod
from . import cmark_free
from .model import CRM, Entity
from .pages import Links, file_markdown

KIND = "notes"
# 256 shards: about 40 files each at 10,000 contacts, so the tasks of render workers
# (whole shards, up to 250 pages) stay as they were; at 50,000 one shard is one task.
SHARDS = 256
# The modules whose code decides a file's sections and their HTML.
NOTES_MODULES = ("notes_cache.py", "pages.py", "render.py", "cmark_free.py", "parse.py", "yamlsafe.py",
                 "model.py", "cache.py", "fragments.py")
# Between the parts of an entry's text: [asked mentions, summary, note 1, note 2, ...].
# cmark copies control characters through, so a file whose HTML holds one is not kept.
_PART = "\x1e"
_FIELD = "\x1f"  # between a mention's slug and its href, and between mentions

Entry = tuple[str, bytes]  # content digest, _pack of the parts joined by _PART
# A page's backlinks ("Mentioned elsewhere") are kept in its file's shard, under this
# prefix and the file's path (no path has a NUL), as (backlinks_key, _pack of the HTML).
_BACKLINKS = "\x00backlinks\x00"


def fingerprint(base: str) -> str:
    """The program, the cmark library and the base: every entry is for exactly these."""
    library = Path(cmark_free._cmark.__file__)
    try:
        stat = library.stat()
        stamp = f"{stat.st_size}/{stat.st_mtime_ns}"
    except OSError:
        stamp = "?"
    version = cmark_free._ffi.string(cmark_free._lib.cmark_version_string()).decode("ascii", "replace")
    return f"{cache_mod.program_fingerprint(NOTES_MODULES)}/{version}/{stamp}/{base}"


# A build that renders less than this share of the pages (a rebuild after an edit)
# renders their Markdown and neither reads nor writes the cache: with its pages spread
# over most shards, reading them would cost more than it saves (per file, rendering
# its Markdown costs 0.3 ms at 20 notes, a cached copy 0.04 ms plus its share of
# reading every shard it is in).
MIN_SHARE = 8  # one page in eight


def for_pages(crm: CRM, digests: dict[str, str], page_paths: list[str]) -> NotesCache | None:
    """A notes cache for a build that renders these pages, or None when it would cost
    more than it saves (fewer than one page in MIN_SHARE of the CRM's)."""
    if not page_paths or len(page_paths) * MIN_SHARE < len(crm.contacts) + len(crm.orgs):
        return None
    return NotesCache(crm, digests)


def shard_of(rel: str) -> int:
    return int.from_bytes(hashlib.blake2b(rel.encode(), digest_size=2).digest(), "big") % SHARDS


def source_of(crm: CRM, page: str) -> str | None:
    """"contacts/<slug>.html" -> its file's rel path ("contacts/<slug>.md"), if it exists."""
    folder, _, name = page.partition("/")
    entity = (crm.contacts if folder == "contacts" else crm.orgs).get(name[: -len(".html")])
    return entity.path if entity is not None else None


class RecordingLinks(Links):
    """Links that remember what every @mention they were asked about resolved to.
    hrefs and topics: what mentions and topics lead to, shared by every page of one
    build and base (so each slug is looked up once per process, not once per page)."""

    def __init__(self, crm: CRM, base: str, hrefs: dict[str, str] | None = None,
                 topics: dict[str, str] | None = None) -> None:
        super().__init__(crm, base)
        self.asked: dict[str, str] = {}
        self._hrefs = hrefs if hrefs is not None else {}
        if topics is not None:
            self._topics = topics

    def mention(self, slug: str) -> str | None:
        href = self._hrefs.get(slug)
        if href is None:
            href = self._hrefs[slug] = super().mention(slug) or ""
        self.asked[slug] = href
        return href or None


class NotesCache:
    """The rendered Markdown of the files of one build, for pages whose base is base.
    Whoever renders pages (the build's process or a worker) loads their shards with
    load_for_pages(), asks rendered() for every page, then saves take_fresh()."""

    def __init__(self, crm: CRM, digests: dict[str, str], base: str = "../") -> None:
        self.crm = crm
        self.folder = cache_mod.cache_dir(crm.root)
        self.digests = digests
        self.base = base
        self.fingerprint = fingerprint(base)
        self.shards: dict[int, dict[str, Entry]] = {}
        self.fresh: dict[str, Entry] = {}  # rendered by this process since take_fresh()
        self._hrefs: dict[str, str] = {}  # slug -> what a mention of it links to now ("": no link)
        self._topics: dict[str, str] = {}  # topic -> its link (Links.topic)

    # --- reading ----------------------------------------------------------------------------

    def load(self, rel_paths: Iterable[str]) -> None:
        """Read the shards that hold these source files' entries."""
        for number in sorted({shard_of(rel) for rel in rel_paths}):
            self._shard(number)

    def load_for_pages(self, page_paths: list[str]) -> None:
        """load() for contact and org pages ("contacts/<slug>.html")."""
        self.load(rel for rel in (source_of(self.crm, page) for page in page_paths) if rel is not None)

    def chunks(self, page_paths: list[str], size: int) -> list[list[str]]:
        """The pages as tasks for render workers: each task the pages of whole shards, so
        that no two workers read or write the same shard; shards are put together up
        to size pages (one shard is a task even when it has more)."""
        by_shard: dict[int, list[str]] = defaultdict(list)
        for page in page_paths:
            rel = source_of(self.crm, page)
            by_shard[shard_of(rel) if rel is not None else -1].append(page)
        tasks: list[list[str]] = []
        current: list[str] = []
        for number in sorted(by_shard):
            pages = by_shard[number]
            if current and len(current) + len(pages) > size:
                tasks.append(current)
                current = []
            current = [*current, *pages]
        if current:
            tasks.append(current)
        return tasks

    def _shard(self, number: int) -> dict[str, Entry]:
        shard = self.shards.get(number)
        if shard is None:
            stored = cache_mod.read_blob(self._path(number), KIND, self.fingerprint)
            shard = stored if _is_shard(stored) else {}
            self.shards[number] = shard
        return shard

    def _path(self, number: int) -> Path:
        return self.folder / f"notes-{number:02x}.bin"  # 00 to ff

    # --- using ------------------------------------------------------------------------------

    def rendered(self, entity: Entity, links: Links) -> tuple[Markup, list[Markup]]:
        """file_markdown(entity, links): from the cache when the entry is for these bytes
        and every mention in it still leads where it did; else rendered, and kept."""
        digest = self.digests.get(entity.path)
        if digest is None or links.base != self.base or links.crm is not self.crm:
            return file_markdown(entity, links)
        shard = self.shards.get(shard_of(entity.path))  # only loaded shards: never read here
        entry = shard.get(entity.path) if shard is not None else None
        if entry is not None and entry[0] == digest:
            found = self._decode(entry[1], len(entity.sections), links)
            if found is not None:
                return found
        recording = RecordingLinks(links.crm, links.base, self._hrefs, self._topics)
        summary, notes = file_markdown(entity, recording)
        encoded = _encode(recording.asked, summary, notes)
        if encoded is not None:
            self.fresh[entity.path] = (digest, encoded)
        return summary, notes

    def _decode(self, blob: bytes, sections: int, links: Links) -> tuple[Markup, list[Markup]] | None:
        try:
            parts = _unpack(blob).split(_PART)
        except ValueError:
            return None
        if len(parts) != sections + 2:
            return None
        asked = parts[0]
        if asked:
            fields = asked.split(_FIELD)
            if len(fields) % 2:
                return None
            hrefs = self._hrefs
            for n in range(0, len(fields), 2):
                slug = fields[n]
                now = hrefs.get(slug)
                if now is None:
                    now = hrefs[slug] = links.mention(slug) or ""
                if now != fields[n + 1]:
                    return None
        return Markup(parts[1]), [Markup(part) for part in parts[2:]]

    # --- pages' backlinks --------------------------------------------------------------------

    def backlinks_key(self, namers: Iterable[Entity], name: str, base: str) -> str | None:
        """What a page's backlinks (fragments.backlinks_html) are made of: the files that
        mention it, in order (pages.mentioning_files), each by its path and content digest
        (which decide which of its notes mention the page, and everything shown of them);
        the page's name (shown when there are none) and base. None when a file's digest
        is not known."""
        digests = self.digests
        parts = [base, name]
        add = parts.append
        for entity in namers:
            path = entity.path
            digest = digests.get(path)
            if digest is None:
                return None
            add(path)
            add(digest)
        text = _FIELD.join(parts)
        if text.count(_FIELD) != len(parts) - 1:  # a separator inside a name or path
            return None
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()

    def backlinks(self, entity: Entity, key: str) -> Markup | None:
        """The page's backlinks HTML kept under key (backlinks_key), if its shard is loaded."""
        shard = self.shards.get(shard_of(entity.path))
        entry = shard.get(_BACKLINKS + entity.path) if shard is not None else None
        if entry is None or entry[0] != key:
            return None
        try:
            return Markup(_unpack(entry[1]))
        except ValueError:
            return None

    def keep_backlinks(self, entity: Entity, key: str, html: str) -> None:
        self.fresh[_BACKLINKS + entity.path] = (key, _pack(str(html)))

    def take_fresh(self) -> dict[str, Entry]:
        """What this process rendered since the last call, for save()."""
        fresh, self.fresh = self.fresh, {}
        return fresh

    # --- writing ----------------------------------------------------------------------------

    def save(self, fresh: dict[str, Entry]) -> None:
        """Put fresh entries in their shards and write the shards that changed; entries
        of files that are gone are dropped from the shards written. The shards are let
        go afterwards: a build's memory peaks after its pages are rendered, and at
        10,000 contacts they are 21 MB."""
        changed: set[int] = set()
        for key, entry in fresh.items():
            number = shard_of(_source(key))
            shard = self._shard(number)
            if shard.get(key) != entry:
                shard[key] = entry
                changed.add(number)
        for number in sorted(changed):
            shard = self.shards[number]
            for key in [k for k in shard if _source(k) not in self.digests]:
                del shard[key]
            cache_mod.write_blob(self._path(number), KIND, self.fingerprint, shard)
        self.shards.clear()


def _source(key: str) -> str:
    """The source file an entry is about: its key, or the key of its page's backlinks."""
    return key[len(_BACKLINKS):] if key.startswith(_BACKLINKS) else key


def _encode(asked: dict[str, str], summary: str, notes: list[Markup]) -> bytes | None:
    mentions = _FIELD.join(f"{slug}{_FIELD}{href}" for slug, href in asked.items())
    parts = [mentions, summary, *notes]
    if any(_PART in part for part in parts) or any(_FIELD in slug + href for slug, href in asked.items()):
        return None
    return _pack(_PART.join(parts))


def _pack(text: str) -> bytes:
    return lz4.block.compress(text.encode("utf-8"), store_size=True)  # type: ignore[no-any-return]


def _unpack(blob: bytes) -> str:
    """The text _pack packed; ValueError when blob is not such a packing (the cache
    files are checked whole before use, so this is a foreign or hand-made entry)."""
    try:
        return lz4.block.decompress(blob).decode("utf-8")  # type: ignore[no-any-return]
    except (lz4.block.LZ4BlockError, MemoryError) as error:  # MemoryError: a huge size claimed
        raise ValueError(str(error)) from error


def _is_shard(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str)
        and isinstance(v[1], bytes) for k, v in value.items())


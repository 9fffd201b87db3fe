"""Stats after a few files changed, without a pass over every section again.

Every rebuild needs the stats, and at 10,000 contacts a full computation
(stats.compute) takes about 1.2 s, most of it the pass over 200,000 sections and the
per-contact figures. After one edit nearly all of that comes out the same. This module
keeps what the last computation used (StatsMemory: in the process for `crm serve` and
`crm watch`, in .crm-cache/stats.bin between `crm build` runs) and, when only contact
files changed, works out again just what they can change:

- a contact's figures come from its own file (its money, cadence, birthday, ...), from
  the sections of other files that name it in a heading (touches, plans, topics) and
  from the contacts it referred; so a changed file changes the figures of its own
  contact, of everyone its headings name (before and after the change) and of its
  referrer (before and after);
- an org's figures come from the touches, money, roles and deals of its whole group
  (itself, the orgs below it and all their people): a changed contact changes the orgs
  above its org (before and after), and so does every contact whose touches changed;
- what ranks everyone (RFM) and the summary are cheap and made again in full.

Those figures are computed by the same functions as a full computation, from an index
of just the sections that can matter to them (stats_touches.build_index over a few
files); every other contact's and org's figures are the last ones, but for each org's
share of all revenue when the total moved. Anything else - an org file changed,
another day, another crm.yaml, or many files at once - is a full computation.
tests/test_stats_incremental.py checks the result against a full computation after
random edits, additions and deletions.
"""

from __future__ import annotations

import gc
import pickle
from array import array
import zlib
from collections.abc import Iterable, Iterator, Mapping
from hashlib import blake2b
from operator import itemgetter
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, TypeVar

from .cache import all_of as _all_of
from .model import CRM, Config, Contact, Entity, slug_of
from .parse import Section
from .stats_money import Money
from .stats import (_NONE, SUMMARY_FIELDS, Facts, Json, SectionIndex, Stats, _Context, _Money, _members, _referrals,
                    _total_revenue, assign_rfm, attention_counts, compute_in_context, contact_stats, context_of,
                    facts_of, freeze_survivors, money_of, org_children, org_group, org_stats, rfm_scores,
                    share_of_revenue, summary_stats)
from .stats_money import Purchase
from .stats_due import DUE_FIELDS
from .stats_groups import (ABSENT, GroupTouches, KeptParts, Membership, add_touches, chains_of, counted,
                           decode_file_touches, decode_group_touches, encode, file_touches, listed, moved, own_of,
                           TouchesOfFiles)
from .stats_touches import org_chain

# Above this many changed files, a full computation is about as cheap and far simpler.
MAX_CHANGED_FILES = 64

# What the stats take from a file besides its own figures: (its org, its referrer, the
# slugs its section headings name). Kept for every file, so that after a change the
# figures the file's old version touched can be found without the old version.
Footprint = tuple[str | None, str | None, tuple[str, ...]]

V = TypeVar("V")

STATS_KIND = "stats"
STATS_NAME = "stats"  # the parts: stats-XX.bin (cache.write_sharded)
STATS_FILE = f"{STATS_NAME}.bin"  # the head: each part's generation, today's key, the summary, the total
# The per-file and per-slug figures in this many parts, so that after an edit only the
# parts holding what changed are written again (one file of 15 MB at 10,000 contacts
# took 0.2 s to write, in a forked process beside the build).
STATS_PARTS = 64


# What is kept of each packed entry beside it: what the due list and the tag pages read,
# and what the summary and the RFM ranks read (an addition or a deletion ranks everyone).
# The due fields come first: a packed entry's due fields are a prefix of its kept ones.
KEPT_FIELDS = (*DUE_FIELDS, *(name for name in SUMMARY_FIELDS if name not in DUE_FIELDS))
_LAST_TOUCH = KEPT_FIELDS.index("last_touch")
Packed = tuple[bytes, tuple[object, ...]]  # an entry's pickle, and its KEPT_FIELDS
# Where a stored entry's pickle is: (its part, offset, length, CRC-32) in that part's
# figures file (figures-XX.bin, FIGURES_NAME), which is read only for the entries
# read (16 of the 23 MB of the stats' memory at 10,000 contacts).
Place = tuple[int, int, int, int]
StoredPacked = tuple["bytes | Place", tuple[object, ...]]
FIGURES_NAME = "figures"


_kept_row = itemgetter(*KEPT_FIELDS)


def pack_entry(entry: Json) -> Packed:
    try:
        row = _kept_row(entry)  # in C: every entry contact_stats makes has them all
    except KeyError:
        row = tuple(entry.get(name) for name in KEPT_FIELDS)
    return pickle.dumps(entry, protocol=5), row


class PackedFigures(Mapping[str, Json]):
    """The contacts' figures as stats.bin keeps them: each entry the bytes of its pickle,
    or their place in its part's figures file (read then), unpacked (by the cache's
    restricted unpickler) when first read. A build after an edit
    reads the figures of the few contacts whose pages it renders or whose rows changed;
    unpickling all 10,000 entries (56 figures each) took about 170 ms. What the due list,
    the tag pages, the summary and the RFM ranks read of everyone is kept beside each
    entry (kept_fields)."""

    def __init__(self, packed: dict[str, StoredPacked | None], opened: dict[str, Json] | None = None,
                 files: list[Any] | None = None) -> None:
        self._packed = packed  # slug -> packed entry, in the CRM's order; None: only opened
        self._opened: dict[str, Json] = opened if opened is not None else {}
        self._files = files if files is not None else []  # each part's figures file (cache.SectionsFile)
        self._positions: dict[str, int] | None = None  # slug -> its place in the order (column)
        self._holes: list[str] | None = None  # the slugs with no packed entry (column)

    def __getitem__(self, slug: str) -> Json:
        found = self._opened.get(slug)
        if found is None:
            packed = self._packed[slug]
            if packed is None:
                raise KeyError(slug)
            found = _unpack(self._bytes(packed[0]))
            self._opened[slug] = found
        return found

    def _bytes(self, held: bytes | Place) -> bytes:
        """An entry's pickle: held, or read from its place in its part's figures file."""
        if held.__class__ is bytes:
            return held  # type: ignore[return-value]
        try:
            part, offset, length, crc = held  # type: ignore[misc]
            data = self._files[part].read(offset, length)
        except (TypeError, ValueError, IndexError, AttributeError):
            data = None
        if data is None or zlib.crc32(data) != crc:
            raise ValueError("a contact's figures in .crm-cache/figures-XX.bin do not read back: "
                             "delete the .crm-cache folder and build again")
        return data

    def hold(self, slug: str, packed: Packed) -> None:
        """Hold an entry's pickle itself, as written (see write_memory)."""
        if self._packed.get(slug) is not None:
            self._packed[slug] = packed

    def __reduce__(self) -> Any:
        # Pickled (never by the build itself), every entry's pickle goes with it.
        return PackedFigures, ({slug: (None if packed is None else (self._bytes(packed[0]), packed[1]))
                                for slug, packed in self._packed.items()}, self._opened)

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __contains__(self, slug: object) -> bool:
        return slug in self._packed

    def kept_fields(self, slug: str, names: tuple[str, ...] = KEPT_FIELDS) -> Json:
        """The entry's KEPT_FIELDS, or the first of them (names: DUE_FIELDS), or all of
        it when it is open, without unpacking it."""
        kept = self._kept(slug)
        return kept if isinstance(kept, dict) else dict(zip(names, kept))

    def due_fields(self, slug: str) -> Json:
        """What the due list reads (one dict per contact: the fewer keys, the cheaper)."""
        return self.kept_fields(slug, DUE_FIELDS)

    def kept_values(self, slug: str) -> tuple[object, ...] | None:
        """The values kept beside a packed entry (KEPT_FIELDS, DUE_FIELDS first), or None
        when the entry is open (read it as a dict then)."""
        if slug in self._opened:
            return None
        packed = self._packed[slug]
        return packed[1] if packed is not None else None

    def column(self, name: str) -> list[object]:
        """Every entry's value of one of KEPT_FIELDS, in order, without unpacking any."""
        at = KEPT_FIELDS.index(name)
        # One comprehension over the packed entries, then the opened ones put in their
        # places (after an addition a few hundred of 10,000): a look-up per entry in a
        # Python loop took ten times as long.
        values = [None if packed is None else packed[1][at] for packed in self._packed.values()]
        if self._opened:
            if self._positions is None:
                self._positions = {slug: i for i, slug in enumerate(self._packed)}
            for slug, entry in self._opened.items():
                values[self._positions[slug]] = entry[name]
        if self._holes is None:  # the entries only opened (made again), found once
            self._holes = [slug for slug, packed in self._packed.items() if packed is None]
        for slug in self._holes:
            if slug not in self._opened:  # neither packed nor opened: no value to give
                raise KeyError(slug)
        return values

    def last_touch(self, slug: str) -> Any:
        kept = self._kept(slug)
        return kept.get("last_touch") if isinstance(kept, dict) else kept[_LAST_TOUCH]

    def _kept(self, slug: str) -> Json | tuple[object, ...]:
        """The open entry, or the values kept beside the packed one (KEPT_FIELDS)."""
        found = self._opened.get(slug)
        if found is not None:
            return found
        packed = self._packed[slug]
        if packed is None:
            raise KeyError(slug)
        return packed[1]

    def packed(self, slug: str) -> Packed:
        """The entry as stats.bin keeps it: packed again when open (a computation may have
        changed it since)."""
        found = self._opened.get(slug)
        if found is not None:
            return pack_entry(found)
        held, kept = self._packed[slug]  # type: ignore[misc]
        return self._bytes(held), kept

    def with_entries(self, fresh: dict[str, Json], order: Iterable[str]) -> PackedFigures:
        """These figures with fresh entries in place of (or beside) theirs, in order: the
        others stay packed, or as opened."""
        packed: dict[str, Packed | None] = {}
        opened: dict[str, Json] = {}
        for slug in order:
            entry = fresh.get(slug)
            if entry is not None:
                packed[slug] = None
                opened[slug] = entry
            else:
                packed[slug] = self._packed[slug]
                if slug in self._opened:
                    opened[slug] = self._opened[slug]
        return PackedFigures(packed, opened, self._files)


class KeptFields(Mapping[str, Json]):
    """PackedFigures read for their KEPT_FIELDS only (summary_stats, rfm_scores): those
    read them by column (stats.column: no dict per contact); an entry read by slug is
    made once, from its kept fields, never unpacked. Read only."""

    def __init__(self, figures: PackedFigures) -> None:
        self._figures = figures
        self._made: dict[str, Json] = {}

    def __getitem__(self, slug: str) -> Json:
        found = self._made.get(slug)
        if found is None:
            found = self._made[slug] = self._figures.kept_fields(slug)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._figures)

    def __len__(self) -> int:
        return len(self._figures)

    def column(self, name: str) -> list[object]:
        """Every entry's value of one of KEPT_FIELDS, in order (stats.column)."""
        return self._figures.column(name)


def _ranked_again(ctx: _Context, figures: PackedFigures, fresh: dict[str, Json],
                  changed: set[str]) -> PackedFigures:
    """figures (fresh's entries among them) with every customer ranked again (what
    assign_rfm does): an entry whose scores move is copied with the new ones (and its
    slug added to changed); the others stay as they are, packed."""
    scores = rfm_scores(KeptFields(figures), ctx)
    old = figures.column("rfm")
    for slug, was in zip(figures, old):
        new = scores.get(slug)
        entry = fresh.get(slug)
        if entry is not None:
            if new is not None:
                entry["rfm"] = new
        elif new is not None and was != new:
            fresh[slug] = {**figures[slug], "rfm": new}
            changed.add(slug)
    return figures.with_entries(fresh, figures)


def _unpack(data: bytes) -> Json:
    from . import cache

    found = cache._decode_kept(data)
    if type(found) is not dict:
        raise ValueError("a contact's figures in .crm-cache/figures-XX.bin do not read back: "
                         "delete the .crm-cache folder and build again")
    return found  # type: ignore[no-any-return]


@dataclass
class StatsMemory:
    """What the last computation was made from. `crm serve` keeps one between saves;
    `crm build` reads one from and writes it to .crm-cache/stats.bin (read/write)."""

    key: str = ""  # today and crm.yaml's settings: any change means a full computation
    digests: dict[str, str] = field(default_factory=dict)  # path -> content digest, of every contact and org
    stats: Stats | None = None
    days: dict[str, list[int]] = field(default_factory=dict)  # path -> its touch days (SectionIndex.all_days)
    footprints: dict[str, Footprint] = field(default_factory=dict)  # path -> Footprint
    total: Money = field(default_factory=dict)  # all revenue (each org's share is of it)
    # path -> summary_inputs(contact), of contacts: what the CRM-wide figures read from the
    # file besides its sections. May lack entries (filled from `entities` when needed).
    inputs: dict[str, str] = field(default_factory=dict)
    # path -> heading_digests(file): which of the slugs its headings name had a section
    # change, for a process without the file's old version. May lack entries, as inputs.
    headings: dict[str, bytes] = field(default_factory=dict)
    # Only in a long-running process, never stored: the files' objects (for which of a
    # changed file's sections changed) and their money facts.
    entities: dict[str, Entity] = field(default_factory=dict)
    money: dict[str, _Money] = field(default_factory=dict)
    facts: dict[str, Facts] = field(default_factory=dict)  # path -> Facts, as money
    # path -> stats_groups.FileTouches (may lack entries: made from `entities` when needed)
    # and org slug -> GroupTouches (every org's): an org group's touches are moved by what
    # the changed files move, not indexed again over the whole group. None: not known.
    file_touches: KeptParts | None = None
    group_touches: KeptParts | None = None
    last: str = ""  # "full" or "incremental": how the last result was made (for tests and timing)
    # With last == "incremental": whether the RFM ranks and the summary were kept and
    # adjusted (every changed file's summary_inputs the same) rather than made again.
    kept_summary: bool = False
    # slug -> cache.stats_sign(stats.contacts[slug]) (and of orgs), always of the current
    # stats or empty: a computation without `signed` empties them.
    contact_signs: dict[str, bytes] = field(default_factory=dict)
    org_signs: dict[str, bytes] = field(default_factory=dict)
    # Which entries the last incremental computation may have changed (contacts, orgs);
    # None after a full one: any of them.
    changed: tuple[set[str], set[str]] | None = None
    # The files whose digest the last computation found changed (None after a full one),
    # and how many computations there were since the memory was read or written: with
    # one incremental computation since, write_memory knows what changed without
    # comparing every file's entries with what was read.
    changed_files: set[str] | None = None
    computations: int = 0
    # What .crm-cache holds, when this memory was read from or written to it: the parts'
    # generations and the per-file maps as stored there (write_memory writes only the
    # parts that differ from them).
    stored: StoredMemory | None = None


@dataclass
class StoredMemory:
    generations: tuple[bytes, ...]
    digests: dict[str, str]
    inputs: dict[str, str]
    headings: dict[str, bytes]
    # Whether the parts hold every entry's sign: a computation without signs (`crm due`,
    # `crm stats`) writes the parts it changed without them, and signs read back
    # incomplete are not used (every entry is unpacked and signed again).
    signs: bool = False
    # Per part, three blobs (FILE_FACTS, FILE_TOUCHES, GROUP_TOUCHES: its files' money and
    # Facts, encode_file_facts; its files' touches and its orgs' group touches,
    # stats_groups), each the bytes, their place in the part's figures file (read when
    # wanted: most builds read none) or None (the part holds none).
    blobs: tuple[tuple[Any, ...], ...] = ()
    files: list[Any] = field(default_factory=list)  # each part's figures file (cache.SectionsFile)
    # Each part's keys (its files' paths, its contacts' and orgs' slugs), as stored.
    part_keys: tuple[set[str], ...] = ()

    def has_blobs(self) -> bool:
        return len(self.blobs) == len(_BLOBS) and all(len(kind) == STATS_PARTS for kind in self.blobs)

    def blob(self, which: int, number: int) -> bytes | None:
        """One part's blob (which: FILE_FACTS, FILE_TOUCHES or GROUP_TOUCHES); ValueError
        when it does not read back."""
        held = self.blobs[which][number]
        if held is None or held.__class__ is bytes:
            return held  # type: ignore[no-any-return]
        _, offset, length, crc = held
        data = self.files[number].read(offset, length) if number < len(self.files) else None
        if data is None or zlib.crc32(data) != crc:
            raise ValueError("a part of .crm-cache/figures-XX.bin does not read back")
        return data  # type: ignore[no-any-return]


def memory_key(crm: CRM, today: date) -> str:
    return config_key(crm.config, today)


def config_key(config: Config, today: date) -> str:
    return f"{today.isoformat()}\0{config!r}"


def remembered_as_is(root: Path, config: Config, today: date, digests: dict[str, str]) -> Stats | None:
    """The stats kept in root's stats.bin when they are today's, for these settings and
    exactly these files (digests: every contact's and org's, as the check cache found
    them): what compute_remembered would return for them, without loading the CRM.
    None otherwise."""
    memory = read_memory(root)
    if memory.stats is None or memory.key != config_key(config, today) or memory.digests != digests:
        return None
    return memory.stats


def compute(crm: CRM, today: date, memory: StatsMemory, digests: dict[str, str], signed: bool = False) -> Stats:
    """stats.compute(crm, today), made from memory where it can be; memory is updated.
    digests: each file's content digest (loader.Loaded.digests). The result is the same
    as stats.compute's, key order included. signed (a build): the result also carries
    each entry's stats_sign, made again only for the entries this computation changed."""
    was_enabled = gc.isenabled()
    gc.disable()  # as in stats.compute: nothing here makes cycles
    memory.computations += 1
    try:
        try:
            stats = _incremental(crm, today, memory, digests)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            stats = None  # a memory read from the cache that does not fit: never trusted
        if stats is None:
            stats = _full(crm, today, memory, digests)
        _sign(stats, memory, signed)
        return stats
    finally:
        if was_enabled:
            freeze_survivors()
            gc.enable()


def _sign(stats: Stats, memory: StatsMemory, signed: bool) -> None:
    """Keep memory's signs in step with stats: the unchanged entries' kept, the others
    made again (or, without signed, none: signs of older figures are never kept)."""
    if not signed:
        memory.contact_signs, memory.org_signs = {}, {}
        return
    contacts, orgs = memory.changed if memory.changed is not None else (None, None)
    memory.contact_signs = _signs(stats.contacts, memory.contact_signs, contacts)
    memory.org_signs = _signs(stats.orgs, memory.org_signs, orgs)
    stats.contact_signs, stats.org_signs = memory.contact_signs, memory.org_signs


def _signs(table: Mapping[str, Json], kept: dict[str, bytes], changed: set[str] | None) -> dict[str, bytes]:
    """slug -> stats_sign(table[slug]), taken from kept for entries not in changed (None:
    every entry changed); an entry is read only to be signed (a packed one stays so)."""
    from .cache import stats_sign

    if changed is not None and len(kept) == len(table) and all(map(kept.__contains__, table)):
        # The same entries (an edit): the kept signs copied in C, the changed ones made.
        signs = dict(kept)
        for slug in changed:
            if slug in signs:
                signs[slug] = stats_sign(table[slug])
        return signs
    signs = {}
    for slug in table:
        sign = kept.get(slug) if changed is not None and slug not in changed else None
        signs[slug] = sign if sign is not None else stats_sign(table[slug])
    return signs


def _full(crm: CRM, today: date, memory: StatsMemory, digests: dict[str, str]) -> Stats:
    inputs, headings = _kept_of_unchanged_files(crm, today, memory, digests)
    spans: dict[str, tuple[int, int]] = {}
    ctx = context_of(crm, today, spans)
    stats = compute_in_context(ctx)
    all_days = ctx.index.all_days
    entities = {e.path: e for e in crm.entities()}
    memory.key, memory.stats, memory.money, memory.entities = memory_key(crm, today), stats, ctx.money, entities
    memory.facts = ctx.facts  # type: ignore[assignment]  # a dict: made for every file
    memory.group_touches = _stored_group_touches(None, {slug: counted(linked.group_days, linked.group_kinds)
                                                        for slug, linked in ctx.index.orgs.items()})
    memory.file_touches = _stored_file_touches(None, TouchesOfFiles(entities, crm.config, today))
    memory.digests = {path: digests.get(path, "") for path in entities}
    memory.days = {path: all_days[start:end] for path, (start, end) in spans.items()}
    memory.footprints = {path: footprint(entity) for path, entity in entities.items()}
    memory.total = _total_revenue(ctx)
    # The others are made when needed: most full computations are never followed by an edit here.
    memory.inputs, memory.headings = inputs, headings
    memory.last, memory.kept_summary, memory.changed = "full", False, None
    memory.changed_files = None
    return stats


def _kept_of_unchanged_files(crm: CRM, today: date, memory: StatsMemory,
                             digests: dict[str, str]) -> tuple[dict[str, str], dict[str, bytes]]:
    """The summary inputs and heading digests memory holds for files whose bytes did not
    change, when only the day differs (the first computation of a day, in `crm due` or
    the day's first build): both depend on the file alone. Making them all again took
    about 0.35 s at 10,000 contacts when the memory was written."""
    if not memory.key or memory.key.partition("\0")[2] != memory_key(crm, today).partition("\0")[2]:
        return {}, {}
    old = memory.digests

    def unchanged(path: str) -> bool:
        digest = digests.get(path)
        return bool(digest) and old.get(path) == digest

    return ({path: v for path, v in memory.inputs.items() if type(v) is str and unchanged(path)},
            {path: v for path, v in memory.headings.items()
             if type(v) is bytes and len(v) % _DIGEST_SIZE == 0 and unchanged(path)})


def footprint(entity: Entity) -> Footprint:
    if isinstance(entity, Contact):
        return entity.org, entity.referred_by, tuple(sorted(heading_slugs(entity)))
    return None, None, tuple(sorted(heading_slugs(entity)))


def _incremental(crm: CRM, today: date, memory: StatsMemory, digests: dict[str, str]) -> Stats | None:
    """The stats made from memory, or None when a full computation is needed."""
    if memory.stats is None or memory.key != memory_key(crm, today):
        return None
    now = {e.path: e for e in crm.entities()}
    changed = [path for path, entity in now.items() if memory.digests.get(path) != digests.get(path, "")]
    changed += [path for path in memory.digests if path not in now]
    if len(changed) > MAX_CHANGED_FILES or any(not p.startswith("contacts/") for p in changed):
        return None
    if not changed and len(now) == len(memory.digests):
        memory.entities, memory.last, memory.kept_summary = now, "incremental", True
        memory.changed, memory.changed_files = (set(), set()), set()
        return memory.stats

    # Every changed file still there, none new, and none changed in what the CRM-wide
    # figures read from it: then RFM ranks and the summary only move by what the sections
    # of the changed files moved (touches, attention), and no file's money changed.
    inputs_after = {path: summary_inputs(now[path]) for path in changed if path in now}  # type: ignore[arg-type]
    keep = len(inputs_after) == len(changed) and len(now) == len(memory.digests) and all(
        _inputs_before(memory, path) == key for path, key in inputs_after.items())
    money, facts = _money_now(crm, today, memory, now, changed, complete=not keep)
    ctx = _Context(crm, today, SectionIndex({}, {}, []), money, _referrals(crm), org_children(crm), _members(crm),
                   facts)
    total = memory.total if keep else _total_revenue(ctx)
    revenue_moved = total != memory.total  # then every org's share of it moves too

    footprints = dict(memory.footprints)
    before = [footprints.pop(path, None) for path in changed]
    after: list[Footprint | None] = []
    for path in changed:
        entity = now.get(path)
        after.append(footprint(entity) if entity is not None else None)
        if entity is not None:
            footprints[path] = after[-1]  # type: ignore[assignment]
    named = set()
    headings = {path: heading_digests(now[path], new[2]) for path, new in zip(changed, after) if new is not None}
    for path, old, new in zip(changed, before, after):
        named |= _changed_headings(memory.entities.get(path), now.get(path), old, new,
                                   memory.headings.get(path), headings.get(path))
    people = _affected_contacts(crm, changed, before, after, named)
    quiet = _quiet(memory, changed, before, after, inputs_after, headings) - named
    groups = _affected_orgs(crm, people, [f for path, f in zip(changed, before) if slug_of(path) not in quiet],
                            named, quiet)
    touches_now = {path: file_touches(now[path], crm.config, today) for path in changed if path in now}
    group_now = _group_touches_now(crm, today, memory, now, changed, before, after, touches_now, footprints, groups)
    if group_now is not None:
        groups |= group_now.keys()
    ctx.index = build_index_for(crm, today, people, groups, ctx.children, ctx.members, footprints, group_now)
    if group_now is None:  # the index went over every file naming anyone in these groups
        group_now = {slug: counted(ctx.index.orgs[slug].group_days, ctx.index.orgs[slug].group_kinds)
                     for slug in groups}

    old_stats = memory.stats
    # With the ranks kept, nothing below changes the entries of others: they are shared
    # with the old figures, which the memory then lets go (10,000 copies: 3 ms alone, about
    # 25 ms in a profiled build, where the entries are spread over a 350 MB heap).
    # Otherwise every customer is ranked again: packed figures from the fields kept beside
    # each entry, copying only the entries whose scores move (_ranked_again); plain ones
    # by assign_rfm, which writes every entry (copies, compared with the old ones after).
    old_contacts = old_stats.contacts
    contacts: Mapping[str, Json]
    changed_contacts = set(people)
    if isinstance(old_contacts, PackedFigures):  # the others' entries stay packed
        fresh = {slug: contact_stats(c, ctx) for slug, c in crm.contacts.items() if slug in people}
        contacts = old_contacts.with_entries(fresh, crm.contacts)
        if not keep:  # a file added, deleted, or its money moved: everyone ranked again
            contacts = _ranked_again(ctx, contacts, fresh, changed_contacts)
    else:
        contacts = {slug: contact_stats(c, ctx) if slug in people else
                    (old_contacts[slug] if keep else dict(old_contacts[slug]))
                    for slug, c in crm.contacts.items()}
        if not keep:
            assign_rfm(contacts, ctx)
            changed_contacts.update(slug for slug, entry in contacts.items()
                                    if slug not in people and entry["rfm"] != old_stats.contacts[slug]["rfm"])
    if keep:
        for slug in people:  # the ranks read only money, status and dates that did not change
            contacts[slug]["rfm"] = old_contacts[slug]["rfm"]
    # With the ranks kept no file's invoices, deals, org or status changed: an org's
    # money figures are what they were.
    orgs = {slug: org_stats(o, ctx, total, old_stats.orgs[slug] if keep else None) if slug in groups
            else dict(old_stats.orgs[slug]) for slug, o in crm.orgs.items()}
    changed_orgs = set(groups)
    if revenue_moved:
        for slug, org in crm.orgs.items():
            if slug not in groups:
                orgs[slug]["share_of_revenue"] = share_of_revenue(org, ctx, total)
                if orgs[slug]["share_of_revenue"] != old_stats.orgs[slug]["share_of_revenue"]:
                    changed_orgs.add(slug)

    ctx.index.unlink()  # the figures that read its org groups are made
    days = _updated(memory.days, changed, now, lambda entity: touch_days(entity, crm.config, today))
    if keep:
        summary = _adjusted_summary(old_stats.summary, [old_stats.contacts[s] for s in people],
                                    [contacts[s] for s in people],
                                    [days_of(memory.days.get(p, b"")) for p in changed],
                                    [days_of(days.get(p, b"")) for p in changed])
    else:
        ctx.index = SectionIndex({}, {}, [d for path in now if path in days for d in days_of(days[path])])
        summary = summary_stats(crm, KeptFields(contacts) if isinstance(contacts, PackedFigures) else contacts,
                                orgs, ctx, total)
    stats = Stats(contacts, orgs, summary)

    inputs = dict(memory.inputs)
    for path in changed:
        inputs.pop(path, None)
    inputs.update(inputs_after)
    kept_headings = dict(memory.headings)
    for path in changed:
        kept_headings.pop(path, None)
    kept_headings.update(headings)
    memory.headings = kept_headings
    memory.digests, memory.total, memory.inputs = {path: digests.get(path, "") for path in now}, total, inputs
    # Money made on demand covers only some files: not kept, so a later computation
    # never takes it for every file's.
    memory.money = money if not isinstance(money, _OnDemand) else {}
    memory.facts = facts if not isinstance(facts, _OnDemand) else {}
    memory.stats, memory.days, memory.footprints, memory.entities = stats, days, footprints, now
    memory.last, memory.kept_summary = "incremental", keep
    memory.changed, memory.changed_files = (changed_contacts, changed_orgs), set(changed)
    if memory.file_touches is not None and memory.group_touches is not None:
        memory.file_touches = memory.file_touches.with_changes(
            {path: touches_now.get(path) for path in changed})
        memory.group_touches = memory.group_touches.with_changes(group_now)  # type: ignore[arg-type]
    return stats


def summary_inputs(contact: Contact) -> str:
    """A digest of what the RFM ranks, the summary and its orgs' figures read from a
    contact's file besides its sections (its money, status, dates, names, links and
    role): equal digests, equal contributions. The repr of these plain values is the same for the same values in
    every process (unlike pickles, whose bytes depend on shared objects)."""
    values = (contact.name, contact.org, contact.status, contact.tier, contact.source, contact.timezone,
              contact.since, contact.customer_since, contact.referred_by, contact.invoices, contact.deals,
              contact.role)
    return blake2b(repr(values).encode(), digest_size=12).hexdigest()


def _inputs_before(memory: StatsMemory, path: str) -> str | None:
    """The changed file's summary_inputs before the change: kept, or made from its old
    version when this process has it; None when unknown (then nothing is kept)."""
    known = memory.inputs.get(path)
    if known is None:
        old = memory.entities.get(path)
        if isinstance(old, Contact):
            known = summary_inputs(old)
    return known


def _adjusted_summary(old: Json, people_before: list[Json], people_now: list[Json],
                      days_before: list[list[int]], days_now: list[int]) -> Json:
    """The last summary with what only sections move made again from the difference:
    the attention counts (of the contacts worked out again) and the touches (of the
    changed files). Every other figure reads what did not change. Same key order."""
    summary = dict(old)
    gone, added = attention_counts(people_before), attention_counts(people_now)
    summary["attention"] = {name: n - gone[name] + added[name] for name, n in old["attention"].items()}
    moved: Counter[str] = Counter()
    for days, sign in ((days_before, -1), (days_now, 1)):
        for file_days in days:
            for day in file_days:
                moved[_month(day)] += sign
    summary["touches"] = old["touches"] - sum(map(len, days_before)) + sum(map(len, days_now))
    summary["touches_per_month"] = [{"month": m["month"], "touches": m["touches"] + moved.get(m["month"], 0)}
                                    for m in old["touches_per_month"]]
    return summary


def _month(day: int) -> str:
    """The month of a day number as touches_per_month names it."""
    when = date.fromordinal(day)
    return f"{when.year:04d}-{when.month:02d}"


class _OnDemand(dict[str, Any]):
    """path -> a file's money facts or Facts (make: money_of or facts_of), each made when
    first asked for: when no file's money changed, only the files whose figures are
    worked out again need theirs."""

    def __init__(self, now: dict[str, Entity], today: date, make: Callable[[Entity, date], Any]) -> None:
        super().__init__()
        self.now, self.today, self.make = now, today, make

    def __missing__(self, path: str) -> Any:
        self[path] = made = self.make(self.now[path], self.today)
        return made


def _money_now(crm: CRM, today: date, memory: StatsMemory, now: dict[str, Entity],
               changed: list[str], complete: bool) -> tuple[dict[str, _Money], dict[str, Facts]]:
    """Every file's money facts and Facts: the remembered ones where this process has
    them, or (complete asked for) the stored ones of the unchanged files; made on demand
    when complete is not asked for."""
    if memory.money and memory.facts:
        return (_updated(memory.money, changed, now, lambda entity: money_of(entity, today)),
                _updated(memory.facts, changed, now, lambda entity: facts_of(entity, today)))
    if not complete:
        return _OnDemand(now, today, money_of), _OnDemand(now, today, facts_of)
    money: dict[str, _Money] = {}
    facts: dict[str, Facts] = {}
    stored = memory.stored
    if stored is not None and stored.has_blobs():
        # Only the files whose bytes are the stored ones': a changed file's are made again.
        unchanged = {path for path in now if path not in changed}
        for number in range(STATS_PARTS):
            for path, (file_money, file_facts) in decode_file_facts(stored.blob(FILE_FACTS, number)).items():
                if path in unchanged:
                    money[path], facts[path] = file_money, file_facts
    # In the CRM's order, as a full computation has them (the summary's sums are in it).
    return ({path: money[path] if path in money else money_of(entity, today) for path, entity in now.items()},
            {path: facts[path] if path in facts else facts_of(entity, today) for path, entity in now.items()})


# A file's money and Facts as a part of the stats' memory keeps them: plain tuples (the
# cache's restricted unpickler makes no class of this module), the money None for a
# file without any (most files).
_StoredMoney = tuple[tuple[tuple[date, Any, str], ...], "str | None", dict, dict, dict, dict, dict]


def encode_file_facts(entries: dict[str, tuple[_Money, Facts]]) -> bytes:
    """path -> (money, Facts) of the files of one part, as its file_facts blob."""
    plain: dict[str, tuple[_StoredMoney | None, tuple[object, ...]]] = {}
    for path, (money, facts) in entries.items():
        kept: _StoredMoney | None = None
        if money.purchases or money.basis or money.owed or money.overdue or money.pipeline:
            kept = (tuple(map(tuple, money.purchases)), money.basis, money.lifetime, money.by_year,  # type: ignore[arg-type]
                    money.owed, money.overdue, money.pipeline)
        plain[path] = (kept, tuple(facts))
    return pickle.dumps(plain, protocol=5)


def decode_file_facts(blob: bytes | None) -> dict[str, tuple[_Money, Facts]]:
    """encode_file_facts's entries again; ValueError when the blob is not one (a stats
    computation then starts over: a memory that does not fit is never trusted)."""
    if blob is None:
        return {}
    from . import cache

    plain = cache._decode_kept(blob)
    if type(plain) is not dict:
        raise ValueError("a part's file facts in .crm-cache/figures-XX.bin do not read back")
    entries = {}
    for path, (kept, facts) in plain.items():
        if kept is None:
            money = _Money([], None, {}, {}, _NONE, _NONE, _NONE)
        else:
            purchases, basis, lifetime, by_year, owed, overdue, pipeline = kept
            money = _Money(list(map(Purchase._make, purchases)), basis, lifetime, by_year, owed, overdue, pipeline)
        entries[path] = (money, Facts._make(facts))
    return entries


def _updated(table: dict[str, V], changed: list[str], now: dict[str, Entity],
             make: Callable[[Entity], V]) -> dict[str, V]:
    """A copy of a per-file table with the changed files' entries made again (or gone)."""
    result = dict(table)
    for path in changed:
        entity = now.get(path)
        if entity is None:
            result.pop(path, None)
        else:
            result[path] = make(entity)
    return result


def _naming(footprints: dict[str, Footprint], slugs: set[str]) -> set[str]:
    """The files with a section whose heading names one of these slugs (whether or not a
    file has that slug yet: creating it must find them). One pass over the footprints:
    cheaper than indexing every slug when only a few hundred are wanted."""
    return {path for path, (_, _, named) in footprints.items() if not slugs.isdisjoint(named)}


def heading_slugs(entity: Entity) -> set[str]:
    return {slug for section in entity.sections if section.participants for slug in section.participants}


def _changed_headings(old_entity: Entity | None, new_entity: Entity | None, old: Footprint | None,
                      new: Footprint | None, old_digests: bytes | None = None,
                      new_digests: bytes | None = None) -> set[str]:
    """The slugs named in the headings of the sections a change added, removed or
    altered (what the index takes from a section: its line, date, kind, title,
    participants and topics) when both versions are at hand, or both versions'
    heading_digests; else every slug either version's headings name."""
    if old_entity is not None and new_entity is not None and old is not None:
        before = Counter(map(_section_key, old_entity.sections))
        after = Counter(map(_section_key, new_entity.sections))
        return {slug for key in ((before - after) + (after - before)) for slug in key[4]}
    if old is not None and new is not None and old_digests is not None and new_digests is not None:
        was, now = _per_slug(old[2], old_digests), _per_slug(new[2], new_digests)
        return {slug for slug in was.keys() | now.keys() if was.get(slug) != now.get(slug)}
    return {*(old[2] if old else ()), *(new[2] if new else ())}


_DIGEST_SIZE = 8


def heading_digests(entity: Entity, slugs: tuple[str, ...]) -> bytes:
    """For each of slugs (the file's footprint: every slug its headings name, sorted), a
    digest of the keys of the file's sections that name it, in any order: a slug's
    digest changes exactly when a section naming it was added, removed or altered. Then
    one more: of every section's date and kind, in order (what the file's own touches
    give its org's group: see _quiet). Joined into one bytes object (one object per file
    to store and read)."""
    keys: dict[str, list[str]] = {}
    days: list[str] = []
    for section in entity.sections:
        days.append(f"{section.date.toordinal()} {section.kind}")
        if section.participants:
            text = repr(_section_key(section))  # the same in every process, unlike hash()
            for slug in section.participants:
                keys.setdefault(slug, []).append(text)
    return b"".join([*(blake2b("\0".join(sorted(keys.get(slug, ()))).encode(), digest_size=_DIGEST_SIZE).digest()
                       for slug in slugs),
                     blake2b("\0".join(days).encode(), digest_size=_DIGEST_SIZE).digest()])


def _per_slug(slugs: tuple[str, ...], digests: bytes) -> dict[str, bytes]:
    if len(digests) != _DIGEST_SIZE * (len(slugs) + 1):
        raise ValueError("heading digests that do not fit their footprint")  # never trusted: a full computation
    return {slug: digests[i * _DIGEST_SIZE:(i + 1) * _DIGEST_SIZE] for i, slug in enumerate(slugs)}


def _section_key(section: Section) -> tuple[object, ...]:
    return (section.line, section.date, section.kind, section.title, section.participants, section.topics)


def _affected_contacts(crm: CRM, changed: list[str], before: list[Footprint | None],
                       after: list[Footprint | None], named: set[str]) -> set[str]:
    """The contacts whose own figures a change of these files can change: their own, the
    ones the changed sections name and the referrers whose list of referrals changed."""
    slugs = set(named)
    for path, old, new in zip(changed, before, after):
        slugs.add(path[len("contacts/"):-len(".md")])
        referrers = [f[1] if f is not None else None for f in (old, new)]
        if old is None or new is None or referrers[0] != referrers[1]:
            slugs.update(r for r in referrers if r)
    return {s for s in slugs if s in crm.contacts}


def _quiet(memory: StatsMemory, changed: list[str], before: list[Footprint | None],
           after: list[Footprint | None], inputs_after: dict[str, str], headings: dict[str, bytes]) -> set[str]:
    """The slugs of the changed contact files that changed nothing their orgs' figures
    read: the same org, referrer and named slugs, the same summary_inputs (money, deals,
    role), the same sections naming anyone, and every section's date and kind the same
    (the file's own touches, which go to its org's group). Only their own figures can
    have changed (their words and topics, what the notes say): an edit of a note's text
    then indexes the files naming that contact, not every file naming anyone in its org."""
    quiet = set()
    for path, old, new in zip(changed, before, after):
        # old != new is implied by the two checks below (org and referrer are inputs, the
        # named slugs shape the digests) but is the cheap one, and says what quiet means.
        if old is None or new is None or old != new or path not in inputs_after:
            continue
        if _inputs_before(memory, path) != inputs_after[path]:
            continue
        was = _headings_before(memory, path, old)
        if was is not None and was == headings.get(path):
            quiet.add(slug_of(path))
    return quiet


def _headings_before(memory: StatsMemory, path: str, old: Footprint) -> bytes | None:
    """The changed file's heading_digests before the change: kept, or made from its old
    version when this process has it; None when unknown."""
    known = memory.headings.get(path)
    if known is None:
        entity = memory.entities.get(path)
        if entity is not None:
            known = heading_digests(entity, old[2])
    return known


def _affected_orgs(crm: CRM, people: set[str], before: list[Footprint | None], named: set[str],
                   quiet: set[str]) -> set[str]:
    """The orgs whose figures can change: every org above an org the changed sections
    name, above a changed contact's org before the change (before: their footprints),
    and above every affected contact's org now, but a quiet one's (see _quiet)."""
    starts = {s for s in named if s in crm.orgs}
    starts |= {f[0] for f in before if f is not None and f[0]}  # type: ignore[misc]
    starts |= {crm.contacts[s].org for s in people if crm.contacts[s].org and s not in quiet}  # type: ignore[misc]
    orgs: set[str] = set()
    for slug in starts:
        orgs.update(org_chain(crm, slug))
    return orgs


def build_index_for(crm: CRM, today: date, people: set[str], groups: set[str], children: dict[str, list[str]],
                    members: dict[str, list[str]], footprints: dict[str, Footprint],
                    group_touches: dict[str, GroupTouches] | None = None) -> SectionIndex:
    """An index right for these contacts and orgs: over the files whose sections can
    touch them (their own, and those whose headings name them or, for an org, anyone
    in its group), in the order a full pass reads them. With group_touches (each of
    these orgs' group touches, kept and moved: _group_touches_now), an org's group is
    not indexed: only the files of the org itself and those naming it, for its own
    plans and topics, and its group touches are those."""
    slugs = set(people)
    for org in groups:
        if group_touches is not None:
            slugs.add(org)
            continue
        for part in org_group(org, children):
            slugs.add(part)
            slugs.update(members.get(part, ()))
    paths = _naming(footprints, slugs)
    for slug in slugs:
        entity = crm.contacts.get(slug)
        if entity is not None:
            paths.add(entity.path)
        entity = crm.orgs.get(slug)
        if entity is not None:
            paths.add(entity.path)
    from .stats_touches import build_index

    index = build_index(crm, today, [e for e in crm.entities() if e.path in paths], only=slugs)
    for org, touches in (group_touches or {}).items():
        linked = index.orgs[org]
        linked.group_days, linked.group_kinds = listed(touches)
    return index


def _group_touches_now(crm: CRM, today: date, memory: StatsMemory, now_files: dict[str, Entity], changed: list[str],
                       before: list[Footprint | None], after: list[Footprint | None], touches_now: dict[str, Any],
                       footprints: dict[str, Footprint], groups: set[str]) -> dict[str, GroupTouches] | None:
    """The group touches of these orgs and of any other org whose group touches the change
    moves: the kept ones moved by the difference between the changed files' touches before
    and after, and, for each contact that came, went or changed org, between the touches
    of the files naming it reaching its groups before and after (stats_groups). None when
    what that needs is not kept (then the groups are indexed whole)."""
    kept_files, kept_groups = memory.file_touches, memory.group_touches
    if kept_files is None or kept_groups is None:
        return None
    chains = chains_of(crm)
    was: dict[str, Any] = {}  # the changed contacts' orgs before (ABSENT: not there)
    moving: set[str] = set()  # contacts that came, went or changed org
    for path, old, new in zip(changed, before, after):
        is_contact, slug = own_of(path)
        if is_contact:
            was[slug] = old[0] if old is not None else ABSENT
            if old is None or new is None or old[0] != new[0]:
                moving.add(slug)
    then, now = Membership(crm, chains, was), Membership(crm, chains, {})
    days: dict[str, dict[int, int]] = {}
    kinds: dict[str, dict[str, int]] = {}
    for path, old in zip(changed, before):
        own = own_of(path)
        if old is not None:
            touches_then = kept_files.get(path)
            if touches_then is None:
                entity = memory.entities.get(path)  # a long-running process has the old version
                if entity is None:
                    return None
                touches_then = file_touches(entity, crm.config, today)
            add_touches(days, kinds, touches_then, own, then, -1)
        if path in touches_now:
            add_touches(days, kinds, touches_now[path], own, now, 1)
    if moving:
        unchanged = set(changed)
        for path, (_, _, named) in footprints.items():
            if path not in unchanged and not moving.isdisjoint(named):
                touches = kept_files.get(path)
                if touches is None:  # the same file now as then
                    touches = file_touches(now_files[path], crm.config, today)
                add_touches(days, kinds, touches, own_of(path), then, -1)
                add_touches(days, kinds, touches, own_of(path), now, 1)
    result = {}
    for org in groups | {org for org, counts in days.items() if any(counts.values())}:
        kept = kept_groups.get(org)
        if kept is None:
            return None
        result[org] = moved(kept, days.get(org, {}), kinds.get(org, {}))
    return result


def packed_days(days: list[int] | bytes) -> bytes:
    """A file's touch days as the stats' memory keeps them: the bytes of an array of 32-bit
    day numbers (10,000 lists of 20 ints took ten times as long to read back)."""
    return days if days.__class__ is bytes else array("i", days).tobytes()  # type: ignore[return-value]


def days_of(days: list[int] | bytes) -> list[int]:
    """A file's touch days as a list, from the memory's bytes or a list as made."""
    if days.__class__ is not bytes:
        return days  # type: ignore[return-value]
    found = array("i")
    found.frombytes(days)  # type: ignore[arg-type]
    return found.tolist()


def touch_days(entity: Entity, config: Config, today: date) -> list[int]:
    """The days of the file's touch sections up to today: its share of all_days."""
    now = today.toordinal()
    return [day for section in entity.sections
            if (day := section.date.toordinal()) <= now and config.is_touch(section.kind)]


# --- kept between processes: .crm-cache/stats.bin ---------------------------------------------


def compute_remembered(crm: CRM, today: date, digests: dict[str, str],
                       memory: StatsMemory | None = None, signed: bool = False) -> tuple[Stats, StatsMemory, bool]:
    """compute() from memory, or from what root's stats.bin holds when no memory is
    given: (the stats, the memory as it is now, whether it changed and so is worth
    writing back with write_memory)."""
    if memory is None:
        memory = read_memory(crm.root)
    before = memory.digests
    stats = compute(crm, today, memory, digests, signed)
    return stats, memory, memory.last == "full" or memory.digests != before


def _stats_fingerprint() -> str:
    from . import cache
    from .incremental import all_modules

    return cache.program_fingerprint(all_modules())


def read_memory(root: Path) -> StatsMemory:
    """The memory the last `crm build` left in root's cache, or an empty one when there is
    none or it is foreign, stale, malformed or not whole (it is then never trusted)."""
    from . import cache

    found = cache.read_sharded(cache.cache_dir(root), STATS_NAME, STATS_KIND, _stats_fingerprint(), STATS_PARTS)
    if found is None:
        return StatsMemory()
    generations, head, payloads = found
    try:
        key, summary, total = head  # type: ignore[misc]
        maps: list[dict[str, object]] = [{} for _ in range(_MAPS)]
        for payload in payloads:
            if not (isinstance(payload, tuple) and len(payload) == _MAPS + len(_BLOBS) + 1
                    and all(type(m) is dict for m in payload[:_MAPS])
                    and all(payload[at] is None or _is_place(payload[at]) for at in _BLOBS)
                    and cache.is_token(payload[_TOKEN])):
                return StatsMemory()
            for merged, part in zip(maps, payload):
                merged.update(part)
    except (TypeError, ValueError):
        return StatsMemory()
    # Each part's figures file, opened now (a later write replaces it at its path): one of
    # another write than its part, or missing, and the memory is not whole.
    folder = cache.cache_dir(root)
    files = [cache.SectionsFile(_figures_path(folder, number), payload[_TOKEN])
             for number, payload in enumerate(payloads)]
    if any((payload[_CONTACTS] or any(payload[at] is not None for at in _BLOBS)) and file.descriptor() is None
           for payload, file in zip(payloads, files)):
        return StatsMemory()
    digests, packed, orgs, days, footprints, inputs, headings, contact_signs, org_signs = maps
    # The figures in the CRM's order (by slug), as a computation gives them: a build with
    # nothing changed returns them as they are. The contacts' stay packed until read.
    packed, orgs = dict(sorted(packed.items())), dict(sorted(orgs.items()))
    if not (isinstance(key, str) and isinstance(summary, dict) and isinstance(total, dict)):
        return StatsMemory()
    if not (_all_of(orgs.values(), dict) and _all_of(packed.values(), tuple, 2)
            and _all_of(map(_FIRST, packed.values()), tuple, 4) and _all_of(map(_SECOND, packed.values()), tuple,
                                                                         len(KEPT_FIELDS))):
        return StatsMemory()
    contacts = PackedFigures(packed, None, files)  # type: ignore[arg-type]
    if not (_all_of(footprints.values(), tuple, 3) and _all_of(days.values(), bytes)
            and not any(len(packed) % _DAY_SIZE for packed in days.values())):
        return StatsMemory()
    # Signs of other figures than these (or of another shape) are not kept: made again.
    signs = contact_signs.keys() == contacts.keys() and org_signs.keys() == orgs.keys() and _all_of(
        contact_signs.values(), bytes, 16) and _all_of(org_signs.values(), bytes, 16)
    if not signs:
        contact_signs, org_signs = {}, {}
    stored = StoredMemory(generations, digests, inputs, headings, signs,  # type: ignore[arg-type]
                          tuple(tuple(payload[at] for payload in payloads) for at in _BLOBS), files,
                          tuple(_keys_of(payload) for payload in payloads))
    return StatsMemory(key, digests, Stats(contacts, orgs, summary), days, footprints, total,  # type: ignore[arg-type]
                       inputs, headings, contact_signs=contact_signs, org_signs=org_signs,  # type: ignore[arg-type]
                       file_touches=_stored_file_touches(stored), group_touches=_stored_group_touches(stored),
                       stored=stored)


def _keys_of(payload: tuple[Any, ...]) -> set[str]:
    """A part's keys: those of its digests (every file's path) and of its contacts' and
    orgs' figures (every slug); the other maps' keys are among them."""
    return set(payload[_DIGESTS]).union(payload[_CONTACTS], payload[_ORGS])


def _is_place(value: object) -> bool:
    return type(value) is tuple and len(value) == 4 and all(type(n) is int and n >= 0 for n in value)


def _stored_file_touches(stored: StoredMemory | None, base: Mapping[str, Any] | None = None) -> KeptParts:
    fetch = (lambda number: stored.blob(FILE_TOUCHES, number)) if stored is not None else None
    return KeptParts(_part, decode_file_touches, base, fetch)


def _stored_group_touches(stored: StoredMemory | None, base: Mapping[str, Any] | None = None) -> KeptParts:
    fetch = (lambda number: stored.blob(GROUP_TOUCHES, number)) if stored is not None else None
    return KeptParts(_part, decode_group_touches, base, fetch)


_FIRST, _SECOND = itemgetter(0), itemgetter(1)


# The per-file and per-slug maps of the stored memory, in this order in every part; the
# contacts' figures are the second, each entry packed (pack_entry). After them in a
# part: its files' money and Facts, its files' touches and its orgs' group touches (the
# blobs of StoredMemory), then its figures file's token.
_MAPS = 9
_DIGESTS, _CONTACTS, _ORGS, _DAYS = 0, 1, 2, 3
_DAY_SIZE = array("i").itemsize
_BLOBS = (_MAPS, _MAPS + 1, _MAPS + 2)
_TOKEN = _MAPS + 3
FILE_FACTS, FILE_TOUCHES, GROUP_TOUCHES = range(len(_BLOBS))  # StoredMemory.blob's which


def _part(key: str) -> int:
    return zlib.crc32(key.encode()) % STATS_PARTS


def _figures_path(folder: Path, number: int) -> Path:
    return folder / f"{FIGURES_NAME}-{number:02x}.bin"


def _write_figures(folder: Path, payloads: dict[int, tuple[dict[str, object], ...]],
                   figures: Mapping[str, Json], blobs: dict[int, tuple[bytes | None, ...]]
                   ) -> dict[int, tuple[object, ...]] | None:
    """Each part's contacts' pickles into its figures file, the part then holding their
    places (then its blobs and the file's token, last); the written entries' pickles held by figures
    (a PackedFigures) from now, so that a long-running process keeps no replaced file
    open. None when a file cannot be written."""
    from . import cache

    ready = {}
    hold = figures.hold if isinstance(figures, PackedFigures) else None
    for number, maps in payloads.items():
        entries = maps[_CONTACTS]
        chunks = [packed[0] for packed in entries.values()]  # type: ignore[index]
        at = sum(map(len, chunks))
        places: list[Place | None] = []
        for blob in blobs[number]:  # after the contacts' pickles: (part, offset, length, CRC-32)
            places.append(None if blob is None else (number, at, len(blob), zlib.crc32(blob)))
            if blob is not None:
                chunks.append(blob)
                at += len(blob)
        file = cache.write_token_file(_figures_path(folder, number), chunks)
        if file is None:
            return None
        offset = 0
        for slug, chunk in zip(list(entries), chunks):
            kept = entries[slug][1]  # type: ignore[index]
            if hold is not None:
                hold(slug, (chunk, kept))
            entries[slug] = ((number, offset, len(chunk), zlib.crc32(chunk)), kept)
            offset += len(chunk)
        ready[number] = (*maps, *places, file.token)
    return ready


def _all_inputs(memory: StatsMemory) -> dict[str, str]:
    """Every contact's summary_inputs: the kept ones, the others made from the files the
    memory was made from (a fresh process has no older version to make them from)."""
    inputs = {}
    for path, entity in memory.entities.items():
        if isinstance(entity, Contact):
            known = memory.inputs.get(path)
            inputs[path] = known if known is not None else summary_inputs(entity)
    return inputs


def _all_headings(memory: StatsMemory) -> dict[str, bytes]:
    """Every file's heading_digests: the kept ones, the others made (as _all_inputs)."""
    headings = {}
    for path, entity in memory.entities.items():
        known = memory.headings.get(path)
        footprint_now = memory.footprints.get(path)
        if known is None and footprint_now is not None:
            known = heading_digests(entity, footprint_now[2])
        if known is not None:
            headings[path] = known
    return headings


def write_memory(root: Path, memory: StatsMemory) -> None:
    """Keep memory for the next process: the parts holding what changed since it was read
    or last written (after a full computation, or without what was stored, every part);
    a cache that cannot be written costs only speed."""
    from . import cache

    if memory.stats is None:
        return
    stats = memory.stats
    signs = _signs_whole(memory)
    known = _known_change(memory, signs)
    if known is not None:  # one computation since what was stored: it says what changed
        inputs, headings = memory.inputs, memory.headings
        dirty, keys = known
    else:
        inputs, headings = _all_inputs(memory), _all_headings(memory)
        dirty = _dirty_parts(memory, inputs, headings, signs)
        keys = None
    maps = (memory.digests, stats.contacts, stats.orgs, memory.days, memory.footprints, inputs, headings,
            memory.contact_signs, memory.org_signs)
    if dirty is not None:  # a group's touches can move without its figures (kept the same)
        for table in (memory.file_touches, memory.group_touches):
            if table is None or table.base is not None:
                dirty = keys = None
                break
            dirty |= table.changed_parts()
    payloads: dict[int, tuple[dict[str, object], ...]] = {}
    for number in (range(STATS_PARTS) if dirty is None else dirty):
        payloads[number] = tuple({} for _ in range(_MAPS))
    # Each key's part is worked out once, not once per map that has it (nine maps share
    # two sets of keys: paths and slugs); after an edit only a few parts are written, and
    # with the change known only their keys are looked at.
    if keys is not None:
        part_of = {key: number for number in payloads for key in sorted(keys(number))}
    else:
        part_of = {key: number for key in set().union(*maps) if (number := _part(key)) in payloads}
    for i, entries in enumerate(maps):
        if keys is not None:
            targets = [(key, payloads[number][i]) for key, number in part_of.items() if key in entries]
        else:
            targets = [(key, payloads[part_of[key]][i]) for key in entries if key in part_of]
        if i == _CONTACTS:  # kept packed (PackedFigures): only the parts written are packed
            for key, target in targets:
                target[key] = (entries.packed(key) if isinstance(entries, PackedFigures)
                               else pack_entry(entries[key]))
            continue
        if i == _DAYS:  # kept as bytes (packed_days), as read
            for key, target in targets:
                target[key] = packed_days(entries[key])
            continue
        for key, target in targets:
            target[key] = entries[key]
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        folder = cache.cache_dir(root)
        file_facts = _file_facts_parts(memory, payloads)
        touches, groups = _touch_parts(memory, payloads)
        blobs = {number: (file_facts[number], touches[number], groups[number]) for number in payloads}
        ready = _write_figures(folder, payloads, stats.contacts, blobs)
        generations = None if ready is None else cache.write_sharded(
            folder, STATS_NAME, STATS_KIND, _stats_fingerprint(), (memory.key, stats.summary, memory.total), ready,
            memory.stored.generations if dirty is not None and memory.stored else None, STATS_PARTS)
    finally:
        if was_enabled:
            gc.enable()
    if generations is None:
        memory.stored = None
        return
    # Every sign is in the parts when all were written with them, or when the others
    # already held theirs and those written (if any) had them.
    before = memory.stored.signs if memory.stored is not None else False
    whole = signs if dirty is None else before and (signs or not dirty)
    # The blobs written are held as bytes (no replaced file read again); the others are
    # where they were, in the figures files not written.
    kept = memory.stored if memory.stored is not None and dirty is not None else None
    part_keys = kept.part_keys if kept is not None and len(kept.part_keys) == STATS_PARTS else ()
    memory.stored = StoredMemory(generations, dict(memory.digests), inputs, headings, whole, tuple(
        tuple(blobs[n][which] if n in blobs else kept.blobs[which][n] for n in range(STATS_PARTS))  # type: ignore[union-attr]
        for which in range(len(_BLOBS))), kept.files if kept is not None else [],
        tuple(_keys_of(payloads[n]) if n in payloads else part_keys[n] for n in range(STATS_PARTS))
        if part_keys or dirty is None else ())
    memory.computations = 0


def _touch_parts(memory: StatsMemory, parts: Iterable[int]) -> tuple[dict[int, bytes | None], dict[int, bytes | None]]:
    """Each of these parts' touch and group blobs: the stored one where nothing of the part
    changed since it was written, else its entries encoded (after a full computation,
    every file's touches made from the files: stats_groups.TouchesOfFiles)."""
    stored = memory.stored
    wanted = set(parts)
    result: list[dict[int, bytes | None]] = []
    for table, which in ((memory.file_touches, FILE_TOUCHES), (memory.group_touches, GROUP_TOUCHES)):
        blobs: dict[int, bytes | None] = {number: None for number in wanted}
        result.append(blobs)
        if table is None:
            continue
        try:
            if table.base is None and stored is not None and stored.has_blobs():
                made = wanted & table.changed_parts()
                blobs.update({number: stored.blob(which, number) for number in wanted - made})
            else:
                made = wanted
            entries = table.parts(made)
        except (KeyError, TypeError, ValueError):  # a stored part that does not read back: none kept
            blobs.update(dict.fromkeys(wanted))
            continue
        for number, found in entries.items():
            blobs[number] = encode(found)
    return result[0], result[1]


def _file_facts_parts(memory: StatsMemory, parts: Iterable[int]) -> dict[int, bytes | None]:
    """Each of these parts' file_facts blob: the stored one when none of the part's files
    changed since it was written; else made from the money and Facts this process has
    of every file, or from the stored blob's with its changed files' made again (after
    an edit: the edited file's alone)."""
    stored = memory.stored
    has_blobs = stored is not None and stored.has_blobs()
    changed: set[str] = set()
    if has_blobs:
        now, before = memory.digests, stored.digests  # type: ignore[union-attr]
        try:  # digests are str: the items' symmetric difference is the change
            changed = {path for path, _ in now.items() ^ before.items()}
        except TypeError:  # a value of another type, read back from a damaged memory
            changed = {path for path in now.keys() | before.keys() if now.get(path) != before.get(path)}
    changed_parts = {_part(path) for path in changed}
    whole = bool(memory.money) and bool(memory.facts) and not isinstance(memory.money, _OnDemand)
    result: dict[int, bytes | None] = {}
    by_part: dict[int, dict[str, tuple[_Money, Facts]]] = {}
    for number in parts:
        try:
            if has_blobs and number not in changed_parts:
                result[number] = stored.blob(FILE_FACTS, number)  # type: ignore[union-attr]
                continue
            # the stored entries but the changed files' (after a computation that had every
            # file's, none)
            stored_entries = (decode_file_facts(stored.blob(FILE_FACTS, number))  # type: ignore[union-attr]
                              if has_blobs and not whole else {})
        except (TypeError, ValueError):  # made again from the files below
            stored_entries, has_blobs = {}, False
        by_part[number] = {path: entry for path, entry in stored_entries.items() if path not in changed}
    if by_part:
        today = _today_of(memory.key)
        # Without every file's at hand, only the changed files' are missing (after an
        # edit: one file's, not a look-up of 10,000 paths' parts).
        missing = memory.entities if whole or not has_blobs else {
            path: memory.entities[path] for path in changed if path in memory.entities}
        for path, entity in missing.items():
            entries = by_part.get(_part(path))
            if entries is None or path in entries:
                continue
            money = memory.money.get(path) if whole else None
            facts = memory.facts.get(path) if whole else None
            entries[path] = (money if money is not None else money_of(entity, today),
                             facts if facts is not None else facts_of(entity, today))
    for number, entries in by_part.items():
        result[number] = encode_file_facts(entries) if entries else None
    return result


def _today_of(key: str) -> date:
    return date.fromisoformat(key.partition("\0")[0])


def _known_change(memory: StatsMemory, signs: bool) -> tuple[set[int], Callable[[int], set[str]]] | None:
    """With one incremental computation since the memory was read or written: the parts
    holding what it changed (the figures it changed, which it records, and the changed
    files' entries, and for a file added or gone its slug's), and each such part's keys
    (the stored ones and the added files'). None when that is not known: then every
    entry is compared with what was stored (_dirty_parts)."""
    stored, files = memory.stored, memory.changed_files
    if (stored is None or files is None or memory.changed is None or memory.computations != 1
            or len(stored.part_keys) != STATS_PARTS or (signs and not stored.signs)):
        return None
    contacts, orgs = memory.changed
    dirty = {_part(slug) for slug in (*contacts, *orgs)}
    added: set[str] = set()
    for path in files:
        dirty.add(_part(path))
        now, before = path in memory.digests, path in stored.digests
        if now != before:  # a file added or gone adds or drops its slug's figures and signs
            slug = slug_of(path)
            dirty.add(_part(slug))
            if now:
                added.update((path, slug))
    part_keys = stored.part_keys

    def keys(number: int) -> set[str]:
        # A gone file's keys stay here: each map writes only the keys it has (an org and
        # a contact may share a slug).
        return part_keys[number] | {key for key in added if _part(key) == number}

    return dirty, keys


def _signs_whole(memory: StatsMemory) -> bool:
    """Whether memory holds the sign of every entry of its figures."""
    stats = memory.stats
    return stats is not None and memory.contact_signs.keys() == stats.contacts.keys() \
        and memory.org_signs.keys() == stats.orgs.keys()


def _dirty_parts(memory: StatsMemory, inputs: dict[str, str], headings: dict[str, bytes],
                 signs: bool) -> set[int] | None:
    """The parts holding an entry that differs from what is stored (None: all of them,
    after a full computation, with nothing stored, or when every sign is now known and
    the parts lack some). The figures of the contacts and orgs that the last
    computation did not change are the stored ones (memory.changed; test_stats_incremental
    checks it); the per-file maps change with the file's digest."""
    stored = memory.stored
    if stored is None or memory.changed is None or (signs and not stored.signs):
        return None
    contacts, orgs = memory.changed
    dirty = {_part(slug) for slug in (*contacts, *orgs)}
    for now, before in ((memory.digests, stored.digests), (inputs, stored.inputs), (headings, stored.headings)):
        if now != before:
            try:  # values are str or bytes: the items' symmetric difference is the change
                changed = {key for key, _ in now.items() ^ before.items()}
            except TypeError:  # a value of another type, read back from a damaged memory
                changed = {key for key in now.keys() | before.keys() if now.get(key) != before.get(key)}
            dirty.update(map(_part, changed))
    # A file added or gone adds or drops its slug's figures (and signs), in the slug's part.
    for path in memory.digests.keys() ^ stored.digests.keys():
        dirty.add(_part(path))
        dirty.add(_part(path[path.rfind("/") + 1:].removesuffix(".md")))
    return dirty

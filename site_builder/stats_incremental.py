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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, TypeVar

from .model import CRM, Config, Contact, Entity
from .parse import Section
from .stats_money import Money
from .stats import (SectionIndex, Stats, _Context, _Money, _members, _referrals, _total_revenue, assign_rfm,
                    compute_in_context, contact_stats, context_of, money_of, org_children, org_group, org_stats,
                    share_of_revenue, summary_stats)
from .stats_touches import org_chain

# Above this many changed files, a full computation is about as cheap and far simpler.
MAX_CHANGED_FILES = 64

# What the stats take from a file besides its own figures: (its org, its referrer, the
# slugs its section headings name). Kept for every file, so that after a change the
# figures the file's old version touched can be found without the old version.
Footprint = tuple[str | None, str | None, tuple[str, ...]]

V = TypeVar("V")

STATS_KIND = "stats"
STATS_FILE = "stats.bin"


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
    # Only in a long-running process, never stored: the files' objects (for which of a
    # changed file's sections changed) and their money facts.
    entities: dict[str, Entity] = field(default_factory=dict)
    money: dict[str, _Money] = field(default_factory=dict)
    last: str = ""  # "full" or "incremental": how the last result was made (for tests and timing)


def memory_key(crm: CRM, today: date) -> str:
    return f"{today.isoformat()}\0{crm.config!r}"


def compute(crm: CRM, today: date, memory: StatsMemory, digests: dict[str, str]) -> Stats:
    """stats.compute(crm, today), made from memory where it can be; memory is updated.
    digests: each file's content digest (loader.Loaded.digests). The result is the same
    as stats.compute's, key order included."""
    was_enabled = gc.isenabled()
    gc.disable()  # as in stats.compute: nothing here makes cycles
    try:
        try:
            stats = _incremental(crm, today, memory, digests)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            stats = None  # a memory read from the cache that does not fit: never trusted
        if stats is None:
            stats = _full(crm, today, memory, digests)
        return stats
    finally:
        if was_enabled:
            gc.enable()


def _full(crm: CRM, today: date, memory: StatsMemory, digests: dict[str, str]) -> Stats:
    spans: dict[str, tuple[int, int]] = {}
    ctx = context_of(crm, today, spans)
    stats = compute_in_context(ctx)
    all_days = ctx.index.all_days
    entities = {e.path: e for e in crm.entities()}
    memory.key, memory.stats, memory.money, memory.entities = memory_key(crm, today), stats, ctx.money, entities
    memory.digests = {path: digests.get(path, "") for path in entities}
    memory.days = {path: all_days[start:end] for path, (start, end) in spans.items()}
    memory.footprints = {path: footprint(entity) for path, entity in entities.items()}
    memory.total = _total_revenue(ctx)
    memory.last = "full"
    return stats


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
        memory.entities, memory.last = now, "incremental"
        return memory.stats

    money = _money_now(crm, today, memory, now, changed)
    ctx = _Context(crm, today, SectionIndex({}, {}, []), money, _referrals(crm), org_children(crm), _members(crm))
    total = _total_revenue(ctx)
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
    for path, old, new in zip(changed, before, after):
        named |= _changed_headings(memory.entities.get(path), now.get(path), old, new)
    people = _affected_contacts(crm, changed, before, after, named)
    groups = _affected_orgs(crm, people, before, named)
    ctx.index = build_index_for(crm, today, people, groups, ctx.children, ctx.members, _namers(footprints))

    old_stats = memory.stats
    contacts = {slug: contact_stats(c, ctx) if slug in people else dict(old_stats.contacts[slug])
                for slug, c in crm.contacts.items()}
    assign_rfm(contacts, ctx)
    orgs = {slug: org_stats(o, ctx, total) if slug in groups else dict(old_stats.orgs[slug])
            for slug, o in crm.orgs.items()}
    if revenue_moved:
        for slug, org in crm.orgs.items():
            if slug not in groups:
                orgs[slug]["share_of_revenue"] = share_of_revenue(org, ctx, total)

    days = _updated(memory.days, changed, now, lambda entity: touch_days(entity, crm.config, today))
    ctx.index = SectionIndex({}, {}, [d for path in now if path in days for d in days[path]])
    stats = Stats(contacts, orgs, summary_stats(crm, contacts, orgs, ctx, total))

    memory.digests, memory.total = {path: digests.get(path, "") for path in now}, total
    memory.stats, memory.money, memory.days, memory.footprints, memory.entities = stats, money, days, footprints, now
    memory.last = "incremental"
    return stats


def _money_now(crm: CRM, today: date, memory: StatsMemory, now: dict[str, Entity],
               changed: list[str]) -> dict[str, _Money]:
    """Every file's money facts: the remembered ones where this process has them."""
    if not memory.money:  # read from the cache: money facts are not stored
        return {path: money_of(entity, today) for path, entity in now.items()}
    return _updated(memory.money, changed, now, lambda entity: money_of(entity, today))


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


def _namers(footprints: dict[str, Footprint]) -> dict[str, set[str]]:
    """slug -> the files with a section whose heading names it (whether or not a file
    has that slug yet: creating it must find them)."""
    namers: dict[str, set[str]] = defaultdict(set)
    for path, (_, _, named) in footprints.items():
        for slug in named:
            namers[slug].add(path)
    return namers


def heading_slugs(entity: Entity) -> set[str]:
    return {slug for section in entity.sections if section.participants for slug in section.participants}


def _changed_headings(old_entity: Entity | None, new_entity: Entity | None, old: Footprint | None,
                      new: Footprint | None) -> set[str]:
    """The slugs named in the headings of the sections a change added, removed or
    altered (what the index takes from a section: its line, date, kind, title,
    participants and topics) when both versions are at hand; else every slug either
    version's headings name."""
    if old_entity is not None and new_entity is not None and old is not None:
        before = Counter(map(_section_key, old_entity.sections))
        after = Counter(map(_section_key, new_entity.sections))
        return {slug for key in ((before - after) + (after - before)) for slug in key[4]}
    return {*(old[2] if old else ()), *(new[2] if new else ())}


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


def _affected_orgs(crm: CRM, people: set[str], before: list[Footprint | None], named: set[str]) -> set[str]:
    """The orgs whose figures can change: every org above an org the changed sections
    name, above a changed contact's org before the change, and above every affected
    contact's org now."""
    starts = {s for s in named if s in crm.orgs}
    starts |= {f[0] for f in before if f is not None and f[0]}  # type: ignore[misc]
    starts |= {crm.contacts[s].org for s in people if crm.contacts[s].org}  # type: ignore[misc]
    orgs: set[str] = set()
    for slug in starts:
        orgs.update(org_chain(crm, slug))
    return orgs


def build_index_for(crm: CRM, today: date, people: set[str], groups: set[str], children: dict[str, list[str]],
                    members: dict[str, list[str]], namers: dict[str, set[str]]) -> SectionIndex:
    """An index right for these contacts and orgs: over the files whose sections can
    touch them (their own, and those whose headings name them or, for an org, anyone
    in its group), in the order a full pass reads them."""
    slugs = set(people)
    for org in groups:
        for part in org_group(org, children):
            slugs.add(part)
            slugs.update(members.get(part, ()))
    paths: set[str] = set()
    for slug in slugs:
        paths.update(namers.get(slug, ()))
        entity = crm.contacts.get(slug)
        if entity is not None:
            paths.add(entity.path)
        entity = crm.orgs.get(slug)
        if entity is not None:
            paths.add(entity.path)
    from .stats_touches import build_index

    return build_index(crm, today, [e for e in crm.entities() if e.path in paths], only=slugs)


def touch_days(entity: Entity, config: Config, today: date) -> list[int]:
    """The days of the file's touch sections up to today: its share of all_days."""
    now = today.toordinal()
    return [day for section in entity.sections
            if (day := section.date.toordinal()) <= now and config.is_touch(section.kind)]


# --- kept between processes: .crm-cache/stats.bin ---------------------------------------------


def compute_remembered(crm: CRM, today: date, digests: dict[str, str],
                       memory: StatsMemory | None = None) -> tuple[Stats, StatsMemory, bool]:
    """compute() from memory, or from what root's stats.bin holds when no memory is
    given: (the stats, the memory as it is now, whether it changed and so is worth
    writing back with write_memory)."""
    if memory is None:
        memory = read_memory(crm.root)
    before = memory.digests
    stats = compute(crm, today, memory, digests)
    return stats, memory, memory.last == "full" or memory.digests != before


def _stats_fingerprint() -> str:
    from . import cache
    from .incremental import all_modules

    return cache.program_fingerprint(all_modules())


def read_memory(root: Path) -> StatsMemory:
    """The memory the last `crm build` left in root's cache, or an empty one when there is
    none or it is foreign, stale or malformed (it is then never trusted)."""
    from . import cache

    payload = cache.read_blob(cache.cache_dir(root) / STATS_FILE, STATS_KIND, _stats_fingerprint())
    try:
        key, digests, (contacts, orgs, summary), days, footprints, total = payload  # type: ignore[misc]
    except (TypeError, ValueError):
        return StatsMemory()
    shapes = ((key, str), (digests, dict), (contacts, dict), (orgs, dict), (summary, dict), (days, dict),
              (footprints, dict), (total, dict))
    if not all(isinstance(value, kind) for value, kind in shapes):
        return StatsMemory()
    if not all(isinstance(row, dict) for row in (*contacts.values(), *orgs.values())):
        return StatsMemory()
    if not all(isinstance(f, tuple) and len(f) == 3 for f in footprints.values()):
        return StatsMemory()
    return StatsMemory(key, digests, Stats(contacts, orgs, summary), days, footprints, total)


def write_memory(root: Path, memory: StatsMemory) -> None:
    """Keep memory for the next process; a cache that cannot be written costs only speed."""
    from . import cache

    if memory.stats is None:
        return
    stats = memory.stats
    payload = (memory.key, memory.digests, (stats.contacts, stats.orgs, stats.summary), memory.days,
               memory.footprints, memory.total)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        cache.write_blob(cache.cache_dir(root) / STATS_FILE, STATS_KIND, _stats_fingerprint(), payload)
    finally:
        if was_enabled:
            gc.enable()

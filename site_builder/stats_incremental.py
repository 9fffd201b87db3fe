"""Stats after a few files changed, without a pass over every section again.

A long-running process (`crm serve`, `crm watch`) computes the stats after every save,
and at 10,000 contacts a full computation (stats.compute) takes about 1.2 s, most of it
the pass over 200,000 sections and the per-contact figures. After one edit nearly all
of that comes out the same. This module keeps what the last computation used
(StatsMemory) and, when only contact files changed, works out again just what they can
change:

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
files); every other contact's and org's figures are the last ones. Anything else - an
org file changed, another day, another crm.yaml, a total revenue that moved (every
org's share of it), or many files at once - is a full computation.
tests/test_stats_incremental.py checks the result against a full computation after
random edits, additions and deletions.
"""

from __future__ import annotations

import gc
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

from .model import CRM, Config, Contact, Entity
from .parse import Section
from .stats import (SectionIndex, Stats, _Context, _Money, _members, _referrals, _total_revenue, assign_rfm,
                    compute_in_context, contact_stats, context_of, money_of, org_children, org_group, org_stats,
                    summary_stats)
from .stats_touches import org_chain

# Above this many changed files, a full computation is about as cheap and far simpler.
MAX_CHANGED_FILES = 64


@dataclass
class StatsMemory:
    """What the last computation in this process was made from. The model objects are
    never changed after loading (loader.LoadMemory hands back the same object for an
    unchanged file), so a file whose object is the same one is the same file."""

    today: date | None = None
    config: Config | None = None
    entities: dict[str, Entity] = field(default_factory=dict)  # path -> the file's contact or org
    stats: Stats | None = None
    money: dict[str, _Money] = field(default_factory=dict)  # path -> its money facts
    days: dict[str, list[int]] = field(default_factory=dict)  # path -> its touch days (SectionIndex.all_days)
    namers: dict[str, set[str]] = field(default_factory=dict)  # slug -> paths whose headings name it
    last: str = ""  # "full" or "incremental": how the last result was made (for tests and timing)


def compute(crm: CRM, today: date, memory: StatsMemory) -> Stats:
    """stats.compute(crm, today), made from memory where it can be; memory is updated.
    The result is the same as stats.compute's, key order included."""
    was_enabled = gc.isenabled()
    gc.disable()  # as in stats.compute: nothing here makes cycles
    try:
        stats = _incremental(crm, today, memory)
        if stats is None:
            stats = _full(crm, today, memory)
        return stats
    finally:
        if was_enabled:
            gc.enable()


def _full(crm: CRM, today: date, memory: StatsMemory) -> Stats:
    spans: dict[str, tuple[int, int]] = {}
    ctx = context_of(crm, today, spans)
    stats = compute_in_context(ctx)
    all_days = ctx.index.all_days
    memory.today, memory.config, memory.stats, memory.money = today, crm.config, stats, ctx.money
    memory.entities = {e.path: e for e in crm.entities()}
    memory.days = {path: all_days[start:end] for path, (start, end) in spans.items()}
    memory.namers = _heading_namers(crm.entities())
    memory.last = "full"
    return stats


def _changed_paths(crm: CRM, memory: StatsMemory) -> set[str]:
    now = {e.path: e for e in crm.entities()}
    changed = {path for path, entity in now.items() if memory.entities.get(path) is not entity}
    changed.update(path for path in memory.entities if path not in now)
    return changed


def _incremental(crm: CRM, today: date, memory: StatsMemory) -> Stats | None:
    """The stats made from memory, or None when a full computation is needed."""
    if memory.stats is None or memory.today != today or memory.config != crm.config:
        return None
    changed = _changed_paths(crm, memory)
    if len(changed) > MAX_CHANGED_FILES or any(not p.startswith("contacts/") for p in changed):
        return None
    now = {e.path: e for e in crm.entities()}
    before, after = [memory.entities.get(p) for p in changed], [now.get(p) for p in changed]

    money = dict(memory.money)
    for path in changed:
        entity = now.get(path)
        if entity is None:
            money.pop(path, None)
        else:
            money[path] = money_of(entity, today)
    ctx = _Context(crm, today, SectionIndex({}, {}, []), money, _referrals(crm), org_children(crm), _members(crm))
    total = _total_revenue(ctx)
    previous_total = _total_revenue(_Context(crm, today, ctx.index, memory.money, {}, {}, {}))
    if total != previous_total:  # every org's share of the revenue moves
        return None

    namers = _updated_namers(memory.namers, before, after)
    named = {slug for old, new in zip(before, after) for slug in changed_participants(old, new)}
    people = _affected_contacts(crm, before, after, named)
    groups = _affected_orgs(crm, people, before, named)
    ctx.index = build_index_for(crm, today, people, groups, ctx.children, ctx.members, namers)

    old = memory.stats
    contacts = {slug: contact_stats(c, ctx) if slug in people else dict(old.contacts[slug])
                for slug, c in crm.contacts.items()}
    assign_rfm(contacts, ctx)
    orgs = {slug: org_stats(o, ctx, total) if slug in groups else dict(old.orgs[slug])
            for slug, o in crm.orgs.items()}

    days = dict(memory.days)
    for path in changed:
        entity = now.get(path)
        if entity is None:
            days.pop(path, None)
        else:
            days[path] = touch_days(entity, crm.config, today)
    ctx.index = SectionIndex({}, {}, [d for path in now if path in days for d in days[path]])
    stats = Stats(contacts, orgs, summary_stats(crm, contacts, orgs, ctx, total))

    memory.entities, memory.stats, memory.money, memory.days, memory.namers = now, stats, money, days, namers
    memory.last = "incremental"
    return stats


def _heading_namers(entities: Iterable[Entity]) -> dict[str, set[str]]:
    """slug -> the files with a section whose heading names it (whether or not a file
    has that slug yet: creating it must find them)."""
    namers: dict[str, set[str]] = defaultdict(set)
    for entity in entities:
        for slug in heading_slugs(entity):
            namers[slug].add(entity.path)
    return dict(namers)


def heading_slugs(entity: Entity) -> set[str]:
    return {slug for section in entity.sections if section.participants for slug in section.participants}


def _updated_namers(namers: dict[str, set[str]], before: list[Entity | None],
                    after: list[Entity | None]) -> dict[str, set[str]]:
    result = dict(namers)
    for entity in before:
        if entity is not None:
            for slug in heading_slugs(entity):
                result[slug] = result.get(slug, set()) - {entity.path}
    for entity in after:
        if entity is not None:
            for slug in heading_slugs(entity):
                result[slug] = result.get(slug, set()) | {entity.path}
    return result


def changed_participants(before: Entity | None, after: Entity | None) -> set[str]:
    """The slugs named in the headings of the sections the change added, removed or
    altered (what the index takes from a section: its line, date, kind, title,
    participants and topics); every one the file names when it was added or deleted."""
    if before is None or after is None:
        return heading_slugs(before or after)  # type: ignore[arg-type]
    old, new = Counter(map(_section_key, before.sections)), Counter(map(_section_key, after.sections))
    return {slug for key in ((old - new) + (new - old)) for slug in key[4]}


def _section_key(section: Section) -> tuple[object, ...]:
    return (section.line, section.date, section.kind, section.title, section.participants, section.topics)


def _affected_contacts(crm: CRM, before: list[Entity | None], after: list[Entity | None],
                       named: set[str]) -> set[str]:
    """The contacts whose own figures a change of these files can change: their own, the
    ones the changed sections name and the referrers whose list of referrals changed."""
    slugs = set(named)
    for old, new in zip(before, after):
        slugs.update(e.slug for e in (old, new) if e is not None)
        referrers = [e.referred_by if isinstance(e, Contact) else None for e in (old, new)]
        if old is None or new is None or referrers[0] != referrers[1]:
            slugs.update(r for r in referrers if r)
    return {s for s in slugs if s in crm.contacts}


def _affected_orgs(crm: CRM, people: set[str], before: list[Entity | None], named: set[str]) -> set[str]:
    """The orgs whose figures can change: every org above an org the changed sections
    name, above a changed contact's org before the change, and above every affected
    contact's org now."""
    starts = {s for s in named if s in crm.orgs}
    starts |= {e.org for e in before if isinstance(e, Contact) and e.org}
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

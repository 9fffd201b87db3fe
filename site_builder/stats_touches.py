"""One pass over every dated section of the CRM -> touches, plans and topics per slug.

A section belongs to the file it is in and to every contact or org @mentioned in its
heading (the participants). A heading that @mentions its own file's slug still counts
once. Everything else in the stats reads this index; nothing scans the CRM per contact.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable

from .model import CRM, Entity


# A planned (future) section: (day number, path, line, date, kind, title). A plain tuple,
# made by the tuple display in the hot loop, and one that sorts soonest first, then by
# file and line, with no key function (two plans never share a path and a line).
Plan = tuple[int, str, int, date, str, str]


@dataclass(slots=True)
class Linked:
    """Everything the sections say about one contact or one org.

    Touches are kept as two flat lists, day numbers and kinds, rather than one object per
    touch: every figure made from them (count, per kind, first, last, windows, spacing)
    needs only the days and the kinds, and flat lists are what C-level sorting and
    counting run fastest on (200,000 sections; see docs/stats.md, Performance)."""

    days: list[int] = field(default_factory=list)  # date.toordinal() of each touch; sorted once built
    kinds: list[str] = field(default_factory=list)  # the kind of each touch (one shared str per kind)
    planned: list[Plan] = field(default_factory=list)  # soonest first once built
    # The #topics of each section, as shared tuples of shared strings (see _SharedTopics):
    # one append per section here, counted later in one C-level pass.
    topics: list[tuple[str, ...]] = field(default_factory=list)
    # Orgs only: every touch of the org, the orgs below it and all their contacts, each
    # section once, in no particular order.
    group_days: list[int] = field(default_factory=list)
    group_kinds: list[str] = field(default_factory=list)
    # The number of the touch section last added to group_days: two people of one org in
    # one meeting are one touch for the org.
    group_mark: int = -1
    # The orgs whose group touches a touch of this contact or org goes to: its org (or
    # itself) and every org above that through `parent`.
    up: tuple["Linked", ...] = ()


@dataclass(slots=True)
class SectionIndex:
    contacts: dict[str, Linked]
    orgs: dict[str, Linked]
    all_days: list[int]  # the day number of every touch section once, whoever it is with

    def contact(self, slug: str) -> Linked:
        return self.contacts.get(slug) or Linked()

    def org(self, slug: str) -> Linked:
        return self.orgs.get(slug) or Linked()

    def unlink(self) -> None:
        """Break the cycles of the org groups (an org is in its own chain: Linked.up), once
        the figures are made: the index then goes by reference counting, as the
        computations that freeze what they made need (stats.freeze_survivors)."""
        for linked in self.orgs.values():
            linked.up = ()


class _TouchKind(dict[str, "str | None"]):
    """kind -> the one shared str for that kind when it is a touch kind, else None; asked
    of crm.config.is_touch once per kind. The shared str matters: the parse cache hands
    back a separate copy of "call" for every section, and counting 500,000 kinds runs much
    faster over a few objects than over thousands scattered through memory."""

    def __init__(self, is_touch: Callable[[str], bool]) -> None:
        super().__init__()
        self.is_touch = is_touch

    def __missing__(self, kind: str) -> str | None:
        self[kind] = answer = sys.intern(kind) if self.is_touch(kind) else None
        return answer


class _SharedTopics(dict[tuple[str, ...], tuple[str, ...]]):
    """A section's #topics -> one shared tuple of shared (interned) strings per distinct
    tuple. The parse cache hands back separate copies of each topic string, scattered
    through memory; counting those per contact, long after the pass read them, costs
    several times more than counting a few hundred shared objects that stay in the CPU
    cache."""

    def __missing__(self, topics: tuple[str, ...]) -> tuple[str, ...]:
        self[topics] = shared = tuple(sys.intern(t) for t in topics)
        return shared


def org_chain(crm: CRM, slug: str | None) -> list[str]:
    """The org and every org above it through `parent`, each once even if parents loop."""
    chain: list[str] = []
    while slug is not None and slug in crm.orgs and slug not in chain:
        chain.append(slug)
        slug = crm.orgs[slug].parent
    return chain


def _link_groups(crm: CRM, contacts: dict[str, Linked], orgs: dict[str, Linked]) -> None:
    chains = {slug: tuple(orgs[s] for s in org_chain(crm, slug)) for slug in crm.orgs}
    for slug, org in orgs.items():
        org.up = chains[slug]
    for slug, linked in contacts.items():
        org = crm.contacts[slug].org
        if org in chains:
            linked.up = chains[org]


def build_index(crm: CRM, today: date, entities: Iterable[Entity] | None = None,
                spans: dict[str, tuple[int, int]] | None = None, only: set[str] | None = None) -> SectionIndex:
    """The hot loop of the stats (200,000 sections for a big CRM), so it is written flat:
    local names, no helper calls per section, a short path for the common section that
    names nobody in its heading.

    entities: only these files' sections (stats_incremental: the few files that can
    change some slugs' figures); the index is then right for those slugs only, and
    all_days holds only these files' touches. only: the contacts wanted (with entities);
    no other contact gets an entry. spans: filled with each file's path -> (start, end)
    of its touches in all_days."""
    contacts = {slug: Linked() for slug in (crm.contacts if only is None else only & crm.contacts.keys())}
    orgs = {slug: Linked() for slug in crm.orgs}
    _link_groups(crm, contacts, orgs)
    all_days: list[int] = []
    add_day = all_days.append
    touch_kind = _TouchKind(crm.config.is_touch)
    shared_topics = _SharedTopics()
    now = today.toordinal()
    mark = 0  # numbers the touch sections, for the per-org dedupe
    spare = Linked()  # what a file outside `only` adds to itself, unused
    for entity in crm.entities() if entities is None else entities:
        own = (contacts if entity.path.startswith("contacts/") else orgs).get(entity.slug, spare)
        path = entity.path
        start = len(all_days)
        own_days, own_kinds, own_groups, own_topics = own.days, own.kinds, own.up, own.topics
        for section in entity.sections:
            day = section.date.toordinal()
            if not section.participants:
                if day > now:
                    own.planned.append((day, path, section.line, section.date, section.kind, section.title))
                elif (kind := touch_kind[section.kind]) is not None:
                    add_day(day)
                    own_days.append(day)
                    own_kinds.append(kind)
                    for group in own_groups:  # one target: each group once, no dedupe needed
                        group.group_days.append(day)
                        group.group_kinds.append(kind)
                if section.topics:
                    own_topics.append(shared_topics[section.topics])
                continue
            # The parser lists each participant once; one naming its own file adds nothing.
            targets = [own]
            for slug in section.participants:
                linked = contacts.get(slug)
                if linked is not None and linked is not own:
                    targets.append(linked)
                linked = orgs.get(slug)
                if linked is not None and linked is not own:
                    targets.append(linked)
            if day > now:
                plan = (day, path, section.line, section.date, section.kind, section.title)
                for linked in targets:
                    linked.planned.append(plan)
            elif (kind := touch_kind[section.kind]) is not None:
                add_day(day)
                mark += 1
                for linked in targets:
                    linked.days.append(day)
                    linked.kinds.append(kind)
                    for group in linked.up:
                        # Two people of one org in one meeting: one touch for the org.
                        if group.group_mark != mark:
                            group.group_mark = mark
                            group.group_days.append(day)
                            group.group_kinds.append(kind)
            if section.topics:
                topics = shared_topics[section.topics]
                for linked in targets:
                    linked.topics.append(topics)
        if spans is not None:
            spans[path] = (start, len(all_days))
    for linked in (*contacts.values(), *orgs.values()):
        if len(linked.days) > 1:
            linked.days.sort()
        if len(linked.planned) > 1:
            linked.planned.sort()
    return SectionIndex(contacts, orgs, all_days)

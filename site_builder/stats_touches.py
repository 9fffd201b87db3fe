"""One pass over every dated section of the CRM -> touches, plans and topics per slug.

A section belongs to the file it is in and to every contact or org @mentioned in its
heading (the participants). A heading that @mentions its own file's slug still counts
once. Everything else in the stats reads this index; nothing scans the CRM per contact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Callable

from .model import CRM

# (day number, kind, path, line): tuples, not objects, because there are 200,000 of them,
# and the day as date.toordinal() because ints sort and compare several times faster
# than date objects (sorting has a fast path for them).
Touch = tuple[int, str, str, int]


@dataclass(slots=True)
class Plan:
    date: date
    kind: str
    title: str
    path: str
    line: int


@dataclass(slots=True)
class Linked:
    """Everything the sections say about one contact or one org."""

    touches: list[Touch] = field(default_factory=list)  # oldest first once built
    planned: list[Plan] = field(default_factory=list)  # soonest first once built
    # {topic: count}, counted while the section is at hand (reading its topics again
    # later, per contact, costs more: by then they are out of the CPU cache).
    topics: dict[str, int] = field(default_factory=dict)
    # Orgs only: every touch of the org, the orgs below it and all their contacts, each
    # section once, in no particular order.
    group_touches: list[Touch] = field(default_factory=list)
    # The orgs whose group_touches a touch of this contact or org goes to: its org (or
    # itself) and every org above that through `parent`.
    up: tuple["Linked", ...] = ()


@dataclass(slots=True)
class SectionIndex:
    contacts: dict[str, Linked]
    orgs: dict[str, Linked]
    all_touches: list[Touch]  # every touch section once, whoever it is with

    def contact(self, slug: str) -> Linked:
        return self.contacts.get(slug) or Linked()

    def org(self, slug: str) -> Linked:
        return self.orgs.get(slug) or Linked()


_date = itemgetter(0)


class _KindIsTouch(dict[str, bool]):
    """kind -> crm.config.is_touch(kind), asked once per kind (a dict hit is cheaper)."""

    def __init__(self, is_touch: Callable[[str], bool]) -> None:
        super().__init__()
        self.is_touch = is_touch

    def __missing__(self, kind: str) -> bool:
        self[kind] = answer = self.is_touch(kind)
        return answer


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
    for slug, contact in crm.contacts.items():
        if contact.org in chains:
            contacts[slug].up = chains[contact.org]


def build_index(crm: CRM, today: date) -> SectionIndex:
    """The hot loop of the stats (200,000 sections for a big CRM), so it is written flat:
    local names, no helper calls per section, a short path for the common section that
    names nobody in its heading."""
    contacts = {slug: Linked() for slug in crm.contacts}
    orgs = {slug: Linked() for slug in crm.orgs}
    _link_groups(crm, contacts, orgs)
    all_touches: list[Touch] = []
    add_touch = all_touches.append
    touch_kinds = _KindIsTouch(crm.config.is_touch)
    now = today.toordinal()
    for entity in crm.entities():
        own = (contacts if entity.path.startswith("contacts/") else orgs)[entity.slug]
        path = entity.path
        own_touches, own_groups, own_topics = own.touches, own.up, own.topics
        for section in entity.sections:
            day = section.date.toordinal()
            if not section.participants:
                if day > now:
                    own.planned.append(Plan(section.date, section.kind, section.title, path, section.line))
                elif touch_kinds[section.kind]:
                    touch: Touch = (day, section.kind, path, section.line)
                    add_touch(touch)
                    own_touches.append(touch)
                    for group in own_groups:  # one target: each group once, no dedupe needed
                        group.group_touches.append(touch)
                for topic in section.topics:
                    own_topics[topic] = own_topics.get(topic, 0) + 1
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
                plan = Plan(section.date, section.kind, section.title, path, section.line)
                for linked in targets:
                    linked.planned.append(plan)
            elif touch_kinds[section.kind]:
                touch = (day, section.kind, path, section.line)
                add_touch(touch)
                for linked in targets:
                    linked.touches.append(touch)
                    for group in linked.up:
                        # Two people of one org in one meeting: one touch for the org.
                        if not group.group_touches or group.group_touches[-1] is not touch:
                            group.group_touches.append(touch)
            for linked in targets:
                counts = linked.topics
                for topic in section.topics:
                    counts[topic] = counts.get(topic, 0) + 1
    for linked in (*contacts.values(), *orgs.values()):
        if len(linked.touches) > 1:
            linked.touches.sort(key=_date)  # stable: same-day touches keep file order
        if len(linked.planned) > 1:
            linked.planned.sort(key=lambda p: (p.date, p.path, p.line))
    return SectionIndex(contacts, orgs, all_touches)

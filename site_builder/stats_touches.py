"""One pass over every dated section of the CRM -> touches, plans and topics per slug.

A section belongs to the file it is in and to every contact or org @mentioned in its
heading (the participants). A heading that @mentions its own file's slug still counts
once. Everything else in the stats reads this index; nothing scans the CRM per contact.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from .model import CRM, Entity
from .parse import Section

# (date, kind, path, line): tuples, not objects, because there are 200,000 of them.
Touch = tuple[date, str, str, int]


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
    topics: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class SectionIndex:
    contacts: dict[str, Linked]
    orgs: dict[str, Linked]
    all_touches: list[Touch]  # every touch section once, whoever it is with

    def contact(self, slug: str) -> Linked:
        return self.contacts.get(slug) or Linked()

    def org(self, slug: str) -> Linked:
        return self.orgs.get(slug) or Linked()


def _targets(entity: Entity, section: Section, crm: CRM) -> tuple[set[str], set[str]]:
    """(contact slugs, org slugs) a section is about: its own file plus heading @mentions."""
    contacts: set[str] = set()
    orgs: set[str] = set()
    (contacts if entity.kind == "contact" else orgs).add(entity.slug)
    for slug in section.participants:
        if slug in crm.contacts:
            contacts.add(slug)
        if slug in crm.orgs:
            orgs.add(slug)
    return contacts, orgs


def build_index(crm: CRM, today: date) -> SectionIndex:
    contacts: dict[str, Linked] = {}
    orgs: dict[str, Linked] = {}
    all_touches: list[Touch] = []
    is_touch = crm.config.is_touch
    for entity in crm.entities():
        for section in entity.sections:
            contact_slugs, org_slugs = _targets(entity, section, crm)
            targets = [contacts.setdefault(s, Linked()) for s in contact_slugs]
            targets += [orgs.setdefault(s, Linked()) for s in org_slugs]
            if section.date > today:
                plan = Plan(section.date, section.kind, section.title, entity.path, section.line)
                for linked in targets:
                    linked.planned.append(plan)
            elif is_touch(section.kind):
                touch: Touch = (section.date, section.kind, entity.path, section.line)
                all_touches.append(touch)
                for linked in targets:
                    linked.touches.append(touch)
            if section.topics:
                for linked in targets:
                    linked.topics.update(section.topics)
    for linked in (*contacts.values(), *orgs.values()):
        linked.touches.sort()
        linked.planned.sort(key=lambda p: (p.date, p.path, p.line))
    return SectionIndex(contacts, orgs, all_touches)

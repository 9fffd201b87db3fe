"""The CRM as an iCalendar feed (RFC 5545): birthdays, follow-ups and planned sections.

- Birthdays are yearly all-day events (29 February falls on the last day of February in
  other years). A birthday without a year starts in 2000, so the output does not change
  with today's date.
- A contact's `follow_up` date is one all-day event.
- A section dated after today (a planned meeting or call) is an all-day event on its
  date, in the file of every contact or org that has it.

Every event's UID is derived from what it is about (the slug, and for sections the date
and its position among that day's sections), not from its text, so a calendar app that
subscribes updates an event when its title or date changes instead of adding another.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable, Iterable

from ..model import CRM, Contact, Entity
from .privacy import public_view
from .vcard import fold

PRODID = "-//plaintext-crm//crm export ics//EN"
UID_DOMAIN = "plaintext-crm"
_NO_YEAR = 2000  # a leap year, so --02-29 has a first occurrence


def escape_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


def _event(uid: str, start: date, summary: str, stamp: date, *, description: str = "", rrule: str = "",
           categories: str = "", transparent: bool = False) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{_day(stamp)}T000000Z",
        f"DTSTART;VALUE=DATE:{_day(start)}",
        f"DTEND;VALUE=DATE:{_day(start + timedelta(days=1))}",
        f"SUMMARY:{escape_text(summary)}",
    ]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description)}")
    if categories:
        lines.append(f"CATEGORIES:{escape_text(categories)}")
    if transparent:
        lines.append("TRANSP:TRANSPARENT")
    lines.append("END:VEVENT")
    return lines


def birthday_events(contact: Contact, stamp: date) -> list[str]:
    b = contact.birthday
    if b is None:
        return []
    start = date(b.year or _NO_YEAR, b.month, b.day)
    rrule = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1" if (b.month, b.day) == (2, 29) else "FREQ=YEARLY"
    return _event(f"{contact.slug}.birthday@{UID_DOMAIN}", start, f"Birthday: {contact.name}", stamp,
                  rrule=rrule, categories="Birthday", transparent=True)


def follow_up_events(contact: Contact, stamp: date) -> list[str]:
    if contact.follow_up is None:
        return []
    return _event(f"{contact.slug}.follow-up@{UID_DOMAIN}", contact.follow_up, f"Follow up: {contact.name}", stamp,
                  description=contact.title or "", categories="Follow-up")


def planned_events(entity: Entity, today: date, stamp: date) -> list[str]:
    lines: list[str] = []
    per_day: dict[date, int] = {}
    for section in sorted(entity.sections, key=lambda s: (s.date, s.line)):
        n = per_day[section.date] = per_day.get(section.date, 0) + 1
        if section.date <= today:
            continue
        what = section.kind.capitalize() if section.kind != "note" else "Planned"
        summary = f"{what} with {entity.name}" + (f": {section.title}" if section.title else "")
        uid = f"{entity.slug}.{section.date.isoformat()}.{n}@{UID_DOMAIN}"
        if entity.kind == "org":
            uid = f"org.{uid}"
        lines += _event(uid, section.date, summary, stamp, description=section.body, categories=section.kind)
    return lines


class Pieces:
    """Each file's part of the calendar, kept from the last build: (part, path) ->
    (digest of the file, folded text). A file's events depend only on its own bytes,
    today and include_private (the caller keeps one set per today and setting), so
    after one edit only that file's events are made again."""

    def __init__(self, old: dict[tuple[str, str], tuple[str, str]] | None = None) -> None:
        self.old = old or {}
        self.new: dict[tuple[str, str], tuple[str, str]] = {}

    @property
    def changed(self) -> bool:
        return self.new != self.old

    def text(self, part: str, entity: Entity, digest: str | None, make: Callable[[], list[str]]) -> str:
        key = (part, entity.path)
        found = self.old.get(key)
        if digest is not None and found is not None and found[0] == digest:
            self.new[key] = found
            return found[1]
        text = _folded(make())
        if digest is not None:
            self.new[key] = (digest, text)
        return text


def build_calendar(crm: CRM, stats: Any, today: date, *, include_private: bool = False,
                   pieces: Pieces | None = None, digests: dict[str, str] | None = None) -> str:
    """The whole calendar as text. `stats` (stats.compute's result) is accepted for the
    site's convenience and not needed: every event comes from the model. With pieces and
    the files' digests, the events of files whose bytes did not change are reused."""
    view = public_view(crm, include_private)
    store = pieces if pieces is not None else Pieces()
    known = digests if pieces is not None and digests is not None else {}
    parts = [_folded([
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(view.config.title)}",
    ])]
    for contact in view.contacts.values():
        parts.append(store.text("person", contact, known.get(contact.path),
                                lambda c=contact: birthday_events(c, today) + follow_up_events(c, today)))
    for entity in _entities(view):
        parts.append(store.text("planned", entity, known.get(entity.path),
                                lambda e=entity: planned_events(e, today, today)))
    parts.append(_folded(["END:VCALENDAR"]))
    return "".join(parts)


def _folded(lines: list[str]) -> str:
    return "".join(fold(line) + "\r\n" for line in lines)


def _entities(crm: CRM) -> Iterable[Entity]:
    yield from crm.contacts.values()
    yield from crm.orgs.values()

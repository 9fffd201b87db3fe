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
from typing import Any, Callable

from ..model import CRM, Contact, Entity, slug_of
from .privacy import redact
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


# A file's part of the calendar: (digest of the file, its birthday and follow-up events,
# its planned events), each folded text ("" when it has none; an org has no first part).
Piece = tuple[str, str, str]


class Pieces:
    """Each file's part of the calendar, kept from the last build: path -> Piece. A
    file's events depend only on its own bytes, today and include_private (the caller
    keeps one set per today and setting), so after one edit only that file's events are
    made again, and no other file is even redacted."""

    def __init__(self, old: dict[str, Piece] | None = None, text: tuple[str, str] | None = None) -> None:
        self.old = old or {}
        self.new: dict[str, Piece] = {}
        self.made = 0  # pieces made afresh (not found under their file's digest)
        # (header, calendar) made from exactly old, which a long-running process keeps:
        # when every piece made again comes out as it was (a note's text edited), that
        # calendar is the answer without joining 10,000 pieces again (build_calendar).
        self.text = text
        self.same_text = False  # the answer was text's calendar
        self.header = ""  # the header of the calendar made

    @property
    def changed(self) -> bool:
        # Nothing made: new holds only old entries, so it differs only by files gone.
        return self.made > 0 or len(self.new) != len(self.old)

    def piece(self, entity: Entity, digest: str | None, make: Callable[[], tuple[str, str]]) -> Piece:
        found = self.old.get(entity.path)
        if digest is not None and found is not None and found[0] == digest:
            self.new[entity.path] = found
            return found
        self.made += 1
        person, planned = make()
        made = (digest or "", person, planned)
        if digest is not None:
            self.new[entity.path] = made
        return made


def build_calendar(crm: CRM, stats: Any, today: date, *, include_private: bool = False,
                   pieces: Pieces | None = None, digests: dict[str, str] | None = None) -> str:
    """The whole calendar as text. `stats` (stats.compute's result) is accepted for the
    site's convenience and not needed: every event comes from the model. With pieces and
    the files' digests, the events of files whose bytes did not change are reused."""
    store = pieces if pieces is not None else Pieces()
    known = digests if pieces is not None and digests is not None else {}
    store.header = header = calendar_header(crm)
    if store.text is not None and digests is not None and store.text[0] == header \
            and _pieces_unchanged(crm, today, include_private, store, digests):
        store.same_text = True
        return store.text[1]
    people: list[str] = []
    planned: list[str] = []
    kept = store.old
    for contact in crm.contacts.values():
        if contact.private and not include_private:
            continue
        digest = known.get(contact.path)
        found = kept.get(contact.path)
        if found is not None and found[0] == digest:  # the common case, inline: 10,000 files
            store.new[contact.path] = found
        else:
            found = store.piece(contact, digest, lambda c=contact: _contact_piece(c, today, include_private))
        people.append(found[1])
        planned.append(found[2])
    for org in crm.orgs.values():
        if org.private and not include_private:
            continue
        planned.append(store.piece(org, known.get(org.path),
                                   lambda o=org: ("", _planned_piece(o, today, include_private)))[2])
    return "".join([header, *people, *planned, CALENDAR_END])


def _pieces_unchanged(crm: CRM, today: date, include_private: bool, store: Pieces,
                      digests: dict[str, str]) -> bool:
    """True when the calendar has the same events as store.old's: the same files in it,
    and each changed file's events made again come out as they were. Then store.new
    holds the old pieces with those made again (under their new digests)."""
    old = store.old
    if old.keys() - digests.keys():
        return False  # a file gone
    get = old.get
    fresh: dict[str, Piece] = {}
    for path in [p for p, d in digests.items() if (f := get(p)) is None or f[0] != d]:
        found = get(path)
        entity = _entity_at(crm, path)
        if entity is None or (entity.private and not include_private):
            if found is not None:
                return False  # gone from the calendar
            continue
        if found is None:
            return False  # new in it
        if isinstance(entity, Contact):
            made: Piece = (digests[path], *_contact_piece(entity, today, include_private))
        else:
            made = (digests[path], "", _planned_piece(entity, today, include_private))
        if made[1:] != found[1:]:
            return False
        fresh[path] = made
    store.new = {**old, **fresh}
    store.made = len(fresh)
    return True


def same_calendar(crm: CRM, today: date, header: str, old: dict[str, Piece], digests: dict[str, str],
                  include_private: bool = False) -> dict[str, Piece] | None:
    """Whether the calendar made now would be the one whose header and pieces these were
    (old: every file's digest, with the pieces of at least the files whose digest is
    not that one's), told from the changed files' events alone: if so, the pieces made
    again (of those files, under their new digests, each as it was), else None."""
    if header != calendar_header(crm):
        return None
    store = Pieces(old)
    if not _pieces_unchanged(crm, today, include_private, store, digests):
        return None
    return {path: piece for path, piece in store.new.items() if piece is not old[path]}


def file_piece(crm: CRM, path: str, today: date, include_private: bool = False) -> tuple[str, str] | None:
    """The calendar's piece of the file at path, as build_calendar makes it: (its
    birthday and follow-up events, its planned events), "" for an org's first; None when
    the file is not in the calendar (gone, or private)."""
    entity = _entity_at(crm, path)
    if entity is None or (entity.private and not include_private):
        return None
    if isinstance(entity, Contact):
        return _contact_piece(entity, today, include_private)
    return "", _planned_piece(entity, today, include_private)


def _entity_at(crm: CRM, path: str) -> Entity | None:
    folder = path.partition("/")[0]
    entities: dict[str, Any] = crm.contacts if folder == "contacts" else crm.orgs if folder == "orgs" else {}
    entity = entities.get(slug_of(path))
    return entity if entity is not None and entity.path == path else None


def _contact_piece(contact: Contact, today: date, include_private: bool) -> tuple[str, str]:
    # The events read only the file's own fields (never its org or referrer, which
    # public_view may also hide), so redacting the one file gives what the view shows.
    shown = contact if include_private else redact(contact)
    return _folded(birthday_events(shown, today) + follow_up_events(shown, today)), _planned_piece(shown, today, True)


def _planned_piece(entity: Entity, today: date, include_private: bool) -> str:
    shown = entity if include_private else redact(entity)
    return _folded(planned_events(shown, today, today))


def calendar_header(crm: CRM) -> str:
    """The text build_calendar's calendar starts with (its end: CALENDAR_END)."""
    # The title is crm.yaml's, which privacy never hides (public_view keeps the config).
    return _folded([
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(crm.config.title)}",
    ])


def _folded(lines: list[str]) -> str:
    return "".join(fold(line) + "\r\n" for line in lines)


CALENDAR_END = _folded(["END:VCALENDAR"])

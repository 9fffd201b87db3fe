"""Who needs attention: follow-ups, overdue keep-in-touch, never contacted, birthdays;
and, apart, who is being over-contacted. Pure: reads the figures compute() made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from .model import Config

if TYPE_CHECKING:
    from .stats import Stats

REASONS = ("follow-up", "overdue", "never-contacted", "birthday", "over-contacted")
# What the due list (and the tag pages: the last touch) read of a contact's figures, in
# this order: stats_incremental.PackedFigures keeps them beside each packed entry.
DUE_FIELDS = ("name", "last_touch", "touches_7d", "over_contacted", "snoozed", "follow_up", "next_due",
              "cadence_days", "never_touched", "next_birthday", "age_next", "since")


def due_fields(contacts: Any, slug: str) -> dict[str, Any]:
    """What the due list reads of a contact's figures: the entry itself, or what a
    PackedFigures keeps of it, without unpacking it."""
    read = getattr(contacts, "due_fields", None)
    return read(slug) if read is not None else contacts[slug]  # type: ignore[no-any-return]
_RANK = {reason: i for i, reason in enumerate(REASONS)}


class DueItem(NamedTuple):
    """One line of the due list. A named tuple, not a frozen dataclass: a big CRM has
    thousands, made on every build, and a frozen dataclass is several times slower to make
    (the due list at 10,000 contacts: 49 ms against 58)."""

    slug: str
    name: str
    reason: str  # one of REASONS
    date: str  # ISO date the item is about (due date, birthday, last touch)
    detail: str  # "overdue by 12 days"

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(slots=True)
class DueReport:
    today: str
    within: int
    attention: list[DueItem]  # most urgent first
    over_contacted: list[DueItem]

    def to_json(self) -> list[dict[str, Any]]:
        """The flat list `crm due --format json` prints: attention, then over-contacted."""
        return [item.to_json() for item in (*self.attention, *self.over_contacted)]


def in_days(days: int) -> str:
    """'today', 'in 1 day', '3 days ago': how people say a distance in time."""
    if days == 0:
        return "today"
    unit = "day" if abs(days) == 1 else "days"
    return f"in {days} {unit}" if days > 0 else f"{-days} {unit} ago"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _follow_up(slug: str, s: dict[str, Any], today: date, horizon: date) -> DueItem | None:
    if not s["follow_up"]:
        return None
    when = date.fromisoformat(s["follow_up"])
    if when > horizon:
        return None
    late = (today - when).days
    detail = (f"follow-up overdue by {_days(late)}" if late > 0
              else f"follow-up due {in_days(-late)}")
    return DueItem(slug, s["name"], "follow-up", s["follow_up"], detail)


def _overdue(slug: str, s: dict[str, Any], today: date, horizon: date) -> DueItem | None:
    if not s["next_due"]:
        return None
    when = date.fromisoformat(s["next_due"])
    if when > horizon:
        return None
    late = (today - when).days
    every = f"every {_days(s['cadence_days'])}"
    detail = (f"overdue by {_days(late)} (last touch {s['last_touch']}, {every})" if late > 0
              else f"keep-in-touch due {in_days(-late)} ({every})")
    return DueItem(slug, s["name"], "overdue", s["next_due"], detail)


def _never_contacted(slug: str, s: dict[str, Any], today: date) -> DueItem | None:
    if not (s["never_touched"] and s["cadence_days"]):
        return None
    since = date.fromisoformat(s["since"]) if s["since"] else None
    # The date is when they came in (so the longest-waiting come first), today if unknown.
    when = since if since and since <= today else today
    detail = "never contacted" + (f" (in the CRM since {since.isoformat()})" if since else "")
    return DueItem(slug, s["name"], "never-contacted", when.isoformat(), detail)


def _birthday(slug: str, s: dict[str, Any], today: date, horizon: date) -> DueItem | None:
    if not s["next_birthday"]:
        return None
    when = date.fromisoformat(s["next_birthday"])
    if when > horizon:
        return None
    who = f"turns {s['age_next']}" if s["age_next"] else "birthday"
    return DueItem(slug, s["name"], "birthday", s["next_birthday"], f"{who} {in_days((when - today).days)}")


_due_values = itemgetter(*DUE_FIELDS)
# A contact's items: (its over-contacted item or None, its attention items).
ContactItems = tuple["DueItem | None", tuple["DueItem", ...]]


class DueMemory:
    """A long-running process's due items of each contact, with the values of its
    DUE_FIELDS they were made from: a save makes again only the items of contacts whose
    values changed (10,000 contacts' items took about 40 ms on every save)."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None  # today, within, the weekly limit
        self.items: dict[str, tuple[tuple[Any, ...], ContactItems]] = {}


def _values_of(s: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return _due_values(s)  # type: ignore[no-any-return]  # in C: the entries compute() makes have them all
    except KeyError:
        return tuple(s.get(name) for name in DUE_FIELDS)


def _contact_items(slug: str, s: dict[str, Any], today: date, horizon: date, limit: int) -> ContactItems:
    over = None
    if s["over_contacted"]:
        over = DueItem(slug, s["name"], "over-contacted", s["last_touch"],
                       f"{s['touches_7d']} touches in the last 7 days (limit {limit})")
    if s["snoozed"]:
        return over, ()
    items = (
        _follow_up(slug, s, today, horizon),
        _overdue(slug, s, today, horizon),
        _never_contacted(slug, s, today),
        _birthday(slug, s, today, horizon),
    )
    return over, tuple(item for item in items if item is not None)


_OVER, _SNOOZED, _FOLLOW_UP, _NEXT_DUE, _CADENCE, _NEVER, _BIRTHDAY = (DUE_FIELDS.index(name) for name in (
    "over_contacted", "snoozed", "follow_up", "next_due", "cadence_days", "never_touched", "next_birthday"))


def _surely_nothing_due(values: tuple[Any, ...], horizon: str) -> bool:
    """Whether a contact's DUE_FIELDS values (in that order) give no item at all, told
    without a dict: _contact_items's tests, with each date an ISO text compared as text
    to the horizon's (most contacts have nothing due; making the dict of each of 10,000
    took most of the list's time)."""
    if values[_OVER]:
        return False
    if values[_SNOOZED]:
        return True
    follow_up, next_due, birthday = values[_FOLLOW_UP], values[_NEXT_DUE], values[_BIRTHDAY]
    return not ((follow_up and follow_up <= horizon) or (next_due and next_due <= horizon)
                or (values[_NEVER] and values[_CADENCE]) or (birthday and birthday <= horizon))


def due_items(config: Config, stats: Stats, today: date, within: int = 7,
              memory: DueMemory | None = None) -> DueReport:
    """Everything due on or before today + `within` days, most urgent first: by reason in
    the order follow-up, overdue, never-contacted, birthday; then by date, then slug.
    Snoozed contacts (snooze_until after today) are left out of the attention list.
    From the figures and crm.yaml's settings alone: `crm due` needs no loaded CRM when
    the stats' memory is today's for the files as they are. memory: what the last call
    in this process made (see DueMemory)."""
    horizon = today + timedelta(days=max(0, within))
    attention: list[DueItem] = []
    over: list[DueItem] = []
    figures = stats.contacts
    key = (today, within, config.max_touches_per_week)
    known: dict[str, tuple[tuple[Any, ...], ContactItems]] = {}
    if memory is not None:
        if memory.key != key:
            memory.key, memory.items = key, {}
        known = memory.items  # updated in place: a save changes a few entries of 10,000
    # Entries kept packed (a build's figures read from its memory): the values kept
    # beside each tell most contacts have nothing due.
    kept_values = getattr(figures, "kept_values", None)
    horizon_text = horizon.isoformat()
    due_count = len(DUE_FIELDS)
    for slug in figures:
        values = kept_values(slug) if kept_values is not None else None
        if values is not None:
            if _surely_nothing_due(values, horizon_text):
                known.pop(slug, None)  # items kept from before: none now
                continue
            values = values[:due_count]  # a packed entry's kept values start with its DUE_FIELDS
        if memory is None:
            made = _contact_items(slug, due_fields(figures, slug), today, horizon, config.max_touches_per_week)
        else:
            # The items kept for the same values are the same items: no dict of the
            # entry's fields is made.
            found = known.get(slug)
            if values is None or found is None or found[0] != values:
                s = due_fields(figures, slug)  # what is read here, without unpacking every entry
                values = _values_of(s)
                if found is None or found[0] != values:
                    found = known[slug] = (values, _contact_items(slug, s, today, horizon,
                                                                  config.max_touches_per_week))
            made = found[1]
        if made[0] is not None:
            over.append(made[0])
        attention.extend(made[1])
    if len(known) > len(figures):  # contacts gone
        for slug in [slug for slug in known if slug not in figures]:
            del known[slug]
    attention.sort(key=lambda i: (_RANK[i.reason], i.date, i.slug))
    over.sort(key=lambda i: (-due_fields(figures, i.slug)["touches_7d"], i.slug))
    return DueReport(today.isoformat(), within, attention, over)

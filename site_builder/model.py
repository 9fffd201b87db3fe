"""The CRM as typed Python objects, built from parsed files.

Building never fails: a value that cannot be read as its type becomes None (or is left
out of a list) and the raw value stays in `meta`, where the checks in validate.py find
it and report it at its line. Stats and rendering only ever see typed values.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from pathlib import Path
from typing import Any

from .parse import ParsedFile, Section
from .problems import Problem

CONTACT_KEYS: tuple[str, ...] = (
    "name", "aka", "pronouns", "emails", "phones", "addresses", "links", "org", "title", "role",
    "tags", "tier", "status", "since", "customer_since", "source", "referred_by", "cadence",
    "follow_up", "snooze_until", "preferred_channel", "newsletter", "timezone", "location",
    "birthday", "family", "interests", "trivia", "deals", "invoices", "private", "private_fields",
)
ORG_KEYS: tuple[str, ...] = (
    "name", "aka", "website", "industry", "size", "market", "parent", "tags", "links",
    "emails", "phones", "addresses", "deals", "invoices", "private", "private_fields",
)
DEAL_KEYS: tuple[str, ...] = ("title", "stage", "amount", "currency", "opened", "closed", "lost_to")
INVOICE_KEYS: tuple[str, ...] = ("number", "date", "amount", "currency", "due", "paid")

ROLES = ("decision-maker", "influencer", "champion", "user", "gatekeeper", "other")
TIERS = ("A", "B", "C")
STATUSES = ("lead", "qualified", "opportunity", "customer", "former", "partner", "personal")
CHANNELS = ("email", "phone", "meeting", "message")
NEWSLETTER = ("subscribed", "unsubscribed", "none")
DEAL_STAGES = ("idea", "planning", "proposal", "won", "lost")
OPEN_DEAL_STAGES = ("idea", "planning", "proposal")
DEFAULT_TOUCH_KINDS = ("call", "email", "meeting", "message", "visit", "social")
NOTE_KIND = "note"

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CADENCE = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$", re.IGNORECASE)
_CADENCE_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}
_BIRTHDAY_NO_YEAR = re.compile(r"^--(\d{2})-(\d{2})$")


# --- typed values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Birthday:
    month: int
    day: int
    year: int | None = None

    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}" if self.year else f"--{self.month:02d}-{self.day:02d}"

    def __reduce__(self) -> tuple[type, tuple[int, int, int | None]]:
        # Made again by its __init__: a frozen dataclass's own __setstate__ looks up its
        # fields on every call (a tenth of the time it takes to unpickle 10,000 contacts).
        return Birthday, (self.month, self.day, self.year)


@dataclass(slots=True)
class Deal:
    title: str
    stage: str | None
    amount: Decimal | None
    currency: str | None
    opened: date | None
    closed: date | None
    lost_to: str | None
    line: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_DEAL_STAGES


@dataclass(slots=True)
class Invoice:
    number: str | None
    date: date | None
    amount: Decimal | None
    currency: str | None
    due: date | None
    paid: date | None
    line: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Entity:
    """What contacts and orgs share: a file with front matter, a summary and sections."""

    slug: str
    path: str  # relative to the root, POSIX separators, e.g. "contacts/ada.md"
    name: str
    meta: dict[str, Any]  # the front matter as read, every key
    lines: dict[tuple[str | int, ...], int]  # key path -> line, e.g. ("deals", 0, "amount")
    summary: str
    summary_line: int
    sections: list[Section]
    aka: list[str]
    tags: list[str]
    emails: list[str]
    phones: list[str]
    addresses: list[str]
    links: dict[str, str]
    deals: list[Deal]
    invoices: list[Invoice]
    private: bool
    custom: dict[str, Any]  # keys that are not part of the format, in file order

    def line_of(self, *key: str | int) -> int | None:
        return self.lines.get(tuple(key))

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        # The fields as held: pickling an entity never decodes its packed front matter
        # (pickle's own way reads each slot through _FrontMatterField).
        return None, _held_fields(self)

    @property
    def kind(self) -> str:
        return "contact" if self.path.startswith("contacts/") else "org"


@dataclass(slots=True)
class Contact(Entity):
    pronouns: str | None = None
    org: str | None = None
    title: str | None = None
    role: str | None = None
    tier: str | None = None
    status: str | None = None
    since: date | None = None
    customer_since: date | None = None
    source: str | None = None
    referred_by: str | None = None
    cadence_days: int | None = None
    follow_up: date | None = None
    snooze_until: date | None = None
    preferred_channel: str | None = None
    newsletter: str | None = None
    timezone: str | None = None
    location: str | None = None
    birthday: Birthday | None = None
    family: dict[str, Any] = field(default_factory=dict)
    interests: list[str] = field(default_factory=list)
    trivia: str | None = None


@dataclass(slots=True)
class Org(Entity):
    website: str | None = None
    industry: str | None = None
    size: str | None = None
    market: str | None = None
    parent: str | None = None


class _FrontMatterField:
    """Entity.meta and Entity.lines (the front matter as read, and the line of each key).
    Only the checks and the exports read them, and a rebuild checks only the changed
    files; so a contact or org from the cache holds both as one packed object (its
    unpack_front_matter() gives (meta, lines): cache.PackedFrontMatter) until either is
    first read, and then the two dicts. Unpickling them was half the cost of loading
    10,000 contacts from the cache."""

    __slots__ = ("_slot", "_index")

    def __init__(self, slot: Any, index: int) -> None:
        self._slot = slot  # the slot's own descriptor, which stores the value
        self._index = index

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self._slot.__get__(obj, owner)
        if value.__class__ is dict:
            return value
        unpack = getattr(value, "unpack_front_matter", None)
        if unpack is None:
            return value
        both = unpack()
        _META_SLOT.__set__(obj, both[0])
        _LINES_SLOT.__set__(obj, both[1])
        return both[self._index]

    def __set__(self, obj: Any, value: Any) -> None:
        self._slot.__set__(obj, value)


_META_SLOT, _LINES_SLOT = Entity.__dict__["meta"], Entity.__dict__["lines"]
Entity.meta = _FrontMatterField(_META_SLOT, 0)  # type: ignore[assignment]
Entity.lines = _FrontMatterField(_LINES_SLOT, 1)  # type: ignore[assignment]


# A contact's fields that a rebuild after an edit reads for few contacts (the changed
# ones, the people whose figures they move, the pages rendered): a cached contact holds
# them packed (LazyContact) until one is read. The others (its slug, path, name, tags,
# emails, org, referrer, tier, privacy, sections and front matter) are read for nearly
# every contact by the checks, the stats and the site-wide pages.
CONTACT_COLD_FIELDS: tuple[str, ...] = (
    "custom", "summary", "summary_line", "aka", "phones", "addresses", "links", "deals", "invoices",
    "pronouns", "title", "role", "status", "since", "customer_since", "source", "cadence_days",
    "follow_up", "snooze_until", "preferred_channel", "newsletter", "timezone", "location",
    "birthday", "family", "interests", "trivia",
)
_COLD_SLOTS = tuple(getattr(Contact, name) for name in CONTACT_COLD_FIELDS)  # the slots' own descriptors
_COLD_SETTERS = tuple(slot.__set__ for slot in _COLD_SLOTS)
_HOLDER_SLOT = _COLD_SLOTS[0]  # a packed contact holds its packed fields here, the others unset


def unpack_cold(contact: Any) -> None:
    """Give a LazyContact its packed fields and make it a plain Contact, whose fields are
    then read at a slot's speed (the packed object: unpack_cold() gives the values in
    CONTACT_COLD_FIELDS' order; cache.PackedCold)."""
    if contact.__class__ is not LazyContact:
        return
    values = _HOLDER_SLOT.__get__(contact).unpack_cold()
    for set_slot, value in zip(_COLD_SETTERS, values):
        set_slot(contact, value)
    contact.__class__ = Contact


class _ColdField:
    """A packed field of LazyContact: reading or setting any of them unpacks them all."""

    __slots__ = ("_slot", "_holds")

    def __init__(self, slot: Any, holds: bool) -> None:
        self._slot = slot
        self._holds = holds  # the field that holds the packed object (see is_packed_cold)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        unpack_cold(obj)
        return self._slot.__get__(obj)

    def __set__(self, obj: Any, value: Any) -> None:
        if self._holds and is_packed_cold(value):  # as unpickling a cached contact does
            self._slot.__set__(obj, value)
            return
        unpack_cold(obj)
        self._slot.__set__(obj, value)


def is_packed_cold(value: Any) -> bool:
    return getattr(value.__class__, "unpack_cold", None) is not None


class LazyContact(Contact):
    """A contact from the parse cache whose CONTACT_COLD_FIELDS are still packed (the
    object in its first one, the others unset): unpickling 10,000 contacts whole was
    most of a rebuild's load. The first read of any of them unpacks them all and makes
    the object a plain Contact (same slots, so __class__ can change). Equal to the
    Contact it packs; pickled outside the parse cache, it is unpacked first."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        unpack_cold(self)
        return self == other  # a plain Contact's __eq__, which hands another LazyContact back here

    def __reduce_ex__(self, protocol: Any) -> Any:
        unpack_cold(self)
        return self.__reduce_ex__(protocol)

    def __repr__(self) -> str:
        unpack_cold(self)
        return repr(self)


for _name, _slot in zip(CONTACT_COLD_FIELDS, _COLD_SLOTS):
    setattr(LazyContact, _name, _ColdField(_slot, _slot is _HOLDER_SLOT))


def new_lazy_contact() -> LazyContact:
    """An empty LazyContact, which unpickling then gives its fields (a cached contact's
    pickle: see cache._shard_pickler)."""
    return LazyContact.__new__(LazyContact)


def packed_contact_state(contact: Contact, packed: Any) -> dict[str, Any]:
    """A contact's fields as a LazyContact's pickle holds them: every other field as
    held, and packed (made from cold_values, or the one it already holds) in place of
    CONTACT_COLD_FIELDS."""
    state = {name: getattr(contact, name) for name in _field_names(Contact)
             if name not in _COLD_NAMES and name not in ("meta", "lines")}
    state["meta"], state["lines"] = raw_front_matter(contact)
    state[CONTACT_COLD_FIELDS[0]] = packed
    return state


def cold_values(contact: Contact) -> tuple[Any, ...]:
    """The values of CONTACT_COLD_FIELDS, in that order (a packed contact unpacked first)."""
    return tuple(getattr(contact, name) for name in CONTACT_COLD_FIELDS)


def packed_cold(contact: Contact) -> Any | None:
    """The packed object of a contact still packed, else None."""
    return _HOLDER_SLOT.__get__(contact) if contact.__class__ is LazyContact else None


_COLD_NAMES = frozenset(CONTACT_COLD_FIELDS)


@functools.lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _held_fields(entity: Entity) -> dict[str, Any]:
    held = {name: getattr(entity, name) for name in _field_names(type(entity)) if name not in ("meta", "lines")}
    held["meta"], held["lines"] = raw_front_matter(entity)
    return held


def raw_front_matter(entity: Entity) -> tuple[Any, Any]:
    """(meta, lines) as the entity holds them: the two dicts, or the packed object twice."""
    if entity.__class__ is IndexedContact:
        fill_indexed(entity)
    return _META_SLOT.__get__(entity), _LINES_SLOT.__get__(entity)


def may_have_front_matter_key(entity: Entity, key: str) -> bool:
    """Whether the entity's front matter may have key at its top level: False only when
    it surely has not, told without unpacking a packed front matter."""
    if entity.__class__ is IndexedContact:
        fill_indexed(entity)
    held = _META_SLOT.__get__(entity)
    if held.__class__ is dict:
        return key in held
    may_have = getattr(held, "may_have_key", None)
    return may_have(key) if may_have is not None else True


def set_raw_front_matter(entity: Entity, packed: Any) -> None:
    """Hold meta and lines as one packed object (see _FrontMatterField)."""
    _META_SLOT.__set__(entity, packed)
    _LINES_SLOT.__set__(entity, packed)


# The fields of a contact that a rebuild after an edit reads for every contact (the
# stats' groups and referrals, the checks' e-mail addresses, the directory's rows and
# tags, the pages' signatures and links; measured by tracing every attribute read of
# every contact over such a build at 10,000 contacts) or for the contacts that name a
# rendered page (their summary, title, role and status, and their sections, which stay
# in their shard's sections file until read). An IndexedContact has only these.
INDEXED_FIELDS: tuple[str, ...] = (
    "slug", "path", "name", "tags", "emails", "org", "referred_by", "tier", "private",
    "summary", "title", "role", "status", "sections",
)
_INDEXED_NAMES = frozenset(INDEXED_FIELDS)


def _slot_of(name: str) -> Any:
    """A field's own slot descriptor (meta and lines: under their _FrontMatterField)."""
    if name == "meta":
        return _META_SLOT
    if name == "lines":
        return _LINES_SLOT
    return Contact.__dict__[name] if name in Contact.__dict__ else Entity.__dict__[name]


_CONTACT_SLOTS: tuple[tuple[str, Any], ...] = tuple((name, _slot_of(name)) for name in _field_names(Contact))
_PATH_SLOT, _SECTIONS_SLOT = _slot_of("path"), _slot_of("sections")
_SOURCE_SLOT = _META_SLOT  # an IndexedContact holds where the rest of it is here, meta and lines unset


def fill_indexed(contact: Any) -> None:
    """Give an IndexedContact the rest of its fields from the parse cache (its source's
    full(), a LazyContact or a Contact of the same file and digest) and make it an
    object of that class. Its own sections are kept once read (they may be decoded)."""
    if contact.__class__ is not IndexedContact:
        return
    source, digest = _SOURCE_SLOT.__get__(contact)
    full = source.full(_PATH_SLOT.__get__(contact), digest)
    own_sections = _SECTIONS_SLOT.__get__(contact)
    for name, slot in _CONTACT_SLOTS:
        try:
            value = slot.__get__(full)
        except AttributeError:  # a LazyContact's packed fields but the one that holds them
            continue
        slot.__set__(contact, value)
    if own_sections is not None and own_sections.__class__ is not tuple:
        _SECTIONS_SLOT.__set__(contact, own_sections)
    contact.__class__ = full.__class__


class _IndexedOut:
    """A field an IndexedContact does not have: reading or setting it fills the contact
    (fill_indexed), then reads or sets it as its class does."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        fill_indexed(obj)
        return getattr(obj, self._name)

    def __set__(self, obj: Any, value: Any) -> None:
        fill_indexed(obj)
        setattr(obj, self._name, value)


class _IndexedSections:
    """IndexedContact.sections: held as their place in the shard's sections file (or
    None) until first read, then as what the source makes of it (cache.LazySections);
    with no place, read from the whole contact (fill_indexed)."""

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        held = _SECTIONS_SLOT.__get__(obj)
        if held.__class__ is tuple:
            source, digest = _SOURCE_SLOT.__get__(obj)
            held = source.sections_at(held, _PATH_SLOT.__get__(obj), digest)
            if held is not None:
                _SECTIONS_SLOT.__set__(obj, held)
                return held
        elif held is not None:
            return held
        fill_indexed(obj)
        return _SECTIONS_SLOT.__get__(obj)

    def __set__(self, obj: Any, value: Any) -> None:
        _SECTIONS_SLOT.__set__(obj, value)


class IndexedContact(Contact):
    """A contact from the parse cache's index (cache.ParseCache.get_indexed): only its
    INDEXED_FIELDS, which a rebuild after an edit reads for every contact; unpickling
    10,000 whole contacts, whose shards an edit otherwise reads, took about three times
    as long. Reading any other field fills it from its shard (fill_indexed), after which
    it is the LazyContact or Contact it stands for. Equal to that contact; pickled, it
    is filled first."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        fill_indexed(self)
        return self == other

    def __reduce_ex__(self, protocol: Any) -> Any:
        fill_indexed(self)
        return self.__reduce_ex__(protocol)

    def __repr__(self) -> str:
        fill_indexed(self)
        return repr(self)


for _name, _ in _CONTACT_SLOTS:
    if _name not in _INDEXED_NAMES:
        setattr(IndexedContact, _name, _IndexedOut(_name))
IndexedContact.sections = _IndexedSections()  # type: ignore[assignment]
# The names an index's pickle sets its where-from and its sections' place by: the slots'
# own descriptors, so that unpickling 10,000 of them runs no Python code per contact.
IndexedContact._source = _SOURCE_SLOT  # type: ignore[attr-defined]
IndexedContact._sections_place = _SECTIONS_SLOT  # type: ignore[attr-defined]


def new_indexed_contact() -> IndexedContact:
    """An empty IndexedContact, which unpickling then gives its fields (see
    cache.ParseCache.get_indexed)."""
    return IndexedContact.__new__(IndexedContact)


def indexed_state(contact: Contact, source: Any, sections_place: tuple[int, ...] | None) -> dict[str, Any]:
    """What an IndexedContact of contact holds: its INDEXED_FIELDS (a LazyContact's
    packed ones read without unpacking it) but its sections, their place in its shard's
    sections file (or None), and source: (what fills it, the digest of its file), see
    fill_indexed."""
    packed = packed_cold(contact)
    cold = packed.unpack_cold() if packed is not None else None
    state = {}
    for name in INDEXED_FIELDS:
        if name == "sections":
            continue
        if cold is not None and name in _COLD_NAMES:
            state[name] = cold[CONTACT_COLD_FIELDS.index(name)]
        else:
            state[name] = getattr(contact, name)
    state["_sections_place"] = sections_place
    state["_source"] = source
    return state


@dataclass(slots=True)
class Config:
    title: str = "Contacts"
    owner: str | None = None
    touch_kinds: tuple[str, ...] = DEFAULT_TOUCH_KINDS
    default_cadence_days: int | None = None
    max_touches_per_week: int = 3
    birthday_window_days: int = 30
    edit_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def is_touch(self, kind: str) -> bool:
        return kind in self.touch_kinds


@dataclass(slots=True)
class CRM:
    root: Path
    config: Config
    contacts: dict[str, Contact]  # by slug, sorted by slug
    orgs: dict[str, Org]
    problems: list[Problem] = field(default_factory=list)

    def entities(self) -> list[Entity]:
        return [*self.contacts.values(), *self.orgs.values()]


# --- coercion: raw YAML values -> typed values, or None --------------------------


def as_text(value: Any) -> str | None:
    if value.__class__ is str:  # nearly every value: the same answer, sooner
        return value.strip() or None
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def as_text_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    # as_text inlined for text items; as_text never returns "", so truthy means not None
    return [t for v in items if (t := v.strip() if v.__class__ is str else as_text(v))]


_DATE_OF_TEXT: dict[str, date | None] = {}  # the same dates recur in thousands of files


def as_date(value: Any) -> date | None:
    if value.__class__ is str:
        when = _DATE_OF_TEXT.get(value, False)
        if when is False:
            when = _as_date(value)
            if len(_DATE_OF_TEXT) < 100_000:
                _DATE_OF_TEXT[value] = when
        return when  # type: ignore[return-value]
    return _as_date(value)


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    text = as_text(value)
    if text is None or not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def as_money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    text = as_text(value)
    if text is None:
        return None
    try:
        amount = Decimal(text.replace(",", "").replace("_", "").replace(" ", ""))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = (as_text(value) or "").lower()
    if text in ("yes", "true", "y", "on"):
        return True
    if text in ("no", "false", "n", "off"):
        return False
    return None


def parse_cadence(value: Any) -> int | None:
    """Days in a keep-in-touch interval: 30, "30d", "2w", "3m" (30 days), "1y" (365 days)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    m = _CADENCE.match(str(value))
    if not m:
        return None
    days = int(m.group(1)) * _CADENCE_UNIT_DAYS[m.group(2).lower()]
    return days if days > 0 else None


def parse_birthday(value: Any) -> Birthday | None:
    if isinstance(value, date):
        return Birthday(value.month, value.day, value.year)
    text = as_text(value)
    if text is None:
        return None
    m = _BIRTHDAY_NO_YEAR.match(text)
    if m:
        month, day = int(m.group(1)), int(m.group(2))
        try:
            date(2000, month, day)  # a leap year, so --02-29 is allowed
        except ValueError:
            return None
        return Birthday(month, day, None)
    full = as_date(text)
    return Birthday(full.month, full.day, full.year) if full else None


def as_enum(value: Any, allowed: tuple[str, ...], *, upper: bool = False) -> str | None:
    text = as_text(value)
    if text is None:
        return None
    text = text.upper() if upper else text.lower()
    return text if text in allowed else None


def as_map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def as_slug_ref(value: Any) -> str | None:
    text = as_text(value)
    return text.lstrip("@").strip() if text else None


# --- building entities ------------------------------------------------------------


def slug_of(path: str) -> str:
    return path.rsplit("/", 1)[-1][: -len(".md")] if path.endswith(".md") else path.rsplit("/", 1)[-1]


def _deals(meta: dict[str, Any], lines: dict[tuple[str | int, ...], int]) -> list[Deal]:
    raw = meta.get("deals")
    if not isinstance(raw, list):
        return []
    deals = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        deals.append(
            Deal(
                title=as_text(item.get("title")) or f"Deal {i + 1}",
                stage=as_enum(item.get("stage"), DEAL_STAGES),
                amount=as_money(item.get("amount")),
                currency=(as_text(item.get("currency")) or "").upper() or None,
                opened=as_date(item.get("opened")),
                closed=as_date(item.get("closed")),
                lost_to=as_text(item.get("lost_to")),
                line=lines.get(("deals", i)),
                extra={k: v for k, v in item.items() if k not in DEAL_KEYS},
            )
        )
    return deals


def _invoices(meta: dict[str, Any], lines: dict[tuple[str | int, ...], int]) -> list[Invoice]:
    raw = meta.get("invoices")
    if not isinstance(raw, list):
        return []
    invoices = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        invoices.append(
            Invoice(
                number=as_text(item.get("number")),
                date=as_date(item.get("date")),
                amount=as_money(item.get("amount")),
                currency=(as_text(item.get("currency")) or "").upper() or None,
                due=as_date(item.get("due")),
                paid=as_date(item.get("paid")),
                line=lines.get(("invoices", i)),
                extra={k: v for k, v in item.items() if k not in INVOICE_KEYS},
            )
        )
    return invoices


def _links(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): t for k, v in value.items() if (t := as_text(v))}
    # A bare list of URLs is common enough to accept: label each by its host.
    return {url.split("//", 1)[-1].split("/", 1)[0]: url for url in as_text_list(value)}


_NEWEST_FIRST = attrgetter("date", "line")  # with reverse=True


_CONTACT_KEY_SET = frozenset(CONTACT_KEYS)
_ORG_KEY_SET = frozenset(ORG_KEYS)


def _common(parsed: ParsedFile, known: frozenset[str]) -> tuple[Any, ...]:
    """Entity's fields in their order, slug to custom (positional: 18 keywords cost
    more than the rest of building a small entity)."""
    meta = parsed.meta
    slug = slug_of(parsed.path)
    return (
        slug,
        parsed.path,
        as_text(meta.get("name")) or slug,
        meta,
        parsed.lines,
        parsed.summary,
        parsed.summary_line,
        sorted(parsed.sections, key=_NEWEST_FIRST, reverse=True),
        as_text_list(meta.get("aka")),
        [t.lower().lstrip("#") for t in as_text_list(meta.get("tags"))],
        as_text_list(meta.get("emails")),
        as_text_list(meta.get("phones")),
        as_text_list(meta.get("addresses")),
        _links(meta.get("links")),
        _deals(meta, parsed.lines),
        _invoices(meta, parsed.lines),
        as_bool(meta.get("private")) is True,
        {k: v for k, v in meta.items() if k not in known},
    )


def build_contact(parsed: ParsedFile) -> Contact:
    meta = parsed.meta
    return Contact(
        *_common(parsed, _CONTACT_KEY_SET),
        pronouns=as_text(meta.get("pronouns")),
        org=as_slug_ref(meta.get("org")),
        title=as_text(meta.get("title")),
        role=as_enum(meta.get("role"), ROLES),
        tier=as_enum(meta.get("tier"), TIERS, upper=True),
        status=as_enum(meta.get("status"), STATUSES),
        since=as_date(meta.get("since")),
        customer_since=as_date(meta.get("customer_since")),
        source=as_text(meta.get("source")),
        referred_by=as_slug_ref(meta.get("referred_by")),
        cadence_days=parse_cadence(meta.get("cadence")),
        follow_up=as_date(meta.get("follow_up")),
        snooze_until=as_date(meta.get("snooze_until")),
        preferred_channel=as_enum(meta.get("preferred_channel"), CHANNELS),
        newsletter=as_enum(meta.get("newsletter"), NEWSLETTER),
        timezone=as_text(meta.get("timezone")),
        location=as_text(meta.get("location")),
        birthday=parse_birthday(meta.get("birthday")),
        family=as_map(meta.get("family")),
        interests=as_text_list(meta.get("interests")),
        trivia=as_text(meta.get("trivia")),
    )


def build_org(parsed: ParsedFile) -> Org:
    meta = parsed.meta
    return Org(
        *_common(parsed, _ORG_KEY_SET),
        website=as_text(meta.get("website")),
        industry=as_text(meta.get("industry")),
        size=as_text(meta.get("size")),
        market=as_text(meta.get("market")),
        parent=as_slug_ref(meta.get("parent")),
    )

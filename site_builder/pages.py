"""CRM + stats + history -> the list of pages to render, each with its template context.

Pure: no file system, no clock (today is passed in). build.py renders these pages with
Jinja and writes them. The context of every template is documented in docs/templates.md;
keep the two in step.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar
from urllib.parse import quote

from markupsafe import Markup

from .incremental import Later
from .model import CRM, STATUSES, TIERS, Contact, Entity, Invoice, Deal, Org
from .parse import Section
from .problems import Problem
from .render import (MENTION_SCAN, days_in_words, edit_href, markdown_to_html, money, plural, relative_date,
                     topic_fragment)
from .site_data import SearchRow, fold
from .slugify import slugify, unique_slug

ATTENTION_CHOICES: tuple[tuple[str, str], ...] = (
    ("due", "Due within 7 days"), ("overdue", "Overdue"), ("never", "Never contacted"),
    ("over", "Over-contacted"),
)
DUE_WITHIN_DAYS = 7
# An org page shows its own notes in full and lists this many of its people's newest
# notes (and as many of their planned ones) as one line each, linking to the note on the
# person's page: repeating their bodies made a big account's page half a megabyte.
PEOPLE_NOTES_LIMIT = 100


@dataclass(slots=True)
class Page:
    path: str  # relative to the output folder, POSIX, e.g. "contacts/zoe-muller.html"
    template: str
    context: dict[str, Any]

    @property
    def base(self) -> str:
        """The way back to the output root from this page: '' or '../'."""
        return "../" * self.path.count("/")


@dataclass(slots=True)
class SiteInput:
    """Everything the pages are made from."""

    crm: CRM
    problems: list[Problem]
    today: date
    stats: Any = None  # stats.Stats, or None while site_builder.stats is unavailable
    due: Any = None  # stats.due_items' report (attention, over-contacted), or a Later one (resolved)
    charts: Any = field(default_factory=dict)  # the dashboard's {name: SVG Markup}, or a Later one
    history: Any = None  # history.History, or None (no git)
    vcards: bool = False  # contacts/<slug>.vcf are published
    calendar: bool = False  # calendar.ics is published
    # Each org's direct members and child orgs, worked out once per build (org_links):
    # an org page that scanned every contact made all org pages cost contacts x orgs.
    org_links_cache: OrgLinks | None = None
    # Every page's backlinks, when prepare_entity_pages worked them out before rendering
    # pages in forked workers (each worker would otherwise scan every section per chunk).
    backlinks_cache: Any = None  # a BacklinkIndex or BacklinkPositions
    tag_files_cache: dict[str, str] | None = None  # tag_files(crm), also from prepare_entity_pages
    # slug -> keys ("c:SLUG", "o:SLUG") of the files that name it, when the caller has
    # them (incremental.DependencyMap.named_by): a few pages' backlinks are then looked
    # for in those files only, not in every section of the CRM (0.15 s at 10,000).
    namers: Mapping[str, set[str]] | None = None
    # notes_cache.NotesCache, when the build keeps files' rendered Markdown between builds:
    # its rendered(entity, links) answers what file_markdown(entity, links) would.
    notes_cache: Any = None
    # directory_rows(self), made once per build: the directory, its filters and
    # search-data.js all show them.
    directory_rows_cache: list[dict[str, Any]] | None = None
    # id(row) -> (row, rowcache digest of its values) for the rows of directory_rows_cache,
    # when remember_directory_rows made them (the row cache then does not pickle them again).
    directory_row_digests: dict[int, tuple[dict[str, Any], bytes | None]] | None = None
    # How many of those rows remember_directory_rows made rather than took over: with any,
    # a page of every row (the directory, search-data.js) cannot sign as last time.
    directory_rows_made: int = 0
    # id(row) -> (row, its piece of search-data.js) for the directory's rows whose piece is
    # known (kept with the row by remember_directory_rows, or made by this build).
    search_pieces: dict[int, tuple[dict[str, Any], str]] = field(default_factory=dict)
    # (the tags it was made for, tag_members(self, those tags)): made once per build.
    tag_members_cache: tuple[dict[str, str], dict[str, list[dict[str, Any]]]] | None = None
    # The Jinja environment contact and org pages are rendered with, made once per build
    # and process (build.render_entity_pages).
    entity_env: Any = None
    # (base, slug) -> a note's participant (_participant), once per build and process: a
    # render worker shows the same people in the notes of many pages.
    participants_cache: dict[tuple[str, str], dict[str, str | None]] = field(default_factory=dict)


@dataclass(slots=True)
class OrgLinks:
    members: dict[str, list[Contact]]  # org slug -> its contacts (org:), in file order
    children: dict[str, list[Org]]  # org slug -> orgs whose parent it is
    position: dict[str, int]  # contact slug -> its place in crm.contacts


def org_links(site: SiteInput) -> OrgLinks:
    if site.org_links_cache is None:
        members: dict[str, list[Contact]] = defaultdict(list)
        children: dict[str, list[Org]] = defaultdict(list)
        for c in site.crm.contacts.values():
            if c.org:
                members[c.org].append(c)
        for o in site.crm.orgs.values():
            if o.parent:
                children[o.parent].append(o)
        position = {slug: n for n, slug in enumerate(site.crm.contacts)}
        site.org_links_cache = OrgLinks(dict(members), dict(children), position)
    return site.org_links_cache


@dataclass(slots=True)
class Note:
    """One dated section, ready to show."""

    id: str
    date: date
    kind: str
    title: str
    html: Markup
    is_touch: bool
    participants: list[dict[str, str | None]]
    topics: list[str]
    owner: dict[str, str] | None = None  # None on contact and org pages (kept for themes' show_owner)


@dataclass(slots=True)
class NoteLink:
    """A note of another file as one line: an org page's list of its people's notes."""

    date: date
    kind: str
    title: str
    name: str  # whose file the note is in
    href: str  # the note on that file's page


@dataclass(slots=True)
class Backlink:
    name: str
    href: str
    kind: str  # "contact" | "org"
    date: date | None  # None: mentioned in the summary
    title: str
    note_kind: str


# --- links -----------------------------------------------------------------------------


_URL_SAFE_SLUG = re.compile(r"[A-Za-z0-9_.~-]+")


def url_slug(slug: str) -> str:
    """The slug as a URL path segment: quote() of it, which leaves the usual slug as it is."""
    return slug if _URL_SAFE_SLUG.fullmatch(slug) else quote(slug)


# Each folder's pages by slug: a page is asked for about 420,000 times in a cold build at
# 10,000 contacts (mentions, backlinks, participants, rows), quoting its slug each time.
_PAGES: dict[str, dict[str, str]] = {"contacts": {}, "orgs": {}}


def entity_href(entity: Entity, base: str) -> str:
    folder = "contacts" if entity.path.startswith("contacts/") else "orgs"  # Entity.kind's test
    pages = _PAGES[folder]
    page = pages.get(entity.slug)
    if page is None:
        page = pages[entity.slug] = f"{folder}/{url_slug(entity.slug)}.html"
    return base + page


class Links:
    """Relative links from one page, resolving slugs that exist and nothing else."""

    def __init__(self, crm: CRM, base: str) -> None:
        self.crm = crm
        self.base = base
        self._topics: dict[str, str] = {}

    def mention(self, slug: str) -> str | None:
        entity = self.crm.contacts.get(slug) or self.crm.orgs.get(slug)
        return entity_href(entity, self.base) if entity else None

    def topic(self, topic: str) -> str:
        href = self._topics.get(topic)
        if href is None:
            href = self._topics[topic] = f"{self.base}index.html#{topic_fragment(topic)}"
        return href

    def markdown(self, text: str) -> Markup:
        return markdown_to_html(text, self.mention, self.topic)


# --- notes -----------------------------------------------------------------------------


def note_ids(sections: list[Section]) -> dict[int, str]:
    """note-YYYY-MM-DD-N by heading line; N counts the day's sections in file order."""
    return {s.line: f"note-{s.date.isoformat()}-{n}" for s, n in zip(sections, note_numbers(sections))}


def note_numbers(sections: list[Section]) -> list[int]:
    """Each section's N of note-YYYY-MM-DD-N, by its position in sections."""
    numbers = [0] * len(sections)
    per_day: dict[date, int] = {}
    lines = [s.line for s in sections]
    # A file's sections come in line order; sorting is for any other list of them.
    order = range(len(lines)) if lines == sorted(lines) else sorted(range(len(lines)), key=lines.__getitem__)
    for at in order:
        day = sections[at].date
        numbers[at] = per_day[day] = per_day.get(day, 0) + 1
    return numbers


def note_id(sections: list[Section], section: Section) -> str:
    """note_ids(sections)[section.line], without numbering every other day."""
    n = sum(1 for s in sections if s.date == section.date and s.line <= section.line)
    return f"note-{section.date.isoformat()}-{n}"


_LEADING_PARTICIPANTS = re.compile(r"^(?:@[a-z0-9][a-z0-9-]*\s*)+:?\s*")


def display_title(title: str) -> str:
    """The heading's title without the @participants written before it (shown apart)."""
    return _LEADING_PARTICIPANTS.sub("", title) if title.startswith("@") else title


def file_markdown(entity: Entity, links: Links) -> tuple[Markup, list[Markup]]:
    """The file's Markdown as HTML: its summary and each note's body, in file order."""
    summary = links.markdown(entity.summary) if entity.summary.strip() else Markup("")
    return summary, [links.markdown(s.body) for s in entity.sections]


def entity_markdown(site: SiteInput, entity: Entity, links: Links) -> tuple[Markup, list[Markup]]:
    """file_markdown, from the notes cache when the build has one."""
    if site.notes_cache is not None:
        return site.notes_cache.rendered(entity, links)  # type: ignore[no-any-return]
    return file_markdown(entity, links)


def entity_notes(site: SiteInput, entity: Entity, links: Links) -> list[Note]:
    """The file's notes, rendered: only its own page shows them."""
    return make_notes(entity, site.crm, links, entity_markdown(site, entity, links)[1])


def make_notes(entity: Entity, crm: CRM, links: Links, bodies: list[Markup] | None = None,
               people: dict[tuple[str, str], dict[str, str | None]] | None = None) -> list[Note]:
    """The file's sections as Notes; bodies: their HTML when the caller has it. people:
    the participants worked out before (SiteInput.participants_cache), added to."""
    sections = entity.sections
    ids = note_ids(sections)
    if bodies is None:
        bodies = [links.markdown(s.body) for s in sections]
    # 200,000 notes at 10,000 contacts on every page render of another day: what repeats
    # within a file (a kind, a person met often) is worked out once.
    touch_kinds: dict[str, bool] = {}
    if people is None:
        people = {}
    base = links.base
    notes = []
    add = notes.append
    for s, html in zip(sections, bodies):
        kind, title, topics = s.kind, s.title, s.topics
        is_touch = touch_kinds.get(kind)
        if is_touch is None:
            is_touch = touch_kinds[kind] = crm.config.is_touch(kind)
        participants = []
        for slug in s.participants:
            person = people.get((base, slug))
            if person is None:
                person = people[base, slug] = _participant(crm, slug, base)
            participants.append(dict(person))  # each note its own, as a theme may change one
        add(Note(ids[s.line], s.date, kind, display_title(title), html,
                 is_touch, participants, list(dict.fromkeys(topics)) if len(topics) > 1 else list(topics)))
    return notes


def _participant(crm: CRM, slug: str, base: str) -> dict[str, str | None]:
    """{slug, href (None when no file has the slug), name (the slug then)}."""
    entity = crm.contacts.get(slug) or crm.orgs.get(slug)
    if entity is None:
        return {"slug": slug, "href": None, "name": slug}
    return {"slug": slug, "href": entity_href(entity, base), "name": entity.name}


def split_planned(notes: list[Note], today: date) -> tuple[list[Note], list[Note]]:
    """(past and today's notes newest first, future notes soonest first)."""
    past = [n for n in notes if n.date <= today]
    planned = sorted((n for n in notes if n.date > today), key=lambda n: n.date)
    return past, planned


BacklinkIndex = dict[str, list[tuple[Entity, Section | None, str]]]


def backlink_index(crm: CRM, only: set[str] | None = None,
                   namers: Mapping[str, set[str]] | None = None) -> BacklinkIndex:
    """slug -> every (file, section, note id) that @mentions it; section None (and id "")
    for the summary. only: just these slugs (an incremental build renders a few pages);
    namers (SiteInput.namers): then only the files that name them are read."""
    index: BacklinkIndex = defaultdict(list)
    entities = crm.entities() if only is None or namers is None else _namers_of(crm, only, namers)
    for entity in entities:
        sections = entity.sections
        ids: dict[int, str] | None = None
        for slug, at in _mentions_of(entity, only):
            if at < 0:
                index[slug].append((entity, None, ""))
            else:
                section = sections[at]
                ids = ids or note_ids(sections)
                index[slug].append((entity, section, ids[section.line]))
    return index


def _mentions_of(entity: Entity, only: set[str] | None = None) -> Iterator[tuple[str, int]]:
    """(slug, where) for each slug the file names other than its own, once per place:
    where is the position of the section that names it, or -1 for the summary. only:
    just these slugs."""
    own = entity.slug
    if "@" in entity.summary:
        for slug in dict.fromkeys(MENTION_SCAN.findall(entity.summary)):
            if slug != own and (only is None or slug in only):
                yield slug, -1
    for at, section in enumerate(entity.sections):
        participants, mentions = section.participants, section.mentions
        if only is None:
            if not participants and not mentions:
                continue
            named: Iterable[str] = dict.fromkeys((*participants, *mentions))
        else:
            # Most sections name nobody in a few pages' slugs: a C-level test each.
            if only.isdisjoint(participants) and only.isdisjoint(mentions):
                continue
            named = [s for s in dict.fromkeys((*participants, *mentions)) if s in only]
        for slug in named:
            if slug != own:
                yield slug, at


def backlink_positions(crm: CRM) -> dict[str, bytes]:
    """backlink_index(crm) as positions, compact enough to send between processes: slug
    -> the bytes of an array of (file's position in crm.entities(), section position or
    -1, the section's N of its note id or 0) triples. BacklinkPositions reads them back
    in a process with the same CRM. The note ids' numbers are worked out here, once per
    file: each render worker numbering every mentioning file's sections again took about
    1.3 s of their time in a cold build at 10,000 contacts."""
    found: dict[str, array] = {}
    for n, entity in enumerate(crm.entities()):
        numbers: list[int] | None = None
        for slug, at in _mentions_of(entity):
            triples = found.get(slug)
            if triples is None:
                triples = found[slug] = array("i")
            if at < 0:
                triples.extend((n, at, 0))
                continue
            if numbers is None:
                numbers = note_numbers(entity.sections)
            triples.extend((n, at, numbers[at]))
    return {slug: triples.tobytes() for slug, triples in found.items()}


class BacklinkPositions:
    """A BacklinkIndex (what `get` gives) made from backlink_positions, which a build
    that renders every page works out in a forked process while it computes the stats:
    a page's entries are made when its backlinks are first read, by the worker that
    renders it, and a page whose backlinks come from the notes cache needs only the
    files that mention it (namers). The backlink index made in the main process before
    the render workers were forked took 0.5 to 1.2 s at 10,000 contacts."""

    def __init__(self, crm: CRM, positions: dict[str, bytes]) -> None:
        self._entities = list(crm.entities())
        self._positions = positions

    def _triples(self, slug: str) -> array | None:
        data = self._positions.get(slug)
        if data is None:
            return None
        triples = array("i")
        triples.frombytes(data)
        return triples

    def get(self, slug: str, default: Any = None) -> Any:
        triples = self._triples(slug)
        if triples is None:
            return default
        entries: list[tuple[Entity, Section | None, str]] = []
        for n, at, number in zip(triples[::3], triples[1::3], triples[2::3]):
            entity = self._entities[n]
            if at < 0:
                entries.append((entity, None, ""))
                continue
            section = entity.sections[at]
            entries.append((entity, section, f"note-{section.date.isoformat()}-{number}"))
        return entries

    def count(self, slug: str) -> int:
        data = self._positions.get(slug)
        return len(data) // (3 * array("i").itemsize) if data is not None else 0

    def namers(self, slug: str) -> list[Entity]:
        triples = self._triples(slug)
        return _runs([self._entities[n] for n in triples[::3]]) if triples is not None else []


def mention_count(index: Any, slug: str) -> int:
    """How many backlinks slug has in index (a BacklinkIndex or BacklinkPositions)."""
    count = getattr(index, "count", None)  # BacklinkPositions: without making the entries
    return count(slug) if count is not None else len(index.get(slug, ()))


def mentioning_files(index: Any, slug: str) -> list[Entity]:
    """The files that mention slug, in the index's order, each once for its run of entries."""
    namers = getattr(index, "namers", None)  # BacklinkPositions: without making the entries
    if namers is not None:
        return namers(slug)  # type: ignore[no-any-return]
    return _runs([entity for entity, _, _ in index.get(slug, ())])


def _runs(entities: list[Entity]) -> list[Entity]:
    """entities without the repeats of a run (a file's mentions are one run)."""
    return [e for i, e in enumerate(entities) if i == 0 or entities[i - 1] is not e]


def _namers_of(crm: CRM, slugs: set[str], namers: Mapping[str, set[str]]) -> list[Entity]:
    """The files that name any of slugs, in crm.entities() order (backlinks keep it)."""
    keys: set[str] = set()
    for slug in slugs:
        keys.update(namers.get(slug, ()))
    contacts = {k[2:] for k in keys if k.startswith("c:") and k[2:] in crm.contacts}
    orgs = {k[2:] for k in keys if k.startswith("o:") and k[2:] in crm.orgs}
    found: list[Entity] = [c for slug, c in crm.contacts.items() if slug in contacts] if contacts else []
    return found + ([o for slug, o in crm.orgs.items() if slug in orgs] if orgs else [])


class PageBacklinks(Sequence[Backlink]):
    """A page's backlinks (make_backlinks), made when a template first reads them. The
    built-in theme asks for their HTML instead (fragments.backlinks_html through
    kept_html), which a build with the notes cache takes from it when the files that
    mention the page are those of the last build: then no Backlink is made, and no
    other file's sections are read (about 2 s of CPU on another day at 10,000 contacts,
    29 backlinks a page)."""

    __slots__ = ("_slug", "_index", "_base", "_entity", "_kept", "_made")

    def __init__(self, slug: str, index: BacklinkIndex | BacklinkPositions, base: str,
                 entity: Entity | None = None, kept: Any = None) -> None:
        self._slug, self._index, self._base = slug, index, base
        self._entity, self._kept = entity, kept  # kept: a notes_cache.NotesCache
        self._made: list[Backlink] | None = None

    def _list(self) -> list[Backlink]:
        if self._made is None:
            self._made = make_backlinks(self._slug, self._index, self._base)
        return self._made

    def __len__(self) -> int:
        return mention_count(self._index, self._slug)

    def __getitem__(self, at: Any) -> Any:
        return self._list()[at]

    def __iter__(self) -> Iterator[Backlink]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return self._list() == (list(other) if isinstance(other, PageBacklinks) else other)

    __hash__ = None  # type: ignore[assignment]  # like the list it stands for

    def __repr__(self) -> str:
        return repr(self._list())

    def kept_html(self, name: str, make: Callable[[Sequence[Backlink], str], Markup]) -> Markup:
        """make(self, name), or what it gave last time for the same mentions (kept)."""
        kept, entity = self._kept, self._entity
        if kept is None or entity is None:
            return make(self, name)
        key = kept.backlinks_key(mentioning_files(self._index, self._slug), name, self._base)
        found = kept.backlinks(entity, key) if key is not None else None
        if found is None:
            found = make(self, name)
            if key is not None:
                kept.keep_backlinks(entity, key, found)
        return found


def make_backlinks(slug: str, index: BacklinkIndex, base: str) -> list[Backlink]:
    result = []
    for entity, section, note_id in index.get(slug, []):
        href = entity_href(entity, base)
        if section is not None:
            href += "#" + note_id
        result.append(Backlink(
            name=entity.name, href=href, kind=entity.kind, date=section.date if section else None,
            title=display_title(section.title) if section else "", note_kind=section.kind if section else "summary",
        ))
    return sorted(result, key=lambda b: (b.date or date.max), reverse=True)


# --- deals and invoices ------------------------------------------------------------------


def deal_view(deal: Deal) -> dict[str, Any]:
    state = "open" if deal.is_open else (deal.stage or "unknown")
    return {"title": deal.title, "stage": deal.stage or "", "state": state,
            "amount": money(deal.amount, deal.currency), "opened": deal.opened, "closed": deal.closed,
            "lost_to": deal.lost_to or "", "line": deal.line}


def invoice_view(invoice: Invoice, today: date) -> dict[str, Any]:
    state, days_late = "unknown", None
    if invoice.paid:
        days_late = (invoice.paid - invoice.due).days if invoice.due else None
        state = "paid late" if days_late and days_late > 0 else "paid"
    elif invoice.due and invoice.due < today:
        state, days_late = "overdue", (today - invoice.due).days
    elif invoice.due or invoice.date:
        state = "unpaid"
    return {"number": invoice.number or "", "date": invoice.date, "amount": money(invoice.amount, invoice.currency),
            "due": invoice.due, "paid": invoice.paid, "state": state,
            "days_late": days_late if days_late and days_late > 0 else None, "line": invoice.line}


# --- stats helpers ---------------------------------------------------------------------------


def contact_stats(site: SiteInput, slug: str) -> dict[str, Any]:
    return dict(site.stats.contacts.get(slug, {})) if site.stats is not None else {}


def org_stats(site: SiteInput, slug: str) -> dict[str, Any]:
    return dict(site.stats.orgs.get(slug, {})) if site.stats is not None else {}


def resolved(value: Any) -> Any:
    """value, or its result when it is a job run when first asked for (incremental.Later):
    a build's due list and charts (SiteInput.due, charts), which only the due page and
    the dashboard show, are made by whichever process renders those pages, once the
    site-wide pages' process is forked, rather than before the fork (50 ms at 10,000
    contacts that the forked process started later)."""
    return value.result() if isinstance(value, Later) else value


def item_get(item: Any, key: str, default: Any = None) -> Any:
    """Due items may be dicts or objects; read either."""
    if isinstance(item, dict):
        return item.get(key, default)
    return getattr(item, key, default)


def _iso(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if value else ""


def stat_words(st: dict[str, Any], today: date) -> list[str]:
    """A contact's stats as short sentences: 'last touch 12 days ago', 'due in 3 days'..."""
    words: list[str] = []
    if st.get("never_touched"):
        words.append("never contacted")
    elif st.get("last_touch"):
        words.append(f"last touch {relative_date(st['last_touch'], today)}")
    if st.get("touches"):
        words.append(f"{plural(st['touches'], 'touch', 'touches')} in all, {st.get('touches_90d', 0)} in 90 days")
    if st.get("avg_days_between_touches"):
        words.append(f"in touch every {round(float(st['avg_days_between_touches']))} days on average")
    if st.get("overdue_days"):
        words.append(f"overdue by {plural(st['overdue_days'], 'day')}")
    elif st.get("next_due"):
        words.append(f"due {relative_date(st['next_due'], today)}")
    if st.get("follow_up"):
        verb = "follow-up was due" if st.get("follow_up_due") else "follow up"
        words.append(f"{verb} {relative_date(st['follow_up'], today)}")
    if st.get("over_contacted"):
        words.append(f"over-contacted: {st.get('touches_7d', 0)} touches in 7 days")
    if st.get("avg_days_late") not in (None, 0, 0.0):
        days = round(float(st["avg_days_late"]))
        words.append(f"pays {plural(abs(days), 'day')} {'late' if days > 0 else 'early'} on average")
    if st.get("days_since_last_purchase") is not None:
        words.append(f"last purchase {days_in_words(-int(st['days_since_last_purchase']))}")
    if st.get("upcoming_birthday"):
        age = f" (turns {st['age_next']})" if st.get("age_next") else ""
        words.append(f"birthday {relative_date(st['upcoming_birthday'], today)}{age}")
    return words


def org_stat_words(st: dict[str, Any], today: date) -> list[str]:
    """An org's combined figures in words."""
    words: list[str] = []
    if st.get("contacts"):
        words.append(plural(len(st["contacts"]), "person", "people") + " (with subsidiaries)")
    if st.get("touches"):
        last = f", last {relative_date(st['last_touch'], today)}" if st.get("last_touch") else ""
        words.append(f"{plural(st['touches'], 'touch', 'touches')}{last}")
    elif "touches" in st:
        words.append("never contacted")
    if st.get("open_deals"):
        words.append(plural(len(st["open_deals"]), "open deal"))
    if st.get("pipeline"):
        words.append(f"pipeline {money_words(st['pipeline'])}")
    if st.get("lifetime_value"):
        words.append(f"lifetime value {money_words(st['lifetime_value'])}")
    for currency, share in sorted((st.get("share_of_revenue") or {}).items()):
        words.append(f"{round(float(share) * 100)}% of all {currency} revenue")
    if st.get("outstanding"):
        words.append(f"outstanding {money_words(st['outstanding'])}")
    roles = st.get("roles") or {}
    if roles:
        words.append("roles: " + ", ".join(f"{r} {n}" for r, n in roles.items()))
    return words


def money_words(amounts: dict[str, Any]) -> str:
    return ", ".join(money(v, k) for k, v in sorted(amounts.items()))


def attention_flags(st: dict[str, Any], today: date, due_soon_memo: dict[str, bool] | None = None) -> list[str]:
    """The contact's attention flags; due_soon_memo: the answers for next_due dates seen
    before (in one build, for one today), when the caller makes many contacts' flags."""
    flags = []
    next_due = st.get("next_due")
    if not next_due:
        due_soon = False
    elif due_soon_memo is None:
        due_soon = _due_soon(next_due, today)
    else:
        text = _iso(next_due)
        due_soon = due_soon_memo.get(text)  # type: ignore[assignment]
        if due_soon is None:
            due_soon = due_soon_memo[text] = _due_soon(next_due, today)
    if due_soon or st.get("follow_up_due") or st.get("overdue_days"):
        flags.append("due")
    if st.get("overdue_days"):
        flags.append("overdue")
    if st.get("never_touched"):
        flags.append("never")
    if st.get("over_contacted"):
        flags.append("over")
    return flags


def _due_soon(next_due: Any, today: date) -> bool:
    return (date.fromisoformat(_iso(next_due)[:10]) - today).days <= DUE_WITHIN_DAYS


# --- the directory -------------------------------------------------------------------------


def directory_rows(site: SiteInput) -> list[dict[str, Any]]:
    """One row per contact, sorted by folded name; made once per build (the rows are
    shared: do not change them)."""
    if site.directory_rows_cache is None:
        site.directory_rows_cache = _directory_rows(site)
    return site.directory_rows_cache


def _directory_rows(site: SiteInput) -> list[dict[str, Any]]:
    make = _RowMaker(site)
    rows = [make.row(c) for c in site.crm.contacts.values()]
    rows.sort(key=_row_order)
    return rows


# The directory's order: by folded name, then slug (in C: a sort of 10,000 rows).
_row_order = operator.itemgetter("sort_name", "slug")


class _RowMaker:
    """Makes directory rows for one build. Many contacts share an org and a day: each
    org's name and link and each day's words are made once per build (10,000 rows made
    every build; this was a sixth of their cost)."""

    def __init__(self, site: SiteInput) -> None:
        self.crm, self.today = site.crm, site.today
        self.stats = site.stats.contacts if site.stats is not None else {}
        self._orgs: dict[str, tuple[str, str | None]] = {}
        self._words: dict[Any, str] = {}
        self._due_soon: dict[str, bool] = {}

    def org(self, c: Contact) -> tuple[str, str | None]:
        """(the org's name, its link from the site's root), or (what org: says, None)."""
        org_slug = c.org or ""
        org = self._orgs.get(org_slug)
        if org is None:
            entity = self.crm.orgs.get(org_slug) if org_slug else None
            org = self._orgs[org_slug] = (entity.name, entity_href(entity, "")) if entity else (org_slug, None)
        return org

    def row(self, c: Contact) -> dict[str, Any]:
        today, words = self.today, self._words
        st = self.stats.get(c.slug) or {}  # read only: no copy (contact_stats copies)
        org = self.org(c)
        last_touch = st.get("last_touch")
        if last_touch:
            last_words = words.get(last_touch)
            if last_words is None:
                last_words = words[last_touch] = relative_date(last_touch, today)
        else:
            last_words = "never" if st.get("never_touched") else ""
        next_due = _iso(st.get("next_due"))
        overdue = st.get("overdue_days") or 0
        if overdue:
            next_words = f"{plural(overdue, 'day')} overdue"
        else:
            next_words = words.get(next_due)
            if next_words is None:
                next_words = words[next_due] = relative_date(next_due, today)
        return {
            "contact": c, "slug": c.slug, "href": f"contacts/{url_slug(c.slug)}.html", "name": c.name,
            "org_slug": c.org or "", "org_name": org[0], "org_href": org[1],
            "title": c.title or "", "tier": c.tier or "", "status": c.status or "", "source": c.source or "",
            "last_touch": _iso(last_touch),
            "last_touch_words": last_words,
            "touches": int(st.get("touches") or 0),
            "next_due": next_due,
            "next_due_words": next_words,
            "attention": attention_flags(st, today, self._due_soon),
            "topics": sorted(st.get("topics") or {}),
            "sort_name": fold(c.name),
        }


# A directory row is made from its contact (a file's object, never changed once loaded:
# the same file bytes give the same object's fields), its stats entry, its org's name and
# link, and today. The stats of a build sign each entry: a row whose file (path and
# digest) and whose (stats sign, org) are the same is the same row. Everything else a row
# could depend on (the program, crm.yaml) is in the key of the file that keeps rows
# between processes (build.read_directory_memo), or does not change in a process.
RowKey = tuple[str, str | None, bytes | None, tuple[str, str | None]]
# (its key, the row, its rowcache digest, its piece of search-data.js: None until made)
MemoEntry = tuple[RowKey, dict[str, Any], bytes | None, str | None]


@dataclass
class DirectoryMemo:
    """The last build's directory rows: slug -> MemoEntry, for one today. A long-running
    process (`crm serve`) keeps it in memory; `crm build` keeps it in .crm-cache, each
    row's "contact" None there (build.write_directory_memo)."""

    today: date | None = None
    rows: dict[str, MemoEntry] = field(default_factory=dict)


def remember_directory_rows(site: SiteInput, memo: DirectoryMemo,
                            digests: dict[str, str] | None = None) -> DirectoryMemo:
    """directory_rows(site) made once for this build (site.directory_rows_cache, with their
    digests in site.directory_row_digests), taking memo's row for each contact whose
    row would be the same; returns the memo for the next build. At 10,000 contacts that
    is a look-up per contact instead of making a row and pickling it for its digest.
    digests: the files' digests; without them a row is taken over only when its
    contact is the same object. A row taken over brings its piece of search-data.js
    (site.search_pieces), which its key also determines."""
    from .rowcache import row_values, values_digest

    signs = getattr(site.stats, "contact_signs", None) if site.stats is not None else None
    if not signs:  # no sign tells a stats entry unchanged without pickling it: nothing kept
        site.directory_rows_cache = _directory_rows(site)
        return DirectoryMemo()
    kept = memo.rows if memo.today == site.today else {}
    make = _RowMaker(site)
    org_of = make.org
    digest_of = digests.get if digests is not None else {}.get
    sign_of = signs.get
    rows: list[dict[str, Any]] = []
    remembered: dict[str, MemoEntry] = {}
    known: dict[int, tuple[dict[str, Any], bytes | None]] = {}
    pieces: dict[int, tuple[dict[str, Any], str]] = {}
    made = 0
    for slug, c in site.crm.contacts.items():
        file_digest = digest_of(c.path)
        key = (c.path, file_digest, sign_of(slug), org_of(c))
        old = kept.get(slug)
        entry: MemoEntry
        if old is not None and old[0] == key and (file_digest is not None or old[1].get("contact") is c):
            row = old[1]
            if row["contact"] is c:
                entry = old
            elif row["contact"] is None:  # read from the cache for this build: its own to fill in
                row["contact"] = c
                entry = old
            else:  # a kept row of another object of the same file: not changed under its holders
                entry = (key, _with_contact(row, c), old[2], old[3])
        else:
            row = make.row(c)
            entry = (key, row, values_digest(row_values(row)), None)
            made += 1
        row = entry[1]
        rows.append(row)
        remembered[slug] = entry
        known[id(row)] = (row, entry[2])
        if entry[3] is not None:
            pieces[id(row)] = (row, entry[3])
    rows.sort(key=_row_order)
    site.directory_rows_cache, site.directory_row_digests, site.directory_rows_made = rows, known, made
    site.search_pieces = pieces
    return DirectoryMemo(site.today, remembered)


def _with_contact(values: dict[str, Any], c: Contact) -> dict[str, Any]:
    """A kept row given this build's Contact, "contact" first as _RowMaker.row has it."""
    row = {"contact": c, **values}
    row["contact"] = c  # values may hold an older object of the same file
    return row


_WHITESPACE = re.compile(r"\s")  # compiled once: re.sub() looks the pattern up on every call


def search_rows(rows: list[dict[str, Any]]) -> list[SearchRow]:
    return [search_row(r) for r in rows]


def search_row(r: dict[str, Any]) -> SearchRow:
    """A directory row as search-data.js has it. It reads the row and, of its contact,
    what search_row_sources gives (a cache key: keep the two in step)."""
    c: Contact = r["contact"]
    searchable = (c.name, *c.aka, *c.emails, *c.phones, *[_WHITESPACE.sub("", p) for p in c.phones],
                  r["org_name"], c.title or "", *c.tags, *r["topics"], c.location or "")
    return SearchRow(
        slug=r["slug"], name=r["name"], org=r["org_slug"], org_name=r["org_name"], title=r["title"],
        tier=r["tier"], status=r["status"], source=r["source"], last_touch=r["last_touch"],
        last_touch_words=r["last_touch_words"], touches=r["touches"], next_due=r["next_due"],
        next_due_words=r["next_due_words"], attention=" ".join(r["attention"]), tags=tuple(c.tags),
        topics=tuple(r["topics"]), searchable=tuple(searchable),
    )


def search_row_sources(r: dict[str, Any]) -> tuple[Any, ...]:
    """Everything of a row's contact that search_row reads."""
    c: Contact = r["contact"]
    return (c.name, c.aka, c.emails, c.phones, c.title, c.tags, c.location)


def _folded_then_exact(text: str) -> tuple[str, str]:
    """A sort key: folded ("muller" with "Müller"), then the text itself, so values that
    fold alike ("Referral", "referral") keep one order rather than the set's, which
    changes with each process's hash seed (and with it the built page's bytes)."""
    return fold(text), text


def filter_options(site: SiteInput, rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    crm = site.crm
    tags = sorted({t for c in crm.contacts.values() for t in c.tags}, key=_folded_then_exact)
    orgs = sorted({(r["org_slug"], r["org_name"]) for r in rows if r["org_slug"]},
                  key=lambda o: (*_folded_then_exact(o[1]), o[0]))
    sources = sorted({r["source"] for r in rows if r["source"]}, key=_folded_then_exact)
    topics = sorted({t for r in rows for t in r["topics"]}, key=_folded_then_exact)
    present_tiers = {r["tier"] for r in rows}
    present_statuses = {r["status"] for r in rows}
    return {
        "tag": [(t, t) for t in tags],
        "org": orgs,
        "tier": [(t, t) for t in TIERS if t in present_tiers],
        "status": [(s, s) for s in STATUSES if s in present_statuses],
        "source": [(s, s) for s in sources],
        "attention": list(ATTENTION_CHOICES),
        "topic": [(t, t) for t in topics],
    }


# --- tags ---------------------------------------------------------------------------------------


def tag_files(crm: CRM) -> dict[str, str]:
    """tag -> its page's file name (tags are free text; file names must be plain)."""
    taken: set[str] = {"index"}
    files: dict[str, str] = {}
    for tag in sorted({t for e in crm.entities() for t in e.tags}):
        slug = unique_slug(slugify(tag), taken)
        taken.add(slug)
        files[tag] = f"tags/{slug}.html"
    return files


# --- page planning -------------------------------------------------------------------------------


def common_context(site: SiteInput, tags: dict[str, str]) -> dict[str, Any]:
    """What every page shows. It leaves out the contact/org counts and the problem
    totals on purpose: an addition, deletion or new warning changes those, and a contact
    or org page that showed them would be rendered again on every such change (the
    site-wide pages get them from site_status_context; contact and org pages show the
    problem banner through site-status.js)."""
    crm = site.crm
    return {
        "site_title": crm.config.title,
        "owner": crm.config.owner,
        "today": site.today,
        "has_changes": site.history is not None,
        "has_stats": site.stats is not None,
        "has_calendar": site.calendar,
    }


def problem_totals(site: SiteInput) -> dict[str, int]:
    errors = sum(1 for p in site.problems if p.severity == "error")
    warnings = sum(1 for p in site.problems if p.severity == "warning")
    return {"errors": errors, "warnings": warnings, "total": errors + warnings}


def site_counts(site: SiteInput, tags: dict[str, str]) -> dict[str, int]:
    return {"contacts": len(site.crm.contacts), "orgs": len(site.crm.orgs), "tags": len(tags)}


def plan_pages(site: SiteInput, entity_paths: Iterable[str] | None = None, site_pages: bool = True,
               site_paths: Callable[[str], bool] | None = None) -> list[Page]:
    """Every page; or (for incremental and parallel builds) only the contact/org pages in
    entity_paths (e.g. "contacts/ada.html"), plus the site-wide pages if site_pages.
    site_paths: which site-wide pages (by path), when not all of them; the others'
    contexts are not made."""
    crm = site.crm
    tags = site.tag_files_cache if site.tag_files_cache is not None else tag_files(crm)
    common = common_context(site, tags)
    paths = None if entity_paths is None else list(entity_paths)
    wanted = None if paths is None else set(paths)
    only = None if wanted is None else {p.rsplit("/", 1)[-1][: -len(".html")] for p in wanted}
    if site.backlinks_cache is not None:
        backlinks = site.backlinks_cache
    else:
        backlinks = backlink_index(crm, only, site.namers) if wanted is None or wanted else {}
    pages: list[Page] = []
    want = site_paths if site_paths is not None else (lambda path: site_pages)
    if want("index.html"):
        rows = directory_rows(site)
        pages.append(Page("index.html", "index.html",
                          {"rows": rows, "filters": filter_options(site, rows), "nav": "directory"}))
    if want("due.html"):
        pages.append(Page("due.html", "due.html", due_context(site)))
    if want("dashboard.html"):
        pages.append(Page("dashboard.html", "dashboard.html", dashboard_context(site)))
    if want("tags/index.html"):
        pages.append(Page("tags/index.html", "tags.html", tags_context(crm, tags)))
    tag_pages = {tag: path for tag, path in tags.items() if want(path)}
    if tag_pages:
        by_tag = tag_contexts(site, tag_pages)
        pages += [Page(path, "tag.html", by_tag[tag]) for tag, path in tag_pages.items()]
    for contact in wanted_entities(crm.contacts, "contacts", paths):
        pages.append(Page(f"contacts/{contact.slug}.html", "contact.html",
                          contact_context(site, contact, backlinks, tags, "../")))
    for org in wanted_entities(crm.orgs, "orgs", paths):
        pages.append(Page(f"orgs/{org.slug}.html", "org.html", org_context(site, org, backlinks, tags, "../")))
    if site.history is not None and want("changes.html"):
        pages.append(Page("changes.html", "changes.html", changes_context(site)))
    if site.problems and want("problems.html"):
        pages.append(Page("problems.html", "problems.html", problems_context(site)))
    _finish_contexts(site, pages, common, tags)
    return pages


def _finish_contexts(site: SiteInput, pages: list[Page], common: dict[str, Any], tags: dict[str, str]) -> None:
    """Give each page what every page of its kind shows besides its own context."""
    site_wide = [page for page in pages if page.template not in ("contact.html", "org.html")]
    if site_wide:
        # Site-wide pages are rendered on every build anyway, so they may show site-wide
        # facts: the problem totals (banner, footer link) and, on the directory and the
        # dashboard, the contact/org counts.
        totals, counts = problem_totals(site), site_counts(site, tags)
        for page in site_wide:
            page.context["problems"] = totals
            if page.path in ("index.html", "dashboard.html"):
                page.context["counts"] = counts
    for page in pages:
        page.context = {**common, **page.context, "base": page.base, "page_path": page.path,
                        "tag_hrefs": {t: page.base + p for t, p in tags.items()}}


def tag_page_signatures(site: SiteInput, tags: dict[str, str],
                        sign: Callable[[str, str, dict[str, Any]], str | None]) -> dict[str, str] | None:
    """Each tag page's signature (path -> sign(path, template, context)), made without
    making its rows: its context as plan_pages would finish it, its contacts' rows given
    as the digest of each one's directory row and the sign of its stats entry, in the
    page's order (what a tag row is made from: _tag_row). At 10,000 contacts this is
    one look-up per contact, where making every tag page's rows took about 60 ms after
    each edit; only the pages whose signature moved need theirs. None when a digest or a
    sign is not known (the pages are then signed by their contexts)."""
    known = site.directory_row_digests
    signs = getattr(site.stats, "contact_signs", None) if site.stats is not None else None
    if not known or not signs:
        return None
    members = tag_members(site, tags)
    try:  # (known holds this build's directory rows: remember_directory_rows)
        part_of = {id(listed): known[id(listed)][1] + signs[listed["slug"]]  # type: ignore[operator]
                   for listed in directory_rows(site) if listed["contact"].tags}
        parts = {tag: b"".join([part_of[id(listed)] for listed in listed_rows]) for tag, listed_rows in members.items()}
    except (KeyError, TypeError):  # a row's digest or its entry's sign not known
        return None
    orgs = _tag_org_rows(site.crm, tags)
    pages = [Page(path, "tag.html", {"nav": "tags", "tag": tag, "contacts": ("signed rows", parts[tag]),
                                     "orgs": orgs[tag]}) for tag, path in tags.items()]
    _finish_contexts(site, pages, common_context(site, tags), tags)
    signatures = {}
    for page in pages:
        signature = sign(page.path, page.template, page.context)
        if signature is None:
            return None
        signatures[page.path] = signature
    return signatures


EntityT = TypeVar("EntityT", bound=Entity)


def wanted_entities(entities: dict[str, EntityT], folder: str, page_paths: Iterable[str] | None) -> list[EntityT]:
    """The entities of folder ("contacts" or "orgs") whose pages are in page_paths, in
    that order and each once; every one, in the CRM's order, when page_paths is None.
    It looks each page up rather than going over every entity: render workers plan one
    chunk of pages at a time, and a pass over the CRM per chunk grows with the square of
    its size."""
    if page_paths is None:
        return list(entities.values())
    prefix = folder + "/"
    found = []
    for path in dict.fromkeys(page_paths):
        if path.startswith(prefix) and path.endswith(".html"):
            entity = entities.get(path[len(prefix):-len(".html")])
            if entity is not None:
                found.append(entity)
    return found


def prepare_entity_pages(site: SiteInput) -> None:
    """Do once what every contact and org page needs from the whole CRM (the backlink
    index, org members): call it before rendering many entity pages in forked workers,
    which inherit the result instead of each working it out again for every chunk (at
    10,000 contacts the backlink scan costs 0.15 s per chunk of 250 pages; with chunks
    of a fixed size, per-chunk scans grow with the square of the CRM). Not worth it for
    a few pages: plan_pages then scans for just their slugs."""
    if site.backlinks_cache is None:
        site.backlinks_cache = backlink_index(site.crm)
    if site.tag_files_cache is None:
        site.tag_files_cache = tag_files(site.crm)
    org_links(site)


def search_meta(site: SiteInput, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"today": site.today.isoformat(), "count": len(rows)}


# --- contact and org pages ------------------------------------------------------------------------


def _entity_common(site: SiteInput, entity: Entity, backlinks: BacklinkIndex,
                   base: str) -> dict[str, Any]:
    crm = site.crm
    links = Links(crm, base)
    summary_html, bodies = entity_markdown(site, entity, links)
    past, planned = split_planned(make_notes(entity, crm, links, bodies, site.participants_cache), site.today)
    topics = Counter(t for s in entity.sections for t in s.topics)
    file_history = site.history.files.get(entity.path) if site.history is not None else None
    return {
        "entity": entity,
        "summary_html": summary_html,
        "notes": past,
        "planned": planned,
        "backlinks": PageBacklinks(entity.slug, backlinks, base, entity, site.notes_cache),
        "topics": sorted(topics.items(), key=lambda kv: (-kv[1], kv[0])),
        "topic_hrefs": {t: links.topic(t) for t in topics},
        "deals": [deal_view(d) for d in entity.deals],
        "invoices": [invoice_view(i, site.today) for i in entity.invoices],
        "custom": entity.custom,
        "links": sorted(entity.links.items()),
        "edit_url": edit_href(crm.config.edit_url, entity.path, crm.root),
        "file_path": entity.path,
        "file_history": file_history,
    }


def contact_context(site: SiteInput, c: Contact, backlinks: BacklinkIndex,
                    tags: dict[str, str], base: str) -> dict[str, Any]:
    crm = site.crm
    st = contact_stats(site, c.slug)
    org = crm.orgs.get(c.org) if c.org else None
    referrer = crm.contacts.get(c.referred_by) if c.referred_by else None
    referred = [crm.contacts[s] for s in st.get("referred", []) if s in crm.contacts] if st else [
        o for o in crm.contacts.values() if o.referred_by == c.slug]
    return {
        **_entity_common(site, c, backlinks, base),
        "nav": "contact",
        "contact": c,
        "st": st,
        "stat_words": stat_words(st, site.today),
        "attention": attention_flags(st, site.today) if st else [],
        "org": org,
        "org_href": entity_href(org, base) if org else None,
        "referrer": referrer,
        "referrer_href": entity_href(referrer, base) if referrer else None,
        "referred": [{"name": r.name, "href": entity_href(r, base)} for r in referred],
        "vcard_href": f"{quote(c.slug)}.vcf" if site.vcards and not c.private else None,
        "cadence_words": f"every {plural(c.cadence_days, 'day')}" if c.cadence_days else (
            f"every {plural(crm.config.default_cadence_days, 'day')} (default)" if crm.config.default_cadence_days else ""),
        "birthday": c.birthday.iso() if c.birthday else "",
    }


def org_family(crm: CRM, slug: str, children: dict[str, list[Org]] | None = None) -> list[Org]:
    """The org and every org below it through `parent`, each once (cycles are cut).
    children: OrgLinks.children, when the caller has it."""
    seen: dict[str, Org] = {}
    queue = [slug]
    while queue:
        current = queue.pop(0)
        if current in seen or current not in crm.orgs:
            continue
        seen[current] = crm.orgs[current]
        if children is None:
            queue += [o.slug for o in crm.orgs.values() if o.parent == current]
        else:
            queue += [o.slug for o in children.get(current, ())]
    return list(seen.values())


def org_context(site: SiteInput, org: Org, backlinks: BacklinkIndex,
                tags: dict[str, str], base: str) -> dict[str, Any]:
    crm = site.crm
    common = _entity_common(site, org, backlinks, base)
    index = org_links(site)
    family = org_family(crm, org.slug, index.children)
    # In file order as before (the org's own and then its subsidiaries' members), so
    # that people with the same folded name keep their order.
    members = sorted((c for o in family for c in index.members.get(o.slug, ())), key=lambda c: index.position[c.slug])
    people = sorted(members, key=lambda c: fold(c.name))
    past, planned, past_more, planned_more = people_note_links(people, site.today, base)
    parent = crm.orgs.get(org.parent) if org.parent else None
    children = sorted(index.children.get(org.slug, ()), key=lambda o: fold(o.name))
    return {
        **common,
        "nav": "org",
        "org": org,
        "st": org_stats(site, org.slug),
        "stat_words": org_stat_words(org_stats(site, org.slug), site.today),
        "people": [{"name": c.name, "href": entity_href(c, base), "role": c.role or "", "title": c.title or "",
                    "via": crm.orgs[c.org].name if c.org != org.slug else "",
                    "via_href": entity_href(crm.orgs[c.org], base) if c.org != org.slug else None,
                    "tier": c.tier or "", "status": c.status or ""} for c in people],
        "parent": {"name": parent.name, "href": entity_href(parent, base)} if parent else None,
        "children": [{"name": o.name, "href": entity_href(o, base)} for o in children],
        "people_notes": past,
        "people_notes_more": past_more,
        "people_planned": planned,
        "people_planned_more": planned_more,
        "website_href": _website_href(org.website),
    }


def people_note_links(people: list[Contact], today: date, base: str,
                      limit: int = PEOPLE_NOTES_LIMIT) -> tuple[list[NoteLink], list[NoteLink], int, int]:
    """The people's notes as links: past and today's newest first, future soonest first,
    at most limit of each, and how many of each were left out. On one day, notes keep
    the order of people and then of their files."""
    past: list[tuple[date, Contact, Section]] = []
    planned: list[tuple[date, Contact, Section]] = []
    for c in people:
        for s in c.sections:
            (past if s.date <= today else planned).append((s.date, c, s))
    past.sort(key=lambda t: t[0], reverse=True)
    planned.sort(key=lambda t: t[0])

    def link(c: Contact, s: Section) -> NoteLink:
        return NoteLink(date=s.date, kind=s.kind, title=display_title(s.title), name=c.name,
                        href=f"{entity_href(c, base)}#{note_id(c.sections, s)}")

    return ([link(c, s) for _, c, s in past[:limit]], [link(c, s) for _, c, s in planned[:limit]],
            max(0, len(past) - limit), max(0, len(planned) - limit))


def _website_href(website: str | None) -> str | None:
    if not website:
        return None
    if website.lower().startswith(("http://", "https://")):
        return website
    if re.match(r"^[\w.-]+\.[a-z]{2,}(/\S*)?$", website, re.IGNORECASE):
        return "https://" + website
    return None


# --- due, tags, dashboard, changes ---------------------------------------------------------------


DUE_SECTIONS: tuple[tuple[str, str], ...] = (
    ("follow-up", "Follow-ups"), ("overdue", "Keep in touch"), ("never-contacted", "Never contacted"),
    ("birthday", "Birthdays"),
)


def due_context(site: SiteInput) -> dict[str, Any]:
    """The attention list grouped by reason (in stats' order), and the over-contacted."""
    crm = site.crm
    due = resolved(site.due)
    attention = list(item_get(due, "attention", []) or []) if due is not None else []
    over = list(item_get(due, "over_contacted", []) or []) if due is not None else []

    def view(item: Any) -> dict[str, Any]:
        # item_get's reading, with the dict-or-object test made once per item (7,500 items
        # at 10,000 contacts, five fields each).
        get = item.get if isinstance(item, dict) else functools.partial(getattr, item)
        slug = get("slug", "")
        entity = crm.contacts.get(slug)
        return {"slug": slug, "name": get("name", slug), "reason": get("reason", ""),
                "detail": get("detail", ""), "date": get("date", None),
                "href": entity_href(entity, "") if entity else None, "contact": entity,
                "tier": entity.tier if entity else None}

    # One pass over the items (not one per reason), each group keeping the stats' order.
    by_reason: dict[str, list[dict[str, Any]]] = {reason: [] for reason, _ in DUE_SECTIONS}
    others = []
    for i in attention:
        row = view(i)
        group = by_reason.get(row["reason"])  # "" (no reason) is no section: Other
        (group if group is not None else others).append(row)
    groups = [{"reason": reason, "title": title, "items": by_reason[reason]} for reason, title in DUE_SECTIONS]
    if others:
        groups.append({"reason": "other", "title": "Other", "items": others})
    return {"nav": "due", "groups": groups, "attention_count": len(attention),
            "over": [view(i) for i in over], "within": DUE_WITHIN_DAYS,
            "window": crm.config.birthday_window_days}


def tags_context(crm: CRM, tags: dict[str, str]) -> dict[str, Any]:
    counts = Counter(t for e in crm.entities() for t in e.tags)
    return {"nav": "tags", "tags": [{"tag": t, "href": "../" + p, "count": counts[t]}
                                    for t, p in sorted(tags.items(), key=lambda kv: fold(kv[0]))]}


def tag_context(crm: CRM, tag: str, site: SiteInput) -> dict[str, Any]:
    """One tag page's context (tag_contexts makes them all in one pass)."""
    return tag_contexts(site, {tag: ""}, crm)[tag]


def tag_contexts(site: SiteInput, tags: dict[str, str], crm: CRM | None = None) -> dict[str, dict[str, Any]]:
    """Every tag page's context, in one pass over the contacts and orgs (not one per tag).
    Each contact's row is one dict shared by all its tags' pages."""
    crm = crm if crm is not None else site.crm
    contacts: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tags}
    stats = site.stats.contacts if site.stats is not None else {}
    # The directory's rows have the name, link, title, org name, tier and status and the
    # folded name (made once per build); a tag row is made from its contact's. Each
    # tag's list is in the directory's order (by folded name, then slug): the same
    # order as sorting each tag's contacts (in file order) by folded name on its own.
    tagged: Iterable[tuple[Contact, dict[str, Any] | None]]
    if crm is site.crm:
        directory = True
        site_tags = site.tag_files_cache
        members = tag_members(site, site_tags if site_tags is not None and all(t in site_tags for t in tags) else tags)
        wanted = [members[tag] for tag in tags]
        listed_rows: Iterable[dict[str, Any]]
        if sum(map(len, wanted)) * 4 > len(site.crm.contacts):  # most pages (a full build): one pass
            listed_rows = (listed for listed in directory_rows(site) if listed["contact"].tags)
        else:  # a few pages (after an edit): their contacts only, each once, in the directory's order
            listed_rows = sorted({id(r): r for rows in wanted for r in rows}.values(), key=_row_order)
        tagged = ((listed["contact"], listed) for listed in listed_rows)
    else:
        directory = False
        tagged = sorted(((c, None) for c in crm.contacts.values() if c.tags), key=lambda pair: fold(pair[0].name))
    # A tag row is made from its directory row and its stats entry's last touch, so its
    # row-cache digest can be made from theirs (the directory row's digest and the
    # entry's sign) rather than by pickling its values.
    known = site.directory_row_digests if directory else None
    signs = (getattr(site.stats, "contact_signs", None) or {}) if known is not None else {}
    for c, listed in tagged:
        row = None
        for tag in dict.fromkeys(c.tags):
            if tag in contacts:
                if row is None:
                    last_touch = _last_touch(stats, c.slug)
                    row = (_tag_row(listed, last_touch) if listed is not None else
                           {"name": c.name, "href": entity_href(c, "../"), "title": c.title or "",
                            "org": crm.orgs[c.org].name if c.org in crm.orgs else (c.org or ""),
                            "tier": c.tier or "", "status": c.status or "", "last_touch": last_touch})
                    if known is not None and listed is not None:
                        _know_tag_row_digest(known, row, listed, signs.get(c.slug))
                contacts[tag].append(row)
    orgs = _tag_org_rows(crm, tags)
    return {tag: {"nav": "tags", "tag": tag, "contacts": contacts[tag], "orgs": orgs[tag]} for tag in tags}


def tag_members(site: SiteInput, tags: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each tag's contacts as their directory rows, in the directory's order; made once
    per build for the site's tags (SiteInput.tag_members_cache)."""
    cached = site.tag_members_cache
    if cached is not None and cached[0] is tags:
        return cached[1]
    members: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tags}
    for listed in directory_rows(site):
        tags_of = listed["contact"].tags
        if tags_of:
            for tag in dict.fromkeys(tags_of) if len(tags_of) > 1 else tags_of:
                found = members.get(tag)
                if found is not None:
                    found.append(listed)
    site.tag_members_cache = (tags, members)
    return members


def _tag_org_rows(crm: CRM, tags: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each tag page's orgs, by folded name."""
    orgs: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tags}
    for o in sorted((o for o in crm.orgs.values() if o.tags), key=lambda o: fold(o.name)):
        row = None
        for tag in dict.fromkeys(o.tags):
            if tag in orgs:
                if row is None:
                    row = {"name": o.name, "href": entity_href(o, "../"), "industry": o.industry or ""}
                orgs[tag].append(row)
    return orgs


def _last_touch(stats: Any, slug: str) -> Any:
    """A contact's last touch from the stats' figures, without unpacking a packed entry
    (stats_incremental.PackedFigures keeps it beside the entry)."""
    if slug not in stats:
        return None
    read = getattr(stats, "last_touch", None)
    return read(slug) if read is not None else (stats[slug] or {}).get("last_touch")


def _know_tag_row_digest(known: dict[int, tuple[dict[str, Any], bytes | None]], row: dict[str, Any],
                         listed: dict[str, Any], sign: bytes | None) -> None:
    """Record row's digest (see tag_contexts) where its directory row's digest and the
    sign of its stats entry are known. "tag-row" keeps these digests apart from those of
    pickled values."""
    entry = known.get(id(listed))
    if sign is not None and entry is not None and entry[0] is listed and entry[1] is not None:
        known[id(row)] = (row, hashlib.blake2b(b"tag-row" + entry[1] + sign, digest_size=16).digest())


def _tag_row(listed: dict[str, Any], last_touch: Any) -> dict[str, Any]:
    """A contact's row on tag pages from its directory row (the same values: its href is
    the directory's one folder down) and the stats' last touch (a date, not ISO text)."""
    return {"name": listed["name"], "href": "../" + listed["href"], "title": listed["title"],
            "org": listed["org_name"], "tier": listed["tier"], "status": listed["status"], "last_touch": last_touch}


def dashboard_context(site: SiteInput) -> dict[str, Any]:
    summary = dict(site.stats.summary) if site.stats is not None else {}
    return {"nav": "dashboard", "summary": summary, "charts": resolved(site.charts),
            "org_names": {slug: org.name for slug, org in site.crm.orgs.items()}}


def problems_context(site: SiteInput) -> dict[str, Any]:
    """The build's problems, as `crm check` prints them, with links to the pages."""
    by_path = {e.path: e for e in site.crm.entities()}
    items = []
    for p in site.problems:
        entity = by_path.get(p.path)
        items.append({"path": p.path, "line": p.line, "severity": p.severity, "code": p.code,
                      "message": p.message, "text": p.format(),
                      "href": entity_href(entity, "") if entity else None, "name": entity.name if entity else ""})
    return {"nav": "problems", "items": items}


def changes_context(site: SiteInput) -> dict[str, Any]:
    crm = site.crm
    by_path = {e.path: e for e in crm.entities()}
    commits = []
    for commit in getattr(site.history, "commits", []) or []:
        touched = [{"name": by_path[p].name, "href": entity_href(by_path[p], ""), "kind": by_path[p].kind}
                   for p in sorted(getattr(commit, "paths", []) or []) if p in by_path]
        commits.append({"sha": getattr(commit, "sha", ""), "date": getattr(commit, "date", None),
                        "author": getattr(commit, "author", ""), "subject": getattr(commit, "subject", ""),
                        "touched": touched})
    return {"nav": "changes", "commits": commits}


def changes_page_signature(site: SiteInput, sign: Callable[[str, str, dict[str, Any]], str | None]) -> str | None:
    """changes.html's signature (sign(path, template, context)), made without its context:
    each commit as its sha, date, author and subject with the (path, slug, name) of each
    contact and org it touched, in the page's order, which is all that changes_context
    makes a commit's rows of (a row's link and kind are made from the path and slug
    alone). At 10,000 contacts whose files all are in the history, making and signing
    the context took about 45 ms after every edit, which seldom changes the page; this
    takes a few. None without a history, or when sign cannot sign the page."""
    history = site.history
    if history is None:
        return None
    from .cache import stable_bytes

    crm = site.crm
    by_path = {e.path: e for e in crm.entities()}
    commits = []
    for commit in getattr(history, "commits", []) or []:
        touched = [(p, by_path[p].slug, by_path[p].name) for p in sorted(getattr(commit, "paths", []) or [])
                   if p in by_path]
        commits.append((getattr(commit, "sha", ""), getattr(commit, "date", None), getattr(commit, "author", ""),
                        getattr(commit, "subject", ""), touched))
    digest = hashlib.blake2b(stable_bytes(commits), digest_size=16).digest()
    tags = site.tag_files_cache if site.tag_files_cache is not None else tag_files(crm)
    page = Page("changes.html", "changes.html", {"nav": "changes", "commits": ("signed commits", digest)})
    _finish_contexts(site, [page], common_context(site, tags), tags)
    return sign(page.path, page.template, page.context)


def money_total(amounts: Iterable[tuple[Decimal, str]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for amount, currency in amounts:
        totals[currency] += amount
    return dict(totals)

"""Checks: small functions, each returning the problems it finds, at the line they are on.

Entity checks see one contact or org (and the CRM, for lookups); CRM checks see
everything at once. A new check is one function added to a list.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator

from .model import (
    CHANNELS, CONTACT_KEYS, CRM, DEAL_KEYS, DEAL_STAGES, INVOICE_KEYS, NEWSLETTER, NOTE_KIND, ORG_KEYS,
    ROLES, STATUSES, TIERS, Contact, Entity, Org, as_date, as_money, as_text, parse_birthday,
)
from .parse import MENTION
from .problems import Problem, error, warning

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]{2,}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")

EntityCheck = Callable[[Entity, CRM], Iterable[Problem]]
CrmCheck = Callable[[CRM], Iterable[Problem]]


def line(entity: Entity, *key: str | int) -> int:
    """The line a key is on; line 2 (the first front-matter line) when it is absent."""
    return entity.lines.get(tuple(key)) or 2


def _present(entity: Entity, key: str) -> bool:
    return entity.meta.get(key) is not None


# --- entity checks ------------------------------------------------------------------


def check_name(entity: Entity, crm: CRM) -> Iterator[Problem]:
    raw = entity.meta.get("name")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        yield error(entity.path, line(entity, "name"), "missing-name", "'name' is required")
    elif not isinstance(raw, str):
        yield error(entity.path, line(entity, "name"), "invalid-name",
                    f"'name' must be text, not {type(raw).__name__} (quote it)")


def check_slug(entity: Entity, crm: CRM) -> Iterator[Problem]:
    if not SLUG.match(entity.slug):
        suggestion = re.sub(r"[^a-z0-9]+", "-", entity.slug.lower()).strip("-") or "a-name"
        yield warning(entity.path, None, "slug-format",
                      f"file names should be lower-case letters, digits and hyphens, e.g. {suggestion}.md")


_CONTACT_DATES = ("since", "customer_since", "follow_up", "snooze_until")
_ITEM_DATES = (("deals", ("opened", "closed")), ("invoices", ("date", "due", "paid")))


def check_dates(entity: Entity, crm: CRM) -> Iterator[Problem]:
    meta = entity.meta
    for key in _CONTACT_DATES if isinstance(entity, Contact) else ():
        raw = meta.get(key)
        if raw is not None and as_date(raw) is None:
            yield _invalid_date(entity, (key,), raw)
    for group, fields in _ITEM_DATES:
        items = meta.get(group)
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if isinstance(item, dict):
                for f in fields:
                    raw = item.get(f)
                    if raw is not None and as_date(raw) is None:
                        yield _invalid_date(entity, (group, i, f), raw)
    if isinstance(entity, Contact) and _present(entity, "birthday"):
        raw = meta["birthday"]
        if parse_birthday(raw) is None:
            yield error(entity.path, line(entity, "birthday"), "invalid-date",
                        f"'birthday': '{raw}' is not a valid date (YYYY-MM-DD, or --MM-DD without the year)")


def _invalid_date(entity: Entity, key: tuple[str | int, ...], raw: Any) -> Problem:
    shown = ".".join(str(k) for k in key)
    where = entity.lines.get(key) or line(entity, *key[:2])
    return error(entity.path, where, "invalid-date", f"'{shown}': '{raw}' is not a valid date (YYYY-MM-DD)")


_CONTACT_ENUMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tier", TIERS), ("status", STATUSES), ("role", ROLES),
    ("preferred_channel", CHANNELS), ("newsletter", NEWSLETTER),
)


def check_enums(entity: Entity, crm: CRM) -> Iterator[Problem]:
    if isinstance(entity, Contact):
        for key, allowed in _CONTACT_ENUMS:
            if _present(entity, key) and getattr(entity, key) is None:
                yield error(entity.path, line(entity, key), f"invalid-{key.replace('_', '-')}",
                            f"'{key}': '{entity.meta[key]}' is not one of {', '.join(allowed)}")
    deals = entity.meta.get("deals")
    for i, item in enumerate(deals if isinstance(deals, list) else []):
        if isinstance(item, dict) and item.get("stage") is not None and str(item["stage"]).lower() not in DEAL_STAGES:
            yield error(entity.path, entity.lines.get(("deals", i, "stage")) or line(entity, "deals", i),
                        "invalid-stage", f"deal stage '{item['stage']}' is not one of {', '.join(DEAL_STAGES)}")


def check_cadence(entity: Entity, crm: CRM) -> Iterator[Problem]:
    if isinstance(entity, Contact) and _present(entity, "cadence") and entity.cadence_days is None:
        yield error(entity.path, line(entity, "cadence"), "invalid-cadence",
                    f"'cadence': '{entity.meta['cadence']}' must be a positive number of days or like 2w, 3m, 1y")


_LIST_KEYS = ("aka", "emails", "phones", "addresses", "tags", "interests")
_MAP_KEYS = ("links", "family")
_TEXT_KEYS = ("name", "pronouns", "title", "org", "referred_by", "source", "location", "timezone", "trivia",
              "website", "industry", "market", "parent")


_CONTAINERS = repeat((dict, list))  # isinstance's second argument, for map()


def check_shapes(entity: Entity, crm: CRM) -> Iterator[Problem]:
    for key in _LIST_KEYS:
        value = entity.meta.get(key)
        if isinstance(value, dict) or (isinstance(value, list) and any(map(isinstance, value, _CONTAINERS))):
            yield error(entity.path, line(entity, key), "invalid-type", f"'{key}' must be a list of text items")
    for key in _MAP_KEYS:
        value = entity.meta.get(key)
        if value is not None and not isinstance(value, dict) and not (key == "links" and isinstance(value, list)):
            yield error(entity.path, line(entity, key), "invalid-type", f"'{key}' must be a map of 'label: value' lines")
    # Nearly always none is a list or map: that is found in C, before looking key by key.
    if any(map(isinstance, map(entity.meta.get, _TEXT_KEYS), _CONTAINERS)):
        for key in _TEXT_KEYS:
            if isinstance(entity.meta.get(key), (dict, list)) and key != "name":
                yield error(entity.path, line(entity, key), "invalid-type", f"'{key}' must be text, not a list or map")
    for key in ("deals", "invoices"):
        value = entity.meta.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            yield error(entity.path, line(entity, key), "invalid-type", f"'{key}' must be a list of items")
            continue
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                yield error(entity.path, line(entity, key, i), "invalid-type",
                            f"each of '{key}' must be a map such as 'title: ...', 'amount: ...'")
    if _present(entity, "private") and not isinstance(entity.meta["private"], bool):
        yield error(entity.path, line(entity, "private"), "invalid-type", "'private' must be true or false")


def check_money(entity: Entity, crm: CRM) -> Iterator[Problem]:
    for group in ("deals", "invoices"):
        items = entity.meta.get(group)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            where = line(entity, group, i)
            if item.get("amount") is not None and as_money(item["amount"]) is None:
                yield error(entity.path, entity.lines.get((group, i, "amount"), where), "invalid-amount",
                            f"amount '{item['amount']}' is not a number")
            currency = as_text(item.get("currency"))
            if currency is not None and not CURRENCY.match(currency.upper()):
                yield error(entity.path, entity.lines.get((group, i, "currency"), where), "invalid-currency",
                            f"currency '{currency}' should be a three-letter code such as EUR or USD")
            if item.get("amount") is not None and currency is None:
                yield warning(entity.path, where, "missing-currency",
                              "an amount without a currency is not counted in totals (add currency: EUR, ...)")
            if group == "invoices" and item.get("amount") is None:
                yield warning(entity.path, where, "missing-amount", "invoice has no amount")


def check_emails(entity: Entity, crm: CRM) -> Iterator[Problem]:
    raw = entity.meta.get("emails")
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    for i, item in enumerate(items):
        text = as_text(item)
        if text is None or not EMAIL.match(text):
            where = entity.lines.get(("emails", i)) or line(entity, "emails")
            yield error(entity.path, where, "invalid-email", f"'{item}' is not a valid email address")


def check_timezone(entity: Entity, crm: CRM) -> Iterator[Problem]:
    if isinstance(entity, Contact) and entity.timezone and entity.timezone not in _known_timezones():
        close = difflib.get_close_matches(entity.timezone, _known_timezones(), n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (use an IANA name such as Europe/Berlin)"
        yield warning(entity.path, line(entity, "timezone"), "unknown-timezone",
                      f"unknown time zone '{entity.timezone}'{hint}")


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    try:
        import zoneinfo

        return frozenset(zoneinfo.available_timezones())
    except Exception:  # no tz database on this system: do not warn at all
        return frozenset()


@lru_cache(maxsize=4096)
def _close_matches(word: str, choices: tuple[str, ...], cutoff: float) -> tuple[str, ...]:
    """difflib is slow (~1 ms a call) and the same custom keys recur in thousands of files."""
    return tuple(difflib.get_close_matches(word, choices, n=1, cutoff=cutoff))


def check_unknown_keys(entity: Entity, crm: CRM) -> Iterator[Problem]:
    known = CONTACT_KEYS if isinstance(entity, Contact) else ORG_KEYS
    for key in entity.custom:
        close = _close_matches(key.lower(), known, 0.75)
        if close:
            yield warning(entity.path, line(entity, key), "unknown-key",
                          f"'{key}' is not a known key; did you mean '{close[0]}'? (kept as a custom field)")
    for group, keys in (("deals", DEAL_KEYS), ("invoices", INVOICE_KEYS)):
        items = entity.meta.get(group)
        for i, item in enumerate(items if isinstance(items, list) else []):
            for key in item if isinstance(item, dict) else ():
                if key not in keys:
                    close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.75)
                    hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(keys)})"
                    yield warning(entity.path, entity.lines.get((group, i, str(key)), line(entity, group, i)),
                                  "unknown-key", f"'{key}' is not a known {group[:-1]} key{hint}")


def check_references(entity: Entity, crm: CRM) -> Iterator[Problem]:
    if isinstance(entity, Contact):
        if entity.org and entity.org not in crm.orgs:
            yield error(entity.path, line(entity, "org"), "unknown-org", _unknown("org", entity.org, crm.orgs))
        if entity.referred_by:
            if entity.referred_by == entity.slug:
                yield error(entity.path, line(entity, "referred_by"), "self-reference", "a contact cannot refer itself")
            elif entity.referred_by not in crm.contacts:
                yield error(entity.path, line(entity, "referred_by"), "unknown-contact",
                            _unknown("contact", entity.referred_by, crm.contacts))
    if isinstance(entity, Org) and entity.parent:
        if entity.parent == entity.slug:
            yield error(entity.path, line(entity, "parent"), "self-reference", "an org cannot be its own parent")
        elif entity.parent not in crm.orgs:
            yield error(entity.path, line(entity, "parent"), "unknown-org", _unknown("org", entity.parent, crm.orgs))


def _unknown(kind: str, slug: str, pool: dict[str, Any]) -> str:
    folder = "contacts" if kind == "contact" else "orgs"
    close = difflib.get_close_matches(slug, list(pool), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"no {kind} '{slug}' ({folder}/{slug}.md does not exist){hint}"


def check_mentions(entity: Entity, crm: CRM) -> Iterator[Problem]:
    contacts, orgs = crm.contacts, crm.orgs

    def known(slug: str) -> bool:
        return slug in contacts or slug in orgs

    for section in entity.sections:
        for slug in section.participants:
            if slug not in contacts and slug not in orgs:
                yield error(entity.path, section.line, "unknown-mention", _unknown("contact", slug, crm.contacts))
        # section.mentions are the body's MENTION matches (parse.py), the same ones its
        # lines give (no match spans a newline), so a body whose mentions are all known
        # needs no line-by-line look: that is nearly every body.
        for slug in section.mentions:
            if slug not in contacts and slug not in orgs:
                break
        else:
            continue
        for offset, text in enumerate(section.body.split("\n")):
            yield from _line_mentions(entity, section.body_line + offset, text, known)
    if "@" in entity.summary:
        for offset, text in enumerate(entity.summary.split("\n")):
            yield from _line_mentions(entity, entity.summary_line + offset, text, known)


def _line_mentions(entity: Entity, line_no: int, text: str, known: Callable[[str], bool]) -> Iterator[Problem]:
    if "@" not in text:
        return
    for slug in MENTION.findall(text):
        if not known(slug):
            yield error(entity.path, line_no, "unknown-mention",
                        f"@{slug} names no contact or org (contacts/{slug}.md does not exist)")


_KIND_OF = attrgetter("kind")


def check_section_kinds(entity: Entity, crm: CRM) -> Iterator[Problem]:
    kinds = (*crm.config.touch_kinds, NOTE_KIND)
    if frozenset(kinds).issuperset(map(_KIND_OF, entity.sections)):  # in C: the usual case
        return
    for section in entity.sections:
        if section.kind not in kinds:
            close = difflib.get_close_matches(section.kind, kinds, n=1, cutoff=0.7)
            hint = f"; did you mean '{close[0]}'?" if close else " (add it to touch_kinds in crm.yaml to count it as a touch)"
            yield warning(entity.path, section.line, "unknown-kind",
                          f"section kind '{section.kind}' is not a known kind, so it is kept as a note{hint}")


ENTITY_CHECKS: list[EntityCheck] = [
    check_name, check_slug, check_shapes, check_dates, check_enums, check_cadence, check_money,
    check_emails, check_timezone, check_unknown_keys, check_references, check_mentions, check_section_kinds,
]


# --- CRM-wide checks ------------------------------------------------------------------


def check_duplicate_emails(crm: CRM) -> Iterator[Problem]:
    # Lines are looked up only for a duplicate: a cached contact's lines are decoded
    # when first read (model._FrontMatterField), and most contacts have no duplicate.
    def email_line(contact: Contact, i: int) -> int:
        return contact.lines.get(("emails", i)) or line(contact, "emails")

    first: dict[str, tuple[Contact, int]] = {}
    for contact in crm.contacts.values():
        for i, email in enumerate(contact.emails):
            key = email.strip().lower()
            if key in first and first[key][0].slug != contact.slug:
                other, other_i = first[key]
                yield warning(contact.path, email_line(contact, i), "duplicate-email",
                              f"{email} is also in {other.path}:{email_line(other, other_i)}; one person in two files?")
            else:
                first.setdefault(key, (contact, i))


def check_parent_cycles(crm: CRM) -> Iterator[Problem]:
    for org in crm.orgs.values():
        seen = [org.slug]
        current = org.parent
        while current and current in crm.orgs:
            if current == org.slug:
                yield error(org.path, line(org, "parent"), "parent-cycle",
                            f"org parents form a loop: {' -> '.join([*seen, current])}")
                break
            if current in seen:
                break  # a loop further up; reported at the orgs in it
            seen.append(current)
            current = crm.orgs[current].parent


CRM_CHECKS: list[CrmCheck] = [check_duplicate_emails, check_parent_cycles]


def validate(crm: CRM) -> list[Problem]:
    """Every problem the checks find (not including those found while parsing)."""
    problems: list[Problem] = []
    for entity in crm.entities():
        for check in ENTITY_CHECKS:
            problems.extend(check(entity, crm))
    for crm_check in CRM_CHECKS:
        problems.extend(crm_check(crm))
    return problems

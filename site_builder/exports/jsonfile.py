"""The whole model and its stats as one JSON document; the schema is docs/json.md.

Stable for other tools: keys are always present (null or [] when empty), dates are ISO
strings, money amounts are JSON numbers written with their exact decimal digits, lists
are sorted by slug. SCHEMA_VERSION goes up when a key changes meaning or disappears;
new keys may be added without a bump.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from ..jsontext import indented_json
from ..model import CRM, Birthday, Contact, Deal, Entity, Invoice, Org
from ..parse import Section
from .privacy import public_view

SCHEMA = "plaintext-crm"
SCHEMA_VERSION = 1

Json = dict[str, Any]


def export_json(crm: CRM, today: date, include_private: bool = False, *, with_stats: bool = True) -> str:
    return indented_json(model_json(crm, today, include_private, with_stats=with_stats), default=_plain) + "\n"


def model_json(crm: CRM, today: date, include_private: bool = False, *, with_stats: bool = True) -> Json:
    view = public_view(crm, include_private)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "today": today.isoformat(),
        "include_private": include_private,
        "config": _config(view),
        "contacts": [contact_json(c) for c in view.contacts.values()],
        "orgs": [org_json(o) for o in view.orgs.values()],
        "stats": _stats(view, today) if with_stats else None,
    }


def _stats(crm: CRM, today: date) -> Any:
    # Computed on the public view, so totals and lists never include what is left out.
    from ..stats import compute

    return compute(crm, today).to_json()


def _config(crm: CRM) -> Json:
    c = crm.config
    return {"title": c.title, "owner": c.owner, "touch_kinds": list(c.touch_kinds),
            "default_cadence_days": c.default_cadence_days, "max_touches_per_week": c.max_touches_per_week,
            "birthday_window_days": c.birthday_window_days}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _birthday(value: Birthday | None) -> str | None:
    return value.iso() if value else None


def _entity(e: Entity) -> Json:
    return {
        "slug": e.slug, "path": e.path, "kind": e.kind, "name": e.name, "aka": e.aka, "tags": e.tags,
        "emails": e.emails, "phones": e.phones, "addresses": e.addresses, "links": e.links,
        "private": e.private, "summary": e.summary,
        "deals": [deal_json(d) for d in e.deals], "invoices": [invoice_json(i) for i in e.invoices],
        "sections": [section_json(s) for s in e.sections], "custom": e.custom,
    }


def contact_json(c: Contact) -> Json:
    return {
        **_entity(c),
        "pronouns": c.pronouns, "org": c.org, "title": c.title, "role": c.role, "tier": c.tier, "status": c.status,
        "since": _iso(c.since), "customer_since": _iso(c.customer_since), "source": c.source,
        "referred_by": c.referred_by, "cadence_days": c.cadence_days, "follow_up": _iso(c.follow_up),
        "snooze_until": _iso(c.snooze_until), "preferred_channel": c.preferred_channel,
        "newsletter": c.newsletter, "timezone": c.timezone, "location": c.location,
        "birthday": _birthday(c.birthday), "family": c.family, "interests": c.interests, "trivia": c.trivia,
    }


def org_json(o: Org) -> Json:
    return {**_entity(o), "website": o.website, "industry": o.industry, "size": o.size, "market": o.market,
            "parent": o.parent}


def deal_json(d: Deal) -> Json:
    return {"title": d.title, "stage": d.stage, "amount": d.amount, "currency": d.currency,
            "opened": _iso(d.opened), "closed": _iso(d.closed), "lost_to": d.lost_to, "line": d.line}


def invoice_json(i: Invoice) -> Json:
    return {"number": i.number, "date": _iso(i.date), "amount": i.amount, "currency": i.currency,
            "due": _iso(i.due), "paid": _iso(i.paid), "line": i.line}


def section_json(s: Section) -> Json:
    return {"date": s.date.isoformat(), "kind": s.kind, "title": s.title, "line": s.line, "body": s.body,
            "participants": list(s.participants), "mentions": list(s.mentions), "topics": list(s.topics)}


def _plain(value: Any) -> Any:
    """The JSON encoder's fallback for values that are not JSON types (also inside stats)."""
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _decimal(value: Decimal) -> Any:
    if value == value.to_integral_value() and abs(value) < 10**15:
        return int(value)
    return float(value) if len(value.as_tuple().digits) <= 15 else str(value)

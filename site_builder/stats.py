"""Relationship intelligence: pure functions of (CRM, today) -> JSON-ready figures.

`compute(crm, today)` is the one entry point; the CLI (`crm stats`, `crm due`) and the
site both call it. Every definition is written out in docs/stats.md. The work is one pass
over all sections (stats_touches.build_index), then per-contact and per-org arithmetic
on what that pass collected, so the cost grows with the size of the CRM, not its square.
"""

from __future__ import annotations

import bisect
import gc
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain
from datetime import date, timedelta
from operator import itemgetter
from typing import Any, Iterable, NamedTuple

from .model import CRM, Birthday, Contact, Config, Entity, Org
from .stats_money import (
    Money, Purchase, add_by_year, add_money, by_year_json, days_between, days_since_last, lateness,
    lifetime_value, money_json, pipeline, purchases_of, revenue_by_year, revenue_trend,
    share_json, sorted_items, unpaid, within_last,
)
from .stats_due import DueItem, DueMemory, DueReport, due_items, in_days
from .stats_rfm import CustomerFigures, rfm
from .stats_touches import Linked, SectionIndex, build_index

__all__ = ["Stats", "compute", "DueItem", "DueMemory", "DueReport", "due_items", "in_days"]

Json = dict[str, Any]

TOUCH_WINDOWS = (7, 30, 90, 365)
FUNNEL = ("lead", "qualified", "opportunity", "customer")
# How far along the funnel each status got; "former" customers got all the way.
FUNNEL_REACHED = {"lead": 1, "qualified": 2, "opportunity": 3, "customer": 4, "former": 4}
CUSTOMER_STATUSES = ("customer",)
MONTHS_OF_TOUCHES = 24
THIN_ORG_MAX_CONTACTS = 2
UNSET = "unset"  # the bucket for contacts without a status, tier, source or time zone


@dataclass(slots=True)
class Stats:
    # by slug: a dict, or (from the stats' memory) a stats_incremental.PackedFigures,
    # which reads the same and unpacks an entry when it is first read
    contacts: Mapping[str, Json]
    orgs: dict[str, Json]
    summary: Json
    # slug -> cache.stats_sign of its entry, when the computation that made these stats
    # kept them (stats_incremental.compute with signed): the build signs each page with
    # them instead of pickling 10,000 entries again. None: not made.
    contact_signs: dict[str, bytes] | None = field(default=None, compare=False, repr=False)
    org_signs: dict[str, bytes] | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> Json:
        return {
            "contacts": [self.contacts[s] for s in sorted(self.contacts)],
            "orgs": [self.orgs[s] for s in sorted(self.orgs)],
            "summary": self.summary,
        }


@dataclass(slots=True)
class _Money:
    """Money facts of one file, computed once and reused by contacts, orgs and summary."""

    purchases: list[Purchase]
    basis: str | None
    lifetime: Money
    by_year: dict[int, Money]
    # Unpaid invoices (all, and past due only) and open deals: each file's are needed by
    # its own figures, by every org group it is in and by the summary, so worked out once.
    # Read-only: callers add them into totals of their own.
    owed: Money
    overdue: Money
    pipeline: Money


_NONE: Money = {}  # the shared, never-changed "no money" of the files without invoices or deals


class Facts(NamedTuple):
    """What the summary and the RFM ranks read of a file besides its money and the
    fields every build reads anyway (name, tier, org, referrer): a contact's other fields
    stay packed until read (model.LazyContact), so that an addition or a deletion, which
    ranks everyone and makes the summary again, can take each unchanged file's from the
    stats' memory instead of unpacking 10,000 contacts (stats_incremental). None for an
    org's contact fields."""

    status: str | None
    source: str | None
    timezone: str | None
    customer_since: date | None
    last_business: date | None
    deals: tuple[tuple[str | None, str | None], ...]  # each deal's (stage, lost_to)


def facts_of(entity: Entity, today: date) -> Facts:
    """A file's Facts as of today (its last business is the latest invoice or deal close
    on or before today)."""
    deals = tuple((d.stage, d.lost_to) for d in entity.deals)
    last = last_business(entity, today) if entity.invoices or entity.deals else None
    if isinstance(entity, Contact):
        return Facts(entity.status, entity.source, entity.timezone, entity.customer_since, last, deals)
    return Facts(None, None, None, None, last, deals)


@dataclass(slots=True)
class _Context:
    crm: CRM
    today: date
    index: SectionIndex
    money: dict[str, _Money]  # by path, so a contact and an org may share a slug
    referred: dict[str, list[str]]  # referrer slug -> slugs they referred
    children: dict[str, list[str]]  # org slug -> child org slugs
    members: dict[str, list[str]]  # org slug -> contact slugs
    facts: Mapping[str, Facts]  # by path, as money


def compute(crm: CRM, today: date) -> Stats:
    """All figures for the CRM as of today. Pure: same CRM and date, same result."""
    # The cyclic garbage collector would walk the whole loaded CRM (millions of objects)
    # several times while we allocate; nothing here makes reference cycles, so pause it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compute(crm, today)
    finally:
        if was_enabled:
            freeze_survivors()
            gc.enable()


def freeze_survivors() -> None:
    """Keep what a computation made (the figures live on; none of it is in a cycle) out
    of the collections that allocations after it set off: those would scan all of it,
    young, as many times as it moves up a generation (after an addition at 10,000, the
    due list that followed took 165 ms instead of 50). Frozen objects are still freed by
    reference counting; a long-running process unfreezes them now and then
    (cache.release_frozen)."""
    gc.freeze()


def _compute(crm: CRM, today: date) -> Stats:
    return compute_in_context(context_of(crm, today))


def context_of(crm: CRM, today: date, spans: dict[str, tuple[int, int]] | None = None) -> "_Context":
    """What every figure is made from: one pass over the sections, each file's money."""
    return _Context(crm, today, build_index(crm, today, spans=spans), _money_of_all(crm, today), _referrals(crm),
                    org_children(crm), _members(crm), _facts_of_all(crm, today))


def compute_in_context(ctx: "_Context") -> Stats:
    """Every figure from ctx; its index's org groups are unlinked afterwards (SectionIndex.unlink)."""
    try:
        return _compute_in_context(ctx)
    finally:
        ctx.index.unlink()


def _compute_in_context(ctx: "_Context") -> Stats:
    crm = ctx.crm
    contacts = {slug: contact_stats(c, ctx) for slug, c in crm.contacts.items()}
    assign_rfm(contacts, ctx)
    total = _total_revenue(ctx)
    orgs = {slug: org_stats(o, ctx, total) for slug, o in crm.orgs.items()}
    return Stats(contacts, orgs, summary_stats(crm, contacts, orgs, ctx, total))


def assign_rfm(contacts: dict[str, Json], ctx: "_Context") -> None:
    """Each customer's RFM scores, into its figures (ranks among all customers)."""
    for slug, scores in rfm_scores(contacts, ctx).items():
        contacts[slug]["rfm"] = scores


def rfm_scores(contacts: Mapping[str, Json], ctx: "_Context") -> dict[str, dict[str, object]]:
    """Each customer's RFM scores (ranks among all customers), from what SUMMARY_FIELDS
    names of the contacts' figures."""
    return rfm(_customer_figures(ctx.crm, contacts, ctx), ctx.today)


def _money_of_all(crm: CRM, today: date) -> dict[str, _Money]:
    return {entity.path: money_of(entity, today) for entity in crm.entities()}


def _facts_of_all(crm: CRM, today: date) -> dict[str, Facts]:
    return {entity.path: facts_of(entity, today) for entity in crm.entities()}


def money_of(entity: Entity, today: date) -> _Money:
    purchases, basis = purchases_of(entity, today)
    owed, overdue = unpaid(entity.invoices, today) if entity.invoices else (_NONE, _NONE)
    return _Money(purchases, basis, lifetime_value(purchases), revenue_by_year(purchases),
                  owed, overdue, pipeline(entity) if entity.deals else _NONE)


def _referrals(crm: CRM) -> dict[str, list[str]]:
    referred: dict[str, list[str]] = defaultdict(list)
    for slug, contact in crm.contacts.items():  # sorted by slug, so the lists are too
        if contact.referred_by and contact.referred_by != slug and contact.referred_by in crm.contacts:
            referred[contact.referred_by].append(slug)
    return dict(referred)


def _total_revenue(ctx: _Context) -> Money:
    total: Money = {}
    for m in ctx.money.values():
        if m.lifetime:
            add_money(total, m.lifetime)
    return total


# --- touches --------------------------------------------------------------------------


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def touch_figures(days: list[int], kinds: list[str], today: date, *, ordered: bool = True) -> Json:
    """Counts, first/last, windows and spacing of touches, from their day numbers
    (date.toordinal) and kinds. `ordered`: days already sorted oldest first (a contact's
    are; an org's group days are not, and get sorted here, in place)."""
    if not ordered and len(days) > 1:
        days.sort()
    n = len(days)
    now = today.toordinal()
    first = days[0] if n else None
    last = days[-1] if n else None
    figures: Json = {
        "touches": n,
        "touches_by_kind": dict(sorted_items(Counter(kinds))) if kinds else {},  # counted in C
        "first_touch": date.fromordinal(first).isoformat() if first else None,
        "last_touch": date.fromordinal(last).isoformat() if last else None,
        "days_since_last_touch": now - last if last else None,
    }
    for window in TOUCH_WINDOWS:  # touches dated in (today - window, today]
        figures[f"touches_{window}d"] = n - bisect.bisect_right(days, now - window)
    figures["avg_days_between_touches"] = round((last - first) / (n - 1), 2) if first and last and n >= 2 else None
    return figures


def cadence_figures(contact: Contact, config: Config, last: date | None, today: date) -> Json:
    cadence = contact.cadence_days or config.default_cadence_days
    next_due = last + timedelta(days=cadence) if cadence and last else None
    return {
        "cadence_days": cadence,
        "next_due": iso(next_due),
        "overdue_days": max(0, (today - next_due).days) if next_due else None,
        "due_in_days": (next_due - today).days if next_due else None,  # negative when overdue
    }


# --- birthdays ------------------------------------------------------------------------


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def birthday_in(birthday: Birthday, year: int) -> date:
    """The birthday's date in a year: 29 February falls on 28 February in other years."""
    if (birthday.month, birthday.day) == (2, 29) and not _is_leap(year):
        return date(year, 2, 28)
    return date(year, birthday.month, birthday.day)


def next_birthday(birthday: Birthday, today: date) -> date:
    this_year = birthday_in(birthday, today.year)
    return this_year if this_year >= today else birthday_in(birthday, today.year + 1)


def birthday_figures(birthday: Birthday | None, window_days: int, today: date) -> Json:
    if birthday is None:
        return {"next_birthday": None, "days_to_birthday": None, "upcoming_birthday": None, "age_next": None}
    upcoming = next_birthday(birthday, today)
    days = (upcoming - today).days
    return {
        "next_birthday": upcoming.isoformat(),
        "days_to_birthday": days,
        "upcoming_birthday": upcoming.isoformat() if days <= window_days else None,
        "age_next": upcoming.year - birthday.year if birthday.year else None,
    }


# --- money ----------------------------------------------------------------------------


def _no_money() -> Json:
    """money_figures of a file without invoices or deals: built fresh each time, since
    callers may change what they get."""
    return {
        "lifetime_value": {}, "revenue_by_year": {}, "revenue_basis": None, "revenue_trend": None,
        "revenue_trend_by_currency": {}, "purchases": 0, "last_purchase": None, "days_since_last_purchase": None,
        "avg_days_late": None, "share_paid_late": None, "invoices_late": 0, "invoices_rated": 0,
        "outstanding": {}, "overdue": {}, "deals_won": 0, "deals_lost": 0, "deals_open": 0, "lost_to": {},
        "pipeline": {},
    }


def money_figures(entity: Entity, money: _Money, today: date) -> Json:
    if not entity.invoices and not entity.deals:  # most contacts: skip the arithmetic
        return _no_money()
    late = lateness(entity.invoices, today)
    trend, trend_by_currency = revenue_trend(money.purchases, today)
    won = [d for d in entity.deals if d.stage == "won"]
    lost = [d for d in entity.deals if d.stage == "lost"]
    return {
        "lifetime_value": money_json(money.lifetime),
        "revenue_by_year": by_year_json(money.by_year),
        "revenue_basis": money.basis,
        "revenue_trend": trend,
        "revenue_trend_by_currency": trend_by_currency,
        "purchases": len(money.purchases),
        "last_purchase": iso(money.purchases[-1].date) if money.purchases else None,
        "days_since_last_purchase": days_since_last(money.purchases, today),
        "avg_days_late": late.avg_days_late,
        "share_paid_late": late.share_paid_late,
        "invoices_late": late.late,
        "invoices_rated": late.counted,
        "outstanding": money_json(money.owed),
        "overdue": money_json(money.overdue),
        "deals_won": len(won),
        "deals_lost": len(lost),
        "deals_open": sum(1 for d in entity.deals if d.is_open),
        "lost_to": dict(sorted_items(count(d.lost_to for d in lost if d.lost_to))) if lost else {},
        "pipeline": money_json(money.pipeline),
    }


# --- per contact ----------------------------------------------------------------------


def contact_stats(contact: Contact, ctx: _Context) -> Json:
    today, config = ctx.today, ctx.crm.config
    linked = ctx.index.contact(contact.slug)
    touches = touch_figures(linked.days, linked.kinds, today)
    last = date.fromordinal(linked.days[-1]) if linked.days else None
    snoozed = contact.snooze_until is not None and contact.snooze_until > today
    stats: Json = {
        "slug": contact.slug,
        "name": contact.name,
        "path": contact.path,
        "org": contact.org,
        "status": contact.status,
        "tier": contact.tier,
        "source": contact.source,
        "private": contact.private,
        **touches,
        **cadence_figures(contact, config, last, today),
        "never_touched": not linked.days,
        "follow_up": iso(contact.follow_up),
        "follow_up_due": contact.follow_up is not None and contact.follow_up <= today,
        "snooze_until": iso(contact.snooze_until),
        "snoozed": snoozed,
        "planned": _planned_json(linked),
        "over_contacted": touches["touches_7d"] > config.max_touches_per_week,
        "topics": _topics_json(linked.topics),
        **birthday_figures(contact.birthday, config.birthday_window_days, today),
        "referred": ctx.referred.get(contact.slug, []),
        **money_figures(contact, ctx.money[contact.path], today),
        "since": iso(contact.since),
        "days_to_convert": days_between(contact.since, contact.customer_since),
        "rfm": None,
    }
    return stats


def _planned_json(linked: Linked) -> list[Json]:
    return [{"date": day.isoformat(), "kind": kind, "title": title, "path": path, "line": line}
            for _, path, line, day, kind, title in linked.planned]


def _topics_json(topics: list[tuple[str, ...]]) -> dict[str, int]:
    """{topic: count} over the sections' topic tuples, most frequent first, then by name
    (two stable sorts: cheaper than a tuple key)."""
    if not topics:
        return {}
    items = sorted(Counter(chain.from_iterable(topics)).items())  # counted in C
    items.sort(key=itemgetter(1), reverse=True)
    return dict(items)


def count(values: Iterable[str]) -> dict[str, int]:
    """Like Counter, without its per-call overhead (this runs once per contact)."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def is_customer(contact: Contact | Facts, money: _Money) -> bool:
    return contact.status in CUSTOMER_STATUSES or bool(money.lifetime)


def _customer_figures(crm: CRM, contacts: Mapping[str, Json], ctx: _Context) -> dict[str, CustomerFigures]:
    figures = {}
    recency = dict(zip(contacts, column(contacts, "days_since_last_purchase")))
    for slug, contact in crm.contacts.items():
        money, facts = ctx.money[contact.path], ctx.facts[contact.path]
        if not is_customer(facts, money):
            continue
        first = money.purchases[0].date if money.purchases else facts.customer_since
        figures[slug] = CustomerFigures(
            recency_days=recency[slug],
            frequency=len(money.purchases),
            monetary=money.lifetime,
            became_customer=first,
        )
    return figures


# --- per org --------------------------------------------------------------------------


def org_children(crm: CRM) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for slug, org in crm.orgs.items():
        if org.parent and org.parent != slug and org.parent in crm.orgs:
            children[org.parent].append(slug)
    return children


def org_group(slug: str, children: dict[str, list[str]]) -> list[str]:
    """The org and every org below it through `parent`, each once even if parents loop."""
    seen = {slug}
    order = [slug]
    stack = list(reversed(children.get(slug, [])))
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        order.append(child)
        stack.extend(reversed(children.get(child, [])))
    return order


def org_stats(org: Org, ctx: _Context, total: Money, kept: Json | None = None) -> Json:
    """kept: the org's figures of a computation whose money facts were these (the same
    files' invoices and deals, the same members, day and total): its money figures are
    taken from there, and no member's invoices or deals are read (after an edit, each
    member's file read whole for them: 0.18 s of a profiled edit at 10,000 contacts for an
    org of 60)."""
    crm, today = ctx.crm, ctx.today
    children, members = ctx.children, ctx.members
    group = org_group(org.slug, children)
    contacts = sorted(c for g in group for c in members.get(g, []))
    roles = Counter(crm.contacts[c].role for c in contacts if crm.contacts[c].role)
    linked = ctx.index.org(org.slug)
    money = _org_money(org, ctx, total, group, contacts) if kept is None else {key: kept[key] for key in ORG_MONEY}
    return {
        "slug": org.slug,
        "name": org.name,
        "path": org.path,
        "parent": org.parent if org.parent in crm.orgs else None,
        "child_orgs": sorted(children.get(org.slug, [])),
        "group_orgs": group[1:],
        "contacts": contacts,
        "direct_contacts": sorted(members.get(org.slug, [])),
        "roles": dict(sorted(roles.items())),
        "has_decision_maker": "decision-maker" in roles,
        "has_influencer": "influencer" in roles,
        "has_champion": "champion" in roles,
        **touch_figures(linked.group_days, linked.group_kinds, today, ordered=False),
        "planned": _planned_json(linked),
        "topics": _topics_json(linked.topics),
        **money,
    }


# The org figures made from its group's invoices and deals alone (and the total), in
# org_stats's order (the last keys).
ORG_MONEY = ("open_deals", "pipeline", "lifetime_value", "revenue_by_year", "share_of_revenue",
             "own_revenue_basis", "outstanding")


def _org_money(org: Org, ctx: _Context, total: Money, group: list[str], contacts: list[str]) -> Json:
    crm = ctx.crm
    lifetime: Money = {}
    by_year: dict[int, Money] = {}
    owed: Money = {}
    in_pipeline: Money = {}
    money_of = ctx.money
    for entity in _entities(crm, group, contacts):
        money = money_of[entity.path]
        if money.lifetime:
            add_money(lifetime, money.lifetime)
            add_by_year(by_year, money.by_year)
        if money.owed:  # most files have none: skip the call
            add_money(owed, money.owed)
        if money.pipeline:
            add_money(in_pipeline, money.pipeline)
    own = ctx.money[org.path]
    return {
        "open_deals": _open_deals(crm, group, contacts),
        "pipeline": money_json(in_pipeline),
        "lifetime_value": money_json(lifetime),
        "revenue_by_year": by_year_json(by_year),
        "share_of_revenue": share_json(lifetime, total),
        "own_revenue_basis": own.basis,
        "outstanding": money_json(owed),
    }


def share_of_revenue(org: Org, ctx: _Context, total: Money) -> dict[str, float]:
    """org_stats(...)["share_of_revenue"] alone: what the org's group brought, of total."""
    group = org_group(org.slug, ctx.children)
    contacts = [c for g in group for c in ctx.members.get(g, [])]
    lifetime: Money = {}
    for entity in _entities(ctx.crm, group, contacts):
        money = ctx.money[entity.path]
        if money.lifetime:
            add_money(lifetime, money.lifetime)
    return share_json(lifetime, total)


def _members(crm: CRM) -> dict[str, list[str]]:
    """org slug -> slugs of the contacts whose `org` is it (sorted)."""
    by_org: dict[str, list[str]] = defaultdict(list)
    for slug, contact in crm.contacts.items():
        if contact.org:
            by_org[contact.org].append(slug)
    return dict(by_org)


def _entities(crm: CRM, group: list[str], contacts: list[str]) -> Iterable[Entity]:
    yield from (crm.orgs[g] for g in group)
    yield from (crm.contacts[c] for c in contacts)


def _open_deals(crm: CRM, group: list[str], contacts: list[str]) -> list[Json]:
    deals = []
    for entity in _entities(crm, group, contacts):
        for d in entity.deals:
            if d.is_open:
                deals.append({
                    "title": d.title, "stage": d.stage,
                    "amount": money_json({"_": d.amount})["_"] if d.amount is not None else None,
                    "currency": d.currency, "opened": iso(d.opened), "slug": entity.slug, "path": entity.path,
                })
    return sorted(deals, key=lambda d: (d["opened"] or "", d["path"], d["title"]))


# --- the whole CRM --------------------------------------------------------------------


def summary_stats(crm: CRM, contacts: Mapping[str, Json], orgs: dict[str, Json], ctx: _Context,
                  total: Money) -> Json:
    """The CRM-wide figures; of each contact's figures, what SUMMARY_FIELDS names."""
    today = ctx.today
    people = list(crm.contacts.values())
    # What the summary reads of each contact's less-read fields: its Facts.
    facts = [ctx.facts[c.path] for c in people]
    statuses = [f.status for f in facts]  # each read once, used twice
    sources = [f.source for f in facts]
    all_by_year: dict[int, Money] = {}
    owed: Money = {}
    overdue: Money = {}
    in_pipeline: Money = {}
    for m in ctx.money.values():
        if m.by_year:  # most files have no money: skip the calls
            add_by_year(all_by_year, m.by_year)
        if m.owed:
            add_money(owed, m.owed)
            add_money(overdue, m.overdue)
        if m.pipeline:
            add_money(in_pipeline, m.pipeline)
    return {
        "today": today.isoformat(),
        "contacts": len(people),
        "orgs": len(crm.orgs),
        "by_status": count_by(statuses),
        "by_tier": dict(sorted(count_by(c.tier for c in people).items())),
        "by_source": count_by(sources),
        "timezones": count_by(f.timezone for f in facts),
        "funnel": funnel(statuses),
        "deals": deal_summary(ctx.facts[e.path].deals for e in crm.entities()),
        "median_days_to_convert": _median(column(contacts, "days_to_convert")),
        "revenue": {
            "lifetime": money_json(total),
            "by_year": by_year_json(all_by_year),
            "outstanding": money_json(owed),
            "overdue": money_json(overdue),
            "pipeline": money_json(in_pipeline),
        },
        "revenue_by_source": _revenue_by_source(people, facts, ctx),
        "customers_by_source": count_by(f.source for c, f in zip(people, facts)
                                        if ever_customer(f, ctx.money[c.path])),
        "new_customers_by_source": count_by(
            f.source for f in facts if f.customer_since and within_last(f.customer_since, today, 365)),
        "referral_tree": referral_tree(crm, ctx),
        "churn": churn(people, facts, ctx),
        "touches": len(ctx.index.all_days),
        "touches_per_month": touches_per_month(ctx.index.all_days, today),
        "a_tier_thin_orgs": a_tier_thin_orgs(crm, ctx.members),
        "revenue_concentration": revenue_concentration(crm, orgs),
        "rfm_segments": count_by(rfm["segment"] for rfm in column(contacts, "rfm") if rfm),
        "attention": {name: sum(map(bool, column(contacts, figure))) for name, figure in _ATTENTION},
    }


_ATTENTION = (("follow_ups_due", "follow_up_due"), ("overdue", "overdue_days"), ("never_touched", "never_touched"),
              ("over_contacted", "over_contacted"), ("upcoming_birthdays", "upcoming_birthday"),
              ("snoozed", "snoozed"))
# What summary_stats and the RFM ranks (rfm_scores) read of each contact's figures: the
# stats' memory keeps them beside each packed entry (stats_incremental.PackedFigures), so
# an addition or a deletion ranks everyone again without unpacking every entry.
SUMMARY_FIELDS = ("days_to_convert", "rfm", "days_since_last_purchase", *(figure for _, figure in _ATTENTION))


def column(contacts: Mapping[str, Json], name: str) -> list[Any]:
    """One of SUMMARY_FIELDS of every contact's figures, in their order: read from what
    a stats_incremental.PackedFigures keeps beside each entry (KeptFields.column), without
    a dict made per contact (10,000 after an addition)."""
    read = getattr(contacts, "column", None)
    return read(name) if read is not None else [s[name] for s in contacts.values()]  # type: ignore[no-any-return]


def attention_counts(contacts: Iterable[Json]) -> dict[str, int]:
    """How many contacts have each attention figure set (truthy), in one pass over them."""
    counts = [0] * len(_ATTENTION)
    figures = [figure for _, figure in _ATTENTION]
    for s in contacts:
        for i, figure in enumerate(figures):
            if s[figure]:
                counts[i] += 1
    return {name: n for (name, _), n in zip(_ATTENTION, counts)}


def count_by(values: Iterable[str | None]) -> dict[str, int]:
    """{value: count}, most common first (ties by name); missing values count as 'unset'."""
    counts = Counter(v if v else UNSET for v in values)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _median(values: Iterable[int | None]) -> int | float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    # statistics.median's arithmetic, without importing statistics (and fractions): 7 ms
    # of every command's start-up.
    present.sort()
    half = len(present) // 2
    middle = present[half] if len(present) % 2 else (present[half - 1] + present[half]) / 2
    return int(middle) if middle == int(middle) else round(float(middle), 2)


def _sum_money(parts: Iterable[Money]) -> Money:
    total: Money = {}
    for part in parts:
        add_money(total, part)
    return total


def funnel(statuses: list[str | None]) -> list[Json]:
    """Each stage (from the contacts' statuses): how many contacts got at least that far,
    and the share of leads and of the stage before. Customers, former customers and
    opportunities all passed 'lead'."""
    now = Counter(statuses)
    depth_counts: Counter[int] = Counter()
    for status, n in now.items():
        depth_counts[FUNNEL_REACHED.get(status or "", 0)] += n
    stages = []
    leads = previous = 0
    for depth, stage in enumerate(FUNNEL, start=1):
        reached = sum(n for d, n in depth_counts.items() if d >= depth)
        leads = leads or reached
        stages.append({
            "stage": stage,
            "reached": reached,
            "now": now.get(stage, 0),
            "percent_of_leads": _percent(reached, leads),
            "percent_of_previous": _percent(reached, previous if depth > 1 else reached),
        })
        previous = reached
    return stages


def deal_summary(deals_of_files: Iterable[tuple[tuple[str | None, str | None], ...]]) -> Json:
    """The deals of every file (each file's Facts.deals: (stage, lost_to) per deal) by stage."""
    stages: Counter[str] = Counter()
    lost_to: Counter[str] = Counter()
    for deals in deals_of_files:
        for stage, lost in deals:
            stages[stage or UNSET] += 1
            if stage == "lost" and lost:
                lost_to[lost] += 1
    won, lost = stages["won"], stages["lost"]
    return {
        "by_stage": dict(sorted(stages.items())),
        "won": won,
        "lost": lost,
        "open": sum(n for s, n in stages.items() if s in ("idea", "planning", "proposal")),
        "won_percent": _percent(won, won + lost),
        "lost_percent": _percent(lost, won + lost),
        "lost_to": dict(sorted(lost_to.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def ever_customer(contact: Contact | Facts, money: _Money) -> bool:
    return (contact.status in ("customer", "former") or contact.customer_since is not None
            or bool(money.lifetime))


def _revenue_by_source(people: list[Contact], facts: list[Facts], ctx: _Context) -> dict[str, dict[str, int | float]]:
    by_source: dict[str, Money] = {}
    for c, f in zip(people, facts):
        lifetime = ctx.money[c.path].lifetime
        if lifetime:
            add_money(by_source.setdefault(f.source or UNSET, {}), lifetime)
    return {s: money_json(m) for s, m in sorted(by_source.items())}


def referral_tree(crm: CRM, ctx: _Context) -> list[Json]:
    """Referrers as trees: each node's own value and what the people below it brought,
    directly (`brought_direct`) and through further referrals (`brought_total`)."""
    referred = ctx.referred
    has_referrer = {s for kids in referred.values() for s in kids}
    starts = [s for s in referred if s not in has_referrer]
    seen: set[str] = set()
    trees = []
    # Referrers nobody referred come first; the rest can only be reached through a loop
    # (a referred b referred a), which then starts at its first slug.
    for root in [*starts, *sorted(referred)]:
        if root not in seen:
            trees.append(_referral_node(root, crm, ctx, seen))
    return trees


def _referral_node(root: str, crm: CRM, ctx: _Context, seen: set[str]) -> Json:
    order: list[str] = []
    stack = [root]
    while stack:  # iterative: a long referral chain must not hit the recursion limit
        slug = stack.pop()
        if slug in seen:
            continue
        seen.add(slug)
        order.append(slug)
        stack.extend(reversed(ctx.referred.get(slug, [])))
    in_tree = set(order)
    nodes: dict[str, Json] = {}
    value: dict[str, Money] = {}
    below: dict[str, Money] = {}
    for slug in reversed(order):  # children before parents
        kids = [k for k in ctx.referred.get(slug, []) if k in in_tree and k != root]
        value[slug] = ctx.money[crm.contacts[slug].path].lifetime
        direct = _sum_money(value[k] for k in kids)
        below[slug] = _sum_money([direct, *(below[k] for k in kids)])
        nodes[slug] = {
            "slug": slug,
            "name": crm.contacts[slug].name,
            "value": money_json(value[slug]),
            "brought_direct": money_json(direct),
            "brought_total": money_json(below[slug]),
            "referred": [nodes[k] for k in kids],
        }
    return nodes[root]


def last_business(entity: Entity, today: date) -> date | None:
    """The latest invoice date or deal close date on or before today."""
    days = [i.date for i in entity.invoices if i.date and i.date <= today]
    days += [d.closed for d in entity.deals if d.closed and d.closed <= today]
    return max(days, default=None)


def churn(people: list[Contact], facts: list[Facts], ctx: _Context) -> Json:
    """Former customers whose last invoice or closed deal is in the last 365 days."""
    today = ctx.today
    churned = []
    for c, f in zip(people, facts):
        if f.status == "former":
            last = f.last_business
            if last and within_last(last, today, 365):
                churned.append(c.slug)
    customers = sum(1 for f in facts if f.status == "customer")
    return {
        "former_last_year": churned,
        "count": len(churned),
        "percent": _percent(len(churned), len(churned) + customers),
    }


def touches_per_month(days: list[int], today: date) -> list[Json]:
    """Every touch section once (given as its day number), per calendar month, the last
    24 months up to this one."""
    counts: Counter[tuple[int, int]] = Counter()
    for ordinal, n in Counter(days).items():  # a few thousand distinct days
        day = date.fromordinal(ordinal)
        counts[(day.year, day.month)] += n
    months = []
    year, month = today.year, today.month
    for _ in range(MONTHS_OF_TOUCHES):
        months.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return [{"month": f"{y:04d}-{m:02d}", "touches": counts.get((y, m), 0)} for y, m in reversed(months)]


def revenue_concentration(crm: CRM, orgs: dict[str, Json]) -> list[Json]:
    """Share of all revenue per top-level group (an org without a parent, children included),
    largest first: how much the business depends on one parent organisation."""
    groups = []
    for slug, org in crm.orgs.items():
        if org.parent and org.parent in crm.orgs:
            continue
        share = orgs[slug]["share_of_revenue"]
        if share:
            groups.append({"slug": slug, "name": org.name, "share": share,
                           "group_orgs": orgs[slug]["group_orgs"]})
    return sorted(groups, key=lambda g: (-max(g["share"].values()), g["slug"]))


def a_tier_thin_orgs(crm: CRM, members: dict[str, list[str]]) -> list[Json]:
    """A-tier contacts whose org has at most two contacts: one leaver and the account is gone."""
    risky = []
    for slug, c in crm.contacts.items():
        if c.tier == "A" and c.org and len(members.get(c.org, [])) <= THIN_ORG_MAX_CONTACTS:
            risky.append({"slug": slug, "name": c.name, "org": c.org, "org_contacts": len(members[c.org])})
    return risky

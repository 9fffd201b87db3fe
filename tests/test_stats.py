"""Exact figures on tests/fixtures/stats with today = 2026-11-22.

Every expected number below was worked out by hand from the fixture files; the comment
next to it says how, so a failing test points at the definition that changed.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from site_builder.loader import load_crm
from site_builder.stats import Stats, compute, due_items
from site_builder.validate import validate

TODAY = date(2026, 11, 22)  # as in conftest.py (not imported: tests/browser has a conftest too)

FIXTURE = Path(__file__).parent / "fixtures" / "stats"


@pytest.fixture(scope="module")
def crm():  # type: ignore[no-untyped-def]
    return load_crm(FIXTURE, cache=False)  # no cache written into the repository


@pytest.fixture(scope="module")
def stats(crm) -> Stats:  # type: ignore[no-untyped-def]
    return compute(crm, TODAY)


def pick(figures: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: figures[k] for k in keys}


def test_fixture_is_clean(crm) -> None:  # type: ignore[no-untyped-def]
    assert [p.format() for p in [*crm.problems, *validate(crm)]] == []


# --- touches ------------------------------------------------------------------------


def test_alice_touches(stats: Stats) -> None:
    # Own file: 11-22 (today), 11-20 meeting (heading names alice herself: once), 11-20 email
    # (same day: both count), 11-19, 10-01; plus bob's 2025-11-22 call @alice. The note and
    # the planned 12-05 meeting are not touches.
    assert pick(stats.contacts["alice"], "touches", "touches_by_kind", "first_touch", "last_touch",
                "days_since_last_touch", "touches_7d", "touches_30d", "touches_90d", "touches_365d",
                "avg_days_between_touches", "never_touched") == {
        "touches": 6,
        "touches_by_kind": {"call": 3, "email": 1, "meeting": 1, "message": 1},
        "first_touch": "2025-11-22",
        "last_touch": "2026-11-22",
        "days_since_last_touch": 0,
        "touches_7d": 4,  # after 11-15: 11-22, 11-20, 11-20, 11-19
        "touches_30d": 4,  # after 10-23
        "touches_90d": 5,  # after 08-24: + 10-01
        "touches_365d": 5,  # 2025-11-22 is exactly 365 days ago: outside (today-365, today]
        "avg_days_between_touches": 73.0,  # 365 days / 5 gaps
        "never_touched": False,
    }


def test_touch_in_other_files_counts_for_mentioned_contacts(stats: Stats) -> None:
    # carol: own 06-01 email + alice's 11-20 meeting @carol + acme's 11-21 meeting @carol
    assert pick(stats.contacts["carol"], "touches", "touches_by_kind", "first_touch", "last_touch",
                "touches_7d", "touches_365d", "avg_days_between_touches") == {
        "touches": 3, "touches_by_kind": {"email": 1, "meeting": 2}, "first_touch": "2026-06-01",
        "last_touch": "2026-11-21", "touches_7d": 2, "touches_365d": 3,
        "avg_days_between_touches": 86.5,  # (11-21 - 06-01) = 173 days / 2
    }
    # bob: his 2026-09-01 meeting and the 2025-11-22 call in his file that names alice
    assert pick(stats.contacts["bob"], "touches", "first_touch", "last_touch", "avg_days_between_touches",
                "touches_365d") == {
        "touches": 2, "first_touch": "2025-11-22", "last_touch": "2026-09-01",
        "avg_days_between_touches": 283.0, "touches_365d": 1,
    }


def test_single_touch_has_no_average_and_seven_days_ago_is_outside_the_week(stats: Stats) -> None:
    gina = stats.contacts["gina"]
    # The 2026-11-15 dinner is 7 days ago: outside (today - 7, today].
    assert pick(gina, "touches", "touches_7d", "touches_30d", "avg_days_between_touches", "private") == {
        "touches": 1, "touches_7d": 0, "touches_30d": 1, "avg_days_between_touches": None, "private": True,
    }


def test_never_touched_contact_with_only_a_planned_section(stats: Stats) -> None:
    dave = stats.contacts["dave"]
    assert pick(dave, "touches", "first_touch", "last_touch", "days_since_last_touch", "never_touched",
                "cadence_days", "next_due", "overdue_days", "touches_by_kind") == {
        "touches": 0, "first_touch": None, "last_touch": None, "days_since_last_touch": None,
        "never_touched": True, "cadence_days": 30, "next_due": None, "overdue_days": None,
        "touches_by_kind": {},
    }
    assert dave["planned"] == [
        {"date": "2026-11-25", "kind": "call", "title": "First call", "path": "contacts/dave.md", "line": 12}
    ]


def test_planned_sections_are_listed_not_counted(stats: Stats) -> None:
    assert stats.contacts["alice"]["planned"] == [
        {"date": "2026-12-05", "kind": "meeting", "title": "Planned review", "path": "contacts/alice.md",
         "line": 64}
    ]


def test_topics_count_every_linked_section_including_notes(stats: Stats) -> None:
    assert stats.contacts["alice"]["topics"] == {"pricing": 3, "hiring": 1}
    assert stats.contacts["carol"]["topics"] == {"budget": 1}  # from the acme heading that names her


# --- cadence, follow-up, snooze, over-contacted -----------------------------------------


@pytest.mark.parametrize("slug, cadence, next_due, overdue, due_in", [
    ("alice", 14, "2026-12-06", 0, 14),  # 2w, last touch today
    ("bob", 30, "2026-10-01", 52, -52),  # 1m = 30 days after 09-01
    ("carol", 365, "2027-11-21", 0, 364),  # 1y
    ("dave", 30, None, None, None),  # default_cadence from crm.yaml, never touched
    ("erin", 42, "2026-11-26", 0, 4),  # 6w after 10-15
    ("frank", 45, "2026-03-18", 249, -249),  # plain number: 45 days after 02-01
    ("gina", 10, "2026-11-25", 0, 3),  # 10d after 11-15
])
def test_cadence_units_and_next_due(stats: Stats, slug: str, cadence: int, next_due: str | None,
                                    overdue: int | None, due_in: int | None) -> None:
    assert pick(stats.contacts[slug], "cadence_days", "next_due", "overdue_days", "due_in_days") == {
        "cadence_days": cadence, "next_due": next_due, "overdue_days": overdue, "due_in_days": due_in,
    }


def test_follow_up_snooze_and_over_contacted(stats: Stats) -> None:
    alice, carol = stats.contacts["alice"], stats.contacts["carol"]
    assert pick(alice, "follow_up", "follow_up_due", "snoozed", "over_contacted") == {
        "follow_up": "2026-11-20", "follow_up_due": True, "snoozed": False, "over_contacted": True,
    }
    assert pick(carol, "follow_up", "follow_up_due", "snooze_until", "snoozed", "over_contacted") == {
        "follow_up": "2026-11-18", "follow_up_due": True, "snooze_until": "2026-12-01", "snoozed": True,
        "over_contacted": False,
    }
    assert [s for s, c in stats.contacts.items() if c["over_contacted"]] == ["alice"]


# --- birthdays -------------------------------------------------------------------------


@pytest.mark.parametrize("slug, upcoming, next_birthday, days, age", [
    ("alice", "2026-12-01", "2026-12-01", 9, 46),  # born 1980-12-01
    ("gina", "2026-11-22", "2026-11-22", 0, None),  # --11-22: today counts, no year, no age
    ("dave", None, "2027-02-28", 98, 35),  # 1992-02-29: 28 Feb in 2027; 98 days is past the 30-day window
    ("bob", None, None, None, None),
])
def test_birthdays(stats: Stats, slug: str, upcoming: str | None, next_birthday: str | None,
                   days: int | None, age: int | None) -> None:
    assert pick(stats.contacts[slug], "upcoming_birthday", "next_birthday", "days_to_birthday", "age_next") == {
        "upcoming_birthday": upcoming, "next_birthday": next_birthday, "days_to_birthday": days, "age_next": age,
    }


# --- money -----------------------------------------------------------------------------


def test_alice_money_from_invoices_in_two_currencies(stats: Stats) -> None:
    assert pick(stats.contacts["alice"], "lifetime_value", "revenue_by_year", "revenue_basis", "revenue_trend",
                "revenue_trend_by_currency", "purchases", "last_purchase", "days_since_last_purchase",
                "avg_days_late", "share_paid_late", "invoices_late", "invoices_rated", "outstanding", "overdue",
                "deals_won", "deals_lost", "deals_open", "lost_to", "pipeline", "days_to_convert") == {
        "lifetime_value": {"EUR": 6000.5, "USD": 1200},  # never summed across currencies
        "revenue_by_year": {"2024": {"EUR": 1000}, "2025": {"EUR": 2000.5}, "2026": {"EUR": 3000, "USD": 1200}},
        "revenue_basis": "invoices",  # the won Pilot deal is not counted again
        # EUR per 12-month window ending today: 1000, 2000.50, 3000 -> slope 1000 > 10 % of the mean.
        # USD started 52 days ago: one window, no trend.
        "revenue_trend": "up",
        "revenue_trend_by_currency": {"EUR": "up"},
        "purchases": 5,
        "last_purchase": "2026-11-15",
        "days_since_last_purchase": 7,
        # A-1 on time (0), A-2 10 days late, A-3 paid on the due day (0), A-4 unpaid and 22 days
        # past due; A-5 not yet due is not rated: 32 / 4 = 8.0, 2 of 4 late.
        "avg_days_late": 8.0,
        "share_paid_late": 0.5,
        "invoices_late": 2,
        "invoices_rated": 4,
        "outstanding": {"USD": 1200},
        "overdue": {"USD": 500},
        "deals_won": 1,
        "deals_lost": 1,
        "deals_open": 1,
        "lost_to": {"Rival Inc": 1},
        "pipeline": {},  # the open deal has no amount
        "days_to_convert": 60,  # 2024-01-10 -> 2024-03-10 (a leap year)
    }


def test_erin_money_falls_back_to_won_deals(stats: Stats) -> None:
    assert pick(stats.contacts["erin"], "lifetime_value", "revenue_by_year", "revenue_basis", "revenue_trend",
                "purchases", "days_since_last_purchase", "avg_days_late", "share_paid_late", "deals_won",
                "deals_lost", "lost_to", "days_to_convert") == {
        "lifetime_value": {"GBP": 5000},  # the won deal without an amount adds nothing
        "revenue_by_year": {"2025": {"GBP": 4000}, "2026": {"GBP": 1000}},
        "revenue_basis": "deals",
        "revenue_trend": "down",  # two windows since her first purchase: 4000 then 1000
        "purchases": 2,
        "days_since_last_purchase": 174,  # 2026-06-01
        "avg_days_late": None,
        "share_paid_late": None,
        "deals_won": 3,
        "deals_lost": 1,
        "lost_to": {},
        "days_to_convert": 45,
    }


def test_frank_paid_late_and_referrals(stats: Stats) -> None:
    assert pick(stats.contacts["frank"], "lifetime_value", "avg_days_late", "share_paid_late", "revenue_trend") == {
        "lifetime_value": {"EUR": 800}, "avg_days_late": 5.0, "share_paid_late": 1.0,
        "revenue_trend": None,  # one 12-month window of history
    }
    assert stats.contacts["bob"]["referred"] == ["alice"]
    assert stats.contacts["alice"]["referred"] == ["dave"]
    assert stats.contacts["carol"]["referred"] == []


def test_rfm_scores_and_segments(stats: Stats) -> None:
    # Customers: alice, erin (status customer) and frank (former, but has revenue); n = 3.
    # Recency 7 / 174 / 356 days, frequency 5 / 2 / 1 -> ceil(5 k / 3) = 5, 4, 2.
    # Monetary per currency: EUR alice 6000.50 (5) vs frank 800 (3); USD alice (5); GBP erin (5).
    assert {s: c["rfm"] for s, c in stats.contacts.items() if c["rfm"]} == {
        "alice": {"recency": 5, "frequency": 5, "monetary": 5, "score": "555", "segment": "champions"},
        "erin": {"recency": 4, "frequency": 4, "monetary": 5, "score": "445", "segment": "champions"},
        "frank": {"recency": 2, "frequency": 2, "monetary": 3, "score": "223", "segment": "hibernating"},
    }


# --- orgs ------------------------------------------------------------------------------


def test_org_includes_child_orgs(stats: Stats) -> None:
    acme = stats.orgs["acme"]
    assert pick(acme, "parent", "child_orgs", "group_orgs", "contacts", "direct_contacts", "roles",
                "has_decision_maker", "has_influencer", "touches", "first_touch", "last_touch",
                "open_deals", "pipeline", "lifetime_value", "revenue_by_year", "share_of_revenue",
                "outstanding", "topics") == {
        "parent": None,
        "child_orgs": ["acme-labs"],
        "group_orgs": ["acme-labs"],
        "contacts": ["alice", "carol", "erin"],  # erin through acme-labs
        "direct_contacts": ["alice", "carol"],
        "roles": {"champion": 1, "decision-maker": 1, "influencer": 1},
        "has_decision_maker": True,
        "has_influencer": True,
        # alice's 6 + carol's 06-01 email + acme's 11-21 meeting + erin's visit; the 11-20
        # meeting with alice and carol counts once.
        "touches": 9,
        "first_touch": "2025-11-22",
        "last_touch": "2026-11-22",
        "open_deals": [
            # by opened date, then path
            {"title": "Next phase", "stage": "proposal", "amount": None, "currency": None, "opened": "2026-11-01",
             "slug": "alice", "path": "contacts/alice.md"},
            {"title": "Framework", "stage": "idea", "amount": None, "currency": None, "opened": "2026-11-01",
             "slug": "acme", "path": "orgs/acme.md"},
        ],
        "pipeline": {},
        "lifetime_value": {"EUR": 16000.5, "GBP": 5000, "USD": 1200},  # acme 10000 + alice + erin
        "revenue_by_year": {"2024": {"EUR": 1000}, "2025": {"EUR": 2000.5, "GBP": 4000},
                            "2026": {"EUR": 13000, "GBP": 1000, "USD": 1200}},
        # CRM total EUR 16800.50 (frank's 800 is not acme's): 16000.50 / 16800.50
        "share_of_revenue": {"EUR": 0.9524, "GBP": 1.0, "USD": 1.0},
        "outstanding": {"USD": 1200},
        "topics": {"budget": 1},
    }
    labs = stats.orgs["acme-labs"]
    assert pick(labs, "parent", "contacts", "touches", "lifetime_value", "has_decision_maker",
                "has_influencer") == {
        "parent": "acme", "contacts": ["erin"], "touches": 1, "lifetime_value": {"GBP": 5000},
        "has_decision_maker": True, "has_influencer": False,
    }


# --- summary ---------------------------------------------------------------------------


def test_summary_counts(stats: Stats) -> None:
    s = stats.summary
    assert pick(s, "today", "contacts", "orgs", "by_status", "by_tier", "by_source", "timezones") == {
        "today": "2026-11-22",
        "contacts": 7,
        "orgs": 3,
        "by_status": {"customer": 2, "former": 1, "lead": 1, "partner": 1, "personal": 1, "qualified": 1},
        "by_tier": {"A": 2, "B": 2, "C": 2, "unset": 1},
        "by_source": {"event": 2, "referral": 2, "unset": 2, "web": 1},
        "timezones": {"unset": 4, "Europe/Berlin": 2, "America/New_York": 1},
    }


def test_summary_funnel_and_deals(stats: Stats) -> None:
    s = stats.summary
    # Reached lead: alice, carol, dave, erin, frank (5); qualified: all but dave (4);
    # opportunity and customer: alice, erin, frank (3). bob (partner), gina (personal) are out.
    assert s["funnel"] == [
        {"stage": "lead", "reached": 5, "now": 1, "percent_of_leads": 100.0, "percent_of_previous": 100.0},
        {"stage": "qualified", "reached": 4, "now": 1, "percent_of_leads": 80.0, "percent_of_previous": 80.0},
        {"stage": "opportunity", "reached": 3, "now": 0, "percent_of_leads": 60.0, "percent_of_previous": 75.0},
        {"stage": "customer", "reached": 3, "now": 2, "percent_of_leads": 60.0, "percent_of_previous": 100.0},
    ]
    assert s["deals"] == {
        "by_stage": {"idea": 1, "lost": 2, "proposal": 1, "won": 4},
        "won": 4, "lost": 2, "open": 2, "won_percent": 66.7, "lost_percent": 33.3,
        "lost_to": {"Rival Inc": 1},
    }
    assert s["median_days_to_convert"] == 45  # 60, 45, 30


def test_summary_money(stats: Stats) -> None:
    s = stats.summary
    assert s["revenue"] == {
        "lifetime": {"EUR": 16800.5, "GBP": 5000, "USD": 1200},
        "by_year": {"2024": {"EUR": 1000}, "2025": {"EUR": 2800.5, "GBP": 4000},
                    "2026": {"EUR": 13000, "GBP": 1000, "USD": 1200}},
        "outstanding": {"USD": 1200},
        "overdue": {"USD": 500},
        "pipeline": {},
    }
    assert s["revenue_by_source"] == {
        "event": {"EUR": 800}, "referral": {"EUR": 6000.5, "USD": 1200}, "web": {"GBP": 5000},
    }
    assert s["customers_by_source"] == {"event": 1, "referral": 1, "web": 1}
    assert s["new_customers_by_source"] == {"event": 1}  # frank: customer_since 2025-12-01


def test_summary_referrals_churn_risk_and_attention(stats: Stats) -> None:
    s = stats.summary
    assert s["referral_tree"] == [{
        "slug": "bob", "name": "Bob Brown", "value": {},
        "brought_direct": {"EUR": 6000.5, "USD": 1200}, "brought_total": {"EUR": 6000.5, "USD": 1200},
        "referred": [{
            "slug": "alice", "name": "Alice Adams", "value": {"EUR": 6000.5, "USD": 1200},
            "brought_direct": {}, "brought_total": {},
            "referred": [{"slug": "dave", "name": "Dave Diaz", "value": {}, "brought_direct": {},
                          "brought_total": {}, "referred": []}],
        }],
    }]
    # frank is former and his last invoice (2025-12-01) is within the last 365 days: 1 of 1 + 2.
    assert s["churn"] == {"former_last_year": ["frank"], "count": 1, "percent": 33.3}
    assert s["a_tier_thin_orgs"] == [
        {"slug": "alice", "name": "Alice Adams", "org": "acme", "org_contacts": 2},
        {"slug": "erin", "name": "Erin Evans", "org": "acme-labs", "org_contacts": 1},
    ]
    # top-level groups only (acme-labs is inside acme), the most dependent-on first
    assert s["revenue_concentration"] == [
        {"slug": "acme", "name": "Acme Corp", "share": {"EUR": 0.9524, "GBP": 1.0, "USD": 1.0},
         "group_orgs": ["acme-labs"]},
        {"slug": "beta", "name": "Beta Ltd", "share": {"EUR": 0.0476}, "group_orgs": []},
    ]
    assert s["rfm_segments"] == {"champions": 2, "hibernating": 1}
    assert s["attention"] == {
        "follow_ups_due": 2, "overdue": 2, "never_touched": 1, "over_contacted": 1,
        "upcoming_birthdays": 2, "snoozed": 1,
    }


def test_touches_per_month(stats: Stats) -> None:
    months = stats.summary["touches_per_month"]
    assert len(months) == 24
    assert months[0]["month"] == "2024-12" and months[-1]["month"] == "2026-11"
    # Every touch section once: 12 in all, the 11-20 meeting with two people counted once.
    assert {m["month"]: m["touches"] for m in months if m["touches"]} == {
        "2025-11": 1, "2026-02": 1, "2026-06": 1, "2026-09": 1, "2026-10": 2, "2026-11": 6,
    }
    assert stats.summary["touches"] == 12


# --- due -------------------------------------------------------------------------------


def test_due_items_order_and_details(crm, stats: Stats) -> None:  # type: ignore[no-untyped-def]
    report = due_items(crm.config, stats, TODAY, within=7)
    assert [i.to_json() for i in report.attention] == [
        {"slug": "alice", "name": "Alice Adams", "reason": "follow-up", "date": "2026-11-20",
         "detail": "follow-up overdue by 2 days"},
        # carol's follow-up is due too, but she is snoozed until 2026-12-01
        {"slug": "frank", "name": "Frank Fischer", "reason": "overdue", "date": "2026-03-18",
         "detail": "overdue by 249 days (last touch 2026-02-01, every 45 days)"},
        {"slug": "bob", "name": "Bob Brown", "reason": "overdue", "date": "2026-10-01",
         "detail": "overdue by 52 days (last touch 2026-09-01, every 30 days)"},
        {"slug": "gina", "name": "Gina Gold", "reason": "overdue", "date": "2026-11-25",
         "detail": "keep-in-touch due in 3 days (every 10 days)"},
        {"slug": "erin", "name": "Erin Evans", "reason": "overdue", "date": "2026-11-26",
         "detail": "keep-in-touch due in 4 days (every 42 days)"},
        {"slug": "dave", "name": "Dave Diaz", "reason": "never-contacted", "date": "2026-11-01",
         "detail": "never contacted (in the CRM since 2026-11-01)"},
        {"slug": "gina", "name": "Gina Gold", "reason": "birthday", "date": "2026-11-22",
         "detail": "birthday today"},
    ]
    assert [i.to_json() for i in report.over_contacted] == [
        {"slug": "alice", "name": "Alice Adams", "reason": "over-contacted", "date": "2026-11-22",
         "detail": "4 touches in the last 7 days (limit 3)"},
    ]


def test_due_within_widens_and_narrows_the_horizon(crm, stats: Stats) -> None:  # type: ignore[no-untyped-def]
    today_only = due_items(crm.config, stats, TODAY, within=0)
    assert [(i.slug, i.reason) for i in today_only.attention] == [
        ("alice", "follow-up"), ("frank", "overdue"), ("bob", "overdue"), ("dave", "never-contacted"),
        ("gina", "birthday"),
    ]
    month = due_items(crm.config, stats, TODAY, within=30)
    birthdays = [(i.slug, i.date, i.detail) for i in month.attention if i.reason == "birthday"]
    assert birthdays == [("gina", "2026-11-22", "birthday today"), ("alice", "2026-12-01", "turns 46 in 9 days")]


def test_json_is_serialisable_and_sorted(stats: Stats) -> None:
    data = json.loads(json.dumps(stats.to_json()))
    assert [c["slug"] for c in data["contacts"]] == ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]
    assert [o["slug"] for o in data["orgs"]] == ["acme", "acme-labs", "beta"]
    required = {
        "slug", "name", "touches", "touches_by_kind", "first_touch", "last_touch", "days_since_last_touch",
        "touches_7d", "touches_30d", "touches_90d", "touches_365d", "avg_days_between_touches", "cadence_days",
        "next_due", "overdue_days", "never_touched", "follow_up", "follow_up_due", "planned", "over_contacted",
        "topics", "upcoming_birthday", "age_next", "referred", "lifetime_value", "revenue_by_year",
        "revenue_trend", "days_since_last_purchase", "avg_days_late", "share_paid_late", "deals_won",
        "deals_lost", "lost_to", "days_to_convert", "rfm",
    }
    for contact in data["contacts"]:
        assert required <= contact.keys()


@given(st.lists(st.one_of(st.none(), st.integers(-1000, 100000)), max_size=12))
def test_median_is_statistics_median(values: list[int | None]) -> None:
    """stats._median does statistics.median's arithmetic (statistics is not imported)."""
    import statistics

    from site_builder.stats import _median

    present = [v for v in values if v is not None]
    want = None
    if present:
        middle = statistics.median(present)
        want = int(middle) if middle == int(middle) else round(float(middle), 2)
    assert _median(values) == want and type(_median(values)) is type(want)

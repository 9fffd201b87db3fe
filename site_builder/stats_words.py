"""Figures -> the words people use: "last touch 12 days ago", "due in 3 days",
"pays 9 days late on average". Used by `crm stats` and by contact and org pages.

Input is the JSON-ready dicts of stats.compute(); output is plain text (escape it like
any other value when it goes into HTML).
"""

from __future__ import annotations

from typing import Any, Mapping

Json = Mapping[str, Any]


def days(n: int) -> str:
    return f"{n} day" if abs(n) == 1 else f"{n} days"


def ago(n: int) -> str:
    """12 -> '12 days ago', 0 -> 'today', 1 -> 'yesterday'."""
    if n == 0:
        return "today"
    if n == 1:
        return "yesterday"
    return f"{days(n)} ago"


def money_text(money: Mapping[str, int | float]) -> str:
    """{"EUR": 76800, "USD": 1000} -> '76,800 EUR + 1,000 USD' (never one made-up total)."""
    if not money:
        return "none"
    return " + ".join(f"{_number(v)} {c}" for c, v in sorted(money.items()))


def _number(value: int | float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def touch_phrase(s: Json) -> str:
    if not s["touches"]:
        return "never in touch"
    last = f"last touch {ago(s['days_since_last_touch'])}"
    return f"{last} ({s['last_touch']}), {s['touches']} in total, {s['touches_365d']} in the last 12 months"


def due_phrase(s: Json) -> str | None:
    """Keep-in-touch status, e.g. 'due in 3 days' or 'overdue by 12 days'."""
    if s.get("next_due") is None:
        return None
    every = f"every {days(s['cadence_days'])}"
    if s["overdue_days"]:
        return f"keep-in-touch overdue by {days(s['overdue_days'])} ({every})"
    remaining = s["due_in_days"]
    return f"keep-in-touch due {'today' if remaining == 0 else 'in ' + days(remaining)} ({every})"


def lateness_phrase(s: Json) -> str | None:
    if s.get("avg_days_late") is None:
        return None
    if not s["invoices_late"]:
        return f"always pays on time ({s['invoices_rated']} invoices)"
    average = s["avg_days_late"]
    shown = f"{average:g}" if float(average).is_integer() else f"{average:.1f}"
    share = round(100 * s["share_paid_late"])
    return f"pays {shown} days late on average ({share}% of invoices late)"


def contact_phrases(s: Json) -> list[str]:
    """A contact's stats as short sentences, most useful first."""
    phrases = [touch_phrase(s)]
    if (due := due_phrase(s)) is not None:
        phrases.append(due)
    elif s.get("never_touched") and s.get("cadence_days"):
        phrases.append("never contacted yet")
    if s.get("follow_up"):
        phrases.append(f"follow-up was due on {s['follow_up']}" if s["follow_up_due"]
                       else f"follow up on {s['follow_up']}")
    if s.get("snoozed"):
        phrases.append(f"snoozed until {s['snooze_until']}")
    if s.get("over_contacted"):
        phrases.append(f"over-contacted: {s['touches_7d']} touches in the last 7 days")
    for plan in s.get("planned", [])[:3]:
        phrases.append(f"planned {plan['kind']} on {plan['date']}" + (f": {plan['title']}" if plan["title"] else ""))
    if s.get("upcoming_birthday"):
        age = f" (turns {s['age_next']})" if s.get("age_next") else ""
        phrases.append(f"birthday on {s['upcoming_birthday']}{age}")
    if s.get("lifetime_value"):
        phrases.append(f"lifetime value {money_text(s['lifetime_value'])}")
        if s.get("revenue_trend"):
            phrases.append(f"revenue trend {s['revenue_trend']} over the last 3 years")
    if s.get("days_since_last_purchase") is not None:
        phrases.append(f"last purchase {ago(s['days_since_last_purchase'])}")
    if (late := lateness_phrase(s)) is not None:
        phrases.append(late)
    if s.get("outstanding"):
        overdue = f", {money_text(s['overdue'])} overdue" if s.get("overdue") else ""
        phrases.append(f"{money_text(s['outstanding'])} unpaid{overdue}")
    if s.get("deals_won") or s.get("deals_lost"):
        lost_to = ", ".join(f"{k} ({v})" for k, v in s.get("lost_to", {}).items())
        phrases.append(f"{s['deals_won']} deals won, {s['deals_lost']} lost" + (f" (lost to {lost_to})" if lost_to else ""))
    if s.get("days_to_convert") is not None:
        phrases.append(f"became a customer {days(s['days_to_convert'])} after first contact")
    if s.get("referred"):
        phrases.append(f"referred {len(s['referred'])}: " + ", ".join(s["referred"]))
    if s.get("rfm"):
        rfm = s["rfm"]
        phrases.append(f"customer segment: {rfm['segment']} (RFM {rfm['score']})")
    return phrases


def org_phrases(s: Json) -> list[str]:
    phrases = [touch_phrase(s), f"{len(s['contacts'])} contacts"]
    missing = [role for role, key in (("decision maker", "has_decision_maker"), ("influencer", "has_influencer"))
               if not s.get(key)]
    if missing and s["contacts"]:
        phrases.append("no " + " and no ".join(missing) + " known")
    if s.get("open_deals"):
        phrases.append(f"{len(s['open_deals'])} open deals" + (f" worth {money_text(s['pipeline'])}" if s["pipeline"] else ""))
    if s.get("lifetime_value"):
        share = ", ".join(f"{round(100 * v)}% of all {c}" for c, v in s.get("share_of_revenue", {}).items())
        phrases.append(f"lifetime value {money_text(s['lifetime_value'])}" + (f" ({share})" if share else ""))
    return phrases

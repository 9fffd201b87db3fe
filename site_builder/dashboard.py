"""The dashboard's charts: stats summary -> {key: Chart} for dashboard.html.

Pure; the SVG comes from site_builder.charts (passed in, so the build can run without it).
Money in different currencies is never put on one scale: one revenue chart per currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterable

from jinja2.filters import do_urlencode
from markupsafe import Markup

from .fragments import escape_text
from .render import money_map


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    svg: Markup
    note: str = ""


def make_charts(summary: dict[str, Any], charts: ModuleType) -> dict[str, Chart]:
    result: dict[str, Chart] = {}
    months = [(m["month"], m["touches"]) for m in summary.get("touches_per_month", [])]
    title = "Touches per month (last 24 months)"
    result["touches"] = Chart(title, charts.line_chart(months, title=title),
                              f"{summary.get('touches', 0)} touches in all.")
    funnel = [(s["stage"], s["reached"]) for s in summary.get("funnel", [])]
    result["funnel"] = Chart("Funnel", charts.funnel_chart(funnel, title="Funnel"),
                             _funnel_note(summary))
    sources = list(summary.get("by_source", {}).items())
    result["sources"] = Chart("Contacts by source", charts.bar_chart(sources, title="Contacts by source"),
                              _customers_note(summary))
    by_year = summary.get("revenue", {}).get("by_year", {})
    for currency in sorted({c for amounts in by_year.values() for c in amounts}):
        title = f"Revenue per year ({currency})"
        items = [(str(year), float(amounts.get(currency, 0))) for year, amounts in sorted(by_year.items())]
        result[f"revenue-{currency.lower()}"] = Chart(title, charts.bar_chart(items, title=title, unit=currency))
    result["tiers"] = Chart("Contacts by tier", charts.bar_chart(list(summary.get("by_tier", {}).items()),
                                                                 title="Contacts by tier"))
    result["statuses"] = Chart("Contacts by status", charts.bar_chart(list(summary.get("by_status", {}).items()),
                                                                      title="Contacts by status"))
    result["timezones"] = Chart("Time zones", charts.bar_chart(list(summary.get("timezones", {}).items()),
                                                               title="Time zones"))
    deals = summary.get("deals", {}).get("by_stage", {})
    if deals:
        result["deals"] = Chart("Deals by stage", charts.bar_chart(list(deals.items()), title="Deals by stage"),
                                _deals_note(summary))
    return result


def _funnel_note(summary: dict[str, Any]) -> str:
    median = summary.get("median_days_to_convert")
    churn = summary.get("churn", {})
    parts = []
    if median is not None:
        parts.append(f"Median {median} days from first contact to customer.")
    if churn.get("count"):
        parts.append(f"{churn['count']} customer(s) lost in the last year ({churn.get('percent')}%).")
    return " ".join(parts)


def _customers_note(summary: dict[str, Any]) -> str:
    new = summary.get("new_customers_by_source", {})
    if not new:
        return ""
    return "New customers in the last year: " + ", ".join(f"{k} {v}" for k, v in new.items()) + "."


def _deals_note(summary: dict[str, Any]) -> str:
    deals = summary.get("deals", {})
    if deals.get("won_percent") is None:
        return ""
    return f"{deals.get('won', 0)} won, {deals.get('lost', 0)} lost ({deals['won_percent']}% won of those decided)."


def referral_tree_html(nodes: Iterable[Any]) -> Markup:
    """The `<li>` items of the dashboard's "Who brought whom" tree (summary.referral_tree),
    what dashboard.html's recursive {% for %} loop wrote, byte for byte: at 10,000
    contacts that loop over 2,400 nodes was a tenth of the site-wide pages' rendering.
    Every value is escaped as autoescape escapes it; iterative, so a long referral chain
    does not hit the recursion limit."""
    parts: list[str] = []
    # Each entry: a node to write, or the closing text of a node whose children follow.
    stack: list[Any] = list(reversed(list(nodes)))
    while stack:
        node = stack.pop()
        if isinstance(node, _Close):
            parts.append(node.text)
            continue
        parts.append(f'    <li><a href="contacts/{_slug_href(_field(node, "slug"))}.html">'
                     f'{escape_text(_field(node, "name"))}</a>\n')
        value, brought = _field(node, "value"), _field(node, "brought_total")
        if value:
            parts.append(f'<span class="muted">&#32;· own {escape_text(money_map(value))}</span>')
        if brought:
            parts.append(f'<span class="muted">&#32;· brought {escape_text(money_map(brought))}</span>')
        referred = _field(node, "referred")
        if referred:
            parts.append("<ul>")
            stack.append(_CLOSE_WITH_CHILDREN)
            stack.extend(reversed(list(referred)))
        else:
            parts.append("</li>\n")
    return Markup("".join(parts))


# Characters urllib's quote() (Jinja's urlencode) and escaping both leave as they are.
_PLAIN_SLUG = re.compile(r"[A-Za-z0-9_.~-]+")


def _slug_href(slug: Any) -> str:
    """The template's `slug | urlencode`, escaped; a plain slug (nearly all) as it is."""
    if slug.__class__ is str and _PLAIN_SLUG.fullmatch(slug):
        return slug  # type: ignore[no-any-return]
    return escape_text(do_urlencode(slug))


@dataclass(frozen=True, slots=True)
class _Close:
    text: str


_CLOSE_WITH_CHILDREN = _Close("</ul></li>\n")


def _field(node: Any, key: str) -> Any:
    """node[key] as the template's node.key reads a stats dict ('' when it is missing)."""
    return node.get(key, "") if isinstance(node, dict) else getattr(node, key, "")

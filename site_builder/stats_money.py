"""Money figures for one contact or org: purchases, revenue per year, trend, lateness.

Pure functions of model objects and today. Amounts stay Decimal and are kept per
currency ({"EUR": Decimal(...)}); nothing here ever adds two currencies together.
`money_json` / `number_json` turn them into JSON numbers at the very end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Iterable, NamedTuple, TypeVar

from .model import Entity, Invoice

Money = dict[str, Decimal]  # currency -> amount, in no particular order (money_json sorts)
K = TypeVar("K")
V = TypeVar("V")

# Revenue trend: the slope of revenue over the last three 12-month windows ending today.
TREND_WINDOW_DAYS = 365
TREND_TOLERANCE = Decimal("0.10")  # within +-10 % of that mean is "flat"


class Purchase(NamedTuple):
    """One dated amount of revenue: an invoice, or a won deal when there are no invoices.
    (A tuple, not a frozen dataclass: there is one per invoice and those are slow to make.)"""

    date: date
    amount: Decimal
    currency: str


def purchases_of(entity: Entity, today: date) -> tuple[list[Purchase], str | None]:
    """Revenue events of one file, oldest first, and their basis ("invoices" | "deals" | None).

    Invoices count by invoice date. Only an entity with no usable invoice at all falls back
    to its won deals (closed date, amount): once you invoice, deals are the plan and
    invoices the money, and counting both would count the same money twice. Entries
    without an amount, a currency or a date, or dated after today, are not revenue.
    """
    from_invoices = [
        Purchase(i.date, i.amount, i.currency)
        for i in entity.invoices
        if i.date is not None and i.amount is not None and i.currency and i.date <= today
    ]
    if from_invoices:
        return _by_date(from_invoices), "invoices"
    from_deals = [
        Purchase(d.closed, d.amount, d.currency)
        for d in entity.deals
        if d.stage == "won" and d.closed is not None and d.amount is not None and d.currency and d.closed <= today
    ]
    if from_deals:
        return _by_date(from_deals), "deals"
    return [], None


def _by_date(purchases: list[Purchase]) -> list[Purchase]:
    return purchases if len(purchases) < 2 else sorted(purchases, key=itemgetter(0))


def sorted_items(mapping: dict[K, V]) -> Iterable[tuple[K, V]]:
    """Items by key; most dicts here have one currency, so skip the sort when it can."""
    return mapping.items() if len(mapping) < 2 else sorted(mapping.items())


def add_money(total: Money, other: Money) -> None:
    for currency, amount in other.items():
        total[currency] = total.get(currency, Decimal(0)) + amount


def lifetime_value(purchases: Iterable[Purchase]) -> Money:
    total: Money = {}
    for p in purchases:
        total[p.currency] = total.get(p.currency, Decimal(0)) + p.amount
    return total


def revenue_by_year(purchases: Iterable[Purchase]) -> dict[int, Money]:
    years: dict[int, Money] = defaultdict(dict)
    for p in purchases:
        year = years[p.date.year]
        year[p.currency] = year.get(p.currency, Decimal(0)) + p.amount
    return dict(years)


def add_by_year(total: dict[int, Money], other: dict[int, Money]) -> None:
    for year, money in other.items():
        add_money(total.setdefault(year, {}), money)


def trend_windows(purchases: Iterable[Purchase], today: date) -> dict[str, list[Decimal]]:
    """Per currency: revenue in the 12-month windows ending today, oldest first: up to three,
    leaving out the older windows that end before that currency's first purchase (a
    customer who started last year had no revenue to lose the year before)."""
    windows: dict[str, list[Decimal]] = {}
    first_age: dict[str, int] = {}
    for p in purchases:
        age = (today - p.date).days  # 0 = today
        first_age[p.currency] = max(first_age.get(p.currency, 0), age)
        index = 2 - age // TREND_WINDOW_DAYS
        if 0 <= index <= 2:
            windows.setdefault(p.currency, [Decimal(0)] * 3)[index] += p.amount
    return {c: w[max(0, 2 - first_age[c] // TREND_WINDOW_DAYS):] for c, w in windows.items()}


def trend_of(window: list[Decimal]) -> str | None:
    """'up', 'flat' or 'down': the least-squares slope of the yearly windows, against their
    mean; within +-10 % of the mean per year is flat. None with fewer than two windows."""
    if len(window) < 2:
        return None
    mean = sum(window) / len(window)
    slope = (window[-1] - window[0]) / (len(window) - 1)  # least squares for 2 or 3 even steps
    if slope > mean * TREND_TOLERANCE:
        return "up"
    if slope < -mean * TREND_TOLERANCE:
        return "down"
    return "flat"


def revenue_trend(purchases: Iterable[Purchase], today: date) -> tuple[str | None, dict[str, str]]:
    """The trend (None without two years of history; 'mixed' when currencies disagree)."""
    by_currency = {c: t for c, w in sorted_items(trend_windows(purchases, today)) if (t := trend_of(w))}
    trends = set(by_currency.values())
    if not trends:
        return None, {}
    return (trends.pop() if len(trends) == 1 else "mixed"), by_currency


@dataclass(frozen=True, slots=True)
class Lateness:
    counted: int  # invoices paid, or unpaid and past due
    late: int
    avg_days_late: float | None  # mean over counted invoices; on time counts as 0
    share_paid_late: float | None  # late / counted


def days_late(invoice: Invoice, today: date) -> int | None:
    """Days past due (0 when on time); None when the invoice says nothing about lateness yet."""
    if invoice.due is None:
        return None
    if invoice.paid is not None:
        return max(0, (invoice.paid - invoice.due).days)
    if invoice.due < today:
        return (today - invoice.due).days  # still unpaid: late up to today
    return None  # unpaid, not yet due


def lateness(invoices: Iterable[Invoice], today: date) -> Lateness:
    days = [d for d in (days_late(i, today) for i in invoices) if d is not None]
    if not days:
        return Lateness(0, 0, None, None)
    late = sum(1 for d in days if d > 0)
    return Lateness(len(days), late, round(sum(days) / len(days), 2), round(late / len(days), 2))


def outstanding(invoices: Iterable[Invoice], today: date, *, overdue_only: bool = False) -> Money:
    """Unpaid invoice amounts per currency (only those past due with overdue_only)."""
    total: Money = {}
    for i in invoices:
        if i.paid is not None or i.amount is None or not i.currency:
            continue
        if overdue_only and (i.due is None or i.due >= today):
            continue
        total[i.currency] = total.get(i.currency, Decimal(0)) + i.amount
    return total


def unpaid(invoices: Iterable[Invoice], today: date) -> tuple[Money, Money]:
    """(outstanding, overdue): unpaid amounts per currency, all and past due only."""
    owed: Money = {}
    late: Money = {}
    for i in invoices:
        if i.paid is not None or i.amount is None or not i.currency:
            continue
        owed[i.currency] = owed.get(i.currency, Decimal(0)) + i.amount
        if i.due is not None and i.due < today:
            late[i.currency] = late.get(i.currency, Decimal(0)) + i.amount
    return owed, late


def days_since_last(purchases: list[Purchase], today: date) -> int | None:
    return (today - purchases[-1].date).days if purchases else None


def pipeline(entity: Entity) -> Money:
    """Open deals' amounts per currency (deals without an amount are listed, not summed)."""
    total: Money = {}
    for d in entity.deals:
        if d.is_open and d.amount is not None and d.currency:
            total[d.currency] = total.get(d.currency, Decimal(0)) + d.amount
    return total


# --- JSON ---------------------------------------------------------------------------

_CENT = Decimal("0.01")


def number_json(amount: Decimal) -> int | float:
    """A whole amount as int, else a float rounded to 2 places (half up, like invoices)."""
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount.quantize(_CENT, rounding=ROUND_HALF_UP))


def money_json(money: Money) -> dict[str, int | float]:
    if not money:  # the common case, kept cheap: this runs several times per contact
        return {}
    return {c: number_json(a) for c, a in sorted_items(money)}


def by_year_json(years: dict[int, Money]) -> dict[str, dict[str, int | float]]:
    return {str(y): money_json(m) for y, m in sorted_items(years)} if years else {}


def share_json(part: Money, whole: Money) -> dict[str, float]:
    """part / whole per currency, as a fraction rounded to 4 places."""
    return {
        c: float((a / whole[c]).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
        for c, a in sorted(part.items())
        if whole.get(c)
    }


def days_between(start: date | None, end: date | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).days


def within_last(day: date, today: date, days: int) -> bool:
    """day in (today - days, today]."""
    return today - timedelta(days=days) < day <= today

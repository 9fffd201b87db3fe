"""RFM: recency, frequency and monetary scores 1-5 among customers, and named segments.

A score is a quintile rank: ceil(5 * k / n), where n is the number of customers and k
the number of customers whose value is no better than this one (this one included, so
ties share the higher score and the best always gets 5). A customer without the value
at all (no purchase) scores 1.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from .stats_money import Money

NEW_CUSTOMER_DAYS = 90

SEGMENTS = ("new", "champions", "loyal", "potential", "at risk", "hibernating", "lost")

V = TypeVar("V", int, Decimal)


@dataclass(frozen=True, slots=True)
class CustomerFigures:
    recency_days: int | None  # days since the last purchase
    frequency: int  # number of purchases
    monetary: Money  # lifetime value per currency
    became_customer: date | None  # first purchase, else customer_since


def quintile_scores(values: dict[str, V | None], population: int, *,
                    higher_is_better: bool) -> dict[str, int]:
    """slug -> 1..5 among `population` customers (bisect on sorted values: n log n)."""
    present = sorted(v for v in values.values() if v is not None)
    missing = population - len(present)
    scores: dict[str, int] = {}
    for slug, value in values.items():
        if value is None:
            scores[slug] = 1
            continue
        if higher_is_better:
            no_better = bisect.bisect_right(present, value)
        else:
            no_better = len(present) - bisect.bisect_left(present, value)
        scores[slug] = max(1, min(5, math.ceil(5 * (missing + no_better) / population)))
    return scores


def score_all(customers: dict[str, CustomerFigures]) -> dict[str, tuple[int, int, int]]:
    """slug -> (R, F, M). Monetary is ranked per currency, among the customers who paid in
    it, and a customer keeps its best currency score: amounts are never converted."""
    n = len(customers)
    if n == 0:
        return {}
    recency = quintile_scores({s: c.recency_days for s, c in customers.items()}, n, higher_is_better=False)
    frequency = quintile_scores({s: (c.frequency or None) for s, c in customers.items()}, n, higher_is_better=True)
    monetary = {s: 1 for s in customers}
    for currency in sorted({cur for c in customers.values() for cur in c.monetary}):
        paid = {s: c.monetary[currency] for s, c in customers.items() if c.monetary.get(currency, 0) > 0}
        for slug, score in quintile_scores(paid, len(paid), higher_is_better=True).items():
            monetary[slug] = max(monetary[slug], score)
    return {s: (recency[s], frequency[s], monetary[s]) for s in customers}


def segment(r: int, f: int, m: int, became_customer: date | None, today: date) -> str:
    """The named segment; rules are tried in this order (see docs/stats.md)."""
    if became_customer is not None and 0 <= (today - became_customer).days < NEW_CUSTOMER_DAYS:
        return "new"
    if r >= 4 and f >= 4 and m >= 4:
        return "champions"
    if r >= 3 and f >= 3:
        return "loyal"
    if r >= 3:
        return "potential"
    if f >= 3:
        return "at risk"
    if r == 2:
        return "hibernating"
    return "lost"


def rfm(customers: dict[str, CustomerFigures], today: date) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = {}
    for slug, (r, f, m) in score_all(customers).items():
        result[slug] = {
            "recency": r, "frequency": f, "monetary": m,
            "score": f"{r}{f}{m}",
            "segment": segment(r, f, m, customers[slug].became_customer, today),
        }
    return result

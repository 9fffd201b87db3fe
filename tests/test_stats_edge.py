"""Edge cases of the stats on small CRMs written per test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

TODAY = date(2026, 11, 22)  # as in conftest.py (not imported: tests/browser has a conftest too)

from site_builder.loader import load_crm
from site_builder.model import Birthday
from site_builder.stats import birthday_in, compute, next_birthday
from site_builder.stats_money import number_json, trend_of
from site_builder.stats_rfm import quintile_scores, segment


def test_org_parent_loop_and_referral_loop_terminate(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({
        "orgs/a.md": "---\nname: A\nparent: b\n---\n",
        "orgs/b.md": "---\nname: B\nparent: a\n---\n",
        "contacts/x.md": "---\nname: X\norg: a\nreferred_by: y\n---\n",
        "contacts/y.md": "---\nname: Y\norg: b\nreferred_by: x\n---\n",
    })
    stats = compute(load_crm(root), TODAY)
    assert stats.orgs["a"]["contacts"] == ["x", "y"]
    assert stats.orgs["a"]["group_orgs"] == ["b"]
    assert stats.orgs["b"]["contacts"] == ["x", "y"]
    tree = stats.summary["referral_tree"]
    assert [t["slug"] for t in tree] == ["x"]
    assert [n["slug"] for n in tree[0]["referred"]] == ["y"]
    assert tree[0]["referred"][0]["referred"] == []


def test_no_cadence_anywhere_means_no_due_date(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/x.md": "---\nname: X\n---\n\n## 2026-01-01 call\n"})
    s = compute(load_crm(root), TODAY).contacts["x"]
    assert (s["cadence_days"], s["next_due"], s["overdue_days"]) == (None, None, None)


def test_amounts_without_currency_and_unknown_kinds_are_left_out(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/x.md": """
        ---
        name: X
        invoices:
          - {number: 1, date: 2026-01-01, amount: 100}
          - {number: 2, date: 2026-02-01, amount: 10.005, currency: eur}
          - {number: 3, date: 2027-01-01, amount: 50, currency: EUR}
        ---

        ## 2026-11-01 lunch: Not a touch kind here
        ## 2026-11-02 workshop: Nor is this without crm.yaml
        """})
    s = compute(load_crm(root), TODAY).contacts["x"]
    # 10.005 rounds half up to 10.01; the future invoice is not revenue yet.
    assert s["lifetime_value"] == {"EUR": 10.01}
    assert s["touches"] == 0 and s["never_touched"] is True


def test_errors_do_not_stop_the_stats(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({
        "contacts/bad.md": "no front matter here\n",
        "contacts/x.md": "---\nname: X\ncadence: often\n---\n\n## 2026-11-20 call @nobody\n",
    })
    crm = load_crm(root)
    s = compute(crm, TODAY)
    assert list(s.contacts) == ["x"]
    assert s.contacts["x"]["touches"] == 1 and s.contacts["x"]["cadence_days"] is None


def test_feb_29_birthdays() -> None:
    leapling = Birthday(2, 29, 2000)
    assert birthday_in(leapling, 2027) == date(2027, 2, 28)
    assert birthday_in(leapling, 2028) == date(2028, 2, 29)
    assert next_birthday(leapling, date(2027, 2, 28)) == date(2027, 2, 28)  # today counts
    assert next_birthday(leapling, date(2027, 3, 1)) == date(2028, 2, 29)
    assert next_birthday(Birthday(12, 31), date(2026, 12, 31)) == date(2026, 12, 31)
    assert next_birthday(Birthday(1, 1), date(2026, 12, 31)) == date(2027, 1, 1)


def test_number_json() -> None:
    assert number_json(Decimal("48000.00")) == 48000 and isinstance(number_json(Decimal("48000.00")), int)
    assert number_json(Decimal("0.125")) == 0.13
    assert number_json(Decimal("-3.5")) == -3.5


def test_trend_rules() -> None:
    d = Decimal
    assert trend_of([d(100), d(100), d(100)]) == "flat"
    assert trend_of([d(100), d(100), d(109)]) == "flat"  # slope 4.5 < 10 % of the mean
    assert trend_of([d(100), d(100), d(130)]) == "up"
    assert trend_of([d(100), d(0)]) == "down"
    assert trend_of([d(100)]) is None


def test_quintile_scores_ties_and_missing() -> None:
    values: dict[str, int | None] = {"a": 10, "b": 10, "c": 5, "d": None, "e": 1}
    assert quintile_scores(values, 5, higher_is_better=True) == {"a": 5, "b": 5, "c": 3, "d": 1, "e": 2}
    assert quintile_scores({"a": 3, "b": 30}, 2, higher_is_better=False) == {"a": 5, "b": 3}


def test_segment_rules() -> None:
    old = date(2020, 1, 1)
    assert segment(5, 5, 5, old, TODAY) == "champions"
    assert segment(5, 5, 3, old, TODAY) == "loyal"
    assert segment(3, 2, 5, old, TODAY) == "potential"
    assert segment(2, 4, 1, old, TODAY) == "at risk"
    assert segment(2, 1, 1, old, TODAY) == "hibernating"
    assert segment(1, 1, 5, old, TODAY) == "lost"
    assert segment(1, 1, 1, date(2026, 10, 1), TODAY) == "new"

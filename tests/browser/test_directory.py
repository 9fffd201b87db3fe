"""Filters, sorting and the URL hash on index.html, against the people fixture.

Fixture facts (today 2026-11-22, default cadence 30 days, at most 3 touches a week):
  slug            tier status       source    org               touches last touch  next due
  ada-byron       A    lead         event     acme-robotics     0       -           - (never)
  bjorn-strom     B    customer     referral  globex            5       2026-11-21  2026-12-21 (over)
  hans-grossmann  C    partner      website   acme-robotics     6       2026-11-10  2026-12-10
  jose-garcia     C    lead         website   -                 1       2026-08-01  2026-08-31 (overdue)
  lea-dubois      B    qualified    event     globex            3       2026-11-01  2026-12-01
  mila-novak      A    former       referral  -                 4       2026-11-12  2026-12-12 (follow-up 11-20)
  zhang-wei       B    opportunity  event     huaxin-analytics  2       2026-10-26  2026-11-25 (due in 3 days)
  zoe-muller      A    customer     referral  acme-robotics     7       2026-11-15  2026-12-15
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .directory_page import (choose, column_texts, hash_state, mismatches, reset_directory, result_count, search,
                            settle, sort_state, visible_slugs, wait_for_rows)
from .site_support import url_of

pytestmark = pytest.mark.browser

EVERYONE = ["ada-byron", "bjorn-strom", "hans-grossmann", "jose-garcia", "lea-dubois", "mila-novak",
            "zhang-wei", "zoe-muller"]
BY_TOUCHES = ["ada-byron", "jose-garcia", "zhang-wei", "lea-dubois", "mila-novak", "bjorn-strom",
              "hans-grossmann", "zoe-muller"]
BY_NAME = ["ada-byron", "bjorn-strom", "hans-grossmann", "jose-garcia", "lea-dubois", "mila-novak",
           "zoe-muller", "zhang-wei"]  # 张伟 sorts after the Latin names
TOUCHED_BY_LAST_TOUCH = ["jose-garcia", "zhang-wei", "lea-dubois", "hans-grossmann", "mila-novak",
                         "zoe-muller", "bjorn-strom"]
TOUCHED_BY_NEXT_DUE = ["jose-garcia", "zhang-wei", "lea-dubois", "hans-grossmann", "mila-novak",
                       "zoe-muller", "bjorn-strom"]


@pytest.fixture
def directory(page: Any, people_site: Path) -> Any:
    page.goto(url_of(people_site))
    assert sorted(visible_slugs(page)) == EVERYONE
    return page


# --- filters --------------------------------------------------------------------------


FILTERS: list[tuple[str, str, list[str]]] = [
    ("filter-tier", "A", ["ada-byron", "mila-novak", "zoe-muller"]),
    ("filter-tier", "C", ["hans-grossmann", "jose-garcia"]),
    ("filter-status", "customer", ["bjorn-strom", "zoe-muller"]),
    ("filter-status", "lead", ["ada-byron", "jose-garcia"]),
    ("filter-source", "referral", ["bjorn-strom", "mila-novak", "zoe-muller"]),
    ("filter-source", "website", ["hans-grossmann", "jose-garcia"]),
    ("filter-tag", "client", ["bjorn-strom", "lea-dubois", "zoe-muller"]),
    ("filter-tag", "lakehouse", ["zhang-wei"]),
    ("filter-org", "Acme Robotics", ["ada-byron", "hans-grossmann", "zoe-muller"]),
    ("filter-org", "Globex Corporation", ["bjorn-strom", "lea-dubois"]),
    ("filter-attention", "never", ["ada-byron"]),
    ("filter-attention", "over", ["bjorn-strom"]),
]


def test_each_filter_narrows_exactly(directory: Any) -> None:
    cases: list[tuple[str, object, object]] = []
    for select_id, option, expected in FILTERS:
        choose(directory, select_id, option)
        cases.append((f"#{select_id}={option} rows", wait_for_rows(directory, expected, ordered=False), expected))
        cases.append((f"#{select_id}={option} count", settle(lambda: result_count(directory), len(expected)),
                      len(expected)))
        reset_directory(directory)
        cases.append((f"after resetting #{select_id}", wait_for_rows(directory, EVERYONE, ordered=False), EVERYONE))
    assert not mismatches(cases), mismatches(cases)


def test_attention_due_and_overdue(directory: Any) -> None:
    """docs/templates.md: "due" is due within 7 days (cadence or follow-up, overdue included);
    "overdue" is past the keep-in-touch date. Never-contacted people have their own filter."""
    cases: list[tuple[str, object, object]] = []
    for option, expected in (("due", ["jose-garcia", "mila-novak", "zhang-wei"]), ("overdue", ["jose-garcia"])):
        choose(directory, "filter-attention", option)
        cases.append((f"attention={option}", wait_for_rows(directory, expected, ordered=False), expected))
        cases.append((f"attention={option} count", result_count(directory), len(expected)))
    assert not mismatches(cases), mismatches(cases)


def test_filters_combine_with_each_other_and_the_search(directory: Any) -> None:
    choose(directory, "filter-tag", "client")
    choose(directory, "filter-tier", "B")
    assert wait_for_rows(directory, ["bjorn-strom", "lea-dubois"], ordered=False) == ["bjorn-strom", "lea-dubois"]
    search(directory, "léa")
    assert wait_for_rows(directory, ["lea-dubois"]) == ["lea-dubois"]
    choose(directory, "filter-tier", "A")
    assert wait_for_rows(directory, []) == []
    assert settle(lambda: result_count(directory), 0) == 0


def test_search_then_filter(directory: Any) -> None:
    search(directory, "head")
    assert wait_for_rows(directory, ["hans-grossmann", "zhang-wei", "zoe-muller"], ordered=False) == [
        "hans-grossmann", "zhang-wei", "zoe-muller"]
    choose(directory, "filter-org", "Acme Robotics")
    assert wait_for_rows(directory, ["hans-grossmann", "zoe-muller"], ordered=False) == [
        "hans-grossmann", "zoe-muller"]


def test_every_filter_has_a_label(directory: Any) -> None:
    for name in ("tag", "org", "tier", "status", "source", "attention"):
        assert directory.locator(f"select#filter-{name}").count() == 1, f"#filter-{name} missing"
        assert directory.locator(f'label[for="filter-{name}"]').count() == 1, f"#filter-{name} has no label"
    values = directory.eval_on_selector_all("#filter-attention option", "os => os.map(o => o.value)")
    assert set(values) >= {"", "due", "overdue", "never", "over"}


# --- sorting --------------------------------------------------------------------------


def sort_by(page: Any, key: str) -> None:
    page.click(f'#directory th button[data-sort="{key}"]')


def test_sort_by_touches_then_reverse(directory: Any) -> None:
    sort_by(directory, "touches")
    assert wait_for_rows(directory, BY_TOUCHES) == BY_TOUCHES
    assert sort_state(directory, "touches") == "ascending"
    sort_by(directory, "touches")
    assert wait_for_rows(directory, BY_TOUCHES[::-1]) == BY_TOUCHES[::-1]
    assert sort_state(directory, "touches") == "descending"


def test_sort_by_name(directory: Any) -> None:
    sort_by(directory, "name")
    rows = settle(lambda: visible_slugs(directory), BY_NAME)
    if rows == BY_NAME[::-1]:  # the list may start sorted by name, so one click reverses it
        sort_by(directory, "name")
        rows = wait_for_rows(directory, BY_NAME)
    assert rows == BY_NAME
    assert sort_state(directory, "name") == "ascending"
    sort_by(directory, "name")
    assert wait_for_rows(directory, BY_NAME[::-1]) == BY_NAME[::-1]
    assert sort_state(directory, "name") == "descending"


def test_sort_by_dates_puts_the_never_touched_at_one_end(directory: Any) -> None:
    cases: list[tuple[str, object, object]] = []
    for key, order in (("last_touch", TOUCHED_BY_LAST_TOUCH), ("next_due", TOUCHED_BY_NEXT_DUE)):
        sort_by(directory, key)
        for direction, expected in (("ascending", order), ("descending", order[::-1])):
            rows = settle(lambda: [s for s in visible_slugs(directory) if s != "ada-byron"], expected)
            cases.append((f"{key} {direction}", rows, expected))
            cases.append((f"{key} {direction}: never-touched ada-byron at an end",
                          visible_slugs(directory).index("ada-byron") in (0, 7), True))
            cases.append((f"{key} {direction}: aria-sort", sort_state(directory, key), direction))
            sort_by(directory, key)
    assert not mismatches(cases), mismatches(cases)


def test_sort_by_text_columns_orders_the_column(directory: Any) -> None:
    cases: list[tuple[str, object, object]] = []
    for key in ("tier", "status", "org", "title"):
        for direction in ("ascending", "descending"):
            sort_by(directory, key)
            cases.append((f"{key} aria-sort", settle(lambda: sort_state(directory, key), direction), direction))
            filled = [t.casefold() for t in column_texts(directory, key) if t and t not in "-—–"]
            cases.append((f"{key} {direction}", filled, sorted(filled, reverse=direction == "descending")))
            if key in ("tier", "status"):  # every contact has one: empty cells would be a rendering bug
                cases.append((f"{key} cells filled", len(filled), len(EVERYONE)))
    assert not mismatches(cases), mismatches(cases)


def test_only_the_sorted_column_has_a_direction(directory: Any) -> None:
    sort_by(directory, "touches")
    settle(lambda: sort_state(directory, "touches"), "ascending")
    for key in ("name", "org", "title", "tier", "status", "last_touch", "next_due"):
        assert sort_state(directory, key) in (None, "none"), f"{key} still claims aria-sort"


# --- the URL hash -----------------------------------------------------------------------


def test_hash_holds_the_view_and_a_new_page_restores_it(directory: Any, new_context: Any, people_site: Path) -> None:
    search(directory, "globex")
    choose(directory, "filter-tier", "B")
    sort_by(directory, "touches")
    sort_by(directory, "touches")
    expected = ["bjorn-strom", "lea-dubois"]  # 5 touches, then 3
    assert wait_for_rows(directory, expected) == expected
    state = settle(lambda: hash_state(directory), {"q": "globex", "tier": "B", "sort": "-touches"})
    assert state == {"q": "globex", "tier": "B", "sort": "-touches"}

    fresh = new_context().new_page()
    fresh.goto(directory.url)
    assert wait_for_rows(fresh, expected) == expected
    assert fresh.input_value("#search") == "globex"
    assert fresh.input_value("#filter-tier") == "B"
    assert sort_state(fresh, "touches") == "descending"


BOOKMARKS: list[tuple[str, list[str]]] = [
    ("q=m%C3%BCller", ["zoe-muller"]),
    ("status=customer&source=referral", ["bjorn-strom", "zoe-muller"]),
    ("attention=never", ["ada-byron"]),
    ("attention=over", ["bjorn-strom"]),
    ("tag=client&sort=-touches", ["zoe-muller", "bjorn-strom", "lea-dubois"]),
    ("sort=touches", BY_TOUCHES),
]


def test_opening_a_bookmarked_hash_restores_the_view(new_context: Any, people_site: Path) -> None:
    context = new_context()
    cases: list[tuple[str, object, object]] = []
    for fragment, expected in BOOKMARKS:
        page = context.new_page()  # a new document each time, as when opening a bookmark
        page.goto(url_of(people_site, hash_=fragment))
        ordered = "sort=" in fragment
        want = expected if ordered else sorted(expected)
        cases.append((f"#{fragment}", wait_for_rows(page, expected, ordered=ordered), want))
        page.close()
    assert not mismatches(cases), mismatches(cases)


def test_every_filter_lands_in_the_hash(directory: Any) -> None:
    values = {
        "tag": choose(directory, "filter-tag", "client"),
        "org": choose(directory, "filter-org", "Acme Robotics"),
        "tier": choose(directory, "filter-tier", "A"),
        "status": choose(directory, "filter-status", "customer"),
        "source": choose(directory, "filter-source", "referral"),
        "attention": choose(directory, "filter-attention", "over"),
    }
    search(directory, "zoë")
    expected = {**values, "q": "zoë"}
    assert settle(lambda: hash_state(directory), expected) == expected

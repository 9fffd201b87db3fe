"""Search as you type on index.html: accents, CJK, email prefixes, case, result count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .site_support import url_of
from .directory_page import mismatches, result_count, search, settle, visible_slugs, wait_for_rows

pytestmark = pytest.mark.browser

EVERYONE = ["ada-byron", "bjorn-strom", "hans-grossmann", "jose-garcia", "lea-dubois", "mila-novak",
            "zhang-wei", "zoe-muller"]


@pytest.fixture
def directory(page: Any, people_site: Path) -> Any:
    page.goto(url_of(people_site))
    assert sorted(visible_slugs(page)) == EVERYONE
    return page


SEARCHES: list[tuple[str, list[str]]] = [
    ("muller", ["zoe-muller"]),
    ("MÜLLER", ["zoe-muller"]),
    ("Müller", ["zoe-muller"]),
    ("zoe", ["zoe-muller"]),
    ("mueller", ["zoe-muller"]),  # her aka
    ("grossmann", ["hans-grossmann"]),  # ß folds to ss
    ("GROSSMANN", ["hans-grossmann"]),
    ("strom", ["bjorn-strom"]),  # ø folds to o
    ("bjørn", ["bjorn-strom"]),
    ("jose garcia", ["jose-garcia"]),
    ("LÉA", ["lea-dubois"]),
    ("张", ["zhang-wei"]),
    ("伟", ["zhang-wei"]),  # a substring, not a prefix
    ("张伟", ["zhang-wei"]),
    ("zhang wei", ["zhang-wei"]),  # aka
    ("ldubois-con", ["lea-dubois"]),  # email prefix that is in no name
    ("zhang.wei@", ["zhang-wei"]),
    ("BJORN.STROM@GLOBEX", ["bjorn-strom"]),
    ("globex", ["bjorn-strom", "lea-dubois"]),  # org name
    ("head of", ["hans-grossmann", "zhang-wei", "zoe-muller"]),  # title
    ("nordic", ["bjorn-strom"]),  # tag
    ("no such person anywhere", []),
]


def test_search_finds_exactly(directory: Any) -> None:
    cases: list[tuple[str, object, object]] = []
    for query, expected in SEARCHES:
        search(directory, query)
        cases.append((f"rows for {query!r}", wait_for_rows(directory, expected, ordered=False), expected))
        cases.append((f"count for {query!r}", settle(lambda: result_count(directory), len(expected)), len(expected)))
    assert not mismatches(cases), mismatches(cases)


def test_typing_key_by_key_narrows_then_clearing_restores_everyone(directory: Any) -> None:
    directory.click("#search")
    directory.keyboard.type("mül")
    assert wait_for_rows(directory, ["zoe-muller"], ordered=False) == ["zoe-muller"]
    for _ in range(3):
        directory.keyboard.press("Backspace")
    assert wait_for_rows(directory, EVERYONE, ordered=False) == EVERYONE
    assert settle(lambda: result_count(directory), len(EVERYONE)) == len(EVERYONE)


def test_clearing_the_search_restores_everyone(directory: Any) -> None:
    search(directory, "globex")
    assert len(wait_for_rows(directory, ["bjorn-strom", "lea-dubois"], ordered=False)) == 2
    search(directory, "")
    assert wait_for_rows(directory, EVERYONE, ordered=False) == EVERYONE
    assert settle(lambda: result_count(directory), len(EVERYONE)) == len(EVERYONE)


def test_search_box_is_labelled_and_the_count_starts_at_everyone(directory: Any) -> None:
    assert settle(lambda: result_count(directory), len(EVERYONE)) == len(EVERYONE)
    assert directory.get_attribute("#search", "type") == "search"
    assert directory.locator('label[for="search"]').count() == 1


def test_sample_crm_search(page: Any, sample_site: Path) -> None:
    """The repository's sample CRM: the people the README promises are found."""
    page.goto(url_of(sample_site))
    cases: list[tuple[str, object, object]] = []
    for query, slug in (("muller", "zoe-muller"), ("MÜLLER", "zoe-muller"), ("张", "zhang-wei"),
                        ("ZHANG.WEI@", "zhang-wei")):
        search(page, query)
        found = settle(lambda: slug in visible_slugs(page), True)
        cases.append((f"{query!r} finds {slug} among {visible_slugs(page)}", found, True))
        cases.append((f"count for {query!r}", result_count(page), len(visible_slugs(page))))
    assert not mismatches(cases), mismatches(cases)

"""Keyboard use of the directory, and the directory without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .directory_page import search, settle, visible_slugs, wait_for_rows
from .site_support import url_of

pytestmark = pytest.mark.browser

EVERYONE = ["ada-byron", "bjorn-strom", "hans-grossmann", "jose-garcia", "lea-dubois", "mila-novak",
            "zhang-wei", "zoe-muller"]

_SELECTED_JS = """() => Array.from(document.querySelectorAll('#directory tbody tr[data-slug]'))
    .filter(tr => tr.getAttribute('aria-selected') === 'true').map(tr => tr.dataset.slug)"""


def selected(page: Any) -> list[str]:
    return page.evaluate(_SELECTED_JS)


@pytest.fixture
def directory(page: Any, people_site: Path) -> Any:
    page.goto(url_of(people_site))
    assert sorted(visible_slugs(page)) == EVERYONE
    return page


def test_slash_focuses_the_search_without_typing_a_slash(directory: Any) -> None:
    directory.keyboard.press("/")
    assert directory.evaluate("() => document.activeElement && document.activeElement.id") == "search"
    assert directory.input_value("#search") == ""


def test_arrow_keys_move_a_highlight_through_visible_rows(directory: Any) -> None:
    directory.keyboard.press("/")
    directory.keyboard.type("head")  # narrows the list: the highlight must follow visible rows only
    heads = ["hans-grossmann", "zhang-wei", "zoe-muller"]
    assert wait_for_rows(directory, heads, ordered=False) == heads
    rows = visible_slugs(directory)
    directory.keyboard.press("ArrowDown")
    assert settle(lambda: selected(directory), [rows[0]]) == [rows[0]]
    first = directory.locator(f'#directory tbody tr[data-slug="{rows[0]}"]')
    assert "selected" in (first.get_attribute("class") or "").split()
    directory.keyboard.press("ArrowDown")
    assert settle(lambda: selected(directory), [rows[1]]) == [rows[1]]
    directory.keyboard.press("ArrowUp")
    assert settle(lambda: selected(directory), [rows[0]]) == [rows[0]]


def test_enter_opens_the_highlighted_contact(directory: Any) -> None:
    directory.keyboard.press("/")
    directory.keyboard.type("张")
    assert wait_for_rows(directory, ["zhang-wei"]) == ["zhang-wei"]
    directory.keyboard.press("ArrowDown")
    settle(lambda: selected(directory), ["zhang-wei"])
    with directory.expect_navigation():
        directory.keyboard.press("Enter")
    assert directory.url.endswith("/contacts/zhang-wei.html")
    assert directory.text_content("h1").strip() == "张伟"


def test_enter_without_a_highlight_opens_the_only_match(directory: Any) -> None:
    directory.keyboard.press("/")
    directory.keyboard.type("ldubois")
    assert wait_for_rows(directory, ["lea-dubois"]) == ["lea-dubois"]
    with directory.expect_navigation():
        directory.keyboard.press("Enter")
    assert directory.url.endswith("/contacts/lea-dubois.html")


def test_second_row_opens_after_two_arrow_downs(directory: Any) -> None:
    search(directory, "globex")
    rows = wait_for_rows(directory, ["bjorn-strom", "lea-dubois"], ordered=False)
    assert rows == ["bjorn-strom", "lea-dubois"]
    order = visible_slugs(directory)
    directory.focus("#search")
    directory.keyboard.press("ArrowDown")
    directory.keyboard.press("ArrowDown")
    assert settle(lambda: selected(directory), [order[1]]) == [order[1]]
    with directory.expect_navigation():
        directory.keyboard.press("Enter")
    assert directory.url.endswith(f"/contacts/{order[1]}.html")


def test_without_javascript_everyone_is_listed(new_context: Any, people_site: Path) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(url_of(people_site))
    rows = page.eval_on_selector_all("#directory tbody tr[data-slug]", "rs => rs.map(r => r.dataset.slug)")
    assert sorted(rows) == EVERYONE
    assert sorted(visible_slugs(page)) == EVERYONE, "rows exist but are hidden without JavaScript"
    links = page.eval_on_selector_all(
        "#directory tbody tr[data-slug] td:first-child a", "as => as.map(a => [a.getAttribute('href'), a.textContent.trim()])")
    assert ["contacts/zoe-muller.html", "Zoë Müller"] in links
    assert ["contacts/zhang-wei.html", "张伟"] in links

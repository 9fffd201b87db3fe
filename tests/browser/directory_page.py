"""Reading and driving the directory page (index.html) through its DOM contract.

The contract (docs/templates.md): #search, #result-count, table#directory with
<tr data-slug> rows (hidden rows removed or `hidden`), button[data-sort=KEY] in <th>
with aria-sort, select#filter-*, state in the URL hash.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

T = TypeVar("T")

SETTLE_SECONDS = 3.0  # how long a page may take to reflect an input before we give up

_VISIBLE_SLUGS_JS = """() => Array.from(document.querySelectorAll('#directory tbody tr[data-slug]'))
    .filter(tr => !tr.hidden && tr.getClientRects().length > 0)
    .map(tr => tr.dataset.slug)"""

_COLUMN_JS = """(key) => {
    const button = document.querySelector(`#directory th button[data-sort="${key}"]`);
    if (!button) return null;
    const th = button.closest('th');
    const index = Array.from(th.parentElement.children).indexOf(th);
    return Array.from(document.querySelectorAll('#directory tbody tr[data-slug]'))
        .filter(tr => !tr.hidden && tr.getClientRects().length > 0)
        .map(tr => tr.children[index] ? tr.children[index].textContent.trim() : '');
}"""


def visible_slugs(page: Any) -> list[str]:
    """Slugs of the directory rows a person can see, top to bottom."""
    return page.evaluate(_VISIBLE_SLUGS_JS)


def column_texts(page: Any, key: str) -> list[str]:
    """The text of the column sorted by button[data-sort=key], for the visible rows."""
    texts = page.evaluate(_COLUMN_JS, key)
    assert texts is not None, f"no sort button data-sort={key!r} in the directory header"
    return texts


def result_count(page: Any) -> int | None:
    """The first number in #result-count ("3 contacts", "showing 3 of 8")."""
    text = page.text_content("#result-count") or ""
    match = re.search(r"\d[\d,.\u202f\u00a0]*", text)
    return int(re.sub(r"\D", "", match.group(0))) if match else None


def hash_state(page: Any) -> dict[str, str]:
    """The URL hash as {key: value} (q, tag, org, tier, status, source, attention, sort)."""
    fragment = page.evaluate("() => location.hash").lstrip("#")
    return {k: v for k, v in parse_qsl(fragment, keep_blank_values=False)} if "=" in fragment else {
        "raw": unquote(fragment)}


def settle(read: Callable[[], T], expected: T, seconds: float = SETTLE_SECONDS) -> T:
    """Read until the value equals expected or time runs out; return the last value read.

    Pages may update on the next frame or after a short debounce, so the tests wait for
    the expected state instead of sleeping; on failure the caller's assert shows what
    the page showed last.
    """
    deadline = time.monotonic() + seconds
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def wait_for_rows(page: Any, expected: list[str], *, ordered: bool = True) -> list[str]:
    if ordered:
        return settle(lambda: visible_slugs(page), expected)
    return sorted(settle(lambda: sorted(visible_slugs(page)), sorted(expected)))


def search(page: Any, text: str) -> None:
    """Replace the search text the way a paste does (one input event)."""
    page.fill("#search", text)


def choose(page: Any, select_id: str, wanted: str) -> str:
    """Pick the option of select#select_id whose value or label is `wanted`; return its value.

    Tests name options by what a person reads (an org's name) or by the value (a slug,
    "A"), so either matches; the label may carry a count, e.g. "Acme Robotics (3)".
    """
    options: list[dict[str, str]] = page.eval_on_selector_all(
        f"#{select_id} option", "os => os.map(o => ({value: o.value, label: o.textContent.trim()}))")
    norm = wanted.casefold()
    for option in options:
        label = option["label"].casefold()
        if option["value"].casefold() == norm or label == norm or re.fullmatch(
                re.escape(norm) + r"\s*\(\d+\)", label):
            page.select_option(f"#{select_id}", value=option["value"])
            return option["value"]
    raise AssertionError(f"#{select_id} has no option {wanted!r}; it has {options}")


def sort_state(page: Any, key: str) -> str | None:
    return page.get_attribute(f'#directory th:has(button[data-sort="{key}"])', "aria-sort")


def mismatches(cases: list[tuple[str, object, object]]) -> str:
    """Format (label, actual, expected) cases that differ, one per line ('' when all agree).

    Tests that try many inputs on one page collect every mismatch before failing, so
    one run shows all of them, without paying for a fresh browser page per input.
    """
    return "\n".join(f"{label}: got {actual!r}, expected {expected!r}"
                     for label, actual, expected in cases if actual != expected)


def reset_directory(page: Any) -> None:
    """Clear the search and every filter (back to everyone)."""
    search(page, "")
    for select_id in page.eval_on_selector_all("select[id^='filter-']", "ss => ss.map(s => s.id)"):
        if page.input_value(f"#{select_id}") != "":
            page.select_option(f"#{select_id}", value="")

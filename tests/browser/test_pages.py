"""Contact, org and due pages as a person sees them (people fixture, today 2026-11-22)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from .directory_page import mismatches
from .site_support import html_pages, url_of

pytestmark = pytest.mark.browser

_DUE_JS = """() => Object.fromEntries(
    ['due-follow-up', 'due-overdue', 'due-never-contacted', 'due-birthday', 'over-contacted'].map(id => [
        id, Array.from(document.querySelectorAll(`#${id} li.due-item[data-slug]`)).map(li => li.dataset.slug).sort()
    ]))"""


def test_contact_page_shows_the_timeline_newest_first_and_backlinks(page: Any, people_site: Path) -> None:
    page.goto(url_of(people_site, "contacts/zoe-muller.html"))
    notes = page.eval_on_selector_all("#timeline article.note", "as => as.map(a => a.id)")
    assert notes == ["note-2026-11-15-1", "note-2026-10-20-1", "note-2026-09-15-1", "note-2026-08-10-1",
                     "note-2026-07-01-1", "note-2026-05-01-1", "note-2026-03-01-1"]
    assert page.locator("#planned").count() == 0, "no future notes, yet a Planned section"
    # Her note mentions @ada-byron, so Ada's page links back to it.
    page.goto(url_of(people_site, "contacts/ada-byron.html"))
    backlinks = page.eval_on_selector_all("#backlinks a[href]", "as => as.map(a => a.getAttribute('href'))")
    assert any(href.split("#")[0].endswith("zoe-muller.html") for href in backlinks), backlinks
    with page.expect_navigation():
        page.click("#backlinks a[href*='zoe-muller.html']")
    assert page.text_content("h1").strip() == "Zoë Müller"


def test_org_page_lists_its_people(page: Any, people_site: Path) -> None:
    page.goto(url_of(people_site, "orgs/acme-robotics.html"))
    assert page.text_content("h1").strip() == "Acme Robotics"
    people = page.eval_on_selector_all("#people a[href*='contacts/']",
                                       "as => [...new Set(as.map(a => a.getAttribute('href').split('/').pop()))]")
    assert sorted(people) == ["ada-byron.html", "hans-grossmann.html", "zoe-muller.html"]


def test_due_page_sorts_people_by_reason(page: Any, people_site: Path) -> None:
    page.goto(url_of(people_site, "due.html"))
    sections = page.evaluate(_DUE_JS)
    listed = {slug for slugs in sections.values() for slug in slugs}
    cases: list[tuple[str, object, object]] = [
        ("#due-follow-up", sections["due-follow-up"], ["mila-novak"]),
        ("#due-never-contacted", sections["due-never-contacted"], ["ada-byron"]),
        ("#over-contacted", sections["over-contacted"], ["bjorn-strom"]),
        ("jose-garcia (83 days overdue) in #due-overdue", "jose-garcia" in sections["due-overdue"], True),
        ("zhang-wei (due in 3 days) listed", "zhang-wei" in listed, True),
        ("not due, yet listed", listed & {"hans-grossmann", "lea-dubois", "zoe-muller"}, set()),
    ]
    assert not mismatches(cases), mismatches(cases)


# Labels closer than this (px) on one line read as one word ("2024-122025-03").
MIN_LABEL_GAP = 4
_OVERLAPPING_LABELS_JS = """(gap) => {
    const found = [];
    document.querySelectorAll('svg').forEach((svg, n) => {
        const boxes = Array.from(svg.querySelectorAll('text'))
            .map(t => ({text: t.textContent.trim(), r: t.getBoundingClientRect()}))
            .filter(b => b.text && b.r.width > 0);
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i].r, b = boxes[j].r;
            const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
            const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
            if (x > -gap && y > 1) found.push(`chart ${n + 1}: "${boxes[i].text}" touches "${boxes[j].text}"`);
        }
    });
    return found;
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_dashboard_chart_labels_do_not_overlap(new_context: Any, sample_site: Path, width: int) -> None:
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(url_of(sample_site, "dashboard.html"))
    assert page.locator("svg").count() >= 5, "the dashboard should have its charts"
    assert page.evaluate(_OVERLAPPING_LABELS_JS, MIN_LABEL_GAP) == []


_SLUG_LINKS_JS = r"""() => Array.from(document.querySelectorAll('a[href]')).map(a => {
    const m = a.getAttribute('href').match(/(?:^|\/)(contacts|orgs)\/([a-z0-9-]+)\.html$/);
    return m && a.textContent.trim() === m[2] ? `${m[1]}/${m[2]}` : null;
}).filter(Boolean)"""


def test_links_to_people_and_orgs_show_names_not_slugs(page: Any, sample_site: Path) -> None:
    """Every sample contact and org has a name; a link showing 'nordlicht-logistics' instead is a slip."""
    found = []
    for rel in html_pages(sample_site):
        page.goto(url_of(sample_site, rel))
        found += [f"{rel}: {link}" for link in page.evaluate(_SLUG_LINKS_JS)]
    assert found == []


def test_chart_labels_are_legible_on_a_phone(new_context: Any, sample_site: Path) -> None:
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    page.goto(url_of(sample_site, "dashboard.html"))
    heights = page.evaluate("() => Array.from(document.querySelectorAll('svg text'))"
                            ".map(t => t.getBoundingClientRect().height).filter(h => h > 0)")
    assert heights and min(heights) >= 10, f"smallest chart label is {min(heights):.1f}px tall (body text is 16px)"

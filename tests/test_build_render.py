"""Rendering helpers: dates and money in words, folding for search, URLs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import TODAY
from site_builder.render import days_in_words, edit_href, money, relative_date, safe_href, tel_href
from site_builder.site_data import fold


@pytest.mark.parametrize("when, words", [
    (date(2026, 11, 22), "today"), (date(2026, 11, 21), "yesterday"), (date(2026, 11, 23), "tomorrow"),
    (date(2026, 11, 10), "12 days ago"), (date(2026, 11, 25), "in 3 days"), ("2026-08-22", "3 months ago"),
    (date(2024, 11, 1), "2 years ago"), (None, ""), ("not a date", ""),
])
def test_dates_in_words(when: date | str | None, words: str) -> None:
    assert relative_date(when, TODAY) == words


def test_days_in_words_switches_to_months_and_years() -> None:
    assert days_in_words(-44) == "44 days ago"
    assert days_in_words(60) == "in 2 months"
    assert days_in_words(-800) == "2 years ago"


@pytest.mark.parametrize("text, folded", [
    ("Zoë MÜLLER", "zoe muller"), ("Straße", "strasse"), ("Søndergaard", "sondergaard"),
    ("Ærø", "aero"), ("Łukasz", "lukasz"), ("Đorđe", "dorde"), ("张伟", "张伟"), ("Ángela", "angela"),
])
def test_fold_is_case_and_accent_insensitive(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_keeps_cjk_substrings_findable() -> None:
    assert fold("张") in fold("张伟 Zhang Wei")


def test_money() -> None:
    assert money(Decimal("48000"), "EUR") == "48,000 EUR"
    assert money(Decimal("1250.5"), "USD") == "1,250.50 USD"
    assert money(None) == ""


def test_only_safe_schemes_become_links() -> None:
    assert safe_href("https://example.com") == "https://example.com"
    assert safe_href("mailto:a@b.c") == "mailto:a@b.c"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "ftp://x", "vbscript:x"):
        assert safe_href(bad) is None


def test_tel_links_keep_only_dialable_characters() -> None:
    assert tel_href("+49 40 555 0142") == "tel:+49405550142"
    assert tel_href("(0151) 2345-6789 <x>") == "tel:015123456789"


def test_edit_href_fills_the_pattern_and_refuses_script_urls() -> None:
    root = Path("/home/sam/my crm")
    assert edit_href("vscode://file/{abs_path}", "contacts/zoe.md", root) == "vscode://file//home/sam/my%20crm/contacts/zoe.md"
    assert edit_href("https://git.example.com/edit/{path}", "contacts/zoe.md", root) == (
        "https://git.example.com/edit/contacts/zoe.md")
    assert edit_href("javascript:alert('{path}')", "contacts/zoe.md", root) is None
    assert edit_href(None, "contacts/zoe.md", root) is None


def test_fenced_code_names_its_language_as_a_class_not_a_lang_attribute() -> None:
    from site_builder.render import markdown_to_html

    html = str(markdown_to_html("```sql\nselect 1\n```\n"))
    assert '<code class="language-sql">' in html and "lang=" not in html

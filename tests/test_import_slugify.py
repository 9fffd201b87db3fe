"""slugify / unique_slug: readable ASCII file names for any name."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from site_builder.slugify import FALLBACK_SLUG, slugify, unique_slug
from site_builder.validate import SLUG


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Zoë Müller", "zoe-muller"),
        ("张伟", "zhang-wei"),
        ("김민준", "gim-min-jun"),
        ("Søren Ødegård", "soren-odegard"),
        ("Владимир Иванов", "vladimir-ivanov"),
        ("O'Brien, Dan", "obrien-dan"),
        ("  Ada   Lovelace  ", "ada-lovelace"),
        ("!!!", FALLBACK_SLUG),
        ("", FALLBACK_SLUG),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@given(st.text(max_size=200))
def test_slugify_always_gives_a_valid_slug(name: str) -> None:
    slug = slugify(name)
    assert SLUG.match(slug), slug
    assert len(slug) <= 60


def test_unique_slug_counts_up_and_ignores_case() -> None:
    assert unique_slug("ada", set()) == "ada"
    assert unique_slug("ada", {"ada"}) == "ada-2"
    assert unique_slug("ada", {"ADA", "ada-2"}) == "ada-3"

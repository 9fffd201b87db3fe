"""site_data.fold: the translate-table implementation matches the definition (NFD, drop
every combining mark, lower-case, special letters, NFC) for any text, and a haystack of
many fields folds the same as its fields one by one (a query never spans a newline)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings, strategies as st

from site_builder.site_data import _SPECIAL_FOLDS, fold, haystack


def fold_by_definition(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped.lower().translate(_SPECIAL_FOLDS))


TEXT = st.one_of(st.text(max_size=60), st.text(alphabet="aeiouAEIOUéèêëÉÈÊËøØßŁłΣσςİı\u0301\u0308\u0327 张伟",
                                               max_size=60))


@settings(max_examples=500, deadline=None)
@given(TEXT)
def test_fold_matches_its_definition(text: str) -> None:
    assert fold(text) == fold_by_definition(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT.filter(lambda t: "\n" not in t), max_size=6))
def test_haystack_is_the_folded_fields_one_per_line(fields: list[str]) -> None:
    assert haystack(tuple(fields)) == "\n".join(fold(f) for f in fields if f)

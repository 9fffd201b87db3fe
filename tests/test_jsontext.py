"""jsontext.indented_json: the text json.dumps(ensure_ascii=False, indent=2) writes, by
orjson where it can, by json.dumps where orjson refuses."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from site_builder import jsontext
from site_builder.jsontext import indented_json


def reference(data: Any, default: Any = None) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=default)


def usual_float(x: float) -> bool:
    """Where json.dumps writes no exponent: repr's plain range (and zero)."""
    return x == 0 or 1e-4 <= abs(x) < 1e16


TEXT = st.text(st.characters(blacklist_categories=("Cs",)))  # any character but a lone surrogate
SCALARS = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | TEXT
           | st.floats(allow_nan=False, allow_infinity=False).filter(usual_float))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_the_same_text_as_json_dumps(data: Any) -> None:
    assert indented_json(data) == reference(data)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_reads_back_the_same(x: float) -> None:
    assert json.loads(indented_json({"x": [x]})) == {"x": [x]}


@pytest.mark.parametrize("data", [
    {"big": 2**70},  # beyond 64 bits
    {"lone": "\ud800"},  # a lone surrogate
    {1: "an int key", "b": [1]},  # a key that is not a string
])
def test_what_orjson_refuses_is_written_by_json_dumps(data: Any) -> None:
    assert indented_json(data) == reference(data)


def test_default_is_called_for_what_neither_encoder_writes() -> None:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, (set, frozenset)):
            return sorted(value)
        raise TypeError(type(value).__name__)

    data = {"amount": Decimal("12.50"), "tags": {"b", "a"}, "day": date(2026, 11, 22).isoformat()}
    assert indented_json(data, default=plain) == reference(data, default=plain)
    with pytest.raises(TypeError):
        indented_json({"x": object()})


def test_without_orjson_json_dumps_writes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsontext, "orjson", None)
    data = {"name": "Zoë", "n": [1, 2.5, None]}
    assert indented_json(data) == reference(data)


def test_not_a_number_is_json_null_or_json_dumps_text() -> None:
    # json.dumps writes NaN (not JSON); orjson writes null. Neither is produced by the
    # stats, which never divide by zero; this pins what happens if one ever is.
    text = indented_json({"x": math.nan})
    assert text in (reference({"x": math.nan}), '{\n  "x": null\n}')


@pytest.mark.parametrize("data", [{"name": "Zoë", "n": [1, 2.5, None]}, {"big": 2**70}, {1: "int key"}])
def test_the_bytes_are_the_text_in_utf8(data: Any) -> None:
    assert jsontext.indented_json_bytes(data) == indented_json(data).encode("utf-8")


def test_a_lone_surrogate_is_written_escaped_in_the_bytes() -> None:
    written = jsontext.indented_json_bytes({"lone": "\ud800", "name": "Zoë"})
    assert json.loads(written) == {"lone": "\ud800", "name": "Zoë"}

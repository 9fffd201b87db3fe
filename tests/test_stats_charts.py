"""Inline SVG charts: well-formed, accessible, escaped, scalable, colour from the page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from site_builder.charts import bar_chart, format_number, funnel_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "quotes" \'single\''


def parse(svg: Markup) -> ET.Element:
    return ET.fromstring(str(svg))


@pytest.mark.parametrize("make", [
    lambda: bar_chart([(HOSTILE, 3), ("b", 1.5)], title=HOSTILE, unit="EUR"),
    lambda: line_chart([(HOSTILE, 3), ("2026-02", 0)], title=HOSTILE),
    lambda: funnel_chart([(HOSTILE, 10), ("customer", 4)], title=HOSTILE),
    lambda: bar_chart([], title=HOSTILE),
])
def test_charts_are_accessible_escaped_and_themeable(make) -> None:  # type: ignore[no-untyped-def]
    svg = make()
    assert isinstance(svg, Markup)
    root = parse(svg)  # well-formed XML: every label was escaped
    assert root.get("role") == "img"
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox") or "")
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == HOSTILE
    assert root.get("aria-labelledby", "").startswith(title.get("id", "?"))
    assert "<script" not in str(svg)
    assert not re.search(r'(fill|stroke)="#', str(svg)), "colours come from currentColor and CSS"


def test_bar_lengths_are_proportional_and_values_formatted() -> None:
    root = parse(bar_chart([("2025", 94000), ("2026", 47000), ("none", 0)], title="Revenue", unit="EUR"))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    values = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert values == ["94,000 EUR", "47,000 EUR", "0 EUR"]
    assert root.find(f"{SVG}desc").text == "2025: 94,000 EUR; 2026: 47,000 EUR; none: 0 EUR."


def test_line_chart_has_a_point_per_month_and_few_labels() -> None:
    points = [(f"2025-{m:02d}", m) for m in range(1, 13)] + [(f"2026-{m:02d}", 12 - m) for m in range(1, 13)]
    root = parse(line_chart(points, title="Touches per month"))
    assert len(list(root.iter(f"{SVG}circle"))) == 24
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    assert labels[0] == "2025-01" and labels[-1] == "2026-12" and len(labels) <= 9


def test_funnel_shows_share_of_first_stage() -> None:
    root = parse(funnel_chart([("lead", 12), ("qualified", 9), ("customer", 3)], title="Funnel"))
    values = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert values == ["12 (100%)", "9 (75%)", "3 (25%)"]


def test_format_number() -> None:
    assert format_number(1234567) == "1,234,567"
    assert format_number(1250.5, "EUR") == "1,250.50 EUR"

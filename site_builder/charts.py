"""Charts as inline SVG, made at build time: no JavaScript, no network, works in print.

Every function returns `markupsafe.Markup` to drop into a Jinja template as is. Each
chart is an <svg role="img"> with a <title> and a <desc> that reads the data out as text
(screen readers, and a fallback when SVG is not shown). Every label is escaped. Shapes
and text are drawn in `currentColor`, so the chart takes the colour of the text around
it and follows dark mode; classes (chart-bar, chart-line, chart-dot, chart-axis,
chart-grid, chart-label, chart-value) let the site's CSS restyle them. Sizes are in
viewBox units, so the chart scales to the width of its container.
"""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

from markupsafe import Markup, escape

WIDTH = 640
ROW = 26  # height of one bar, with its gap
LABEL_WIDTH = 170
VALUE_WIDTH = 110
MAX_LABEL_CHARS = 26
FONT = 12


def format_number(value: float, unit: str = "") -> str:
    """48000 -> '48,000', 1250.5 -> '1,250.50', with ' UNIT' after when given."""
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{text} {unit}" if unit else text


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _chart_id(kind: str, title: str, data: Sequence[tuple[str, float]]) -> str:
    """Stable and unique enough per page: the same chart twice is the only collision."""
    digest = hashlib.sha1(repr((kind, title, list(data))).encode("utf-8")).hexdigest()[:10]
    return f"chart-{digest}"


def _open(kind: str, chart_id: str, title: str, desc: str, height: float) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'viewBox="0 0 {WIDTH} {height:g}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-size="{FONT}" fill="currentColor">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )


def _empty(kind: str, title: str) -> Markup:
    chart_id = _chart_id(kind, title, [])
    return Markup(
        _open(kind, chart_id, title, "No data yet.", 40)
        + f'<text class="chart-label" x="0" y="24">{escape(title)}: no data yet</text></svg>'
    )


def _describe(items: Sequence[tuple[str, float]], unit: str = "") -> str:
    return "; ".join(f"{label}: {format_number(value, unit)}" for label, value in items) + "."


def bar_chart(items: list[tuple[str, float]], *, title: str, unit: str = "") -> Markup:
    """Horizontal bars, one per (label, value), in the order given; negative values show
    as empty bars. Use it for sources, tiers, time zones, revenue per year (one chart per
    currency: amounts in different currencies are never put on one scale)."""
    if not items:
        return _empty("bar", title)
    chart_id = _chart_id("bar", title, items)
    top = max((v for _, v in items), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [_open("bar", chart_id, title, _describe(items, unit), len(items) * ROW + 4)]
    for i, (label, value) in enumerate(items):
        y = i * ROW + 2
        length = max(0.0, value) / top * span
        shown = format_number(value, unit)
        parts.append(
            f'<g class="chart-row"><title>{escape(label)}: {escape(shown)}</title>'
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{y + ROW / 2 + 2:g}" '
            f'text-anchor="end">{escape(_short(label))}</text>'
            f'<rect class="chart-bar" x="{LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" '
            f'height="{ROW - 8}" rx="2" fill-opacity="0.75"/>'
            f'<text class="chart-value" x="{LABEL_WIDTH + length + 6:.1f}" y="{y + ROW / 2 + 2:g}">'
            f"{escape(shown)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (axis maximum)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def line_chart(points: list[tuple[str, float]], *, title: str, unit: str = "") -> Markup:
    """A line through (label, value) points left to right, e.g. touches per month over 24
    months; about eight x labels are shown however many points there are."""
    if not points:
        return _empty("line", title)
    chart_id = _chart_id("line", title, points)
    height, left, right, top_pad, bottom = 240, 44, 12, 12, 34
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    top = _nice_ceiling(max(v for _, v in points))
    step_x = plot_w / max(1, len(points) - 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return left + i * step_x, top_pad + plot_h - max(0.0, value) / top * plot_h

    parts = [_open("line", chart_id, title, _describe(points, unit), height)]
    for fraction in (0, 0.5, 1):
        y = top_pad + plot_h - fraction * plot_h
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{WIDTH - right}" y1="{y:g}" y2="{y:g}" '
            f'stroke="currentColor" stroke-opacity="0.2"/>'
            f'<text class="chart-axis" x="{left - 6}" y="{y + 4:g}" text-anchor="end">'
            f"{escape(format_number(top * fraction))}</text>"
        )
    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts.append(f'<polyline class="chart-line" points="{path}" fill="none" stroke="currentColor" '
                 f'stroke-width="2" stroke-linejoin="round"/>')
    every = max(1, math.ceil(len(points) / 8))
    for i, ((label, value), (x, y)) in enumerate(zip(points, coords)):
        parts.append(f'<circle class="chart-dot" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                     f"<title>{escape(label)}: {escape(format_number(value, unit))}</title></circle>")
        last = i == len(points) - 1
        # Regular labels every `every` points, but none crowding the first or the last one:
        # those are anchored inwards, so they reach a whole label width into the chart
        # (with every == 1 there are at most 8 points, far enough apart).
        clear_of_first = every == 1 or i >= 1.5 * every
        if i == 0 or last or (i % every == 0 and clear_of_first and len(points) - 1 - i >= every):
            # The end labels are anchored inwards so they are not cut off at the edges.
            anchor = "start" if i == 0 and len(points) > 1 else "end" if last and i > 0 else "middle"
            parts.append(f'<text class="chart-label" x="{x:.1f}" y="{height - bottom + 18}" '
                         f'text-anchor="{anchor}">{escape(_short(label))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel_chart(stages: list[tuple[str, int]], *, title: str) -> Markup:
    """Centred bars narrowing from the first stage, each labelled with its count and its
    share of the first stage: lead -> qualified -> opportunity -> customer."""
    if not stages:
        return _empty("funnel", title)
    chart_id = _chart_id("funnel", title, stages)
    first = stages[0][1]
    widest = max(v for _, v in stages) or 1
    row = 34
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    centre = LABEL_WIDTH + span / 2
    desc = "; ".join(f"{label}: {value}" + (f" ({_share(value, first)})" if first else "")
                     for label, value in stages) + "."
    parts = [_open("funnel", chart_id, title, desc, len(stages) * row + 4)]
    for i, (label, value) in enumerate(stages):
        y = i * row + 2
        length = max(0, value) / widest * span
        shown = f"{value:,}" + (f" ({_share(value, first)})" if first else "")
        parts.append(
            f'<g class="chart-row"><title>{escape(label)}: {escape(shown)}</title>'
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{y + row / 2 + 2:g}" '
            f'text-anchor="end">{escape(_short(label))}</text>'
            f'<rect class="chart-bar" x="{centre - length / 2:.1f}" y="{y + 3}" width="{length:.1f}" '
            f'height="{row - 8}" rx="3" fill-opacity="{0.9 - 0.15 * min(i, 4):.2f}"/>'
            f'<text class="chart-value" x="{LABEL_WIDTH + span + 8}" y="{y + row / 2 + 2:g}">'
            f"{escape(shown)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _share(value: int, first: int) -> str:
    return f"{round(100 * value / first)}%"

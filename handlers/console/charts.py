"""The console's charts as server-side SVG: no script, nothing from a CDN, readable without explanation
(Chinese axis titles with their unit, a legend, each value in a <title> a pointer shows). Everything a
stranger could have written (a contact point's name) is escaped here; colours are CSS classes of
console.css, since the Content-Security-Policy allows no inline style."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from handlers.texts import console as texts

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 28, 46


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: nothing to count that week
    css: str  # s1 | s2 | s3 | target


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _ticks(top: float) -> list[float]:
    return [top * index / 4 for index in range(5)]


def _number(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _frame(labels: Sequence[str], top: float, y_title: str, percent: bool, caption: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(caption)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(caption)}</title>",
        f'<text class="axis-title" x="4" y="14">{escape(y_title)}</text>',
    ]
    for tick in _ticks(top):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(tick, percent)}</text>'
        )
    step = max(1, math.ceil(len(labels) / 12))  # at most a dozen labels under the axis
    for index, label in enumerate(labels):
        if index % step == 0:
            x = _x(index, len(labels))
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _x(index: int, count: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + plot_w * (index + 0.5) / max(1, count)


def _legend(series: Sequence[Series], x_title: str) -> list[str]:
    parts = [
        f'<text class="axis-title" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">{escape(x_title)}</text>'
    ]
    x = LEFT
    for one in series:
        parts.append(f'<rect class="{one.css}" x="{x}" y="{HEIGHT - 16}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{HEIGHT - 7}">{escape(one.name)}</text>')
        x += 24 + 13 * len(one.name)
    return parts


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, y_title: str, x_title: str, caption: str) -> Markup:
    """Grouped bars: one group per label (a week, a month), one bar per series."""
    top = _nice_max(max((v or 0 for one in series for v in one.values), default=0))
    parts = _frame(labels, top, y_title, False, caption)
    plot_h = HEIGHT - TOP - BOTTOM
    group_w = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    for index, label in enumerate(labels):
        left = LEFT + group_w * index + group_w * 0.1
        for number, one in enumerate(series):
            value = one.values[index] or 0
            height = plot_h * value / top
            parts.append(
                f'<rect class="{one.css}" x="{left + bar_w * number:.1f}" y="{TOP + plot_h - height:.1f}" '
                f'width="{bar_w:.1f}" height="{height:.1f}"><title>{escape(label)} {escape(one.name)}：'
                f"{_number(value, False)}</title></rect>"
            )
    parts += _legend(series, x_title)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    labels: Sequence[str], series: Sequence[Series], *, y_title: str, x_title: str, caption: str, percent: bool = True
) -> Markup:
    """Lines over the labels; a None value breaks the line (nothing to count that week)."""
    top = 1.0 if percent else _nice_max(max((v or 0 for one in series for v in one.values), default=0))
    parts = _frame(labels, top, y_title, percent, caption)
    plot_h = HEIGHT - TOP - BOTTOM
    for one in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(one.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append((_x(index, len(labels)), TOP + plot_h - plot_h * min(value, top) / top))
            parts.append(
                f'<circle class="{one.css}" cx="{runs[-1][-1][0]:.1f}" cy="{runs[-1][-1][1]:.1f}" r="3">'
                f"<title>{escape(labels[index])} {escape(one.name)}：{_number(value, percent)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline class="line {one.css}" points="{points}"/>')
    parts += _legend(series, x_title)
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class MapPoint:
    name: str
    href: str
    latitude: float
    longitude: float
    cases: int
    satisfaction: float | None


def satisfaction_css(value: float | None) -> str:
    """good (≥ 90 %), fair (≥ 70 %), poor, or none (nobody rated yet)."""
    if value is None:
        return "sat-none"
    return "sat-good" if value >= 0.9 else "sat-fair" if value >= 0.7 else "sat-poor"


def point_map(points: Sequence[MapPoint], caption: str) -> Markup:
    """The contact points where the roster gives coordinates, as a plain coordinate plot (no map tiles:
    none can be reached from every machine): a circle per point, its area the cases, its colour the
    satisfaction, a link to the point's page."""
    width, height, pad = 640, 420, 36
    parts = [
        f'<svg class="chart map" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(caption)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(caption)}</title>",
        f'<rect class="map-ground" x="0" y="0" width="{width}" height="{height}"/>',
    ]
    if points:
        lat = [p.latitude for p in points]
        lon = [p.longitude for p in points]
        span = max(max(lat) - min(lat), max(lon) - min(lon), 0.01)
        mid_lat, mid_lon = (max(lat) + min(lat)) / 2, (max(lon) + min(lon)) / 2
        scale = min(width, height) - 2 * pad
        most = max(p.cases for p in points) or 1
        for p in sorted(points, key=lambda one: -one.cases):  # small circles drawn over large ones
            x = width / 2 + (p.longitude - mid_lon) / span * scale
            y = height / 2 - (p.latitude - mid_lat) / span * scale
            radius = 4 + 20 * math.sqrt(p.cases / most)
            tip = escape(texts.map_dot(p.name, p.cases, p.satisfaction))
            parts.append(
                f'<a href="{escape(p.href)}"><circle class="dot {satisfaction_css(p.satisfaction)}" '
                f'cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}"><title>{tip}'
                f'</title></circle><text class="dot-label" x="{x:.1f}" y="{y + radius + 12:.1f}" '
                f'text-anchor="middle">{escape(p.name)}</text></a>'
            )
    north = f'<text class="axis-title" x="{width - 8}" y="{height - 8}" text-anchor="end">{texts.MAP_NORTH}</text>'
    parts.append(north)
    parts.append("</svg>")
    return Markup("".join(parts))

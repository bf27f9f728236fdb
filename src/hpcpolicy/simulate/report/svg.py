"""Inline SVG charts (line and grouped bar), generated as text: the report needs no script, font or CDN.

Deliberately small: linear axes with "nice" ticks (1, 2, 5 × 10^k), a time axis labelled in UTC dates,
a legend, and gaps where a series has no value. Every label goes through ``html.escape``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT = 760, 290
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 54

Line = tuple[str, Sequence[float], Sequence[float | None]]
"""(label, x values, y values; None leaves a gap)."""


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high], as floats, at most ``4 * count + 2``.

    Any finite bounds are drawn: a span wider than the largest float (-1e308 to 1e308) is divided before it
    is subtracted, and a span below the values' precision (1e15 to 1e15 + 0.001) gets a step of at least
    one unit in the last place. Adding a smaller step to the last tick would leave it unchanged, and the
    loop would fill memory.
    """
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + 1.0
    raw = max(high / count - low / count, math.ulp(max(abs(low), abs(high))))
    power = 10.0 ** max(math.floor(math.log10(raw)), -300)
    step = next((m * power for m in (1, 2, 5) if m * power >= raw), 10 * power)
    start = math.floor(low / step)
    ticks: list[float] = []
    for k in range(start, min(math.ceil(high / step), start + 4 * count + 1) + 1):
        value = round(k * step, 10)
        if math.isfinite(value) and (not ticks or value > ticks[-1]):  # a tick past the largest float is left out
            ticks.append(value)
    return ticks


def compact(value: float) -> str:
    """A tick label: ``1.5M``, ``250k``, ``12.5``."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _time_label(epoch: float, span: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%d") if span > 2 * 86400 else moment.strftime("%m-%d %H:%M")


class _Frame:
    """Maps data coordinates to pixels inside the plot area."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1.0)
        self.y0, self.y1 = y0, (y1 if y1 > y0 else y0 + 1.0)
        self.w, self.h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * self.w

    def y(self, value: float) -> float:
        return TOP + self.h - (value - self.y0) / (self.y1 - self.y0) * self.h


def _wrap(title: str, parts: list[str], labels: Sequence[str]) -> str:
    """The finished ``<svg>``: title on top, the plot, and a legend that wraps onto rows below the axis."""
    legend: list[str] = []
    x, y = float(LEFT), HEIGHT - 8.0
    for index, label in enumerate(labels):
        width = 24 + 6.2 * len(label)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + 16
        color = PALETTE[index % len(PALETTE)]
        legend.append(f'<rect x="{x:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{color}"/>')
        legend.append(f'<text x="{x + 14:.0f}" y="{y:.0f}" class="legend">{escape(label)}</text>')
        x += width
    height = int(y + 8) if labels else HEIGHT
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" class="chart">'
        f'<title>{escape(title)}</title><text x="{LEFT}" y="20" class="title">{escape(title)}</text>'
        + "".join(parts)
        + "".join(legend)
        + "</svg>"
    )


def _y_axis(parts: list[str], frame: _Frame, ticks: list[float], label: str, percent: bool) -> None:
    for tick in ticks:
        y = frame.y(tick)
        text = f"{tick * 100:g}%" if percent else compact(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{escape(text)}</text>')
    parts.append(
        f'<text transform="translate(14,{TOP + frame.h / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'class="axis">{escape(label)}</text>'
    )


def line_chart(
    title: str, lines: Sequence[Line], *, y_label: str, percent: bool = False, y_max: float | None = None
) -> str:
    """Lines over a UTC time axis (x values are epoch seconds)."""
    xs = [x for _, line_xs, _ in lines for x in line_xs]
    ys = [y for _, _, line_ys in lines for y in line_ys if y is not None]
    parts: list[str] = []
    if not xs or not ys:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="tick">no data</text>')
        return _wrap(title, parts, [])
    low = min(0.0, min(ys))
    top = y_max if y_max is not None else max(ys)
    ticks = nice_ticks(low, top)
    frame = _Frame(min(xs), max(xs), ticks[0], ticks[-1])
    _y_axis(parts, frame, ticks, y_label, percent)
    span = frame.x1 - frame.x0
    for i in range(6):
        value = frame.x0 + span * i / 5
        x = frame.x(value)
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" class="tick">'
            f"{escape(_time_label(value, span))}</text>"
        )
    for index, (_label, line_xs, line_ys) in enumerate(lines):
        color = PALETTE[index % len(PALETTE)]
        for segment in _segments(line_xs, line_ys):
            points = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in segment)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    return _wrap(title, parts, [label for label, _, _ in lines])


def _segments(xs: Sequence[float], ys: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((x, y))
    return [s for s in segments if s]


def bar_chart(
    title: str, categories: Sequence[str], groups: Sequence[tuple[str, Sequence[float]]], y_label: str
) -> str:
    """Grouped bars: one group of bars per category, one colour per series."""
    parts: list[str] = []
    values = [v for _, series in groups for v in series]
    ticks = nice_ticks(0.0, max(values, default=1.0) or 1.0)
    frame = _Frame(0.0, float(len(categories)), 0.0, ticks[-1])
    _y_axis(parts, frame, ticks, y_label, False)
    slot = frame.w / max(len(categories), 1)
    bar = slot * 0.8 / max(len(groups), 1)
    for c, category in enumerate(categories):
        x0 = LEFT + c * slot + slot * 0.1
        for g, (label, series) in enumerate(groups):
            value = series[c]
            y = frame.y(value)
            parts.append(
                f'<rect x="{x0 + g * bar:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{TOP + frame.h - y:.1f}" '
                f'fill="{PALETTE[g % len(PALETTE)]}">'
                f"<title>{escape(label)}: {escape(category)}: {value:g}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">'
            f"{escape(category)}</text>"
        )
    return _wrap(title, parts, [label for label, _ in groups])

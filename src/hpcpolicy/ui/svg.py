"""The dashboard's charts as inline SVG text: a budget's utilization bar and its burn-down chart.

No script, font or library: shapes with presentation attributes and CSS classes (styled by the dashboard's
stylesheet; the Content-Security-Policy allows no inline style). Every text goes through ``html.escape``
and every number is checked finite before it is drawn, so hostile names or infinite ratios cannot break
the page. Pure: values in, markup out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from hpcpolicy.simulate.report.svg import compact, nice_ticks

#: The fraction of a budget at which it is at risk (the bar's tick; :data:`hpcpolicy.engine.standing.AT_RISK`).
TICK = 0.8
BAR_WIDTH, BAR_HEIGHT = 120, 12
WIDTH, HEIGHT = 560, 210
LEFT, RIGHT, TOP, BOTTOM = 64, 14, 14, 30


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    """``value`` within [low, high]; infinity is ``high``, NaN ``low``."""
    if not math.isfinite(value):
        return high if value > 0 else low
    return min(max(value, low), high)


def bar(charged: float, reserved: float, limit: float, *, at_risk: bool = False) -> str:
    """A horizontal bar: charged (solid) then reserved (lighter) as fractions of ``limit``, with a tick at
    :data:`TICK`; over 100 % fills it and marks it ``over``. The title says the percentage."""
    if limit > 0:
        used_c, used_r = charged / limit, (charged + reserved) / limit
    else:
        used_c = used_r = math.inf if charged + reserved > 0 else 0.0
    c = _clamp(used_c) * BAR_WIDTH
    r = max(_clamp(used_r) * BAR_WIDTH - c, 0.0)
    state = "over" if used_r > 1 else "risk" if at_risk else "ok"
    percent = "∞" if math.isinf(used_r) else f"{used_r * 100:.0f}"
    return (
        f'<svg class="bar {state}" viewBox="0 0 {BAR_WIDTH} {BAR_HEIGHT}" width="{BAR_WIDTH}" height="{BAR_HEIGHT}"'
        f' role="img" aria-label="{percent} % used"><title>{percent} % used</title>'
        f'<rect class="track" width="{BAR_WIDTH}" height="{BAR_HEIGHT}"/>'
        f'<rect class="charged" width="{c:.1f}" height="{BAR_HEIGHT}"/>'
        f'<rect class="reserved" x="{c:.1f}" width="{r:.1f}" height="{BAR_HEIGHT}"/>'
        f'<line class="tick" x1="{TICK * BAR_WIDTH:.0f}" x2="{TICK * BAR_WIDTH:.0f}" y1="0" y2="{BAR_HEIGHT}"/>'
        "</svg>"
    )


@dataclass(frozen=True, slots=True)
class BurnDown:
    """What a burn-down chart draws for one metric of one quota.

    ``days``: consumption per UTC day from the window's start to today; the line is what is left after
    each day (``limit`` minus the running sum). ``available`` is what is left now with open liens taken
    too; the forecast runs from it at ``rate_per_day`` to ``runs_dry_at`` (when before the window's end) or
    to the end, where ``balance_at_end`` is left.
    """

    title: str
    limit: float
    days: Sequence[tuple[date, float]]
    window_start: datetime
    window_end: datetime
    now: datetime
    available: float
    rate_per_day: float
    runs_dry_at: datetime | None
    balance_at_end: float


def burn_down(chart: BurnDown) -> str:
    """The chart as an ``<svg>`` element (an empty frame saying so when the numbers cannot be drawn)."""
    left: list[tuple[datetime, float]] = [(chart.window_start, chart.limit)]
    total = 0.0
    for day, amount in chart.days:
        total += amount
        moment = min(datetime(day.year, day.month, day.day, tzinfo=chart.window_start.tzinfo) + timedelta(days=1),
                     chart.now)  # fmt: skip
        left.append((max(moment, chart.window_start), chart.limit - total))
    end_at = chart.runs_dry_at if chart.runs_dry_at is not None and chart.runs_dry_at < chart.window_end else None
    ahead = [(chart.now, chart.available),
             (end_at, 0.0) if end_at is not None else (chart.window_end, chart.balance_at_end)]  # fmt: skip
    values = [v for _, v in left + ahead] + [0.0]
    if not all(math.isfinite(v) for v in values) or chart.window_end <= chart.window_start:
        return _frame(chart.title, '<text x="50%" y="50%" text-anchor="middle" class="note">cannot be drawn</text>')
    low, high = min(values), max(values)
    ticks = nice_ticks(low, max(high, low + 1e-3))  # a span of subnormal floats would make no tick step
    y0, y1 = ticks[0], ticks[-1]
    t0, t1 = chart.window_start.timestamp(), chart.window_end.timestamp()
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + _clamp((moment.timestamp() - t0) / (t1 - t0)) * w

    def y(value: float) -> float:  # halved before subtracting: a span of -1e308 to 1e308 is no float
        return TOP + h - _clamp((value / 2 - y0 / 2) / ((y1 / 2 - y0 / 2) or 0.5)) * h

    parts = []
    for tick in ticks:
        at, cls = y(tick), "zero" if tick == 0 else "grid"
        parts.append(f'<line class="{cls}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{compact(tick)}</text>')
    for moment, anchor in ((chart.window_start, "start"), (chart.window_end, "end")):
        parts.append(f'<text class="tick" x="{x(moment):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}">'
                     f"{moment:%Y-%m-%d}</text>")  # fmt: skip
    now_x = x(chart.now)
    parts.append(f'<line class="now" x1="{now_x:.1f}" x2="{now_x:.1f}" y1="{TOP}" y2="{TOP + h}"/>')
    parts.append(f'<text class="tick" x="{now_x:.1f}" y="{TOP + 10}" text-anchor="middle">today</text>')
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in left)
    parts.append(f'<polyline class="left" points="{line}"/>')
    forecast = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in ahead)
    parts.append(f'<polyline class="forecast" points="{forecast}"><title>forecast at '
                 f"{compact(chart.rate_per_day)} a day</title></polyline>")  # fmt: skip
    return _frame(chart.title, "".join(parts))


def _frame(title: str, body: str) -> str:
    return (f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg></figure>')  # fmt: skip

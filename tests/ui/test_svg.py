"""The dashboard's inline SVG and text formatting, tested directly: well-formed, escaped, finite."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.ui import formats, svg

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 15, tzinfo=UTC)
NS = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def widths(markup: str) -> tuple[float, float]:
    rects = {r.get("class"): r for r in parse(markup).iter(f"{NS}rect")}
    return float(rects["charged"].get("width", "nan")), float(rects["reserved"].get("width", "nan"))


def test_bar_draws_charged_then_reserved_of_the_limit() -> None:
    markup = svg.bar(30, 20, 100)
    assert widths(markup) == (36.0, 24.0) and 'class="bar ok"' in markup and "50 % used" in markup
    assert 'class="bar risk"' in svg.bar(85, 0, 100, at_risk=True)


@pytest.mark.parametrize(
    ("charged", "reserved", "limit", "state", "label"),
    [(150, 10, 100, "over", "160 %"), (1, 0, 0, "over", "∞ %"), (0, 0, 0, "ok", "0 %"), (-50, 0, 100, "ok", "-50 %")],
)
def test_bar_stays_inside_its_frame(charged: float, reserved: float, limit: float, state: str, label: str) -> None:
    markup = svg.bar(charged, reserved, limit)
    c, r = widths(markup)
    assert 0 <= c <= svg.BAR_WIDTH and 0 <= r <= svg.BAR_WIDTH - c
    assert f'class="bar {state}"' in markup and f"{label} used" in markup


def chart(**changes: object) -> svg.BurnDown:
    days = [(date(2026, 11, d), 1000.0) for d in range(1, 21)]
    fields: dict[str, object] = {"title": "cpu_hours left", "limit": 30000.0, "days": days, "window_start": START,
                                 "window_end": END, "now": NOW, "available": 9000.0, "rate_per_day": 1000.0,
                                 "runs_dry_at": NOW + timedelta(days=9), "balance_at_end": -1400.0}  # fmt: skip
    return svg.BurnDown(**(fields | changes))  # type: ignore[arg-type]


def points(markup: str, cls: str) -> list[tuple[float, float]]:
    (line,) = [p for p in parse(markup).iter(f"{NS}polyline") if p.get("class") == cls]
    return [tuple(map(float, pair.split(","))) for pair in (line.get("points") or "").split()]  # type: ignore[misc]


def test_burn_down_goes_from_the_limit_down_and_forecasts_to_zero() -> None:
    markup = svg.burn_down(chart())
    left = points(markup, "left")
    assert len(left) == 21 and left[0][0] == svg.LEFT and all(a[1] <= b[1] for a, b in itertools.pairwise(left))
    ahead = points(markup, "forecast")
    assert len(ahead) == 2 and ahead[0][0] < ahead[1][0] < svg.WIDTH - svg.RIGHT  # dry before the end
    zero_y = [float(line.get("y1", "nan")) for line in parse(markup).iter(f"{NS}line") if line.get("class") == "zero"]
    assert ahead[1][1] == pytest.approx(zero_y[0], abs=0.1)


def test_a_forecast_that_lasts_the_window_ends_at_its_end() -> None:
    markup = svg.burn_down(chart(runs_dry_at=None, balance_at_end=4000.0, rate_per_day=100.0))
    assert points(markup, "forecast")[1][0] == pytest.approx(svg.WIDTH - svg.RIGHT)


def test_burn_down_escapes_its_title_and_refuses_what_it_cannot_draw() -> None:
    markup = svg.burn_down(chart(title="<script>x</script> & co"))
    assert "<script>" not in markup and "&lt;script&gt;x&lt;/script&gt; &amp; co" in markup
    parse(markup)
    assert "polyline" in svg.burn_down(chart(limit=0.0, days=[], available=5e-324))  # no tick step from 1e-324
    broken = svg.burn_down(chart(available=math.inf))
    assert "cannot be drawn" in broken and "polyline" not in broken
    assert "cannot be drawn" in svg.burn_down(chart(window_end=START))


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e7), max_size=40),
    st.floats(min_value=0, max_value=1e9),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_burn_down_is_always_well_formed(amounts: list[float], limit: float, available: float) -> None:
    days = [(date(2026, 11, 1) + timedelta(days=k), a) for k, a in enumerate(amounts)]
    markup = svg.burn_down(chart(days=days, limit=limit, available=available))
    root = parse(markup)
    for element in root.iter():
        for name in ("x", "y", "x1", "x2", "y1", "y2"):
            value = element.get(name)
            if value is not None and not value.endswith("%"):
                assert math.isfinite(float(value))


@pytest.mark.parametrize(
    ("value", "text"),
    [(200000.0, "200,000"), (1234.5, "1,234.5"), (-3.333, "-3.33"), (0.004, "0"), (-0.001, "0"), (None, "—"),
     (math.inf, "∞"), (math.nan, "—"), (7, "7")],
)
def test_num(value: float | None, text: str) -> None:
    assert formats.num(value) == text


def test_outlook_in_words() -> None:
    dry = Forecast(1000.0, 2.5, NOW + timedelta(days=2.5), -5000.0, True)
    assert formats.outlook(dry) == "runs dry 2026-11-23 (2.5 days)"
    assert formats.outlook(Forecast(10.0, 100.0, None, 500.0, False)) == "lasts the window (500 left at its end)"
    assert formats.outlook(Forecast(0.0, math.inf, None, 800.0, False)) == "no recent use"
    assert formats.outlook(Forecast(5.0, 0.0, NOW, -10.0, True)) == "spent"
    assert formats.days(0.05) == "< 0.1 days" and formats.pct(math.inf) == "∞ %"


def test_query_strings_leave_out_what_is_unset_and_escape_the_rest() -> None:
    assert formats.query({"q": "a&b=c", "n": None, "x": "", "risk": 1}) == "q=a%26b%3Dc&risk=1"
    assert formats.scope_url("project:a b/c") == "project:a%20b/c"

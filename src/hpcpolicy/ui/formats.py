"""How numbers, times and forecasts read on the dashboard (Jinja filters; pure).

One formatting everywhere, so a figure on a page can be compared with the API's: amounts with thousands
separators and at most two decimals, times in UTC, infinite ratios and never-ending forecasts in words.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from urllib.parse import quote

from hpcpolicy.engine.forecast import Forecast


def num(value: float | None) -> str:
    """``1,234.5``; ``—`` for none (unlimited, unknown); ``∞`` for infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def pct(fraction: float) -> str:
    """``83 %`` of a fraction (``∞ %`` for a used zero limit)."""
    if math.isnan(fraction):
        return "—"
    return "∞ %" if math.isinf(fraction) else f"{fraction * 100:.0f} %"


def when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def when_exact(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def day(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d}"


def days(value: float) -> str:
    """How long something lasts: ``never`` for infinity, ``12.5 days``, ``< 0.1 days``."""
    if math.isinf(value) or math.isnan(value):
        return "never"
    if value <= 0:
        return "spent"
    return "< 0.1 days" if value < 0.1 else f"{value:,.1f} days"


def outlook(f: Forecast) -> str:
    """The forecast in words: when the budget runs dry, or what the window ends with."""
    if f.days_to_dry == 0:
        return "spent"
    if f.dry_before_end and f.runs_dry_at is not None:
        return f"runs dry {day(f.runs_dry_at)} ({days(f.days_to_dry)})"
    if f.rate_per_day == 0:
        return "no recent use"
    return f"lasts the window ({num(f.balance_at_end)} left at its end)"


def scope_url(scope: str) -> str:
    """The scope page's path segment: the scope with everything but ``:`` and ``/`` escaped."""
    return quote(scope, safe=":/")


def query(values: dict[str, Any]) -> str:
    """A query string of the values that are set (``None`` and ``""`` left out), escaped."""
    return "&".join(f"{quote(str(k))}={quote(str(v), safe='')}" for k, v in values.items() if v not in (None, ""))


FILTERS = {"num": num, "pct": pct, "when": when, "when_exact": when_exact, "day": day, "days": days, "outlook": outlook,
           "scope_url": scope_url, "query": query}  # fmt: skip

"""How a budget's standing shows on the dashboard: whether it needs attention, the alert that says why,
its bar and its burn-down charts (template helpers; pure).

A metric needs attention when it is 80 % used (charged and reserved, of its limit) or its forecast runs it
dry before the window ends (:data:`hpcpolicy.engine.standing.AT_RISK`, the same test as
``QuotaStanding.at_risk``); it is *over* once more than its limit is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import Markup

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.standing import AT_RISK, MetricStanding, QuotaStanding
from hpcpolicy.ui import svg
from hpcpolicy.ui.formats import day, pct


def attention(m: MetricStanding) -> str | None:
    """``"over"`` (past its limit), ``"risk"`` (80 % used, or dry before the window ends) or None."""
    if m.used > 1:
        return "over"
    if m.used >= AT_RISK or m.forecast.dry_before_end:
        return "risk"
    return None


@dataclass(frozen=True, slots=True)
class Alert:
    standing: QuotaStanding
    metric: MetricStanding
    level: str  # over | risk
    text: str


def alerts(standings: Sequence[QuotaStanding]) -> list[Alert]:
    """One alert per metric that needs attention, over-limit ones first, in the standings' order."""
    found = []
    for s in standings:
        for m in s.metrics:
            level = attention(m)
            if level is None:
                continue
            why = [f"{pct(m.used)} used"]
            if m.forecast.dry_before_end and m.forecast.runs_dry_at is not None and m.available > 0:
                why.append(f"runs dry {day(m.forecast.runs_dry_at)}, before the window ends {day(s.window_end)}")
            name = quota_name(s.quota_id)
            found.append(Alert(s, m, level, f"{name + ' ' if name else ''}{m.metric}: " + "; ".join(why)))
    return sorted(found, key=lambda a: a.level != "over")


def quota_name(quota_id: str) -> str:
    """``project:p#monthly`` → ``monthly``; empty for a scope's one unnamed quota."""
    return quota_id.partition("#")[2]


def metric_bar(m: MetricStanding) -> Markup:
    return Markup(svg.bar(m.charged, m.reserved, m.limit, at_risk=attention(m) is not None))


def burn_charts(s: QuotaStanding, days: Sequence[tuple[date, Amounts]], now: datetime) -> list[Markup]:
    """One burn-down chart per metric of quota ``s``: what is left after each day, and the forecast."""
    charts = []
    for m in s.metrics:
        f = m.forecast
        chart = svg.BurnDown(f"{quota_name(s.quota_id) or s.window} · {m.metric} left", m.limit,
                             [(d, float(getattr(a, m.metric))) for d, a in days], s.window_start, s.window_end, now,
                             m.available, f.rate_per_day, f.runs_dry_at, f.balance_at_end)  # fmt: skip
        charts.append(Markup(svg.burn_down(chart)))
    return charts

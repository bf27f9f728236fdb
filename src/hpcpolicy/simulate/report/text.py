"""The short summary a terminal shows after a replay: one row per figure, one column per run; then, per
governed run, the accounts' waits and share against usage (:func:`fairness_tables`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .html import duration, fairness_table

TOP_CODES = 5
TOP_ACCOUNTS = 10


def summary_rows(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    runs = report["runs"]

    def each(fn: Any) -> list[str]:
        return [fn(run) for run in runs]

    rows = [
        ("jobs run", each(lambda r: f"{r['scheduling']['jobs_run']:,}")),
        ("jobs skipped (too large)", each(lambda r: f"{r['scheduling']['jobs_skipped']:,}")),
        ("mean / median wait", each(lambda r: _pair(r, "mean_wait_s", "median_wait_s"))),
        ("bounded slowdown mean / p95", each(lambda r: _slowdown(r))),
        ("utilization", each(lambda r: f"{r['scheduling']['utilization']:.1%}")),
        ("makespan", each(lambda r: duration(r["scheduling"]["makespan_s"]))),
    ]
    if any(run["governance"] for run in runs):
        rows += [
            ("allowed / denied", each(lambda r: _gov(r, lambda g: f"{g['allowed']:,} / {g['denied']:,}"))),
            ("budgets ran dry", each(lambda r: _gov(r, lambda g: f"{len(g['budgets_ran_dry']):,}"))),
        ]
        if any(run.get("queue") for run in runs):
            rows.append(("held by the admission queue", each(lambda r: _gov(r, lambda g: f"{g['held']:,}"))))
        codes: dict[str, int] = {}
        for run in runs:
            for code, count in (run["governance"] or {}).get("denied_by_code", {}).items():
                codes[code] = codes.get(code, 0) + count
        for code in sorted(codes, key=lambda c: -codes[c])[:TOP_CODES]:
            rows.append((f"denied: {code}", [_gov(run, _count(code)) for run in runs]))
    return rows


def fairness_tables(report: dict[str, Any]) -> list[tuple[str, Sequence[str], list[list[str]]]]:
    """(run label, header, rows) per governed run: the accounts that used most, their waits and shares."""
    return [
        (run["label"], *fairness_table(run["fairness"], TOP_ACCOUNTS)) for run in report["runs"] if run.get("fairness")
    ]


def _count(code: str) -> Any:
    return lambda governance: f"{governance['denied_by_code'].get(code, 0):,}"


def _pair(run: dict[str, Any], first: str, second: str) -> str:
    s = run["scheduling"]
    return f"{duration(s[first])} / {duration(s[second])}"


def _slowdown(run: dict[str, Any]) -> str:
    s = run["scheduling"]
    return f"{s['mean_bounded_slowdown']:.2f} / {s['p95_bounded_slowdown']:.2f}"


def _gov(run: dict[str, Any], fn: Any) -> str:
    governance = run["governance"]
    return "-" if governance is None else str(fn(governance))

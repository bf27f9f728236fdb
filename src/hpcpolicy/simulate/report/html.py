"""The HTML report: one self-contained page (inline CSS and SVG, no script, no external resource).

It is drawn from the report data (:mod:`.data`), the same dictionary the JSON output holds, so the
page can never disagree with the JSON. Runs appear side by side: one column per run in the tables,
one line (or bar) per run in the charts; burn-down and dry budgets are per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from .svg import bar_chart, line_chart

BURN_LINES = 8
TOP_ACCOUNTS = 20
TOP_DRY = 50

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}.note{color:#666}
svg.chart{display:block;margin:12px 0;max-width:100%;height:auto}
.title{font-weight:600;font-size:14px}.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}
.legend{font-size:11px}.grid{stroke:#eee}
"""


def render_html(report: dict[str, Any]) -> str:
    trace, runs = report["trace"], report["runs"]
    name = trace["path"].replace("\\", "/").rsplit("/", 1)[-1]
    body = [
        f"<h1>Simulation report: {escape(name)}</h1>",
        _trace_facts(trace),
        "<h2>Scheduling</h2>",
        _scheduling_table(runs),
        line_chart(
            "Queue length over time (jobs waiting)",
            [(r["label"], r["series"]["time"], r["series"]["queue_length"]) for r in runs],
            y_label="jobs",
        ),
        line_chart(
            "Utilization over time",
            [(r["label"], r["series"]["time"], r["series"]["utilization"]) for r in runs],
            y_label="busy processors",
            percent=True,
            y_max=1.0,
        ),
        bar_chart(
            "Wait time distribution",
            [b["bin"] for b in runs[0]["wait_histogram"]] if runs else [],
            [(r["label"], [b["jobs"] for b in r["wait_histogram"]]) for r in runs],
            y_label="jobs",
        ),
    ]
    governed = [r for r in runs if r["governance"] is not None]
    if governed:
        body += ["<h2>Governance</h2>", _governance_table(governed)]
        for run in governed:
            body += _run_governance(run)
    title = f"hpcpolicy simulate: {escape(name)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def duration(seconds: float) -> str:
    """``42 s``, ``12.5 min``, ``3.2 h``, ``4.1 d``."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


FAIRNESS_HEADER = ("account", "jobs run", "mean wait", "p95 wait", "held", "share", "usage", "fair-share factor")


def fairness_table(fairness: dict[str, Any], top: int = TOP_ACCOUNTS) -> tuple[Sequence[str], list[list[str]]]:
    """Per-account waits, held jobs, share against usage and factor: the accounts that used most first."""
    accounts = sorted(fairness["accounts"].items(), key=lambda item: (-item[1]["usage"], item[0]))[:top]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    rows = [
        [name, str(a["jobs_run"]), duration(a["mean_wait_s"]), duration(a["p95_wait_s"]), str(a["held"]),
         pct(a["share"]), pct(a["usage"]), "-" if a["fairshare_factor"] is None else f"{a['fairshare_factor']:.3f}"]
        for name, a in accounts
    ]  # fmt: skip
    return FAIRNESS_HEADER, rows


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    lines = ["<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows]
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _trace_facts(trace: dict[str, Any]) -> str:
    dropped = ", ".join(f"{n} {reason}" for reason, n in trace["dropped"].items()) or "none"
    rows = [
        ("format", trace["format"]),
        ("records read", trace["records"]),
        ("jobs replayed", trace["jobs"]),
        ("records not replayable", dropped),
        ("malformed lines skipped (--lenient)", trace["malformed_lines_skipped"]),
        ("first / last submit (UTC)", f"{trace['first_submit']} / {trace['last_submit']}"),
        ("in submit order in the file", "yes" if trace["sorted_by_submit"] else "no (sorted for the replay)"),
    ]
    return _table(("trace", escape(trace["path"])), rows)


def _scheduling_table(runs: list[dict[str, Any]]) -> str:
    def row(label: str, key: str, fmt: Any) -> list[object]:
        return [label, *(fmt(r["scheduling"][key]) for r in runs)]

    def pct(value: float) -> str:
        return f"{value:.1%}"

    def num(value: float) -> str:
        return f"{value:,.2f}"

    rows = [
        ["capacity (processors)", *(r["capacity"] for r in runs)],
        row("jobs run", "jobs_run", str),
        row("jobs skipped (larger than the machine)", "jobs_skipped", str),
        row("jobs cut at their requested time", "jobs_cut_at_limit", str),
        row("mean wait", "mean_wait_s", duration),
        row("median wait", "median_wait_s", duration),
        row("90th percentile wait", "p90_wait_s", duration),
        row("mean bounded slowdown (10 s)", "mean_bounded_slowdown", num),
        row("95th percentile bounded slowdown", "p95_bounded_slowdown", num),
        row("utilization", "utilization", pct),
        row("makespan", "makespan_s", duration),
    ]
    return _table(["", *(r["label"] for r in runs)], rows)


def _governance_table(runs: list[dict[str, Any]]) -> str:
    codes = sorted({code for r in runs for code in r["governance"]["denied_by_code"]})
    rows: list[list[object]] = [
        ["decisions", *(r["governance"]["decisions"] for r in runs)],
        ["allowed", *(r["governance"]["allowed"] for r in runs)],
        ["denied", *(r["governance"]["denied"] for r in runs)],
        ["budgets that ran dry (quota × metric × window)", *(len(r["governance"]["budgets_ran_dry"]) for r in runs)],
    ]
    rows += [[f"denied: {code}", *(r["governance"]["denied_by_code"].get(code, 0) for r in runs)] for code in codes]
    return _table(["", *(r["label"] for r in runs)], rows)


def _run_governance(run: dict[str, Any]) -> list[str]:
    gov = run["governance"]
    out = [f"<h3>{escape(run['label'])}</h3>"]
    dry = gov["budgets_ran_dry"]
    if dry:
        rows = [
            (d["quota"], d["metric"], d["window"], d["date"], f"{d['available']:,.2f}", d["denied_jobs"])
            for d in dry[:TOP_DRY]
        ]
        out.append(_table(("quota", "metric", "window", "ran dry (first denial)", "left", "jobs denied"), rows))
        if len(dry) > TOP_DRY:
            out.append(f'<p class="note">{len(dry) - TOP_DRY} more in the JSON report.</p>')
    else:
        out.append('<p class="note">No budget ran dry.</p>')
    accounts = sorted(gov["accounts"].items(), key=lambda item: (-item[1]["denied"], item[0]))[:TOP_ACCOUNTS]
    rows2 = [
        (name, a["allowed"], a["denied"], f"{a['charged']['cpu_hours']:,.1f}", f"{a['charged']['cost']:,.2f}")
        for name, a in accounts
    ]
    out.append(_table(("account", "allowed", "denied", "CPU-hours charged", "cost charged"), rows2))
    if run.get("fairness"):
        header, rows3 = fairness_table(run["fairness"])
        out.append(_table(header, rows3))
    out.append(_burn_down(run["label"], gov["burn_down"], {(d["quota"], d["metric"]) for d in dry}))
    return out


def _burn_down(label: str, burn: dict[str, Any], dry: set[tuple[str, str]]) -> str:
    """Available balance as a share of the limit, for the quotas that ran dry first, then the lowest."""
    metrics = ("cpu_hours", "gpu_hours", "cost")
    candidates = []
    for quota_id, entry in burn.items():
        for index, metric in enumerate(metrics):
            limit = entry["limits"].get(metric)
            if not limit:
                continue
            xs = [p[0] for p in entry["points"]]
            ys = [p[index + 1] / limit if p[index + 1] is not None else None for p in entry["points"]]
            lowest = min((y for y in ys if y is not None), default=1.0)
            candidates.append(((quota_id, metric) not in dry, lowest, f"{quota_id} {metric}", xs, ys))
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    lines = [(name, xs, ys) for _, _, name, xs, ys in candidates[:BURN_LINES]]
    return line_chart(f"Budget burn-down: {label}", lines, y_label="available / limit", percent=True, y_max=1.0)

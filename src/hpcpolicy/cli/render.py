"""Human-readable output of decisions, balances and policy test results (``--json`` prints the data).

Everything here must read at 80 columns: ids that run long (``project:protein-lm#monthly``) are headings
on their own line, never a column rich would cut to ``project:…``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from hpcpolicy.engine import Decision, Estimate
from hpcpolicy.engine.forecast import Forecast
from hpcpolicy.engine.rules.quotas import EPSILON
from hpcpolicy.ledger import ScopeBalance
from hpcpolicy.policy.cases import CaseResult
from hpcpolicy.policy.expect import show
from hpcpolicy.service.accounts import ScopeTotals

if TYPE_CHECKING:
    from hpcpolicy.audit.explain import Explanation
    from hpcpolicy.engine.fairshare import Row


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _balance(value: float | None) -> str:
    """A balance after the job: ``over by 7`` where the job does not fit, never a bare ``-7``."""
    if value is not None and value < -EPSILON:
        return f"over by {_num(-value)}"
    return _num(None if value is None else max(value, 0))


def decision(console: Console, d: Decision) -> None:
    verdict = "[bold green]ALLOW[/]" if d.allow else "[bold red]DENY[/]"
    route = f"{d.route.cluster}/{d.route.partition}" if d.route else "none"
    e = d.estimate
    console.print(f"{verdict}  route={route}  project={d.project or '-'}  policy={d.policy_version}")
    if d.route is not None and d.route.reason:
        console.print(f"route: {d.route.reason}", markup=False)
    console.print(_estimate(e))
    for mark, findings in (("[red]✗[/]", d.violations), ("[yellow]![/]", d.warnings)):  # warnings never deny
        for v in findings:
            numbers = ", ".join(
                f"{label} {_num(value)}"
                for label, value in (("limit", v.limit), ("requested", v.requested), ("available", v.available))
                if value is not None
            )
            console.print(f"  {mark} [bold]{v.code}[/]  {v.scope}" + (f"  ({numbers})" if numbers else ""))
            console.print(f"      {v.message}", markup=False)
    for rejected in d.rejected_routes:
        reasons = "; ".join(f"{v.code} ({v.message})" for v in rejected.violations)
        console.print(f"  rejected {rejected.cluster}/{rejected.partition}: {reasons}", markup=False)
    if d.remaining:
        table = Table(title="remaining after this job", title_justify="left")
        metrics = sorted({m for balances in d.remaining.values() for m in balances})
        table.add_column("quota")
        for m in metrics:
            table.add_column(m, justify="right")
        for quota_id, balances in d.remaining.items():
            table.add_row(quota_id, *(_balance(balances.get(m)) for m in metrics))
        console.print(table)


def _estimate(e: Estimate) -> str:
    return (
        f"estimate: {_num(e.cpu_hours)} CPU-h, {_num(e.gpu_hours)} GPU-h, cost {_num(e.cost)}"
        f" over {_num(e.walltime_hours)} h"
    )


def case_results(console: Console, results: list[CaseResult], verbose: bool) -> None:
    """PASS/FAIL per case; a failure lists what differs, then what the decision actually was."""
    for r in results:
        if r.passed:
            if verbose:
                console.print(f"[green]PASS[/] {r.name}")
            continue
        console.print(f"[red]FAIL[/] {r.name}")
        for problem in r.problems:
            console.print(f"     {problem}", markup=False)
        head, *rest = _actual(r)
        console.print(f"     {head}", markup=False)
        for line in rest:
            console.print(f"       {line}", markup=False)
    passed = sum(r.passed for r in results)
    colour = "green" if passed == len(results) else "red"
    console.print(f"[{colour}]PASS: {passed}/{len(results)}[/]")
    if passed != len(results):
        console.print(f"[red]FAIL: {len(results) - passed}/{len(results)}[/]")


def _actual(r: CaseResult) -> list[str]:
    """The decision a failing case got: verdict and route, estimate, every violation and warning with its
    scope and numbers, and the balances of the quotas the case states."""
    d = r.decision
    route = f"{d.route.cluster}/{d.route.partition}" if d.route else "none"
    lines = [f"the decision: allow={d.allow}, route {route}, project {d.project or '-'}", _estimate(d.estimate)]
    lines += [f"violation {show(v)}" for v in d.violations]
    lines += [f"warning {show(w)}" for w in d.warnings]
    for quota_id in r.expect.remaining or {}:
        if (left := d.remaining.get(quota_id)) is not None:
            lines.append(f"remaining {quota_id}: " + ", ".join(f"{m} {_num(v)}" for m, v in left.items()))
    return lines


def balances(console: Console, scope: str, rows: Sequence[ScopeBalance]) -> None:
    """``hpcpolicy usage``: per quota, its id and window as headings, then one row per metric."""
    console.print(f"balances of {scope}", markup=False)
    by_quota: dict[str, list[ScopeBalance]] = {}
    for row in rows:
        by_quota.setdefault(row.quota_id, []).append(row)
    for quota_id, quota_rows in by_quota.items():
        metered = next((r for r in quota_rows if r.window != "now"), quota_rows[0])
        console.print()
        console.print(quota_id, style="bold", markup=False)
        console.print(f"window: {_window(metered.window, metered.window_start, metered.window_end)}", markup=False)
        table = _table("metric", "limit", "charged", "reserved", "available")
        for r in quota_rows:
            count = r.window == "now"  # jobs and GPUs held right now, whatever the window
            values = (_amount(v, count) for v in (r.limit, r.charged, r.reserved, r.available))
            table.add_row(f"{r.metric} now" if count else r.metric, *values)
        console.print(table)
        for r in quota_rows:
            if r.forecast is not None:
                console.print(f"  {r.metric}: {_ahead(r.forecast)}", markup=False)


def _ahead(f: Forecast) -> str:
    """A forecast in words: the burn rate, and when the budget runs dry or what the window ends with."""
    rate = f"burns {_amount(f.rate_per_day)}/day"
    if f.runs_dry_at is not None and f.dry_before_end:
        return f"{rate}, runs dry {f.runs_dry_at:%Y-%m-%d %H:%M} UTC, before the window ends"
    return f"{rate}, ends the window with {_amount(f.balance_at_end)}"


def totals(console: Console, t: ScopeTotals) -> None:
    """``hpcpolicy usage`` of a scope no quota bounds: what it was charged and holds, with no limit."""
    console.print(f"{t.scope} has no quotas in the policy (nothing limits it); its totals:", markup=False)
    console.print(f"charged: {_window(t.window, t.window_start, t.window_end)}; reserved: now", markup=False)
    table = _table("metric", "charged", "reserved")
    for metric in ("cpu_hours", "gpu_hours", "cost"):
        table.add_row(metric, _amount(getattr(t.charged, metric)), _amount(getattr(t.reserved, metric)))
    table.add_row("jobs now", "", _amount(t.active.jobs, count=True))
    table.add_row("gpus now", "", _amount(t.active.gpus, count=True))
    console.print(table)


def _table(first: str, *numbers: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column(first, no_wrap=True)
    for column in numbers:
        table.add_column(column, justify="right", no_wrap=True)
    return table


def _window(label: str, start: datetime, end: datetime) -> str:
    return f"{label} ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC)"


def _amount(value: float | None, count: bool = False) -> str:
    if value is None:
        return "unlimited"
    return f"{value:,.0f}" if count else f"{value:,.2f}"


def explanation(console: Console, found: Explanation) -> None:
    """An auditor's page for one decision: who asked what, the answer then and now, the policy lines."""
    r = found.record
    verdict = "[bold green]ALLOW[/]" if r.allow else "[bold red]DENY[/]"
    console.print(f"decision {r.id} at {r.at.isoformat()} by {r.caller} for user {r.user_id}: {verdict}", markup=True)
    console.print(f"policy {r.policy_version}: {found.policy_source}", markup=False)
    asked = ", ".join(f"{k}={v}" for k, v in r.request.items() if v not in (None, [], {}))
    console.print(f"request: {asked}", markup=False)
    console.print(f"usage: {found.usage_events} usage event(s) sealed before it, replayed", markup=False)
    if found.same:
        console.print("[green]decided again: the same answer[/] (allow, rules, route, estimate)")
    else:
        console.print("[bold red]decided again: a different answer[/]")
        for line in found.differences:
            console.print(f"  - {line}", markup=False)
    for violation, excerpt in found.excerpts:
        numbers = ", ".join(f"{k} {_num(violation.get(k))}" for k in ("limit", "requested", "available")
                            if violation.get(k) is not None)  # fmt: skip
        console.print(f"\n[red]✗[/] [bold]{violation.get('code')}[/]  {violation.get('scope')}  ({numbers})")
        console.print(f"  {violation.get('message')}", markup=False)
        if excerpt is None:
            console.print("  (no policy text names this scope)", markup=False)
            continue
        console.print(f"  policy lines {excerpt.first}-{excerpt.last}:", markup=False)
        for number, line in enumerate(excerpt.text.splitlines(), excerpt.first):
            console.print(f"  {number:5d} | {line}", markup=False, soft_wrap=True)
    for note in found.notes:
        console.print(f"note: {note}", style="yellow", markup=False)


def fairshare(console: Console, rows: Sequence[Row]) -> None:
    """``hpcpolicy fairshare``: the tree in walk order as ``sshare`` prints it. Associations run long
    (``project:protein-lm/user:carol``), so each is a heading indented by depth, its numbers on the line
    below: shares raw/normalised, usage raw/effective, level fair share, and a user's factor."""
    console.print("association\n  shares (norm)  usage (effective)  level FS  factor", style="bold", markup=False)
    for r in rows:
        level = "inf" if r.level_fs == float("inf") else f"{r.level_fs:.4g}"
        factor = "" if r.factor is None else f"  {r.factor:.6f}"
        indent = "  " * r.depth
        console.print(f"{indent}{r.scope}", markup=False, soft_wrap=True)
        console.print(f"{indent}  {_num(r.raw_shares)} ({r.norm_shares:.4f})  {_num(r.raw_usage)} "
                      f"({r.norm_usage:.4f})  {level}{factor}", markup=False)  # fmt: skip

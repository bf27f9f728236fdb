"""Human-readable output of decisions and policy test results (the ``--json`` form is ``to_dict()``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hpcpolicy.engine import Decision
from hpcpolicy.engine.rules.quotas import EPSILON
from hpcpolicy.policy.cases import CaseResult


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
    console.print(
        f"estimate: {_num(e.cpu_hours)} CPU-h, {_num(e.gpu_hours)} GPU-h, cost {_num(e.cost)}"
        f" over {_num(e.walltime_hours)} h"
    )
    for v in d.violations:
        numbers = ", ".join(
            f"{label} {_num(value)}"
            for label, value in (("limit", v.limit), ("requested", v.requested), ("available", v.available))
            if value is not None
        )
        console.print(f"  [red]✗[/] [bold]{v.code}[/]  {v.scope}" + (f"  ({numbers})" if numbers else ""))
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


def case_results(console: Console, results: list[CaseResult], verbose: bool) -> None:
    for r in results:
        if r.passed:
            if verbose:
                console.print(f"[green]PASS[/] {r.name}")
            continue
        console.print(f"[red]FAIL[/] {r.name}")
        for problem in r.problems:
            console.print(f"     {problem}", markup=False)
    passed = sum(r.passed for r in results)
    colour = "green" if passed == len(results) else "red"
    console.print(f"[{colour}]PASS: {passed}/{len(results)}[/]")
    if passed != len(results):
        console.print(f"[red]FAIL: {len(results) - passed}/{len(results)}[/]")

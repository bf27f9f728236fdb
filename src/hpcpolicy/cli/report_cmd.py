"""``hpcpolicy report chargeback``: a month's chargeback report from the ledger, as JSON, CSV or HTML.

Arguments are checked before the ledger is opened: a bad month, date or project is a usage error (exit 2)
that says what was expected; an unreachable ledger is exit 1.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hpcpolicy.atomicfile import write_atomically
from hpcpolicy.cli.common import fail
from hpcpolicy.cli.service_cmds import DataDirOpt, DbOpt, PolicyOpt, governance_from, settings_from
from hpcpolicy.engine.limits import ident_problem
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.reports import Period, days, month
from hpcpolicy.reports.formats import render

app = typer.Typer(help="Reports over the ledger (docs/reports.md).", no_args_is_help=True)


class Format(StrEnum):
    json = "json"
    csv = "csv"
    html = "html"


@app.command("chargeback")
def chargeback(
    period: Annotated[str | None, typer.Option(help="The calendar month, UTC: YYYY-MM.")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD, UTC), with --to.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day, included (YYYY-MM-DD, UTC).")] = None,
    project: Annotated[str | None, typer.Option(help="This project only.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.json,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    policy: PolicyOpt = None,
    database_url: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Per org, team, project and user: actual CPU- and GPU-hours (per GPU type), cost as charged and
    adjustments, with subtotals and a grand total, for one month (or --from/--to days) in UTC."""
    span = _period(period, first, last)
    if project is not None and (problem := ident_problem(project)) is not None:
        raise typer.BadParameter(f"not a project name: {problem}", param_hint="--project")
    settings = settings_from(policy=policy, database_url=database_url, data_dir=data_dir)
    gov = governance_from(settings, migrate=False, distribute=False)
    try:
        report = gov.reports.chargeback(span, project)
    except LedgerUnavailable as exc:
        fail(str(exc))
    text = render(report, fmt.value, gov.ctx.clock()).decode()
    if output is None:
        typer.echo(text, nl=fmt is not Format.csv)  # CSV rows end in CRLF already
        return
    try:
        write_atomically(output, text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")


def _period(period: str | None, first: str | None, last: str | None) -> Period:
    """The period asked for, or a usage error (exit 2) naming the option."""
    try:
        if period is not None and first is None and last is None:
            return month(period)
        if period is None and first is not None and last is not None:
            return days(first, last)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period" if period is not None else "--from/--to") from None
    raise typer.BadParameter("give --period YYYY-MM, or --from and --to (YYYY-MM-DD), not both",
                             param_hint="--period")  # fmt: skip

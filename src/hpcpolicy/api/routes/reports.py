"""``GET /v1/reports/chargeback``: a month's (or some days') chargeback report as JSON, CSV or HTML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from hpcpolicy.api.deps import CallerDep, GovernanceDep, ReadOffloadDep
from hpcpolicy.api.report_dto import ChargebackOut, Day, Month
from hpcpolicy.auth import Caller, Forbidden
from hpcpolicy.engine.limits import Ident
from hpcpolicy.reports import Period, days, month
from hpcpolicy.reports.formats import MEDIA_TYPES, Format, filename, render
from hpcpolicy.service import Governance, InvalidInput
from hpcpolicy.service.viewer import Viewer

router = APIRouter(prefix="/v1/reports", tags=["reports"])

_OTHER_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChargebackOut,
        "description": "The report: JSON (default), CSV (a row per node, as an attachment) or a standalone HTML page",
        "content": {
            "application/json": {},  # the model's schema (listed first: the default format)
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/chargeback", response_class=Response, responses=_OTHER_FORMATS)
async def chargeback(
    gov: GovernanceDep,
    who: CallerDep,
    run: ReadOffloadDep,
    period: Annotated[Month | None, Query(description="The calendar month, UTC: YYYY-MM", examples=["2026-10"])] = None,
    first: Annotated[Day | None, Query(alias="from", description="First day (YYYY-MM-DD, UTC), with `to`")] = None,
    last: Annotated[Day | None, Query(alias="to", description="Last day, included (YYYY-MM-DD, UTC)")] = None,
    project: Annotated[Ident | None, Query(description="This project only (what a member may ask)")] = None,
    format: Annotated[Format, Query(description="json, csv or html")] = "json",
) -> Response:
    """Per org, team, project and user: actual CPU- and GPU-hours (per GPU type), cost as charged, and
    adjustments, with subtotals and a grand total (docs/reports.md). Admins and gateways may ask for
    everything; a user for a project they are a member of (``project=``)."""
    span = _period(period, first, last)
    _authorise(gov, who, project)
    report = await run(gov.reports.chargeback, span, project)
    body = render(report, format, gov.ctx.clock())
    headers = {"Content-Disposition": f'attachment; filename="{filename(report, format)}"'} if format == "csv" else None
    return Response(body, media_type=MEDIA_TYPES[format], headers=headers)


def _period(period: str | None, first: str | None, last: str | None) -> Period:
    if period is not None and first is None and last is None:
        return month(period)
    if period is None and first is not None and last is not None:
        try:
            return days(first, last)
        except ValueError as exc:
            raise InvalidInput(str(exc), [("query.to", str(exc))]) from None
    problem = "give period=YYYY-MM, or from and to (YYYY-MM-DD), not both"
    raise InvalidInput(problem, [("query.period", problem)])


def _authorise(gov: Governance, who: Caller, project: str | None) -> None:
    """Admins and gateways see everything; a user only a project they may charge."""
    if who.trusted:
        return
    if project is None:
        raise Forbidden(f"{who.describe()} may read the chargeback report of their own projects only: add project=")
    if not Viewer.of(who).may_read(f"project:{project}", gov.ctx.policies.current.snapshot):
        raise Forbidden(f"{who.describe()} may not read the chargeback report of project {project}")

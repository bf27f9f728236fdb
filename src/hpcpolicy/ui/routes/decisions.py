"""``/ui/decisions`` (the decision explorer) and ``/ui/decisions/{id}`` (one decision and its rules' text)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import Query
from starlette.responses import Response

from hpcpolicy.auth import Forbidden
from hpcpolicy.engine.limits import EARLIEST, LATEST, MAX_ID_LENGTH, MAX_SCOPE_LENGTH, ident_problem
from hpcpolicy.reports.period import day
from hpcpolicy.service import InvalidInput
from hpcpolicy.service.explorer import CODES, DecisionExplorer, DecisionQuery
from hpcpolicy.ui import pages
from hpcpolicy.ui.formats import query as query_string

router = pages.router()
PAGE_SIZE = 50
_ANSWER = {"any": None, "allowed": True, "denied": False}
Name = Annotated[str | None, Query(max_length=MAX_ID_LENGTH)]


@router.get("/decisions", include_in_schema=False)
async def explorer(
    page: pages.PageDep,
    user: Name = None,
    project: Name = None,
    scope: Annotated[str | None, Query(max_length=MAX_SCOPE_LENGTH)] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    answer: Literal["any", "allowed", "denied"] = "any",
    since_text: Annotated[str | None, Query(alias="since", max_length=10)] = None,
    until_text: Annotated[str | None, Query(alias="until", max_length=10)] = None,
    before: Annotated[str | None, Query(max_length=MAX_ID_LENGTH + 40)] = None,
) -> Response:
    """``since``/``until``: UTC days, both included; ``before``: where the previous page stopped."""
    user, project, scope, code = (v.strip() or None if v is not None else None for v in (user, project, scope, code))
    since, until = _day(since_text, "since"), _day(until_text, "until")
    if project is not None and scope is not None:
        raise InvalidInput("give a project or a scope, not both")
    query = DecisionQuery(
        user=user,
        scope=f"project:{project}" if project is not None else scope,
        code=code,
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until, time(), UTC) + timedelta(days=1) if until else None,
        allow=_ANSWER[answer],
    )
    explorer = DecisionExplorer(page.gov.ctx)
    found = await page.run(explorer.search, query, page.viewer, PAGE_SIZE, _cursor(before))
    form = {"user": user or "", "project": project or "", "scope": scope or "", "code": code or "", "answer": answer,
            "since": since.isoformat() if since else "", "until": until.isoformat() if until else ""}  # fmt: skip
    older = None
    if found.more is not None:
        older = "/ui/decisions?" + query_string({**form, "before": f"{found.more[0].isoformat()}~{found.more[1]}"})
    return await page.render("decisions.html", section="decisions", found=found, form=form, older=older, codes=CODES,
                             first=before is None)  # fmt: skip


@router.get("/decisions/{decision_id}", include_in_schema=False)
async def decision(page: pages.PageDep, decision_id: str) -> Response:
    explorer = DecisionExplorer(page.gov.ctx)
    record = await page.run(explorer.record, decision_id)
    if not page.viewer.sees(record, page.snapshot):
        raise Forbidden(f"{page.who.describe()} may not read decision {record.id}: it is another user's")
    explained = await page.run(explorer.explain, record)
    return await page.render("decision.html", section="decisions", d=explained, body=record.decision)


def _day(text: str | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` field within the ledger's dates (as the chargeback report's), or a 400 naming it."""
    if not text:
        return None
    try:
        return day(text)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def _cursor(text: str | None) -> tuple[datetime, str] | None:
    """``<ISO time>~<decision id>`` (what the page's "older" link carries) as a listing cursor."""
    if not text:
        return None
    at, sep, last = text.partition("~")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if moment is not None and not moment.tzinfo:
        moment = moment.replace(tzinfo=UTC)
    if not sep or moment is None or not EARLIEST <= moment < LATEST or ident_problem(last) is not None:
        raise InvalidInput("before: not a place in the list (follow the page's 'older' link)")
    return moment, last

"""``/ui/`` (every budget the viewer may see, at risk first) and ``/ui/scopes/{scope}`` (one scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from starlette.responses import Response

from hpcpolicy.auth import Forbidden
from hpcpolicy.engine.limits import MAX_SCOPE_LENGTH, ident_problem
from hpcpolicy.service import NotFound
from hpcpolicy.service import overview as views
from hpcpolicy.ui import budgets, pages

router = pages.router()
#: Quotas listed per overview page (budgets at risk always come first, and the alerts list them all).
PAGE_SIZE = 200
#: Alerts named at the top of the overview; the rest are counted and one click away.
MAX_ALERTS = 20
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]


@router.get("/", include_in_schema=False)
async def overview(
    page: pages.PageDep,
    q: Text = None,
    risk: Annotated[int, Query(ge=0, le=1)] = 0,
    n: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    as_of, standings = await page.run(views.budgets, page.gov, page.viewer, page.now)
    alerts = budgets.alerts(standings)
    needle = (q or "").strip().lower()
    shown = [s for s in standings if needle in s.scope.lower() and (not risk or s.at_risk)]
    pages_total = max((len(shown) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    rows = shown[(n - 1) * PAGE_SIZE : n * PAGE_SIZE]
    return await page.render("overview.html", section="overview", rows=rows, total=len(standings), as_of=as_of,
                             matching=len(shown), alerts=alerts[:MAX_ALERTS], q=q or "", risk=risk, n=n,
                             more_alerts=max(len(alerts) - MAX_ALERTS, 0), pages_total=pages_total)  # fmt: skip


@router.get("/scopes/{scope:path}", include_in_schema=False)
async def scope_page(page: pages.PageDep, scope: str) -> Response:
    if ident_problem(scope, MAX_SCOPE_LENGTH) is not None or scope.partition(":")[0] not in ("user", "project",
                                                                                             "team", "org"):
        raise NotFound("no such scope: a scope is user:, project:, team: or org: and a name")
    if not page.viewer.may_read(scope, page.snapshot):
        raise Forbidden(f"{page.who.describe()} may not read {scope}: only its members and admins may")
    view = await page.run(views.scope_view, page.gov, page.viewer, scope, page.now)
    charts = {s.quota_id: budgets.burn_charts(s, view.burn[s.quota_id], page.now) for s in view.quotas}
    kind, _, name = scope.partition(":")
    parents = page.snapshot.project_parents.get(name) if kind == "project" else None
    return await page.render("scope.html", section="overview", view=view, charts=charts,
                             alerts=budgets.alerts(view.quotas), parents=parents)  # fmt: skip

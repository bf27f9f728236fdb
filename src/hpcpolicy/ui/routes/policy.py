"""``/ui/policy`` (the active policy and its revisions) and ``/ui/policy/revisions/{id}`` (what one changed).

Admins only, as ``GET /v1/policy``: the policy names every user, project and role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.responses import Response

from hpcpolicy.auth import require_admin
from hpcpolicy.service.policy_history import PolicyHistory
from hpcpolicy.ui import pages

router = pages.router()
HISTORY = 100


@router.get("/policy", include_in_schema=False)
async def policy(page: pages.PageDep) -> Response:
    require_admin(page.who)
    history = PolicyHistory(page.gov.ctx)
    entries = await page.run(history.entries, HISTORY)
    active = page.gov.ctx.policies.current
    return await page.render("policy.html", section="policy", active=active, entries=entries,
                             available=history.available)  # fmt: skip


@router.get("/policy/revisions/{revision_id}", include_in_schema=False)
async def revision(page: pages.PageDep, revision_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    require_admin(page.who)
    diff = await page.run(PolicyHistory(page.gov.ctx).diff, revision_id)
    return await page.render("revision.html", section="policy", diff=diff)

"""``GET /v1/fairshare``: the fair-share tree as ``sshare`` shows it (docs/policy.md, Fair share)."""

from __future__ import annotations

import math

from fastapi import APIRouter

from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep
from hpcpolicy.api.dto import FairShareOut, FairShareRowOut
from hpcpolicy.engine.fairshare import Row

router = APIRouter(prefix="/v1", tags=["accounts"])


@router.get("/fairshare", response_model=FairShareOut)
async def fairshare(gov: GovernanceDep, who: CallerDep, run: OffloadDep) -> FairShareOut:
    """Every association (org, team, project, user in a project) in Fair Tree order: raw and normalised
    shares and usage, level fair share, and each user's factor. Admins and gateways see the whole tree, a
    user their own associations and the accounts above them."""
    now = gov.ctx.clock()
    rows = await run(gov.fairshare.tree, now)
    if not who.trusted:
        rows = gov.fairshare.visible(rows, who.subject, who.groups)
    return FairShareOut(at=now, rows=[_row(r) for r in rows])


def _row(r: Row) -> FairShareRowOut:
    level = None if math.isinf(r.level_fs) else r.level_fs  # JSON has no infinity
    return FairShareRowOut(scope=r.scope, depth=r.depth, raw_shares=r.raw_shares, norm_shares=r.norm_shares,
                           raw_usage=r.raw_usage, norm_usage=r.norm_usage, level_fs=level, factor=r.factor)

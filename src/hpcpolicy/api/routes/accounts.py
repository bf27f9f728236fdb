"""``GET /v1/usage?scope=…`` (balances) and ``POST /v1/adjustments`` (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hpcpolicy.api.deps import AdminDep, CallerDep, GovernanceDep, OffloadDep
from hpcpolicy.api.dto import AdjustmentIn, AdjustmentOut, BalanceOut, UsageOut
from hpcpolicy.auth import Forbidden
from hpcpolicy.engine import Amounts
from hpcpolicy.engine.limits import Scope
from hpcpolicy.service.viewer import Viewer

router = APIRouter(prefix="/v1", tags=["accounts"])


@router.get("/usage", response_model=UsageOut)
async def usage(
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    scope: Annotated[
        Scope | None, Query(description="user:<id>, project:<name>, team:<name> or org:<name>")
    ] = None,
) -> UsageOut:
    """Balances per quota of a scope (default: the caller's own user scope), with each budget's burn rate
    and the day it runs dry at that rate."""
    scope = scope or f"user:{who.subject}"
    if not Viewer.of(who).may_read(scope, gov.ctx.policies.current.snapshot):
        raise Forbidden(f"{who.describe()} may not read {scope}")
    now = gov.ctx.clock()
    balances = await run(gov.standings.balances, scope, now)
    return UsageOut(scope=scope, at=now, balances=[BalanceOut.of(b) for b in balances])


@router.post("/adjustments", response_model=AdjustmentOut, status_code=201)
async def adjust(body: AdjustmentIn, gov: GovernanceDep, who: AdminDep, run: OffloadDep) -> AdjustmentOut:
    """Grant, refund, deposit (give budget back) or debit (take it), with a reason; the author is the caller."""
    amounts = Amounts(body.cpu_hours, body.gpu_hours, body.cost)
    adjustment = await run(
        lambda: gov.accounts.adjust(body.scope, body.kind, amounts, body.reason, who.principal, body.idempotency_key)
    )
    a = adjustment.amounts
    return AdjustmentOut(
        id=adjustment.id,
        scope=adjustment.scope,
        kind=adjustment.kind.value,
        cpu_hours=a.cpu_hours,
        gpu_hours=a.gpu_hours,
        cost=a.cost,
        reason=adjustment.reason,
        author=adjustment.author,
        at=adjustment.at,
    )

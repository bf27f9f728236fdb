"""``GET /ready``: 200 when the ledger answers and a policy is loaded, else 503 naming what is wrong.

Redis is reported but does not make a replica unready: without it, policy changes still arrive by polling.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from hpcpolicy.api.deps import GovernanceDep, OffloadDep
from hpcpolicy.ledger.base import LedgerUnavailable

router = APIRouter(tags=["health"])


@router.get("/ready")
async def ready(gov: GovernanceDep, run: OffloadDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await run(gov.ctx.ledger.ping)
        checks["database"] = "ok"
    except LedgerUnavailable as exc:
        checks["database"] = f"unavailable: {exc}"
    active = gov.ctx.policies.current
    checks["policy"] = f"loaded {active.loaded.version}"
    body: dict[str, object] = {"checks": checks}
    if (sync := gov.ctx.policies.distribution) is not None:
        distribution = sync.status()
        checks["redis"] = str(distribution["redis"])  # informative: without Redis, replicas converge by polling
        body["policy_distribution"] = distribution
    ok = checks["database"] == "ok"
    body["status"] = "ready" if ok else "unavailable"
    return JSONResponse(body, status_code=200 if ok else 503)

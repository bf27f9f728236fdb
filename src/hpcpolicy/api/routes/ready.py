"""``GET /ready``: 200 when the ledger answers and a policy is loaded, else 503 naming what is wrong."""

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
    ok = checks["database"] == "ok"
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

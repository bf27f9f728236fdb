"""``GET /v1/alerts``: fired budget alerts with their delivery state (docs/alerts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep
from hpcpolicy.auth import Forbidden
from hpcpolicy.engine.limits import Scope
from hpcpolicy.ledger.alerts import FiredAlert
from hpcpolicy.service.viewer import Viewer

router = APIRouter(prefix="/v1", tags=["alerts"])


class DeliveryOut(BaseModel):
    channel: str  # email | webhook
    recipient: str  # an address, or the webhook's name
    state: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


class AlertOut(BaseModel):
    id: str
    rule: str
    scope: str
    subject: str
    condition: str
    window_start: datetime
    fired_at: datetime
    summary: str
    details: dict[str, Any]
    deliveries: list[DeliveryOut]


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


@router.get("/alerts", response_model=AlertsOut)
async def alerts(
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    scope: Annotated[Scope | None, Query(description="only this scope's alerts (user:, project:, team:, org:)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertsOut:
    """The latest alerts, newest first: every scope's for gateways and admins; a user's own scopes' (their
    user scope and the projects they may charge), as for ``/v1/usage``."""
    viewer, snapshot = Viewer.of(who), gov.ctx.policies.current.snapshot
    if scope is not None:
        if not viewer.may_read(scope, snapshot):
            raise Forbidden(f"{who.describe()} may not read {scope}")
        scopes: list[str] | None = [scope]
    elif viewer.everything or viewer.user is not None:
        scopes = viewer.scopes(snapshot)
    else:
        raise Forbidden(f"{who.describe()} may not read alerts")
    found = await run(gov.alerts.fired, scopes, limit)
    return AlertsOut(alerts=[_out(fired) for fired in found])


def _out(fired: FiredAlert) -> AlertOut:
    a = fired.alert
    deliveries = [DeliveryOut(channel=d.channel, recipient=d.recipient, state=d.state.value, attempts=d.attempts,
                              next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at,
                              last_error=d.last_error) for d in fired.deliveries]  # fmt: skip
    return AlertOut(id=a.id, rule=a.rule, scope=a.scope, subject=a.subject, condition=a.condition,
                    window_start=a.window_start, fired_at=a.fired_at, summary=a.summary, details=a.details,
                    deliveries=deliveries)  # fmt: skip

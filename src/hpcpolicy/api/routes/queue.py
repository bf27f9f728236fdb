"""``GET /v1/queue``: the requests waiting in the admission queue, in the order they will be admitted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep
from hpcpolicy.api.dto import QueueOut
from hpcpolicy.auth import Forbidden
from hpcpolicy.engine.limits import Ident

router = APIRouter(prefix="/v1", tags=["decisions"])


class WaitingOut(BaseModel):
    decision_id: str
    user_id: str
    project: str | None
    service: str | None
    caller: str
    estimate: dict[str, float]
    queue: QueueOut


class QueueListOut(BaseModel):
    at: datetime
    waiting: list[WaitingOut]


@router.get("/queue", response_model=QueueListOut)
async def waiting(
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    user: Annotated[Ident | None, Query(description="Only this user's held requests")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> QueueListOut:
    """Held requests in admission order (``squeue``-like): each with its priority, what holds it, and (for
    the whole queue) its position among the requests held by the same limits. Admins and gateways see every
    user's, a user only their own."""
    if not who.trusted:
        if user is not None and user != who.subject:
            raise Forbidden(f"{who.describe()} may not read the queue of user {user}")
        user = who.subject
    rows = await run(gov.queue.waiting, user, limit)
    out = []
    for row in rows:
        e = row.entry
        queue = QueueOut(position=row.position, priority=row.priority, blocked_by=list(e.blocked_by), held_at=e.at,
                         expires_at=e.expires_at)  # fmt: skip
        out.append(WaitingOut(decision_id=e.id, user_id=e.user_id, project=e.project, service=e.service,
                              caller=e.caller, estimate=e.decision.get("estimate", {}), queue=queue))  # fmt: skip
    return QueueListOut(at=gov.ctx.clock(), waiting=out)

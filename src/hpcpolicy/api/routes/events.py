"""``GET /v1/events``: the sealed audit log, paged by sequence number (docs/design/audit.md).

Admins and trusted gateways read every event; a user reads the events of their own scope, or of a project
they may charge (as ``GET /v1/usage``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep
from hpcpolicy.api.dto import EventsOut
from hpcpolicy.auth import Forbidden
from hpcpolicy.engine.limits import Ident, Scope
from hpcpolicy.service.viewer import Viewer

router = APIRouter(prefix="/v1", tags=["audit"])

#: Event types are short dotted words; a filter longer than this names none.
_TYPE_LENGTH = 64


@router.get("/events", response_model=EventsOut)
async def events(
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Read events after this sequence number")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type: Annotated[
        list[Annotated[str, Query(max_length=_TYPE_LENGTH)]] | None,
        Query(description="Only these types (repeat the parameter), e.g. hpcpolicy.lien.expired"),
    ] = None,
    scope: Annotated[Scope | None, Query(description="Only events concerning this scope")] = None,
    user: Annotated[Ident | None, Query(description="Only events concerning this user or caused by them")] = None,
) -> EventsOut:
    """Sealed events after ``after``, oldest first, at most ``limit``; ``after`` in the answer reads on."""
    if not who.trusted:
        if user is not None and user != who.subject:
            raise Forbidden(f"{who.describe()} may not read the events of user {user}")
        scope = scope or (None if user is not None else f"user:{who.subject}")
        if scope is not None and not Viewer.of(who).may_read(scope, gov.ctx.policies.current.snapshot):
            raise Forbidden(f"{who.describe()} may not read the events of {scope}")
        if who.kind != "user":
            raise Forbidden(f"{who.describe()} may not read events")
    found = await run(gov.audit.events, after, limit, tuple(type or ()), scope, user)
    last = found[-1].seq if found else None
    return EventsOut(events=[e.cloudevent() for e in found], after=last if last is not None else after)

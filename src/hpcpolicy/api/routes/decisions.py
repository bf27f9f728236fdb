"""``POST /v1/decisions`` (evaluate, reserve, or wait in the admission queue), ``GET /v1/decisions/{id}``
(with ``?wait=`` to long-poll a held request), its event stream, and ``DELETE`` to withdraw a held request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep, identity
from hpcpolicy.api.dto import DecisionIn, DecisionOut, DecisionRecordOut, IdentPath, QueueOut
from hpcpolicy.api.hot import answer
from hpcpolicy.api.queue_worker import Waiters
from hpcpolicy.auth import Caller, Forbidden
from hpcpolicy.engine.limits import Ident
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service import Governance
from hpcpolicy.service.errors import Conflict, NotFound
from hpcpolicy.service.holding import Hold
from hpcpolicy.service.queue_view import Standing

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])

#: The longest a long-poll may wait (a proxy's idle timeout is usually 60 s).
MAX_WAIT_SECONDS = 55.0
#: A comment line this often keeps an idle event stream open through proxies.
HEARTBEAT_SECONDS = 15.0


@router.post("", response_model=DecisionOut, responses={202: {"model": DecisionOut}})
async def decide(
    body: DecisionIn,
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    idempotency_key: Annotated[Ident | None, Header()] = None,  # checked as the body's key (not empty)
) -> Response:
    """Evaluate a workload. ``reserve: true`` takes a lien on admission; ``dry_run: true`` writes nothing;
    ``queue: true`` waits (HTTP 202, ``status: queued``) instead of being denied when only concurrency caps
    refuse the request.

    A retry with the same ``Idempotency-Key`` (header or body) returns the first answer and reserves
    nothing more.
    """
    user_id, roles, groups = identity(who, gov, body.user_id, body.roles, body.groups)
    if body.job_id is not None and not who.may_report_usage:
        # A job id binds the lien to a scheduler job whose reports it will then receive: a usage fact.
        raise Forbidden(f"{who.describe()} may not attach a scheduler job id (needs the 'report' scope)")
    request = body.to_request(user_id, roles, groups)
    hold = None
    if body.queue and not body.dry_run:
        ttl = timedelta(seconds=body.queue_ttl_seconds) if body.queue_ttl_seconds is not None else None
        hold = Hold(ttl, body.callback_url).checked(gov.ctx.queue)
    try:
        # A decision acts on nothing after its writes but its answer: it may share a commit (group commit).
        # A held request wakes the queue's dispatcher, which must find it committed: it commits on its own.
        outcome = await (run if hold is not None else run.grouped)(
            lambda: gov.decide(
                request,
                who.principal,
                reserve=body.reserve,
                dry_run=body.dry_run,
                key=body.idempotency_key or idempotency_key,
                job_id=body.job_id,
                hold=hold,
            )
        )
    except LedgerUnavailable as exc:
        outcome = gov.decide_fail_open(request, exc)  # re-raises (503) unless the partition fails open
    queue = None
    if outcome.held is not None:
        queue = _queue_out(await run(gov.queue.standing, outcome.held))
    status = "queued" if outcome.held is not None else "allowed" if outcome.allow else "denied"
    out = DecisionOut(
        status=status,
        decision_id=outcome.decision_id,
        lien_id=outcome.lien_id,
        replayed=outcome.replayed,
        recorded=outcome.recorded,
        at=outcome.at,
        queue=queue,
        **outcome.decision,
    )
    return answer(out, 202 if queue else 200)  # a hot route (hpcpolicy.api.hot)


@router.get("/{decision_id}", response_model=DecisionRecordOut)
async def get_decision(
    decision_id: IdentPath,
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    request: Request,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)] = 0,
) -> DecisionRecordOut:
    """A stored decision: its request, answer, policy version, caller and time; or a held request with its
    place in the queue. ``wait=30``: if it is still held, answer when it is resolved or after 30 s."""
    waiters: Waiters = request.app.state.waiters
    deadline = time.monotonic() + wait
    while True:
        found = await run(_lookup, gov, decision_id, who)
        left = deadline - time.monotonic()
        if found.status != "queued" or left <= 0:
            return found
        await waiters.wait(decision_id, min(left, 1.0))


_EVENT_STREAM = {
    "description": "Server-sent events until the request is resolved",
    "content": {"text/event-stream": {"schema": {"description": "event: <status>; data: GET /v1/decisions/{id}"}}},
}


@router.get("/{decision_id}/events", response_class=StreamingResponse, responses={200: _EVENT_STREAM})
async def decision_events(
    decision_id: IdentPath, gov: GovernanceDep, who: CallerDep, run: OffloadDep, request: Request
) -> StreamingResponse:
    """Server-sent events of a held request: ``queued`` whenever its position changes, then one of
    ``admitted``, ``denied``, ``cancelled``, ``expired`` (or ``allowed``/``denied`` for a decision made at
    once), after which the stream ends. Each event's data is the JSON of ``GET /v1/decisions/{id}``."""
    waiters: Waiters = request.app.state.waiters
    first = await run(_lookup, gov, decision_id, who)  # 404 and 403 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        found, sent, quiet = first, None, time.monotonic()
        while True:
            shown = (found.status, found.queue.position if found.queue else None)
            if shown != sent:
                sent, quiet = shown, time.monotonic()
                yield b"event: " + found.status.encode() + b"\ndata: " + found.model_dump_json().encode() + b"\n\n"
            if found.status != "queued":
                return
            if time.monotonic() - quiet >= HEARTBEAT_SECONDS:
                quiet = time.monotonic()
                yield b": still queued\n\n"
            if await request.is_disconnected():
                return
            await waiters.wait(decision_id, 1.0)
            found = await run(_lookup, gov, decision_id, who)

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.delete("/{decision_id}", response_model=DecisionRecordOut)
async def cancel(decision_id: IdentPath, gov: GovernanceDep, who: CallerDep, run: OffloadDep) -> DecisionRecordOut:
    """Withdraw a held request (its owner, the caller that sent it, or an admin). A request already admitted
    is a job: cancel it with ``POST /v1/jobs/{id}/cancel``."""
    entry = await run(gov.held, decision_id)
    if entry is None:
        raise NotFound(f"no held request {decision_id}")
    _check_reader(who, entry.user_id, entry.caller)
    if await run(gov.cancel_held, decision_id, who.principal) is None:
        current = await run(_lookup, gov, decision_id, who)
        raise Conflict(f"request {decision_id} is no longer queued: {current.status}")
    return await run(_lookup, gov, decision_id, who)


def _lookup(gov: Governance, decision_id: str, who: Caller) -> DecisionRecordOut:
    """``GET /v1/decisions/{id}``'s answer: 404 for an unknown id, 403 for another user's."""
    found = gov.lookup(decision_id)
    _check_reader(who, *found.owner)
    queue = _queue_out(found.standing) if found.standing is not None else None
    record, status = found.record, found.status
    if record is not None:
        return DecisionRecordOut(status=status, decision_id=record.id, at=record.at, caller=record.caller,
                                 user_id=record.user_id, allow=record.allow, policy_version=record.policy_version,
                                 lien_id=record.lien_id, request=record.request, decision=record.decision,
                                 queue=queue)  # fmt: skip
    assert found.standing is not None
    entry = found.standing.entry
    return DecisionRecordOut(status=status, decision_id=entry.id, at=entry.at, caller=entry.caller,
                             user_id=entry.user_id, allow=False,
                             policy_version=str(entry.decision.get("policy_version", "")), lien_id=None,
                             request=entry.request, decision=entry.decision, queue=queue)  # fmt: skip


def _check_reader(who: Caller, user_id: str, caller: str) -> None:
    if not who.speaks_for(user_id, caller):
        raise Forbidden("this decision belongs to another user")


def _queue_out(standing: Standing) -> QueueOut:
    entry = standing.entry
    return QueueOut(position=standing.position, priority=standing.priority, blocked_by=list(entry.blocked_by),
                    held_at=entry.at, expires_at=entry.expires_at, resolved_at=entry.resolved_at)  # fmt: skip


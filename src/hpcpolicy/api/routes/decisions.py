"""``POST /v1/decisions`` (evaluate, optionally reserve) and ``GET /v1/decisions/{id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep, identity
from hpcpolicy.api.dto import DecisionIn, DecisionOut, DecisionRecordOut, IdentPath
from hpcpolicy.auth import Forbidden
from hpcpolicy.ledger.base import LedgerUnavailable

router = APIRouter(prefix="/v1/decisions", tags=["decisions"])


@router.post("", response_model=DecisionOut)
async def decide(
    body: DecisionIn,
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    idempotency_key: Annotated[str | None, Header(max_length=191)] = None,
) -> Response:
    """Evaluate a workload. ``reserve: true`` takes a lien on admission; ``dry_run: true`` writes nothing.

    A retry with the same ``Idempotency-Key`` (header or body) returns the first answer and reserves
    nothing more.
    """
    user_id, roles, groups = identity(who, gov, body.user_id, body.roles, body.groups)
    if body.job_id is not None and not who.may_report_usage:
        # A job id binds the lien to a scheduler job whose reports it will then receive: a usage fact.
        raise Forbidden(f"{who.describe()} may not attach a scheduler job id (needs the 'report' scope)")
    request = body.to_request(user_id, roles, groups)
    try:
        outcome = await run(
            lambda: gov.decide(
                request,
                who.principal,
                reserve=body.reserve,
                dry_run=body.dry_run,
                key=body.idempotency_key or idempotency_key,
                job_id=body.job_id,
            )
        )
    except LedgerUnavailable as exc:
        outcome = gov.decide_fail_open(request, exc)  # re-raises (503) unless the partition fails open
    out = DecisionOut(
        decision_id=outcome.decision_id,
        lien_id=outcome.lien_id,
        replayed=outcome.replayed,
        recorded=outcome.recorded,
        at=outcome.at,
        **outcome.decision,
    )
    # Serialized here, once: returned as a model, FastAPI would validate it a second time (hot path).
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("/{decision_id}", response_model=DecisionRecordOut)
async def get_decision(
    decision_id: IdentPath, gov: GovernanceDep, who: CallerDep, run: OffloadDep
) -> DecisionRecordOut:
    """A stored decision: its request, answer, policy version, caller and time."""
    record = await run(gov.get_decision, decision_id)
    if not who.speaks_for(record.user_id, record.caller):
        raise Forbidden("this decision belongs to another user")
    return DecisionRecordOut(
        decision_id=record.id,
        at=record.at,
        caller=record.caller,
        user_id=record.user_id,
        allow=record.allow,
        policy_version=record.policy_version,
        lien_id=record.lien_id,
        request=record.request,
        decision=record.decision,
    )

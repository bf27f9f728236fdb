"""The original service's endpoints, answering exactly as it did: ``/health``, ``/quota/check``,
``/jobs/evaluate``. Both checks are side-effect free and follow the same identity rules as ``/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from hpcpolicy.api.deps import CallerDep, GovernanceDep, Offload, OffloadDep, identity
from hpcpolicy.api.dto import JobEvaluateIn, JobEvaluateOut, QuotaCheckIn, QuotaCheckOut
from hpcpolicy.api.hot import answer
from hpcpolicy.engine import Decision, Request
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.service import Governance

router = APIRouter(tags=["compatible"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.post("/quota/check", response_model=QuotaCheckOut)
async def quota_check(body: QuotaCheckIn, gov: GovernanceDep, who: CallerDep, run: OffloadDep) -> Response:
    user_id, roles, groups = identity(who, gov, body.user_id, body.roles, body.groups)
    request = Request(
        user_id=user_id,
        roles=roles,
        groups=groups,
        partition=body.partition,
        gpus=body.gpus,
        cpu_hours=body.cpu_hours,
        gpu_hours=body.gpu_hours,
    )
    decision = await checked(gov, run, request)
    return answer(  # a hot route (hpcpolicy.api.hot)
        QuotaCheckOut(
            allow=decision.allow,
            reason=reason(decision),
            remaining_cpu_hours=_tightest(decision, "cpu_hours"),
            remaining_gpu_hours=_tightest(decision, "gpu_hours"),
        )
    )


@router.post("/jobs/evaluate", response_model=JobEvaluateOut)
async def jobs_evaluate(body: JobEvaluateIn, gov: GovernanceDep, who: CallerDep, run: OffloadDep) -> JobEvaluateOut:
    user_id, roles, groups = identity(who, gov, body.user_id, body.roles, body.groups)
    request = Request(
        user_id=user_id, roles=roles, groups=groups, partition=body.partition, gpus=body.gpus, memory_gb=body.memory_gb
    )
    decision = await checked(gov, run, request)
    partition = decision.route.partition if decision.route else body.partition
    return JobEvaluateOut(allow=decision.allow, reason=reason(decision), partition=partition)


async def checked(gov: Governance, run: Offload, request: Request) -> Decision:
    try:
        return await run(gov.check, request)
    except LedgerUnavailable as exc:
        return gov.fail_open(request, exc)  # re-raises (503) unless the partition fails open


def reason(decision: Decision) -> str:
    """``ok``, or every violation's message joined with ``; `` (the original gave one sentence)."""
    if decision.allow:
        return "ok"
    return "; ".join(v.message for v in decision.violations)


def _tightest(decision: Decision, metric: str) -> float | None:
    """The smallest balance left after this job on any quota that bounds ``metric``, never below 0 (None
    when nothing bounds it).

    A job that does not fit would leave a negative balance; the check charges nothing, so a negative
    "remaining" would read as a debt. It reports 0, and the quota's violation in ``reason`` says by how
    much the job is over ("... (limit 120): over by 380").
    """
    values = [balances[metric] for balances in decision.remaining.values() if metric in balances]
    return max(min(values), 0.0) if values else None

"""Job lifecycle: ``POST /v1/jobs/{id}/start|finish|cancel`` and ``GET /v1/jobs/{id}``.

``{id}`` is the decision id returned on admission (it is also the lien's id) or the scheduler's job id
once attached. The scheduler's service key, an admin, or the job's own user may report on a job.
"""

from __future__ import annotations

from fastapi import APIRouter

from hpcpolicy.api.deps import CallerDep, GovernanceDep, Offload, OffloadDep
from hpcpolicy.api.dto import CancelIn, JobOut, StartIn, UsageIn
from hpcpolicy.auth import Caller, Forbidden
from hpcpolicy.ledger import Charge, JobUsage, Lien
from hpcpolicy.service import Governance, InvalidInput

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{ref}", response_model=JobOut)
async def get_job(ref: str, gov: GovernanceDep, who: CallerDep, run: OffloadDep) -> JobOut:
    lien, charge = await _authorized(gov, who, ref, run)
    return job_out(lien, charge)


@router.post("/{ref}/start", response_model=JobOut)
async def start(ref: str, gov: GovernanceDep, who: CallerDep, run: OffloadDep, body: StartIn | None = None) -> JobOut:
    """The job started: attach the scheduler's job id; the lien now counts until the job ends."""
    body = body or StartIn()
    await _authorized(gov, who, ref, run)
    lien = await run(gov.jobs.start, ref, body.job_id, body.started_at)
    return job_out(lien, None)


@router.post("/{ref}/finish", response_model=JobOut)
async def finish(ref: str, body: UsageIn, gov: GovernanceDep, who: CallerDep, run: OffloadDep) -> JobOut:
    """The job ended: charge its actual usage (elapsed time × resources), release the rest of the lien."""
    hours = body.hours()
    if hours is None:
        raise InvalidInput("finish needs elapsed_hours or elapsed_seconds")
    await _authorized(gov, who, ref, run)
    usage = JobUsage(hours, body.cpus, body.gpus, body.memory_gb)
    lien, charge = await run(gov.jobs.finish, ref, usage, body.ended_at)
    return job_out(lien, charge)


@router.post("/{ref}/cancel", response_model=JobOut)
async def cancel(ref: str, gov: GovernanceDep, who: CallerDep, run: OffloadDep, body: CancelIn | None = None) -> JobOut:
    """The job was cancelled or failed: release the lien, charging any elapsed time reported."""
    body = body or CancelIn()
    await _authorized(gov, who, ref, run)
    hours = body.hours()
    usage = JobUsage(hours, body.cpus, body.gpus, body.memory_gb) if hours else None
    failed = body.outcome == "failed"
    lien, charge = await run(lambda: gov.jobs.cancel(ref, usage, body.ended_at, failed=failed))
    return job_out(lien, charge)


async def _authorized(gov: Governance, who: Caller, ref: str, run: Offload) -> tuple[Lien, Charge | None]:
    lien, charge = await run(gov.jobs.get, ref)
    if not who.speaks_for(lien.user_id):
        raise Forbidden("this job belongs to another user")
    return lien, charge


def job_out(lien: Lien, charge: Charge | None) -> JobOut:
    a = lien.amounts
    charged = None
    if charge is not None:
        c = charge.amounts
        charged = {"cpu_hours": c.cpu_hours, "gpu_hours": c.gpu_hours, "cost": c.cost}
    return JobOut(
        lien_id=lien.id,
        job_id=lien.job_id,
        state=lien.state.value,
        user_id=lien.user_id,
        project=lien.project,
        cluster=lien.cluster,
        partition=lien.partition,
        reserved={"cpu_hours": a.cpu_hours, "gpu_hours": a.gpu_hours, "cost": a.cost},
        charged=charged,
        started_at=lien.started_at,
        ended_at=lien.ended_at,
        expires_at=lien.expires_at,
    )

"""Job lifecycle: ``POST /v1/jobs/{id}/start|finish|cancel`` and ``GET /v1/jobs/{id}``.

``{id}`` is the decision id returned on admission (it is also the lien's id) or the scheduler's job id
once attached; job ids are unique per cluster, so ``?cluster=`` names the cluster when two have the id.

Who may do what (zero trust; usage facts come from the scheduler side, never from the job's user):

- read a job: its own user, a caller trusted with users' records, a usage reporter;
- start, finish, cancel with usage, or fail a job: usage reporters only (an admin, or a key with the
  ``report`` scope: the Slurm controller, a gateway reporting for its scheduler) — anyone else is 403;
- cancel a job that has not started, stating no usage: also its own user (withdrawing a request).

What a report may say is the ledger's business (:mod:`hpcpolicy.service.jobs`): within the lien.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hpcpolicy.api.deps import CallerDep, GovernanceDep, Offload, OffloadDep, ReporterDep
from hpcpolicy.api.dto import CancelIn, IdentPath, JobOut, StartIn, UsageIn
from hpcpolicy.auth import Caller, Forbidden, require_reporter
from hpcpolicy.engine.limits import Ident
from hpcpolicy.ledger import Charge, JobUsage, Lien, LienState
from hpcpolicy.service import Governance, InvalidInput

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

ClusterQuery = Annotated[Ident | None, Query(description="The cluster of a scheduler job id (when ambiguous)")]


@router.get("/{ref}", response_model=JobOut)
async def get_job(
    ref: IdentPath, gov: GovernanceDep, who: CallerDep, run: OffloadDep, cluster: ClusterQuery = None
) -> JobOut:
    lien, charge = await _readable(gov, who, ref, cluster, run)
    return job_out(lien, charge)


@router.post("/{ref}/start", response_model=JobOut)
async def start(
    ref: IdentPath,
    gov: GovernanceDep,
    _: ReporterDep,
    run: OffloadDep,
    cluster: ClusterQuery = None,
    body: StartIn | None = None,
) -> JobOut:
    """The job started: attach the scheduler's job id; the lien now counts until the job ends."""
    body = body or StartIn()
    lien = await run(lambda: gov.jobs.start(ref, body.job_id, body.started_at, cluster=cluster))
    return job_out(lien, None)


@router.post("/{ref}/finish", response_model=JobOut)
async def finish(
    ref: IdentPath, body: UsageIn, gov: GovernanceDep, _: ReporterDep, run: OffloadDep, cluster: ClusterQuery = None
) -> JobOut:
    """The job ended: charge its actual usage (elapsed time × resources), release the rest of the lien."""
    hours = body.hours()
    if hours is None:
        raise InvalidInput("finish needs elapsed_hours or elapsed_seconds", [("elapsed_hours", "required")])
    usage = JobUsage(hours, body.cpus, body.gpus, body.memory_gb)
    lien, charge = await run(lambda: gov.jobs.finish(ref, usage, body.ended_at, cluster=cluster))
    return job_out(lien, charge)


@router.post("/{ref}/cancel", response_model=JobOut)
async def cancel(
    ref: IdentPath,
    gov: GovernanceDep,
    who: CallerDep,
    run: OffloadDep,
    cluster: ClusterQuery = None,
    body: CancelIn | None = None,
) -> JobOut:
    """The job was cancelled or failed: release the lien, charging any elapsed time reported.

    A job's own user may cancel it while it has not started (and say nothing about usage).
    """
    body = body or CancelIn()
    failed = body.outcome == "failed"
    withdraw = not (who.may_report_usage or body.reports_usage or failed)
    if withdraw:
        lien, _ = await _readable(gov, who, ref, cluster, run)
        if lien.state != LienState.RESERVED:
            raise Forbidden(f"job {ref} is {lien.state.value}: only the scheduler reports how it ends")
    else:
        require_reporter(who, "report a job's usage or failure")
    hours = body.hours()
    usage = JobUsage(hours, body.cpus, body.gpus, body.memory_gb) if hours else None
    lien, charge = await run(
        lambda: gov.jobs.cancel(ref, usage, body.ended_at, failed=failed, cluster=cluster, unstarted_only=withdraw)
    )
    return job_out(lien, charge)


async def _readable(
    gov: Governance, who: Caller, ref: str, cluster: str | None, run: Offload
) -> tuple[Lien, Charge | None]:
    lien, charge = await run(gov.jobs.get, ref, cluster)
    if not (who.may_report_usage or who.speaks_for(lien.user_id)):
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

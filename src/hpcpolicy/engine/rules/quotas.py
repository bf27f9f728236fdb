"""Budgets and concurrency on every scope of the account path, as Slurm association limits apply.

For each quota: consumed (charges + open liens in its window, from the usage snapshot) + this job's
estimate must stay within the limit. The balance after the job is reported whether or not it fits.
"""

from __future__ import annotations

from datetime import datetime

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Estimate, Violation, num
from hpcpolicy.engine.snapshot import METERED, QuotaRef
from hpcpolicy.engine.usage import IDLE, ZERO, UsageSnapshot
from hpcpolicy.engine.windows import describe

#: Floating-point slack so that a job asking for exactly the remaining balance is admitted.
EPSILON = 1e-9

_CODES = (Code.QUOTA_CPU_HOURS, Code.QUOTA_GPU_HOURS, Code.QUOTA_COST)
_LABELS = ("CPU-hours", "GPU-hours", "cost")


def quota_violations(
    quotas: tuple[QuotaRef, ...],
    estimate: Estimate,
    gpus: int,
    usage: UsageSnapshot,
    now: datetime,
    remaining: dict[str, dict[str, float]],
) -> list[Violation]:
    """Check every quota; fill ``remaining[quota id]`` with the balances after this job."""
    found: list[Violation] = []
    wanted_all = (estimate.cpu_hours, estimate.gpu_hours, estimate.cost)
    consumed = usage.consumed
    for ref in quotas:
        balances: dict[str, float] = {}
        if ref.fixed is not None and not ref.fixed[0] <= now < ref.fixed[1]:
            found.append(
                Violation(Code.QUOTA_INACTIVE, f"allocation {describe(ref.quota.window)} is not active", ref.id)
            )
        used = consumed.get(ref.id, ZERO)
        used_all = (used.cpu_hours, used.gpu_hours, used.cost)
        for i, limit in ref.metered:
            available = limit - used_all[i]
            wanted = wanted_all[i]
            balances[METERED[i]] = available - wanted
            if wanted > available + EPSILON:
                found.append(_exceeded(ref, i, limit, wanted, available))
        if ref.concurrent:
            _concurrency(ref, gpus, usage, balances, found)
        remaining[ref.id] = balances
    return found


def _exceeded(ref: QuotaRef, i: int, limit: float, wanted: float, available: float) -> Violation:
    window = describe(ref.quota.window)
    return Violation(
        _CODES[i],
        f"{_LABELS[i]} {num(wanted)} exceeds the {window} balance of {num(max(available, 0))} (limit {num(limit)})",
        ref.id,
        limit,
        wanted,
        available,
    )


def _concurrency(
    ref: QuotaRef, gpus: int, usage: UsageSnapshot, balances: dict[str, float], found: list[Violation]
) -> None:
    quota, active = ref.quota, usage.active.get(ref.scope, IDLE)
    if quota.max_jobs is not None:
        balances["jobs"] = quota.max_jobs - active.jobs - 1
        if active.jobs + 1 > quota.max_jobs:
            found.append(
                Violation(
                    Code.CONCURRENCY_MAX_JOBS,
                    f"{active.jobs} jobs already active; the limit is {quota.max_jobs}",
                    ref.id,
                    quota.max_jobs,
                    1,
                    quota.max_jobs - active.jobs,
                )
            )
    if quota.max_gpus is not None:
        balances["gpus"] = quota.max_gpus - active.gpus - gpus
        if gpus and active.gpus + gpus > quota.max_gpus:
            found.append(
                Violation(
                    Code.CONCURRENCY_MAX_GPUS,
                    f"{gpus} GPUs requested with {active.gpus} in use; the limit is {quota.max_gpus}",
                    ref.id,
                    quota.max_gpus,
                    gpus,
                    quota.max_gpus - active.gpus,
                )
            )

"""Budgets and concurrency on every scope of the account path, as Slurm association limits apply.

For each quota: consumed (charges + open liens in its window, from the usage snapshot) + this job's
estimate must stay within the limit. The balance after the job is reported whether or not it fits
(negative when it does not); a violation's message says by how much the job would overrun the limit
("over by N"), so nobody has to read the sign of a balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Estimate, Violation, num
from hpcpolicy.engine.rules.soft import check_soft
from hpcpolicy.engine.snapshot import METERED, QuotaRef
from hpcpolicy.engine.usage import EMPTY_USAGE, IDLE, ZERO, Active, UsageSnapshot

#: Floating-point slack so that a job asking for exactly the remaining balance is admitted.
EPSILON = 1e-9

_CODES = (Code.QUOTA_CPU_HOURS, Code.QUOTA_GPU_HOURS, Code.QUOTA_COST)
_LABELS = ("CPU-hours", "GPU-hours", "cost")


Used = tuple[float, float, float]
"""What one quota has consumed in its window: CPU-hours, GPU-hours, cost (the fields of ``Amounts``)."""


def quota_violations(
    quotas: tuple[QuotaRef, ...],
    estimate: Estimate,
    gpus: int,
    usage: UsageSnapshot,
    now: datetime,
    remaining: dict[str, dict[str, float]],
    path: tuple[str, ...] = (),
    warnings: list[Violation] | None = None,
) -> list[Violation]:
    """Check every quota; fill ``remaining[quota id]`` with the balances after this job (and ``warnings``
    with what soft quotas say of an admitted amount)."""
    consumed, active = usage.consumed, usage.active
    used: list[Used] = []
    for ref in quotas:
        amounts = consumed.get(ref.id, ZERO)
        used.append((amounts.cpu_hours, amounts.gpu_hours, amounts.cost))
    jobs = [active.get(ref.counter, IDLE) for ref in quotas]
    return check_quotas(quotas, estimate, gpus, used, jobs, now, remaining, path, usage, warnings)


def check_quotas(
    quotas: tuple[QuotaRef, ...],
    estimate: Estimate,
    gpus: int,
    used: Sequence[Used],
    active: Sequence[Active],
    now: datetime,
    remaining: dict[str, dict[str, float]],
    path: tuple[str, ...] = (),
    usage: UsageSnapshot = EMPTY_USAGE,
    warnings: list[Violation] | None = None,
) -> list[Violation]:
    """:func:`quota_violations` with the usage given per quota, in the order of ``quotas``.

    ``used[k]`` is what ``quotas[k]`` has consumed; ``active[k]`` the jobs and GPUs active on its scope
    (read only where the quota limits concurrency). This is the form a ledger that sums balances itself
    can hand over without building a :class:`UsageSnapshot` of :class:`Amounts` first. ``usage`` supplies
    what only soft quotas read (previous windows, children's shares); ``path`` names the job's scopes.
    """
    found: list[Violation] = []
    wanted_all = (estimate.cpu_hours, estimate.gpu_hours, estimate.cost)
    names, slack = METERED, EPSILON
    for ref, used_all, jobs in zip(quotas, used, active, strict=True):
        balances: dict[str, float] = {}
        fixed = ref.fixed  # an allocation outside its dates stops its own metrics only
        if fixed is not None and not fixed[0] <= now < fixed[1] and any(wanted_all[i] > 0 for i, _ in ref.metered):
            found.append(Violation(Code.QUOTA_INACTIVE, f"allocation {ref.window_label} is not active", ref.id))
        soft = ref.soft
        if soft is not None:
            check_soft(ref, soft, used_all, wanted_all, path, usage, balances, found,
                       warnings if warnings is not None else [])  # fmt: skip
        else:
            for i, limit in ref.metered:
                available = limit - used_all[i]
                wanted = wanted_all[i]
                balances[names[i]] = available - wanted
                if wanted > available + slack:
                    found.append(_exceeded(ref, i, limit, wanted, available))
        if ref.concurrent:
            _concurrency(ref, gpus, jobs, balances, found)
        remaining[ref.id] = balances
    return found


def _exceeded(ref: QuotaRef, i: int, limit: float, wanted: float, available: float) -> Violation:
    window = ref.window_label
    return Violation(
        _CODES[i],
        f"{_LABELS[i]} {num(wanted)} exceeds the {window} balance of {num(max(available, 0))} (limit {num(limit)}):"
        f" over by {num(wanted - available)}",
        ref.id,
        limit,
        wanted,
        available,
    )


def _concurrency(ref: QuotaRef, gpus: int, active: Active, balances: dict[str, float], found: list[Violation]) -> None:
    quota = ref.quota
    if quota.max_jobs is not None:
        balances["jobs"] = quota.max_jobs - active.jobs - 1
        if active.jobs + 1 > quota.max_jobs:
            runs = ref.scope.startswith("service:")  # a service's cap (policy ``services``), on its runs
            found.append(
                Violation(
                    Code.SERVICE_MAX_RUNS if runs else Code.CONCURRENCY_MAX_JOBS,
                    f"{active.jobs} {'runs' if runs else 'jobs'} already active; the limit is {quota.max_jobs}",
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

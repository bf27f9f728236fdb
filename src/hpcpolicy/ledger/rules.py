"""The balance rules, shared by every ledger implementation (and stated once, here).

- A charge counts in a quota's window when its date (the job's end) falls in ``[start, end)``.
- An adjustment counts likewise, by its date; grants, refunds and deposits subtract, debits add.
- An open lien counts against the *current* window of every quota on its path, whenever it was taken:
  a ``running`` lien always, a ``reserved`` one until ``expires_at``. Reservations are for the future;
  counting them now is what makes concurrent admissions safe.
- Consumed = charges + adjustments (signed) + open liens. Concurrency: open liens and their GPUs.
- Actual usage is priced with the unit rates recorded on the lien at admission.
- A usage report is believed only within the lien: no more CPUs, GPUs or memory than it reserved, no
  longer than its walltime plus a grace, ending between its admission and now (give or take the clock
  skew). More than that is a correction an admin makes with an adjustment. The scheduler's own
  accounting (``hpcpolicy slurm sync``) is charged as it reports (Slurm may allocate whole nodes, or let
  a job overrun by ``OverTimeLimit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hpcpolicy.engine import (
    Active,
    Amounts,
    Decision,
    PolicySnapshot,
    QuotaRef,
    Request,
    UsageSnapshot,
    price,
    unit_rates,
)
from hpcpolicy.engine.decision import num
from hpcpolicy.engine.estimate import allocation
from hpcpolicy.engine.slices import job_gpu_type
from hpcpolicy.engine.weights import hour_weights
from hpcpolicy.ledger.counters import SCOPE_FIELDS, OnPath, Target, scope_columns
from hpcpolicy.ledger.model import AdjustmentKind, JobUsage, Lien, LienState

__all__ = ["SCOPE_FIELDS", "OnPath", "Target"]

OPEN_STATES = (LienState.RESERVED, LienState.RUNNING)
#: How far the scheduler's clock and the service's may disagree about when a job started or ended.
CLOCK_SKEW = timedelta(minutes=5)
#: The sign with which an adjustment's amounts count as consumption.
ADJUSTMENT_SIGN = {
    AdjustmentKind.GRANT: -1.0,
    AdjustmentKind.REFUND: -1.0,
    AdjustmentKind.DEPOSIT: -1.0,
    AdjustmentKind.DEBIT: 1.0,
}


def split_scope(scope: str) -> tuple[str, str]:
    """``"project:wgs"`` → ``("project", "wgs")``, ``"project:p/user:u"`` → ``("member", "p/user:u")``;
    raises ValueError for an unknown kind."""
    columns = scope_columns(scope)
    return ("member" if len(columns) == 2 else scope.partition(":")[0]), scope.partition(":")[2]


def lien_counts(state: LienState, expires_at: datetime, now: datetime) -> bool:
    return state == LienState.RUNNING or (state == LienState.RESERVED and expires_at > now)


def lien_scopes(entry: OnPath) -> list[str]:
    """The account path of a lien or charge, most specific first: what admissions lock and list (a
    member's scope is counted too, but locked through its project: :func:`.counters.entry_scopes`)."""
    scopes = [f"user:{entry.user_id}"]
    for kind, name in (("project", entry.project), ("team", entry.team), ("org", entry.org)):
        if name:
            scopes.append(f"{kind}:{name}")
    service = getattr(entry, "service", None)  # liens only: a charge is the account's, not the service's
    if service:
        scopes.append(f"service:{service}")
    return scopes


def actual_amounts(lien: Lien, usage: JobUsage) -> Amounts:
    """What the job used, as budgets count it: hours × the lien's weights, cost at its recorded rates
    (priced from the raw hours); unreported resources default to the request."""
    cpu_hours, gpu_hours, memory, hours = _used(lien, usage)
    w_cpu, w_gpu = lien.weights
    return Amounts(cpu_hours * w_cpu, gpu_hours * w_gpu, price(lien.rates, cpu_hours, gpu_hours, memory, hours))


def raw_hours(lien: Lien, usage: JobUsage) -> tuple[float, float] | None:
    """The CPU- and GPU-hours before weights, when the lien weighs them (None: they are ``actual_amounts``')."""
    if lien.weights == (1.0, 1.0):
        return None
    cpu_hours, gpu_hours, _, _ = _used(lien, usage)
    return cpu_hours, gpu_hours


def _used(lien: Lien, usage: JobUsage) -> tuple[float, float, float, float]:
    cpus = lien.cpus if usage.cpus is None else usage.cpus
    gpus = lien.gpus if usage.gpus is None else usage.gpus
    memory = lien.memory_gb if usage.memory_gb is None else usage.memory_gb
    hours = usage.elapsed_hours
    return cpus * hours, gpus * hours, memory, hours


def snapshot(
    quotas: Iterable[QuotaRef],
    now: datetime,
    settled: Callable[[Target, datetime, datetime], Amounts],
    reserved: Callable[[Target], tuple[Amounts, Active]],
) -> UsageSnapshot:
    """Build the engine's usage snapshot from two ledger queries, asked one read at a time.

    ``settled(ref, start, end)``: charges plus signed adjustments dated in the window, of what the quota
    counts (:mod:`.counters`); ``reserved(ref)``: open liens' amounts and their count/GPUs.
    """

    def one_by_one(reads: UsageReads) -> tuple[list[tuple[Amounts, Active]], list[Amounts]]:
        return [reserved(target) for target in reads.liens], [settled(*window) for window in reads.windows]

    return usage_snapshot(quotas, now, one_by_one)


@dataclass(frozen=True, slots=True)
class UsageReads:
    """What a usage snapshot reads: the open liens of each counter once (two quotas of one scope and
    slice share them), and what each window settled."""

    liens: tuple[Target, ...]
    windows: tuple[tuple[Target, datetime, datetime], ...]


def usage_snapshot(
    quotas: Iterable[QuotaRef],
    now: datetime,
    read: Callable[[UsageReads], tuple[Sequence[tuple[Amounts, Active]], Sequence[Amounts]]],
) -> UsageSnapshot:
    """The engine's usage snapshot of ``quotas`` at ``now``, from one call of ``read`` that answers every
    :class:`UsageReads` at once (the SQL ledger in one statement): a quota's consumption is what its
    window settled plus its counter's open liens; a quota with ``carry_over`` also gets what it settled in
    its previous window; a quota that only caps concurrency reads no window."""
    liens: dict[str, Target] = {}
    windows: list[tuple[Target, datetime, datetime]] = []
    uses: list[tuple[QuotaRef, int | None, int | None]] = []  # each quota's window and previous window
    for ref in quotas:
        liens.setdefault(ref.counter, ref)
        if not ref.metered and ref.soft is None:
            uses.append((ref, None, None))  # concurrency only: no budget reads what it settled
            continue
        this, last = len(windows), None  # where its window's and its previous window's sums will be
        windows.append((ref, *ref.bounds(now)))  # window_bounds(ref.quota.window, now), dispatched once
        if ref.soft is not None and ref.soft.carry is not None and (bounds := ref.previous_bounds(now)):
            last = len(windows)
            windows.append((ref, *bounds))
        uses.append((ref, this, last))
    held_by, settled_by = read(UsageReads(tuple(liens.values()), tuple(windows)))
    held = dict(zip(liens, held_by, strict=True))
    consumed: dict[str, Amounts] = {}
    active: dict[str, Active] = {}
    previous: dict[str, Amounts] = {}
    for ref, window, before in uses:
        amounts, active[ref.counter] = held[ref.counter]
        consumed[ref.id] = amounts if window is None else settled_by[window] + amounts
        if before is not None:
            previous[ref.id] = settled_by[before]  # what it settled then: open liens count now
    return UsageSnapshot(consumed, active, previous)


def lien_for(
    lien_id: str,
    request: Request,
    decision: Decision,
    policy: PolicySnapshot,
    now: datetime,
    ttl: timedelta,
    job_id: str | None = None,
) -> Lien | None:
    """The lien an admitted decision takes: its estimate, its account path, the unit rates in force, and
    what the job holds (whole nodes on an exclusive partition: :func:`~hpcpolicy.engine.estimate.allocation`)."""
    if not decision.allow or decision.route is None:
        return None
    part = policy.partition(decision.route.cluster, decision.route.partition)
    path = dict(scope.split(":", 1) for scope in decision.account_path)
    est = decision.estimate
    cpus, gpus, memory_gb = allocation(request, part)
    nodes_type = part.spec.nodes.gpu_type if part is not None else None
    return Lien(
        id=lien_id,
        decision_id=lien_id,
        user_id=request.user_id,
        project=path.get("project"),
        team=path.get("team"),
        org=path.get("org"),
        cluster=decision.route.cluster,
        partition=decision.route.partition,
        cpus=cpus,
        gpus=gpus,
        gpu_type=job_gpu_type(gpus, request.gpu_type, nodes_type),
        memory_gb=memory_gb,
        nodes=request.nodes,
        walltime_hours=est.walltime_hours,
        amounts=Amounts(est.cpu_hours, est.gpu_hours, est.cost),
        rates=unit_rates(request, part),
        created_at=now,
        expires_at=now + ttl,
        job_id=job_id,
        policy_version=decision.policy_version,
        weights=hour_weights(part, gpus, request.gpu_type),
        service=request.service,
    )


def start_problems(lien: Lien, started_at: datetime, now: datetime) -> list[tuple[str, str]]:
    """Why a reported start time cannot be believed (``(field, message)`` pairs; empty: believable)."""
    problems = []
    if started_at < lien.created_at - CLOCK_SKEW:
        problems.append(("started_at", f"{started_at:%Y-%m-%dT%H:%M:%SZ} is before the job was admitted "
                                       f"({lien.created_at:%Y-%m-%dT%H:%M:%SZ})"))  # fmt: skip
    if started_at > now + CLOCK_SKEW:
        problems.append(("started_at", f"{started_at:%Y-%m-%dT%H:%M:%SZ} is in the future"))
    return problems


def usage_problems(
    lien: Lien, usage: JobUsage | None, ended_at: datetime, now: datetime, grace: timedelta
) -> list[tuple[str, str]]:
    """Why a reported end of ``lien`` cannot be believed (``(field, message)`` pairs; empty: believable).

    The end must fall between the job's admission (or start) and now, so its charge lands in the window
    where the job ran; the usage must fit what the lien reserved, its walltime plus ``grace``, and the
    time that passed since admission.
    """
    problems: list[tuple[str, str]] = []
    began = min(lien.created_at, lien.started_at or lien.created_at)
    if ended_at < began - CLOCK_SKEW:
        problems.append(("ended_at", f"{ended_at:%Y-%m-%dT%H:%M:%SZ} is before the job was admitted or started "
                                     f"({began:%Y-%m-%dT%H:%M:%SZ})"))  # fmt: skip
    if lien.started_at is not None and ended_at < lien.started_at - CLOCK_SKEW:
        problems.append(("ended_at", f"{ended_at:%Y-%m-%dT%H:%M:%SZ} is before the job started"))
    if ended_at > now + CLOCK_SKEW:
        problems.append(("ended_at", f"{ended_at:%Y-%m-%dT%H:%M:%SZ} is in the future"))
    if usage is None:
        return problems
    hours = usage.elapsed_hours
    allowed = lien.walltime_hours + grace.total_seconds() / 3600
    if hours > allowed:
        problems.append(("elapsed", f"{num(hours)} h is longer than the job's walltime of {num(lien.walltime_hours)} h "
                                    f"plus {num(grace.total_seconds() / 60)} min of grace"))  # fmt: skip
    elif hours * 3600 > max((ended_at - began).total_seconds(), 0.0) + CLOCK_SKEW.total_seconds():
        problems.append(("elapsed", f"{num(hours)} h is longer than the time from admission to end"))
    for field, used, reserved in (
        ("cpus", usage.cpus, lien.cpus),
        ("gpus", usage.gpus, lien.gpus),
        ("memory_gb", usage.memory_gb, lien.memory_gb),
    ):
        if used is not None and used > reserved:
            problems.append((field, f"{num(used)} is more than the job was admitted with ({num(reserved)})"))
    return problems

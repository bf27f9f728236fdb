"""Where the job runs: the named partition, or the cheapest partition that accepts it.

Routing considers only partition-level rules (access and caps). Budgets are checked afterwards against
the chosen route, so a denial says "over budget" rather than "nothing fits" when that is the truth.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Estimate, RejectedRoute, Violation
from hpcpolicy.engine.estimate import estimate, ranking_cost, resource_hours, walltime_for
from hpcpolicy.engine.records import fast_init
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.rules.partition import partition_violations
from hpcpolicy.engine.snapshot import PartitionRef, PolicySnapshot


@fast_init
@dataclass(frozen=True, slots=True)
class Routing:
    partition: PartitionRef | None
    estimate: Estimate
    violations: list[Violation]
    rejected: tuple[RejectedRoute, ...] = ()


def route(request: Request, snap: PolicySnapshot, roles: frozenset[str], project: str | None) -> Routing:
    default_walltime = snap.policy.defaults.walltime_hours
    if request.cluster is not None and request.cluster not in snap.clusters:
        scope = f"cluster:{request.cluster}"
        missing = Violation(Code.CLUSTER_UNKNOWN, f"cluster {request.cluster} is not in the policy", scope)
        return Routing(None, estimate(request, None, walltime_for(request, None, default_walltime)), [missing])
    if request.partition is not None:
        return _named(request, snap, roles, project, default_walltime)
    return _cheapest(request, snap, roles, project, default_walltime)


def _named(
    request: Request, snap: PolicySnapshot, roles: frozenset[str], project: str | None, default: float
) -> Routing:
    name = request.partition
    candidates = [p for p in snap.partitions_by_name.get(name or "", ()) if request.cluster in (None, p.cluster)]
    if len(candidates) != 1:
        walltime = walltime_for(request, None, default)
        scope = f"partition:{name}"
        if candidates:
            clusters = ", ".join(p.cluster for p in candidates)
            problem = Violation(
                Code.PARTITION_AMBIGUOUS, f"partition {name} exists on {clusters}; name the cluster", scope
            )
        else:
            problem = Violation(Code.PARTITION_UNKNOWN, f"partition {name} is not in the policy", scope)
        return Routing(None, estimate(request, None, walltime), [problem])
    part = candidates[0]
    walltime = walltime_for(request, part, default)
    return Routing(
        part, estimate(request, part, walltime), partition_violations(request, part, roles, project, walltime)
    )


def _cheapest(
    request: Request, snap: PolicySnapshot, roles: frozenset[str], project: str | None, default: float
) -> Routing:
    """Rank candidates by cost, then take the first that accepts the job.

    Ranking first means only the partitions cheaper than the winner are checked rule by rule, so a
    policy with a hundred partitions costs a sort, not a hundred full checks. Ties keep file order.
    """
    candidates = snap.partitions if request.cluster is None else snap.partitions_by_cluster[request.cluster]
    if len(candidates) == 1:  # nothing to rank (a one-partition site): skip the costs and the heap
        part = candidates[0]
        walltime = request.walltime_hours if request.walltime_hours is not None else _default_walltime(part, default)
        ranked = [(0.0, 0, part, walltime)]
    else:
        ranked = _ranked(request, candidates, default)
    rejected: list[tuple[int, RejectedRoute]] = []
    while ranked:  # pop cheapest first; usually the first or second accepts, so no full sort is paid
        _, order, part, walltime = heapq.heappop(ranked)
        problems = partition_violations(request, part, roles, project, walltime)
        if not problems:
            return Routing(part, estimate(request, part, walltime), [])
        rejected.append((order, RejectedRoute(part.cluster, part.name, tuple(problems))))
    no_fit = Violation(
        Code.ROUTE_NO_FIT,
        f"no partition accepts this job ({len(rejected)} considered; see rejected_routes)",
        f"user:{request.user_id}",
    )
    reasons = tuple(r for _, r in sorted(rejected, key=lambda item: item[0]))
    return Routing(None, estimate(request, None, walltime_for(request, None, default)), [no_fit], reasons)


def _ranked(
    request: Request, candidates: tuple[PartitionRef, ...], default: float
) -> list[tuple[float, int, PartitionRef, float]]:
    """A heap of (cost, file order, partition, walltime): cheapest first, ties in file order."""
    if request.walltime_hours is not None:  # one walltime for all: cost is a dot product with the rates
        w = request.walltime_hours
        cpu_h, gpu_h = resource_hours(request, w)
        mem_h = request.memory_gb * w
        ranked = [
            (cpu_h * p.rates[0] + gpu_h * p.rates[1] + mem_h * p.rates[2], i, p, w) for i, p in enumerate(candidates)
        ]
    else:
        ranked = []
        for i, part in enumerate(candidates):
            walltime = _default_walltime(part, default)
            ranked.append((ranking_cost(request, part, walltime), i, part, walltime))
    heapq.heapify(ranked)  # (cost, order) is unique, so partitions themselves are never compared
    return ranked


def _default_walltime(part: PartitionRef, default: float) -> float:
    """The walltime ranked for a request that gives none: the partition's default, else the policy's."""
    return part.default_walltime_hours or default

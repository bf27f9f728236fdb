"""Where the job runs: the named partition, or the cheapest candidate that accepts it, and why.

Routing considers only partition-level rules (access, the QOS, caps and minimums). Budgets are checked
afterwards against the chosen route, so a denial says "over budget" rather than "nothing fits" when that
is the truth. Candidates (:mod:`.candidates`) are ranked by their cost at one walltime, the request's or
else the policy default, so a partition's shorter default walltime does not make it look cheaper; the
winner's own default then sets the estimate.

A partition with opening hours cannot be known to be open until the decision's ``now``; when the winner
has hours that bind the caller, routing goes on to the next accepting partitions (up to the first one
that is always open to them) as :attr:`Routing.fallbacks`, and the decision takes the first open one.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from hpcpolicy.engine.candidates import Candidates, excluded
from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Estimate, RejectedRoute, Violation
from hpcpolicy.engine.estimate import estimate, ranking_cost, resource_hours, walltime_for
from hpcpolicy.engine.hours import OpeningHours
from hpcpolicy.engine.opening import Fallback
from hpcpolicy.engine.partitionref import under_qos
from hpcpolicy.engine.records import fast_init
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.rules.partition import partition_violations
from hpcpolicy.engine.snapshot import PartitionRef, PolicySnapshot

Heap = list[tuple[float, int, PartitionRef]]  # (cost, file order, partition)
#: Rejected partitions a route's reason names before it says "and N more".
REASON_NAMES = 3


@fast_init
@dataclass(frozen=True, slots=True)
class Routing:
    partition: PartitionRef | None
    estimate: Estimate
    violations: list[Violation]
    rejected: tuple[RejectedRoute, ...] = ()
    reason: str = ""
    hours: OpeningHours | None = None
    """The route's opening hours, when they bind this caller (None: always open to them)."""
    fallbacks: tuple[Fallback, ...] = ()
    """With ``hours``: the next accepting partitions, cheapest first, up to one always open to the caller."""


def route(request: Request, snap: PolicySnapshot, roles: frozenset[str], project: str | None) -> Routing:
    default_walltime = snap.policy.defaults.walltime_hours
    if request.cluster is not None and request.cluster not in snap.clusters:
        scope = f"cluster:{request.cluster}"
        missing = Violation(Code.CLUSTER_UNKNOWN, f"cluster {request.cluster} is not in the policy", scope)
        return Routing(None, estimate(request, None, walltime_for(request, None, default_walltime)), [missing])
    if request.partition is not None:
        return _named(request, snap, roles, project, default_walltime)
    return _cheapest(request, snap, roles, project, default_walltime)


def binding_hours(part: PartitionRef, roles: frozenset[str], project: str | None) -> OpeningHours | None:
    """``part``'s opening hours unless the caller is exempt from them."""
    if part.hours is None or (part.exempt is not None and part.exempt.allows(roles, project)):
        return None
    return part.hours


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
    qos_problems = None
    if request.qos is not None:
        variant = under_qos(part, request.qos)
        if variant is None:
            qos_problems = _qos_problems(part, request.qos, snap)
        else:
            part = variant
    walltime = walltime_for(request, part, default)
    problems = partition_violations(request, part, roles, project, walltime)
    if qos_problems:
        problems = qos_problems + problems
    if part.hours is None:  # the common case: no opening hours, nothing more to say
        return Routing(part, estimate(request, part, walltime), problems, (), "named")
    hours = binding_hours(part, roles, project)
    return Routing(part, estimate(request, part, walltime), problems, (), "named", hours)


def _qos_problems(part: PartitionRef, qos: str, snap: PolicySnapshot) -> list[Violation]:
    """Why ``qos`` cannot be used on the named partition ``part``."""
    scope = f"qos:{qos}"
    if qos not in part.qos:
        return [Violation(Code.QOS_UNKNOWN, f"qos {qos} is not defined on cluster {part.cluster}", scope)]
    allowed = ", ".join(snap.policy.clusters[part.cluster].qos[qos].partitions or ())
    message = f"qos {qos} may not be used on partition {part.name} (only on {allowed or 'none'})"
    return [Violation(Code.QOS_NOT_ALLOWED, message, scope, limit=allowed, requested=part.name)]


def _cheapest(
    request: Request, snap: PolicySnapshot, roles: frozenset[str], project: str | None, default: float
) -> Routing:
    """Rank candidates by cost, then take the first that accepts the job.

    Ranking first means only the partitions cheaper than the winner are checked rule by rule, so a
    policy with a hundred partitions costs a sort, not a hundred full checks. Ties keep file order.
    """
    cands = snap.candidates.get(request.cluster, request.qos, request.gpus > 0)
    if request.qos is not None and not (cands.shared or cands.exclusive) and _nowhere(snap, request):
        where = request.cluster or ", ".join(sorted(snap.clusters))
        unknown = Violation(Code.QOS_UNKNOWN, f"qos {request.qos} is not defined on {where}", f"qos:{request.qos}")
        return Routing(None, estimate(request, None, walltime_for(request, None, default)), [unknown])
    wanted = request.walltime_hours
    ranked = _ranked(request, cands, default if wanted is None else wanted)
    rejected: list[tuple[int, RejectedRoute]] = []
    while ranked:  # pop cheapest first; usually the first or second accepts, so no full sort is paid
        _, order, part = heapq.heappop(ranked)
        walltime = wanted if wanted is not None else part.default_walltime_hours or default
        problems = partition_violations(request, part, roles, project, walltime)
        if problems:
            rejected.append((order, RejectedRoute(part.cluster, part.name, tuple(problems))))
            continue
        reason = _reason(cands.reason, rejected) if rejected else cands.reason
        hours = None if part.hours is None else binding_hours(part, roles, project)
        if hours is None:
            return Routing(part, estimate(request, part, walltime), [], (), reason)
        fallbacks = _fallbacks(request, ranked, rejected, cands, part, roles, project, default)
        return Routing(part, estimate(request, part, walltime), [], (), reason, hours, fallbacks)
    return _no_fit(request, snap, roles, project, default, rejected)


def _nowhere(snap: PolicySnapshot, request: Request) -> bool:
    """Whether every cluster in scope defines QOS and none defines the request's (the failure path only)."""
    scope = snap.candidates.scopes[request.cluster]
    return all(part.qos and request.qos not in part.qos for _, part in scope)


def _ranked(request: Request, cands: Candidates, walltime: float) -> Heap:
    """A heap of (cost at ``walltime``, file order, partition): cheapest first, ties in file order."""
    if len(cands.shared) + len(cands.exclusive) == 1:  # nothing to rank (a one-partition site)
        order, only = (cands.shared or cands.exclusive)[0]
        return [(0.0, order, only)]
    cpu_h, gpu_h = resource_hours(request, walltime)
    mem_h = request.memory_gb * walltime
    ranked = [(cpu_h * p.rates[0] + gpu_h * p.rates[1] + mem_h * p.rates[2], i, p) for i, p in cands.shared]
    if cands.exclusive:  # whole nodes: priced from what the job would hold there
        ranked += [(ranking_cost(request, p, walltime), i, p) for i, p in cands.exclusive]
    heapq.heapify(ranked)  # (cost, order) is unique, so partitions themselves are never compared
    return ranked


def _fallbacks(
    request: Request,
    ranked: Heap,
    rejected: list[tuple[int, RejectedRoute]],
    cands: Candidates,
    first: PartitionRef,
    roles: frozenset[str],
    project: str | None,
    default: float,
) -> tuple[Fallback, ...]:
    """The accepting partitions after ``first`` (which has opening hours), up to one always open to the caller."""
    closed: list[str] = [first.name]
    found: list[Fallback] = []
    count = len(cands.shared) + len(cands.exclusive)
    while ranked:
        _, order, part = heapq.heappop(ranked)
        wanted = request.walltime_hours
        walltime = wanted if wanted is not None else part.default_walltime_hours or default
        problems = partition_violations(request, part, roles, project, walltime)
        if problems:
            rejected.append((order, RejectedRoute(part.cluster, part.name, tuple(problems))))
            continue
        head = f"cheapest open of {count} candidates; closed now: {', '.join(closed)}"
        hours = binding_hours(part, roles, project)
        found.append(Fallback(part, _reason(head, rejected) if rejected else head, hours))
        if hours is None:
            break
        closed.append(part.name)
    return tuple(found)


def _reason(head: str, rejected: list[tuple[int, RejectedRoute]]) -> str:
    """``head`` and the cheaper candidates that were rejected, with their codes (the first few)."""
    names = [f"{r.partition} ({', '.join(v.code for v in r.violations)})" for _, r in rejected[:REASON_NAMES]]
    more = f" and {len(rejected) - REASON_NAMES} more" if len(rejected) > REASON_NAMES else ""
    return f"{head}; cheaper rejected: {', '.join(names)}{more}"


def _no_fit(
    request: Request,
    snap: PolicySnapshot,
    roles: frozenset[str],
    project: str | None,
    default: float,
    rejected: list[tuple[int, RejectedRoute]],
) -> Routing:
    """Nothing accepts the job: every partition in scope, with why (candidates and left-out ones alike)."""
    considered = {order for order, _ in rejected}
    scope = snap.candidates.scopes[request.cluster]

    def check(part: PartitionRef) -> list[Violation]:
        return partition_violations(request, part, roles, project, walltime_for(request, part, default))

    rejected += excluded(request, scope, considered, check)
    no_fit = Violation(
        Code.ROUTE_NO_FIT,
        f"no partition accepts this job ({len(rejected)} considered; see rejected_routes)",
        f"user:{request.user_id}",
    )
    reasons = tuple(r for _, r in sorted(rejected, key=lambda item: item[0]))
    return Routing(None, estimate(request, None, walltime_for(request, None, default)), [no_fit], reasons)

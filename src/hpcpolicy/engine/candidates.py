"""Which partitions routing may choose from, indexed once per policy.

Routing picks among the partitions of the request's cluster (or all) that:

- are not ``routing: explicit`` (those run only jobs that name them);
- have GPU nodes exactly when the job asks for GPUs: a CPU job is never sent to GPU nodes (it would
  hold GPUs others wait for; it may still name such a partition), and a GPU job cannot run where
  there are none;
- allow the request's QOS, if it names one (the partition's variant under that QOS stands in; a cluster
  whose policy defines no QOS takes any, see :func:`~.partitionref.under_qos`).

These depend on the request's cluster, QOS and whether it asks for GPUs only, so the lists are built
per (cluster, QOS, GPU job) when the policy is compiled, and a routed decision costs one lookup to get
them. Why a left-out partition was left out is only worked out when nothing fits (:func:`excluded`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import RejectedRoute, Violation
from hpcpolicy.engine.partitionref import PartitionRef, under_qos
from hpcpolicy.engine.request import Request

Ranked = tuple[tuple[int, PartitionRef], ...]  # (file order, partition)
Key = tuple[str | None, str | None, bool]  # (cluster, QOS, the job asks for GPUs)
#: The key's QOS for any name the scope does not define (only clusters that define no QOS take it).
OTHER_QOS = ""
Check = Callable[[PartitionRef], list[Violation]]


@dataclass(frozen=True, slots=True)
class Candidates:
    shared: Ranked  # cost is resources × rates (the common case, one expression each)
    exclusive: Ranked  # cost is whole nodes × rates
    reason: str  # the route's reason when the cheapest wins: "cheapest of N candidates"


@dataclass(frozen=True, slots=True)
class CandidateIndex:
    scopes: Mapping[str | None, Ranked]  # cluster (None: every cluster) → its partitions in file order
    lists: Mapping[Key, Candidates]  # a QOS no partition in the scope defines: under OTHER_QOS

    def get(self, cluster: str | None, qos: str | None, gpus: bool) -> Candidates:
        found = self.lists.get((cluster, qos, gpus))
        return found if found is not None else self.lists[cluster, OTHER_QOS, gpus]


def candidate_index(parts: tuple[PartitionRef, ...]) -> CandidateIndex:
    ordered = tuple(enumerate(parts))
    scopes: dict[str | None, Ranked] = {None: ordered}
    for name in dict.fromkeys(part.cluster for part in parts):
        scopes[name] = tuple((i, part) for i, part in ordered if part.cluster == name)
    lists: dict[Key, Candidates] = {}
    for cluster, scoped in scopes.items():
        names: list[str | None] = [None, OTHER_QOS, *sorted({q for _, part in scoped for q in part.qos})]
        for qos in names:
            for gpus in (False, True):
                lists[cluster, qos, gpus] = _candidates(scoped, qos, gpus)
    return CandidateIndex(MappingProxyType(scopes), MappingProxyType(lists))


def _candidates(scoped: Ranked, qos: str | None, gpus: bool) -> Candidates:
    picked = []
    for i, part in scoped:
        variant = under_qos(part, qos)
        if variant is not None and not part.explicit and part.gpu_nodes is gpus:
            picked.append((i, variant))
    n = len(picked)
    reason = "the only candidate" if n == 1 else f"cheapest of {n} candidates"
    return Candidates(
        tuple(c for c in picked if not c[1].exclusive), tuple(c for c in picked if c[1].exclusive), reason
    )


def excluded(request: Request, scope: Ranked, considered: set[int], check: Check) -> list[tuple[int, RejectedRoute]]:
    """Why each partition of ``scope`` that routing did not consider could not take the job (no-fit path)."""
    out = []
    qos = request.qos
    for i, part in scope:
        if i in considered:
            continue
        variant = under_qos(part, qos)
        where = f"partition:{part.name}"
        if variant is None:
            allowed = qos in part.qos
            code = Code.QOS_NOT_ALLOWED if allowed else Code.QOS_UNKNOWN
            what = "may not be used on" if allowed else "is not defined on the cluster of"
            found = [Violation(code, f"qos {qos} {what} {part.name}", f"qos:{qos}")]
        elif part.explicit:
            found = [Violation(Code.ROUTE_EXPLICIT, f"{part.name} takes only jobs that name it", where)]
        elif part.gpu_nodes and not request.gpus:
            message = f"{part.name} has GPU nodes: a job without GPUs runs there only if it names it"
            found = [Violation(Code.ROUTE_GPU_NODES, message, where)]
        else:  # a GPU job and a partition without GPUs: its own rules say why
            found = check(variant)
        out.append((i, RejectedRoute(part.cluster, part.name, tuple(found))))
    return out

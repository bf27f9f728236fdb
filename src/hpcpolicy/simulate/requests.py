"""A trace job as the policy sees it at submit: the :class:`~hpcpolicy.engine.Request` a submit hook would send.

* user, project, roles and partition come from the identity mapping (:mod:`.identity`);
* ``cpus`` is the job's processor count, ``gpus`` and ``memory_gb`` what the trace says it asked for;
* ``walltime_hours`` is the *requested* time (what a real submit declares); unknown, it is left out
  and the policy's default walltime applies, as for a real job submitted without a limit;
* ``nodes`` is ``ceil(cpus / cpus_per_node)``: the mapping's ``cpus_per_node`` when given, else the
  node size of the mapped partition, else the largest node in the policy (the fewest nodes).

Requests are cached per distinct job shape; traces repeat shapes (same user, size, limit) a lot.
"""

from __future__ import annotations

from pydantic import ValidationError

from hpcpolicy.engine import PolicySnapshot, Request

from .identity import IdentityMap
from .source import TraceJob

_CACHE_LIMIT = 200_000


class RequestError(ValueError):
    """A trace job that cannot be put into a request (e.g. a user id over 256 characters)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class RequestBuilder:
    def __init__(self, snap: PolicySnapshot, identities: IdentityMap) -> None:
        self.identities = identities
        self.node_cpus = {(p.cluster, p.name): p.spec.nodes.cpus for p in snap.partitions}
        self.node_cpus_by_name: dict[str, int] = {}
        for part in snap.partitions:
            self.node_cpus_by_name.setdefault(part.name, part.spec.nodes.cpus)
        self.default_cpus = identities.cpus_per_node or max(p.spec.nodes.cpus for p in snap.partitions)
        self._cache: dict[tuple[object, ...], Request] = {}

    def request(self, job: TraceJob) -> Request:
        sim = job.sim
        key = (job.user, job.group, job.partition, job.queue, sim.procs, sim.requested, job.gpus, job.memory_gb)
        found = self._cache.get(key)
        if found is not None:
            return found
        ident = self.identities.resolve(job.user, job.group, job.partition, job.queue)
        per_node = self.identities.cpus_per_node or self._node_cpus(ident.cluster, ident.partition)
        try:
            request = Request(
                user_id=ident.user,
                roles=ident.roles,
                project=ident.project,
                cluster=ident.cluster,
                partition=ident.partition,
                cpus=sim.procs,
                gpus=job.gpus,
                memory_gb=job.memory_gb or 0.0,
                nodes=-(-sim.procs // per_node),
                walltime_hours=sim.requested / 3600.0 if sim.requested else None,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise RequestError(job.line, f"job {sim.id}: cannot build a request: {problems}") from None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = request
        return request

    def _node_cpus(self, cluster: str | None, partition: str | None) -> int:
        if partition is None:
            return self.default_cpus
        if cluster is not None:
            return self.node_cpus.get((cluster, partition), self.default_cpus)
        return self.node_cpus_by_name.get(partition, self.default_cpus)

"""A policy compiled for evaluation: lookup tables built once, read by every decision.

Building indexes here (partition by name, project → team → org, members and roles, effective caps)
keeps :func:`evaluate` to dictionary lookups and comparisons. A snapshot is immutable; a policy reload
builds a new one and swaps the reference, so an in-flight decision always sees one consistent policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hpcpolicy.engine.candidates import CandidateIndex, candidate_index
from hpcpolicy.engine.members import Members, compile_members
from hpcpolicy.engine.partitionref import PartitionRef, gpu_rate, partition_ref
from hpcpolicy.engine.quotaref import METERED, QuotaRef, member_tables, quota_refs, with_shares
from hpcpolicy.engine.windows import in_default_zone
from hpcpolicy.policy.schema import Policy, Quota

#: How many per-user refs a snapshot keeps before starting over (a few MB).
BUILT_LIMIT = 50_000

__all__ = ["METERED", "PartitionRef", "PolicySnapshot", "QuotaRef", "compile_policy", "gpu_rate"]


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    policy: Policy
    version: str
    partitions: tuple[PartitionRef, ...]
    partitions_by_name: Mapping[str, tuple[PartitionRef, ...]]
    partitions_by_cluster: Mapping[str, tuple[PartitionRef, ...]]
    clusters: frozenset[str]
    project_parents: Mapping[str, tuple[str, str]]  # project → (team, org)
    scope_quotas: Mapping[str, tuple[QuotaRef, ...]]
    members: Members  # who may charge which project, and the roles the policy grants (members.py)
    project_quotas: Mapping[str, tuple[QuotaRef, ...]]  # project → its, its team's and its org's quotas
    candidates: CandidateIndex  # what routing may pick, per cluster, QOS and GPU job
    member_quotas: Mapping[tuple[str, str | None], tuple[Quota, ...]] = field(default_factory=dict)
    """(project, user) → that member's quotas; (project, None) → every other member's (v2)."""
    sliced: bool = False
    """Whether any quota has a slice or any partition a per-user quota: routing then decides which bind."""
    built: dict[tuple[str, ...], tuple[QuotaRef, ...]] = field(default_factory=dict, compare=False, repr=False)
    """Refs made per user (default user quota, member share, partition per-user quota), kept by
    :meth:`refs_for`: the policy fixes them, and building one costs more than the rest of a decision."""

    def refs_for(self, key: tuple[str, ...], build: Callable[[], tuple[QuotaRef, ...]]) -> tuple[QuotaRef, ...]:
        """``build()``, kept under ``key`` (at most :data:`BUILT_LIMIT` kept: callers name arbitrary users)."""
        found = self.built.get(key)
        if found is None:
            if len(self.built) >= BUILT_LIMIT:
                self.built.clear()
            found = self.built[key] = build()
        return found

    def partition(self, cluster: str, name: str) -> PartitionRef | None:
        for part in self.partitions_by_name.get(name, ()):
            if part.cluster == cluster:
                return part
        return None

    def quotas_for(self, scope: str) -> tuple[QuotaRef, ...]:
        return self.scope_quotas.get(scope, ())

    def user_quotas(self, user_id: str) -> tuple[QuotaRef, ...]:
        """A listed user's own quotas; the default user quota for anyone the policy does not list."""
        scope = f"user:{user_id}"
        if user_id in self.policy.users:
            return self.scope_quotas.get(scope, ())
        return self.refs_for(("user", user_id), lambda: (QuotaRef(scope, scope, self.policy.defaults.user_quota),))

    def quota_ids(self) -> list[str]:
        """The ids of the quotas the policy writes out, in file order (the default user quota aside)."""
        return [ref.id for refs in self.scope_quotas.values() for ref in refs]

    def is_quota_id(self, quota_id: str) -> bool:
        """Whether a usage snapshot keyed ``quota_id`` can be read by some decision.

        Those are the ids of :meth:`quota_ids`; for a user the policy does not list, ``user:<name>`` (the
        default user quota's id, whatever its ``name``: see :meth:`user_quotas`); a member's quota ids
        (``project:<p>/user:<u>``, ``#name`` when named) where the project has member quotas; and every
        user's ``user:<u>#per_user:<partition>`` where the partition has a per-user quota; and
        ``<quota id>@<child scope>``, a child's use of a parent quota it has a share of. A name holding
        ``#`` is not taken for an unlisted user: ``user:erin#monthly`` is a quota of listed erin mistyped.
        """
        parent, at, child = quota_id.partition("@")
        if at:  # a child's use of its parent's shared quota
            refs = self.scope_quotas.get(parent.partition("#")[0], ())
            return any(ref.id == parent and any(s.scope == child for s in ref.shares) for ref in refs)
        scope, _, name = quota_id.partition("#")
        refs = self.scope_quotas.get(scope, ())
        if any(ref.id == quota_id for ref in refs) or self._unlisted_user(quota_id):
            return True
        if name.startswith("per_user:") and scope.startswith("user:"):
            return any(p.name == name.removeprefix("per_user:") and p.spec.per_user for p in self.partitions)
        project, member, user = scope.removeprefix("project:").partition("/user:")
        if not (scope.startswith("project:") and member and user):
            return False
        specs = self.member_quotas.get((project, user), self.member_quotas.get((project, None), ()))
        return quota_id in {ref.id for ref in quota_refs(scope, specs)}

    def is_scope(self, scope: str) -> bool:
        """Whether ``scope`` is an org, team, project or listed user of the policy, any other user, or a
        member of a project of the policy; or such a scope in a slice (``scope[partitions=...]``, the key
        of a sliced quota's concurrency)."""
        if scope.endswith("]") and "[" in scope:
            return self.is_scope(scope.partition("[")[0])
        project, member, user = scope.removeprefix("project:").partition("/user:")
        if scope.startswith("project:") and member and user:
            return project in self.project_parents
        return scope in self.scope_quotas or self._unlisted_user(scope)

    def _unlisted_user(self, key: str) -> bool:
        kind, _, name = key.partition(":")
        return kind == "user" and bool(name) and "#" not in name and name not in self.policy.users


def compile_policy(policy: Policy, version: str) -> PolicySnapshot:
    policy = in_default_zone(policy)  # defaults.timezone into every calendar window that names no zone
    parts = tuple(
        partition_ref(cluster_name, name, spec, cluster.qos)
        for cluster_name, cluster in policy.clusters.items()
        for name, spec in cluster.partitions.items()
    )
    by_name: dict[str, list[PartitionRef]] = {}
    for ref in parts:
        by_name.setdefault(ref.name, []).append(ref)
    parents: dict[str, tuple[str, str]] = {}
    quotas: dict[str, tuple[QuotaRef, ...]] = {}
    for org_name, org in policy.orgs.items():
        quotas[f"org:{org_name}"] = _refs(f"org:{org_name}", org.quotas)
        for team_name, team in org.teams.items():
            quotas[f"team:{team_name}"] = _refs(f"team:{team_name}", team.quotas)
            for project_name, project in team.projects.items():
                parents[project_name] = (team_name, org_name)
                quotas[f"project:{project_name}"] = _refs(f"project:{project_name}", project.quotas)
    with_shares(policy, quotas)
    path_quotas = {
        project: quotas[f"project:{project}"] + quotas[f"team:{team}"] + quotas[f"org:{org}"]
        for project, (team, org) in parents.items()
    }
    for user_name, user in policy.users.items():
        quotas[f"user:{user_name}"] = _refs(f"user:{user_name}", user.quotas)
    member_specs, per_user = member_tables(policy)
    sliced = per_user or any(ref.slice is not None for refs in quotas.values() for ref in refs)
    return PolicySnapshot(
        policy=policy,
        version=version,
        partitions=parts,
        partitions_by_name=MappingProxyType({k: tuple(v) for k, v in by_name.items()}),
        partitions_by_cluster=MappingProxyType({c: tuple(p for p in parts if p.cluster == c) for c in policy.clusters}),
        clusters=frozenset(policy.clusters),
        project_parents=MappingProxyType(parents),
        scope_quotas=MappingProxyType(quotas),
        members=compile_members(policy),
        project_quotas=MappingProxyType(path_quotas),
        candidates=candidate_index(parts),
        member_quotas=MappingProxyType(member_specs),
        sliced=sliced,
    )


def _refs(scope: str, quotas: list[Quota] | tuple[Quota, ...]) -> tuple[QuotaRef, ...]:
    return quota_refs(scope, quotas)



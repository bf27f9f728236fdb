"""A policy compiled for evaluation: lookup tables built once, read by every decision.

Building indexes here (partition by name, project → team → org, roles granted per user, effective caps)
keeps :func:`evaluate` to dictionary lookups and comparisons. A snapshot is immutable; a policy reload
builds a new one and swaps the reference, so an in-flight decision always sees one consistent policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from hpcpolicy.engine.windows import INSTANT, MONTHS, as_utc, calendar_period, describe
from hpcpolicy.policy.schema import FixedWindow, Partition, Policy, Quota, RollingWindow

#: Metered quota metrics, in the order of :class:`~hpcpolicy.engine.usage.Amounts` fields.
METERED = ("cpu_hours", "gpu_hours", "cost")


@dataclass(frozen=True, slots=True)
class QuotaRef:
    """A quota attached to a scope. ``id`` keys the usage snapshot (``scope`` or ``scope#name``).

    Derived at construction so the hot loop does no lookups: ``metered`` lists (index into
    :data:`METERED`, limit) for the metrics this quota bounds; ``fixed`` holds a fixed allocation's UTC
    bounds; ``concurrent`` says whether it limits jobs or GPUs; ``rolling`` (a rolling window's span)
    and ``months`` (a calendar period's length, else 0) let :meth:`bounds` skip the window's dispatch;
    ``window_label`` is the window as messages name it (:func:`~hpcpolicy.engine.windows.describe`).
    """

    id: str
    scope: str
    quota: Quota
    metered: tuple[tuple[int, float], ...] = field(init=False)
    fixed: tuple[datetime, datetime] | None = field(init=False)
    concurrent: bool = field(init=False)
    rolling: timedelta | None = field(init=False)
    months: int = field(init=False)
    window_label: str = field(init=False)

    def __post_init__(self) -> None:
        q, window = self.quota, self.quota.window
        metered = tuple((i, limit) for i, name in enumerate(METERED) if (limit := getattr(q, name)) is not None)
        object.__setattr__(self, "metered", metered)
        fixed = (as_utc(window.start), as_utc(window.end)) if isinstance(window, FixedWindow) else None
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "concurrent", q.max_jobs is not None or q.max_gpus is not None)
        rolling = timedelta(days=window.rolling_days) if isinstance(window, RollingWindow) else None
        object.__setattr__(self, "rolling", rolling)
        object.__setattr__(self, "months", 0 if isinstance(window, RollingWindow | FixedWindow) else MONTHS[window])
        object.__setattr__(self, "window_label", describe(window))

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """``window_bounds(self.quota.window, now)``: the ``[start, end)`` of this quota's current window."""
        if now.tzinfo is not UTC:
            now = as_utc(now)
        if self.rolling is not None:
            return now - self.rolling, now + INSTANT
        if self.fixed is not None:
            return self.fixed
        return calendar_period(self.months, now.year, now.month)


@dataclass(frozen=True, slots=True)
class PartitionRef:
    """A partition with its effective per-job caps (the configured cap, bounded by the hardware)."""

    cluster: str
    name: str
    spec: Partition
    max_cpus: int
    max_gpus: int
    max_memory_gb: float
    max_nodes: int
    max_walltime_hours: float | None
    default_walltime_hours: float | None
    gpu_types: frozenset[str] | None
    roles: frozenset[str]
    deny_roles: frozenset[str]
    projects: frozenset[str]
    deny_projects: frozenset[str]
    rates: tuple[float, float, float]  # per CPU-hour, per GPU-hour of the nodes' GPU type, per GB-hour


def gpu_rate(part: Partition, gpu_type: str | None) -> float:
    """The rate for ``gpu_type`` (default: the nodes' type), falling back to the ``default`` entry."""
    table = part.rates.gpu_hour
    wanted = gpu_type or part.nodes.gpu_type or "default"
    return table.get(wanted, table.get("default", 0.0))


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
    user_roles: Mapping[str, frozenset[str]]  # roles the policy grants (own + groups')
    project_quotas: Mapping[str, tuple[QuotaRef, ...]]  # project → its, its team's and its org's quotas

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
        return (QuotaRef(scope, scope, self.policy.defaults.user_quota),)

    def quota_ids(self) -> list[str]:
        """The ids of the quotas the policy writes out, in file order (the default user quota aside)."""
        return [ref.id for refs in self.scope_quotas.values() for ref in refs]

    def is_quota_id(self, quota_id: str) -> bool:
        """Whether a usage snapshot keyed ``quota_id`` can be read by some decision.

        Those are the ids of :meth:`quota_ids` and, for a user the policy does not list, ``user:<name>``
        (the default user quota's id, whatever its ``name``: see :meth:`user_quotas`). A name holding
        ``#`` is not taken for an unlisted user: ``user:erin#monthly`` is a quota of listed erin mistyped.
        """
        refs = self.scope_quotas.get(quota_id.partition("#")[0], ())
        return any(ref.id == quota_id for ref in refs) or self._unlisted_user(quota_id)

    def is_scope(self, scope: str) -> bool:
        """Whether ``scope`` is an org, team, project or listed user of the policy, or any other user."""
        return scope in self.scope_quotas or self._unlisted_user(scope)

    def _unlisted_user(self, key: str) -> bool:
        kind, _, name = key.partition(":")
        return kind == "user" and bool(name) and "#" not in name and name not in self.policy.users


def compile_policy(policy: Policy, version: str) -> PolicySnapshot:
    parts = tuple(
        _partition_ref(cluster_name, name, spec)
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
    path_quotas = {
        project: quotas[f"project:{project}"] + quotas[f"team:{team}"] + quotas[f"org:{org}"]
        for project, (team, org) in parents.items()
    }
    roles: dict[str, frozenset[str]] = {}
    for user_name, user in policy.users.items():
        quotas[f"user:{user_name}"] = _refs(f"user:{user_name}", user.quotas)
        granted = set(user.roles)
        for group in user.groups:
            if group in policy.groups:
                granted.update(policy.groups[group].roles)
        roles[user_name] = frozenset(granted)
    return PolicySnapshot(
        policy=policy,
        version=version,
        partitions=parts,
        partitions_by_name=MappingProxyType({k: tuple(v) for k, v in by_name.items()}),
        partitions_by_cluster=MappingProxyType({c: tuple(p for p in parts if p.cluster == c) for c in policy.clusters}),
        clusters=frozenset(policy.clusters),
        project_parents=MappingProxyType(parents),
        scope_quotas=MappingProxyType(quotas),
        user_roles=MappingProxyType(roles),
        project_quotas=MappingProxyType(path_quotas),
    )


def _refs(scope: str, quotas: list[Quota]) -> tuple[QuotaRef, ...]:
    if len(quotas) == 1 and quotas[0].name is None:
        return (QuotaRef(scope, scope, quotas[0]),)
    return tuple(QuotaRef(f"{scope}#{q.name}" if q.name else scope, scope, q) for q in quotas)


def _cap(configured: float | None, physical: float) -> float:
    return physical if configured is None else min(configured, physical)


def _partition_ref(cluster: str, name: str, spec: Partition) -> PartitionRef:
    nodes, limits, access = spec.nodes, spec.limits, spec.access
    return PartitionRef(
        cluster=cluster,
        name=name,
        spec=spec,
        max_cpus=int(_cap(limits.max_cpus, nodes.count * nodes.cpus)),
        max_gpus=int(_cap(limits.max_gpus, nodes.count * nodes.gpus)),
        max_memory_gb=_cap(limits.max_memory_gb, nodes.count * nodes.memory_gb),
        max_nodes=int(_cap(limits.max_nodes, nodes.count)),
        max_walltime_hours=limits.max_walltime_hours,
        default_walltime_hours=limits.default_walltime_hours,
        gpu_types=frozenset(limits.gpu_types) if limits.gpu_types is not None else None,
        roles=frozenset(access.roles),
        deny_roles=frozenset(access.deny_roles),
        projects=frozenset(access.projects),
        deny_projects=frozenset(access.deny_projects),
        rates=(spec.rates.cpu_hour, gpu_rate(spec, None), spec.rates.memory_gb_hour),
    )

"""A small fluent builder for test policies, and helpers to evaluate requests against them.

The base policy is deliberately minimal: cluster ``hpc`` (Slurm) with one partition ``cpu``
(4 nodes × 32 CPUs × 128 GB, 1 credit per CPU-hour), org ``org`` → team ``team`` → project ``proj``,
and user ``u`` who belongs to ``proj``. No quotas anywhere, so a test adds only the rule it exercises::

    snap = PolicyBuilder().partition("gpu", nodes=gpu_nodes(2)).project_quota(cpu_hours=10).snapshot()
    decision = decide(snap, cpus=2, walltime_hours=3)

The builder edits a plain dict and validates it through :class:`Policy` at ``build()``, so a test policy
is checked exactly as a file would be (lint is not run: ``lint_issues()`` does that on demand).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from hpcpolicy.engine import Decision, PolicySnapshot, Request, UsageSnapshot, compile_policy, evaluate
from hpcpolicy.engine.usage import EMPTY_USAGE
from hpcpolicy.policy.errors import PolicyIssue
from hpcpolicy.policy.lint import lint
from hpcpolicy.policy.schema import Policy

#: The instant every test decides at unless it says otherwise (mid-March: monthly and quarterly differ).
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
#: The example policy as written for v1, before it moved to v2 (v1 files must still load and migrate).
EXAMPLE_V1 = Path(__file__).parent / "data" / "policies" / "example_v1.yaml"

CPU_NODES: dict[str, Any] = {"count": 4, "cpus": 32, "memory_gb": 128}


def gpu_nodes(count: int = 2, gpus: int = 4, gpu_type: str = "a100", cpus: int = 64, memory_gb: float = 512) -> dict:
    return {"count": count, "cpus": cpus, "memory_gb": memory_gb, "gpus": gpus, "gpu_type": gpu_type}


class PolicyBuilder:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            "apiVersion": "hpcpolicy/v2",
            "metadata": {"name": "test"},
            "clusters": {"hpc": {"scheduler": "slurm", "partitions": {}}},
            "orgs": {"org": {"teams": {"team": {"projects": {"proj": {}}}}}},
            "users": {"u": {"projects": ["proj"]}},
        }
        self.partition("cpu")

    # -- infrastructure ------------------------------------------------------------------------------
    def cluster(self, name: str, scheduler: str = "slurm") -> PolicyBuilder:
        self.data["clusters"].setdefault(name, {"scheduler": scheduler, "partitions": {}})
        return self

    def partition(
        self,
        name: str,
        cluster: str = "hpc",
        nodes: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        access: dict[str, Any] | None = None,
        rates: dict[str, Any] | None = None,
    ) -> PolicyBuilder:
        """Add (or replace) a partition; unspecified parts default to CPU nodes at 1 credit per CPU-hour."""
        self.cluster(cluster)
        spec: dict[str, Any] = {"nodes": nodes or dict(CPU_NODES)}
        spec["rates"] = rates if rates is not None else {"cpu_hour": 1.0}
        if limits:
            spec["limits"] = limits
        if access:
            spec["access"] = access
        self.data["clusters"][cluster]["partitions"][name] = spec
        return self

    def limits(self, partition: str = "cpu", cluster: str = "hpc", **caps: Any) -> PolicyBuilder:
        self._partition(partition, cluster).setdefault("limits", {}).update(caps)
        return self

    def access(self, partition: str = "cpu", cluster: str = "hpc", **lists: Any) -> PolicyBuilder:
        self._partition(partition, cluster).setdefault("access", {}).update(lists)
        return self

    def rates(self, partition: str = "cpu", cluster: str = "hpc", **rates: Any) -> PolicyBuilder:
        self._partition(partition, cluster)["rates"] = rates
        return self

    # -- accounts ------------------------------------------------------------------------------------
    def project(self, name: str, team: str = "team", org: str = "org") -> PolicyBuilder:
        teams = self.data["orgs"].setdefault(org, {}).setdefault("teams", {})
        teams.setdefault(team, {}).setdefault("projects", {}).setdefault(name, {})
        return self

    def user(self, name: str = "u", **fields: Any) -> PolicyBuilder:
        """Add or update a user (``projects``, ``default_project``, ``roles``, ``groups``, ``quotas``)."""
        self.data["users"].setdefault(name, {}).update(fields)
        return self

    def group(self, name: str, roles: list[str]) -> PolicyBuilder:
        self.data.setdefault("groups", {})[name] = {"roles": roles}
        return self

    # -- quotas (each call appends one quota to the scope) -------------------------------------------
    def org_quota(self, org: str = "org", **quota: Any) -> PolicyBuilder:
        self.data["orgs"][org].setdefault("quotas", []).append(quota)
        return self

    def team_quota(self, team: str = "team", org: str = "org", **quota: Any) -> PolicyBuilder:
        self.data["orgs"][org]["teams"][team].setdefault("quotas", []).append(quota)
        return self

    def project_quota(self, project: str = "proj", team: str = "team", org: str = "org", **quota: Any) -> PolicyBuilder:
        self.project(project, team, org)
        self.data["orgs"][org]["teams"][team]["projects"][project].setdefault("quotas", []).append(quota)
        return self

    def user_quota(self, user: str = "u", **quota: Any) -> PolicyBuilder:
        self.data["users"][user].setdefault("quotas", []).append(quota)
        return self

    # -- policy-wide ---------------------------------------------------------------------------------
    def defaults(self, **fields: Any) -> PolicyBuilder:
        self.data.setdefault("defaults", {}).update(fields)
        return self

    def guards(self, **fields: Any) -> PolicyBuilder:
        self.data.setdefault("guards", {}).update(fields)
        return self

    def set(self, dotted: str, value: Any) -> PolicyBuilder:
        """Escape hatch: set any key by dotted path (``clusters.hpc.partitions.cpu.nodes.count``)."""
        *parents, last = dotted.split(".")
        node = self.data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
        return self

    # -- outputs -------------------------------------------------------------------------------------
    def build(self) -> Policy:
        return Policy.model_validate(copy.deepcopy(self.data))

    def snapshot(self, version: str = "test@0") -> PolicySnapshot:
        return compile_policy(self.build(), version)

    def yaml(self) -> str:
        return yaml.safe_dump(self.data, sort_keys=False)

    def lint_issues(self) -> list[PolicyIssue]:
        return lint(self.build())

    def _partition(self, name: str, cluster: str) -> dict[str, Any]:
        partition: dict[str, Any] = self.data["clusters"][cluster]["partitions"][name]
        return partition


def snapshot_of(policy: Policy, version: str = "test@0") -> PolicySnapshot:
    return compile_policy(policy, version)


def decide(
    snap: PolicySnapshot, usage: UsageSnapshot = EMPTY_USAGE, now: datetime = NOW, **request: Any
) -> Decision:
    """Evaluate a request built from keyword fields; ``user_id`` defaults to ``u``."""
    request.setdefault("user_id", "u")
    return evaluate(Request(**request), snap, usage, now=now)


def codes(decision: Decision) -> set[str]:
    return set(decision.codes)

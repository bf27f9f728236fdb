"""Cross-reference checks for where jobs run (policy v2): minimums, QOS and opening hours.

Each problem is returned with the path it concerns and says what to write instead. A minimum above
what a job may ask for, or a QOS that names a partition its cluster does not have, makes the policy
wrong (errors); an exemption that exempts everyone, or a role in a QOS's access or an exemption that
nothing in the policy grants, is merely suspicious (a warning: tokens may still assert it).
"""

from __future__ import annotations

from collections.abc import Iterator

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.schema import Access, Cluster, JobLimits, NodeShape, Policy
from hpcpolicy.policy.unreachable import ROLE_SOURCES

#: (minimum, the cap it must not exceed, the per-node size the hardware multiplies; None: nodes themselves)
_BOUNDS = (
    ("min_cpus", "max_cpus", "cpus"),
    ("min_gpus", "max_gpus", "gpus"),
    ("min_memory_gb", "max_memory_gb", "memory_gb"),
    ("min_nodes", "max_nodes", None),
)


def partition_issues(policy: Policy, projects: set[str]) -> Iterator[PolicyIssue]:
    """Every problem with the v2 partition constructs of ``policy`` (``projects``: the names that exist)."""
    held = {role for source in ROLE_SOURCES for role in source(policy)}
    for cluster_name, cluster in policy.clusters.items():
        base: Path = ("clusters", cluster_name)
        for name, part in cluster.partitions.items():
            where: Path = (*base, "partitions", name)
            yield from _limits((*where, "limits"), part.limits, part.nodes)
            if part.schedule is not None and part.schedule.exempt is not None:
                exempt: Path = (*where, "schedule", "exempt")
                yield from _exempt(exempt, part.schedule.exempt, projects)
                yield from _unheld(exempt, part.schedule.exempt, held, f"be exempt from {name}'s opening hours")
        yield from _qos(base, cluster, projects)
        for qos_name, qos in cluster.qos.items():
            yield from _unheld((*base, "qos", qos_name, "access"), qos.access, held, f"use qos {qos_name}")


def _limits(
    path: Path, limits: JobLimits, nodes: NodeShape, set_here: set[str] | None = None, context: str = ""
) -> Iterator[PolicyIssue]:
    """Minimums no job can meet: above the cap (or the hardware) of the same resource. With ``set_here``
    (a QOS's own fields), only the pairs it sets a side of: the partition's own are checked there."""
    for low, high, per_node in _BOUNDS:
        if set_here is not None and not {low, high} & set_here:
            continue
        physical = nodes.count * (getattr(nodes, per_node) if per_node else 1)
        least, cap = getattr(limits, low), getattr(limits, high)
        most = physical if cap is None else min(cap, physical)
        if least is not None and least > most:
            bound = f"{high} {most:g}" if cap is not None and cap <= physical else f"the hardware's {most:g}"
            field = low if set_here is None or low in set_here else high
            message = f"{low} {least:g} is above {bound}{context}: no job could run; lower {low} or raise {high}"
            yield PolicyIssue((*path, field), message)


def _qos(base: Path, cluster: Cluster, projects: set[str]) -> Iterator[PolicyIssue]:
    for qos_name, qos in cluster.qos.items():
        path: Path = (*base, "qos", qos_name)
        names = list(cluster.partitions)
        for i, partition in enumerate(qos.partitions or ()):
            if partition not in cluster.partitions:
                yield PolicyIssue(
                    (*path, "partitions", i),
                    f"unknown partition {partition!r}: this cluster has {', '.join(names)}",
                )
        if qos.partitions == []:
            message = "is empty: no job may use this QOS (leave it out to allow every partition)"
            yield PolicyIssue((*path, "partitions"), message, "warning")
        own = set(qos.limits.model_fields_set)
        for name in qos.partitions if qos.partitions is not None else names:
            part = cluster.partitions.get(name)
            if part is None or not own:
                continue
            merged = part.limits.model_copy(update={f: getattr(qos.limits, f) for f in own})
            yield from _limits((*path, "limits"), merged, part.nodes, own, f" on partition {name}")
            wall, default = merged.max_walltime_hours, merged.default_walltime_hours
            walltimes = own & {"max_walltime_hours", "default_walltime_hours"}
            if wall is not None and default is not None and default > wall and walltimes:
                field = "default_walltime_hours" if "default_walltime_hours" in own else "max_walltime_hours"
                yield PolicyIssue(
                    (*path, "limits", field),
                    f"on partition {name} the default walltime ({default:g} h) would exceed the cap ({wall:g} h)",
                )
        yield from _unknown_projects((*path, "access"), qos.access, projects)


def _exempt(path: Path, access: Access, projects: set[str]) -> Iterator[PolicyIssue]:
    if not (access.roles or access.projects):
        yield PolicyIssue(
            path,
            "exempts everyone (no roles or projects listed), so the schedule never applies; "
            "list who is exempt, as {roles: [staff]}",
            "warning",
        )
    yield from _unknown_projects(path, access, projects)


def _unheld(path: Path, access: Access, held: set[str], what: str) -> Iterator[PolicyIssue]:
    """Roles ``access`` asks for that no user or group holds (as :mod:`.unreachable` says of partitions)."""
    for i, role in enumerate(access.roles):
        if role not in held and role not in access.deny_roles:
            yield PolicyIssue(
                (*path, "roles", i),
                f"no user or group in the policy holds role {role!r}; only tokens asserting it can {what}: grant "
                "it to a user (users.<name>.roles) or a group (groups.<name>.roles), or remove it",
                "warning",
            )


def _unknown_projects(path: Path, access: Access, projects: set[str]) -> Iterator[PolicyIssue]:
    for key in ("projects", "deny_projects"):
        for i, project in enumerate(getattr(access, key)):
            if project not in projects:
                yield PolicyIssue((*path, key, i), f"unknown project {project!r}")

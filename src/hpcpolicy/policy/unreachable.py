"""Lint warnings for rules that can never match: they load, but say something the admin did not mean.

* a role that a partition's access or a guard requires and that nothing in the policy grants (only a
  token or gateway asserting it could pass);
* a partition nobody may use (its allow lists are all denied, or name only projects without members);
* a quota on a scope no request can reach (a project nobody may charge, a team or org of such projects);
* a budget smaller than one default job: ``cpu_hours`` below 1 CPU × the shortest default walltime of the
  partitions its scope's jobs may use (the partition's ``default_walltime_hours``, else
  ``defaults.walltime_hours``), so every job that names no shorter walltime is denied.

Warnings only: a policy may mean them (a frozen project, roles that come from tokens alone). Who holds
roles and who may charge projects are read from :data:`ROLE_SOURCES` and :data:`MEMBER_SOURCES`: a new
way of granting them (project roles, group membership) is one entry there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.schema import Access, Partition, Policy, Quota
from hpcpolicy.policy.schema.quotas import Slice

#: Where roles are granted: each yields roles some user holds.
ROLE_SOURCES: tuple[Callable[[Policy], Iterable[str]], ...] = (
    lambda p: (role for user in p.users.values() for role in user.roles),
    lambda p: (role for group in p.groups.values() for role in group.roles),
)
#: Where project membership is granted: each yields ``(project, member)`` pairs.
MEMBER_SOURCES: tuple[Callable[[Policy], Iterable[tuple[str, str]]], ...] = (
    lambda p: ((project, f"user {name}") for name, user in p.users.items() for project in user.projects),
)
#: Said in every warning about members, so the admin knows every way to grant membership.
HOW_TO_JOIN = "list it in a user's projects"

PartitionAt = tuple[Path, str, Partition]  # (path, "cluster/partition", spec)
Budget = tuple[Path, list[str | None], Quota]  # (path, the projects its jobs may charge: None for none, quota)


def unreachable(policy: Policy) -> list[PolicyIssue]:
    held = {role for source in ROLE_SOURCES for role in source(policy)}
    members: dict[str, set[str]] = {}
    for source in MEMBER_SOURCES:
        for project, member in source(policy):
            members.setdefault(project, set()).add(member)
    parts: list[PartitionAt] = [
        (("clusters", c, "partitions", name), f"{c}/{name}", spec)
        for c, cluster in policy.clusters.items()
        for name, spec in cluster.partitions.items()
    ]
    return [
        *_roles_nobody_holds(policy, parts, held),
        *_partitions_nobody_may_use(parts, members),
        *_scopes_without_requests(policy, members),
        *_budgets_below_one_job(policy, parts),
    ]


def _roles_nobody_holds(policy: Policy, parts: list[PartitionAt], held: set[str]) -> Iterator[PolicyIssue]:
    fix = "grant it to a user (users.<name>.roles) or a group (groups.<name>.roles)"
    for path, label, spec in parts:
        for i, role in enumerate(spec.access.roles):
            if role not in held and role not in spec.access.deny_roles:
                yield _warn(
                    (*path, "access", "roles", i),
                    f"no user or group in the policy holds role {role!r}; only tokens asserting it can use {label}: "
                    f"{fix}, or remove it",
                )
    gpu = policy.guards.gpu
    if gpu is not None and gpu.role not in held and any(spec.nodes.gpus for _, _, spec in parts):
        yield _warn(
            ("guards", "gpu", "role"),
            f"no user or group in the policy holds role {gpu.role!r}; only tokens asserting it can run GPU jobs: "
            f"{fix}, or set `guards: {{gpu: null}}` to let anyone run them",
        )
    expensive = policy.guards.expensive_job
    if expensive is not None and expensive.role not in held:
        yield _warn(
            ("guards", "expensive_job", "role"),
            f"no user or group in the policy holds role {expensive.role!r}; only tokens asserting it can run jobs "
            f"above {expensive.cost_threshold:g}: {fix}",
        )


def _partitions_nobody_may_use(parts: list[PartitionAt], members: dict[str, set[str]]) -> Iterator[PolicyIssue]:
    for path, label, spec in parts:
        access = spec.access
        if access.roles and set(access.roles) <= set(access.deny_roles):
            yield _warn(
                (*path, "access", "deny_roles"),
                f"denies every role that access.roles requires: nobody may use {label}; remove them from one list",
            )
        allowed = [p for p in access.projects if p not in access.deny_projects]
        if access.projects and not allowed:
            yield _warn(
                (*path, "access", "deny_projects"),
                f"denies every project that access.projects allows: nobody may use {label}; remove them from one list",
            )
        elif access.projects and not any(members.get(p) for p in allowed):
            yield _warn(
                (*path, "access", "projects"),
                f"no request can charge {_names(allowed)} (no members): nobody may use {label}; {HOW_TO_JOIN}",
            )


def _scopes_without_requests(policy: Policy, members: dict[str, set[str]]) -> Iterator[PolicyIssue]:
    for org_name, org in policy.orgs.items():
        org_path: Path = ("orgs", org_name)
        org_reached = False
        for team_name, team in org.teams.items():
            team_path: Path = (*org_path, "teams", team_name)
            team_reached = False
            for project_name, project in team.projects.items():
                reached = bool(members.get(project_name))
                team_reached |= reached
                if project.quotas and not reached:
                    yield _warn(
                        (*team_path, "projects", project_name, "quotas"),
                        f"no user is a member of project {project_name}: no request can charge it, so these quotas "
                        f"never count a job; {HOW_TO_JOIN}, or remove them",
                    )
            org_reached |= team_reached
            if team.quotas and not team_reached:
                yield _warn(
                    (*team_path, "quotas"),
                    f"no project of team {team_name} has members: no request reaches these quotas; {HOW_TO_JOIN}",
                )
        if org.quotas and not org_reached:
            yield _warn(
                (*org_path, "quotas"),
                f"no project of org {org_name} has members: no request reaches these quotas; {HOW_TO_JOIN}",
            )


def _budgets_below_one_job(policy: Policy, parts: list[PartitionAt]) -> Iterator[PolicyIssue]:
    """``cpu_hours`` below the smallest default job on the partitions the scope's jobs may use (within the
    quota's slice, for a sliced quota)."""
    smallest = _smallest_jobs(policy, parts)
    for path, projects, quota in _budgets(policy, parts):
        if quota.cpu_hours is None:
            continue
        if quota.slice is None:
            jobs = [job for p in projects if (job := smallest(p)) is not None]
        else:  # rare: the partitions of the slice, one by one
            jobs = [_default_job(policy, label, spec) for at, label, spec in parts
                    if _in_slice(at, spec, quota.slice) and any(_admits(spec.access, p) for p in projects)]  # fmt: skip
        if not jobs:
            continue
        hours, label = min(jobs)
        if quota.cpu_hours < hours:
            yield _warn(
                (*path, "cpu_hours"),
                f"{quota.cpu_hours:g} CPU-hours is less than the smallest default job its jobs can run "
                f"(1 CPU for the {hours:g} h default walltime of {label}): every job that names no shorter "
                f"walltime is denied; raise it to at least {hours:g}",
            )


def _budgets(policy: Policy, parts: list[PartitionAt]) -> Iterator[Budget]:
    """Every quota with its path and the projects its jobs charge (None: jobs that charge none)."""
    yield ("defaults", "user_quota"), [None], policy.defaults.user_quota  # unlisted users charge no project
    for org_name, org in policy.orgs.items():
        everything: list[str | None] = [p for team in org.teams.values() for p in team.projects]
        yield from _each(("orgs", org_name, "quotas"), everything, org.quotas)
        for team_name, team in org.teams.items():
            team_path: Path = ("orgs", org_name, "teams", team_name)
            yield from _each((*team_path, "quotas"), list(team.projects), team.quotas)
            for name, project in team.projects.items():
                yield from _each((*team_path, "projects", name, "quotas"), [name], project.quotas)
                yield from _each((*team_path, "projects", name, "member_quotas"), [name], project.member_quotas)
                for member_name, member in project.members.items():
                    at: Path = (*team_path, "projects", name, "members", member_name, "quotas")
                    yield from _each(at, [name], member.quotas)
    for user_name, user in policy.users.items():
        yield from _each(("users", user_name, "quotas"), list(user.projects) or [None], user.quotas)
    for where, _, spec in parts:
        if spec.per_user is not None:  # every user's, sliced to this partition, for any job it admits
            piece = Slice(clusters=[str(where[1])], partitions=[str(where[3])])
            yield (*where, "per_user"), [*spec.access.projects, None], spec.per_user.model_copy(update={"slice": piece})


def _each(path: Path, projects: list[str | None], quotas: list[Quota]) -> Iterator[Budget]:
    for i, quota in enumerate(quotas):
        yield (*path, i), projects, quota


def _in_slice(at: Path, spec: Partition, piece: Slice) -> bool:
    gpu_types = {spec.nodes.gpu_type, *(spec.limits.gpu_types or ())}
    return (
        (piece.clusters is None or at[1] in piece.clusters)
        and (piece.partitions is None or at[3] in piece.partitions)
        and (piece.gpu_types is None or bool(gpu_types & set(piece.gpu_types)))
    )


def _admits(access: Access, project: str | None) -> bool:
    """Whether the project lists let a job charging ``project`` in (roles aside: someone may hold them)."""
    if project is not None and project in access.deny_projects:
        return False
    return not access.projects or project in access.projects


def _default_job(policy: Policy, label: str, spec: Partition) -> tuple[float, str]:
    return spec.limits.default_walltime_hours or policy.defaults.walltime_hours, label


def _smallest_jobs(policy: Policy, parts: list[PartitionAt]) -> Callable[[str | None], tuple[float, str] | None]:
    """For a project (None: none), ``(hours, partition)`` of its smallest default job: 1 CPU for the shortest
    default walltime among the partitions whose project lists admit it (roles aside: someone may hold them).

    Linear in the partitions and access lists, not their product with the projects: large policies
    (thousands of projects and users) load in the time they did.
    """
    default = policy.defaults.walltime_hours
    jobs = sorted(((s.limits.default_walltime_hours or default, label, s.access) for _, label, s in parts),
                  key=lambda job: job[0])  # fmt: skip
    reserved: dict[str, tuple[float, str]] = {}  # the smallest job on partitions reserved for the project
    for hours, label, access in jobs:
        for project in access.projects:
            if project not in access.deny_projects:
                reserved.setdefault(project, (hours, label))
    open_to_all = [job for job in jobs if not job[2].projects]

    def smallest(project: str | None) -> tuple[float, str] | None:
        best = reserved.get(project) if project is not None else None
        for hours, label, access in open_to_all:  # ascending: the first that admits the project is smallest
            if project is None or project not in access.deny_projects:
                return (hours, label) if best is None or hours < best[0] else best
        return best

    return smallest


def _names(projects: list[str]) -> str:
    return f"project {projects[0]}" if len(projects) == 1 else "projects " + ", ".join(projects)


def _warn(path: Path, message: str) -> PolicyIssue:
    return PolicyIssue(path, message, "warning")

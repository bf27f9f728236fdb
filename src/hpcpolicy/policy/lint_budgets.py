"""Cross-reference checks for v2 budgets: slices that name what exists, member and per-user quotas,
hour weights for GPU types the partition has."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from hpcpolicy.policy.errors import Path, PolicyIssue
from hpcpolicy.policy.schema import Policy, Quota
from hpcpolicy.policy.schema.accounts import Share


def lint_budgets(policy: Policy) -> Iterator[PolicyIssue]:
    yield from _slices_and_partitions(policy)
    yield from _edges(policy)
    yield from _shares(policy)


def _slices_and_partitions(policy: Policy) -> Iterator[PolicyIssue]:
    clusters = set(policy.clusters)
    partitions = {name for c in policy.clusters.values() for name in c.partitions}
    gpu_types = {
        t
        for c in policy.clusters.values()
        for p in c.partitions.values()
        for t in (p.nodes.gpu_type, *(p.limits.gpu_types or ()))
        if t
    }
    known = {"clusters": clusters, "partitions": partitions, "gpu_types": gpu_types}
    for path, quota in _quotas(policy):
        if quota.slice is None:
            continue
        for field, names in known.items():
            for i, name in enumerate(getattr(quota.slice, field) or ()):
                if name not in names:
                    listed = ", ".join(sorted(names)) or "none"
                    message = f"unknown {field[:-1]} {name!r} (the policy has: {listed})"
                    yield PolicyIssue((*path, "slice", field, i), message)
    for cluster_name, cluster in policy.clusters.items():
        for part_name, part in cluster.partitions.items():
            base: Path = ("clusters", cluster_name, "partitions", part_name)
            if part.per_user is not None and (part.per_user.name or part.per_user.slice):
                yield PolicyIssue(
                    (*base, "per_user"),
                    "a per-user quota takes no name or slice: its partition is its slice, its id user:<u>#per_user:"
                    f"{part_name}",
                )
            weights = part.hour_weights
            if weights is not None and isinstance(weights.gpu, dict):
                offered = {part.nodes.gpu_type, *(part.limits.gpu_types or ()), "default"}
                for gpu_type in weights.gpu:
                    if gpu_type not in offered:
                        yield PolicyIssue(
                            (*base, "hour_weights", "gpu", gpu_type),
                            f"{part_name} has no {gpu_type!r} GPUs: this weight never applies",
                            "warning",
                        )


def _edges(policy: Policy) -> Iterator[PolicyIssue]:
    """carry_over needs a previous window; on_exhausted must name a partition that exists."""
    partitions = {name for c in policy.clusters.values() for name in c.partitions}
    qos = {name for c in policy.clusters.values() for name in c.qos}
    for path, quota in _quotas(policy):
        wanted_qos = quota.on_exhausted.qos if quota.on_exhausted is not None else None
        if wanted_qos is not None and wanted_qos not in qos:
            yield PolicyIssue((*path, "on_exhausted", "qos"), f"unknown qos {wanted_qos!r} (the policy has: "
                              f"{', '.join(sorted(qos)) or 'none'})")  # fmt: skip
        if quota.carry_over is not None and not isinstance(quota.window, str):
            yield PolicyIssue(
                (*path, "carry_over"),
                "needs a calendar window (monthly, quarterly, yearly or {every: ...}): a rolling window or a fixed "
                "allocation has no previous window to carry from",
            )
        target = quota.on_exhausted.partition if quota.on_exhausted is not None else None
        if target is not None and target not in partitions:
            yield PolicyIssue((*path, "on_exhausted", "partition"), f"unknown partition {target!r}")


def _shares(policy: Policy) -> Iterator[PolicyIssue]:
    """A share names a quota of the parent that limits the metrics it guarantees; guarantees fit the limit."""
    for org_name, org in policy.orgs.items():
        children = [(("orgs", org_name, "teams", t), team.share) for t, team in org.teams.items()]
        yield from _shares_of(("orgs", org_name), org.quotas, children)
        for team_name, team in org.teams.items():
            tpath: Path = ("orgs", org_name, "teams", team_name)
            kids = [((*tpath, "projects", p), project.share) for p, project in team.projects.items()]
            yield from _shares_of(tpath, team.quotas, kids)


def _shares_of(
    parent: Path, quotas: list[Quota], children: Sequence[tuple[Path, Share | None]]
) -> Iterator[PolicyIssue]:
    totals: dict[tuple[int, str], float] = {}
    for path, share in children:
        if share is None:
            continue
        named = [k for k, q in enumerate(quotas) if (q.name == share.quota if share.quota else len(quotas) == 1)]
        if not named:
            names = ", ".join(q.name or "(unnamed)" for q in quotas) or "none"
            yield PolicyIssue(
                (*path, "share", "quota"),
                f"{_dotted(parent)} has no quota {share.quota or '(its only one)'} to share (its quotas: {names})",
            )
            continue
        quota = quotas[named[0]]
        for metric in ("cpu_hours", "gpu_hours", "cost"):
            amount = getattr(share.guaranteed, metric)
            if amount is None:
                continue
            if getattr(quota, metric) is None:
                yield PolicyIssue((*path, "share", "guaranteed", metric), f"the parent's quota does not limit {metric}")
            totals[(named[0], metric)] = totals.get((named[0], metric), 0.0) + amount
    for (k, metric), total in totals.items():
        limit = getattr(quotas[k], metric)
        if limit is not None and total > limit:
            yield PolicyIssue(
                (*parent, "quotas", k, metric),
                f"the children's guarantees add up to {total:g}, more than the limit of {limit:g}",
            )


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _quotas(policy: Policy) -> Iterator[tuple[Path, Quota]]:
    """Every quota of the file with its path (the lists that ``lint._quota_lists`` names, plus member ones)."""
    for org_name, org in policy.orgs.items():
        yield from _listed(("orgs", org_name, "quotas"), org.quotas)
        for team_name, team in org.teams.items():
            tpath: Path = ("orgs", org_name, "teams", team_name)
            yield from _listed((*tpath, "quotas"), team.quotas)
            for project_name, project in team.projects.items():
                ppath: Path = (*tpath, "projects", project_name)
                yield from _listed((*ppath, "quotas"), project.quotas)
                yield from _listed((*ppath, "member_quotas"), project.member_quotas)
                for user, member in project.members.items():
                    yield from _listed((*ppath, "members", user, "quotas"), member.quotas)
    for name, listed in policy.users.items():
        yield from _listed(("users", name, "quotas"), listed.quotas)


def _listed(path: Path, quotas: list[Quota]) -> Iterator[tuple[Path, Quota]]:
    for i, quota in enumerate(quotas):
        yield (*path, i), quota


def member_quota_lists(policy: Policy) -> Iterator[tuple[Path, list[Quota]]]:
    """The member quota lists, for the checks every quota list gets (names required and unique)."""
    for org_name, org in policy.orgs.items():
        for team_name, team in org.teams.items():
            for project_name, project in team.projects.items():
                ppath: Path = ("orgs", org_name, "teams", team_name, "projects", project_name)
                yield (*ppath, "member_quotas"), project.member_quotas
                for user, member in project.members.items():
                    yield (*ppath, "members", user, "quotas"), member.quotas

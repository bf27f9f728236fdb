"""The quotas a job must fit: its user's, its share as a project member, its project's, team's and org's,
and its partition's per-user quota, less those whose slice of the machine the job's route is not in; and
the caps of the service that sends it (policy ``services``).

The route matters because quotas may bind a slice only (2,000 DGX GPU-hours inside a project's total):
this is why the quotas on a path are chosen after routing, in ``prepare``.
"""

from __future__ import annotations

from hpcpolicy.engine.partitionref import PartitionRef
from hpcpolicy.engine.quotaref import QuotaRef, quota_refs
from hpcpolicy.engine.request import Request
from hpcpolicy.engine.slices import Slice, job_gpu_type, member_scope
from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.policy.schema import Quota


def quotas_on_path(
    request: Request, snap: PolicySnapshot, project: str | None, part: PartitionRef | None = None
) -> tuple[QuotaRef, ...]:
    """Every quota the job must fit, most specific first. Without a route, only unsliced quotas bind."""
    quotas = _account_quotas(request, snap, project, part)
    service, user = request.service, request.user_id
    if service is not None and service in snap.policy.services:
        quotas += snap.refs_for(("service", service, user), lambda: service_refs(snap, service, user))
    return quotas


def _account_quotas(
    request: Request, snap: PolicySnapshot, project: str | None, part: PartitionRef | None
) -> tuple[QuotaRef, ...]:
    user = request.user_id
    quotas = snap.user_quotas(user)
    if project is not None:
        if snap.member_quotas:
            quotas += member_refs(snap, project, user)
        quotas += snap.project_quotas[project]
    if not snap.sliced:
        return quotas
    if part is None:
        return tuple(ref for ref in quotas if ref.slice is None)
    if part.spec.per_user is not None:
        quotas += snap.refs_for(("per_user", part.cluster, part.name, user), lambda: (per_user_ref(part, user),))
    gpu_type = job_gpu_type(request.gpus, request.gpu_type, part.spec.nodes.gpu_type)
    return tuple(
        ref for ref in quotas if ref.slice is None or ref.slice.admits(part.cluster, part.name, gpu_type)
    )


def member_refs(snap: PolicySnapshot, project: str, user: str) -> tuple[QuotaRef, ...]:
    """``user``'s quotas as a member of ``project``: their own (``members``), else the project's default."""
    specs = snap.member_quotas.get((project, user))
    if specs is None:
        specs = snap.member_quotas.get((project, None), ())
    if not specs:
        return ()
    return snap.refs_for(("member", project, user), lambda: quota_refs(member_scope(project, user), specs))


def service_refs(snap: PolicySnapshot, service: str, user: str) -> tuple[QuotaRef, ...]:
    """A service's caps as concurrency quotas: ``service:<s>/user:<u>`` (this user's runs of it), then
    ``service:<s>`` (everyone's). No window or budget: only open liens of the service count."""
    spec = snap.policy.services[service]
    refs = []
    if spec.max_runs_per_user is not None:
        scope = f"service:{service}/user:{user}"
        refs.append(QuotaRef(scope, scope, Quota(max_jobs=spec.max_runs_per_user)))
    if spec.max_runs is not None:
        scope = f"service:{service}"
        refs.append(QuotaRef(scope, scope, Quota(max_jobs=spec.max_runs)))
    return tuple(refs)


def per_user_ref(part: PartitionRef, user: str) -> QuotaRef:
    """The partition's per-user quota, on ``user``'s scope and this partition's slice."""
    quota = part.spec.per_user
    assert quota is not None  # the caller checked
    scope = f"user:{user}"
    only_here = Slice(frozenset({part.cluster}), frozenset({part.name}))
    return QuotaRef(f"{scope}#per_user:{part.name}", scope, quota, only_here)

"""``POST /v1/adapters/slurm/job_submit`` and ``/job_modify``: the server side of job_submit.lua.

Only a caller that may speak for users (the controller's service key, or dev mode) is served: the body
names a Unix uid, and the user's roles come from the policy's group mappings, never from the caller.
A denial is a 200 answer with ``allow: false`` (the plugin shows its lines to the user); a 5xx means
"no decision" and the plugin applies its fail-open or fail-closed setting.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from hpcpolicy.adapters.slurm.admission import ModifyIn, SlurmAdmission, SlurmReply, SubmitIn
from hpcpolicy.adapters.slurm.identity import Resolver
from hpcpolicy.api.deps import CallerDep, GovernanceDep, OffloadDep
from hpcpolicy.api.hot import answer
from hpcpolicy.auth import Caller, Forbidden
from hpcpolicy.auth.caller import SCOPE_DECIDE, require_scope

router = APIRouter(prefix="/v1/adapters/slurm", tags=["slurm"])


async def unix_users(request: Request) -> Resolver:
    """How uids become users and groups: the host's NSS, its answers kept a while (``create_app``'s
    ``unix_users``; tests override this dependency)."""
    resolver: Resolver = request.app.state.unix_users
    return resolver


ResolverDep = Annotated[Resolver, Depends(unix_users)]


@router.post("/job_submit", response_model=SlurmReply)
async def job_submit(
    body: SubmitIn, gov: GovernanceDep, who: CallerDep, run: OffloadDep, resolve: ResolverDep
) -> Response:
    """Decide a job at submission and reserve its estimate; say what to write back into ``job_desc``."""
    _require_controller(who)
    # A job array's burst shares commits (as POST /v1/decisions); a held job wakes the queue: on its own.
    submit = run if gov.ctx.queue.slurm_hold else run.grouped
    return answer(await submit(SlurmAdmission(gov, resolve).submit, body, who.principal))  # a hot route


@router.post("/job_modify", response_model=SlurmReply)
async def job_modify(
    body: ModifyIn, gov: GovernanceDep, who: CallerDep, run: OffloadDep, resolve: ResolverDep
) -> SlurmReply:
    """Bind the job id to its lien; decide again when the update asks for more than the job had."""
    _require_controller(who)
    if not who.may_report_usage:  # binding scheduler job ids to liens is a usage fact
        raise Forbidden(f"{who.describe()} may not bind Slurm job ids: the controller's key needs the 'report' scope")
    return await run(SlurmAdmission(gov, resolve).modify, body, who.principal)


def _require_controller(who: Caller) -> None:
    require_scope(who, SCOPE_DECIDE)
    if not who.may_assert_identity:
        raise Forbidden(f"{who.describe()} may not speak for Slurm users: use a key created with may_assert_identity")

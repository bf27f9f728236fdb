"""Admin: ``GET /v1/policy`` (the active policy) and ``PUT /v1/policy`` (validate, then hot-reload).

An invalid upload is refused with every linter error (422) and the active policy keeps serving.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from hpcpolicy.api.deps import AdminDep, GovernanceDep, OffloadDep
from hpcpolicy.api.dto import PolicyOut
from hpcpolicy.service import Governance, InvalidInput
from hpcpolicy.service.policy_store import ActivePolicy

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.get("", response_model=PolicyOut)
async def get_policy(gov: GovernanceDep, _: AdminDep) -> PolicyOut:
    return policy_out(gov.ctx.policies.current)


@router.put(
    "",
    response_model=PolicyOut,
    openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}, "required": True}},
)
async def put_policy(request: Request, gov: GovernanceDep, who: AdminDep, run: OffloadDep) -> PolicyOut:
    """Upload a policy (YAML or JSON text as the body). It replaces the active one only if it is valid."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("policy must be UTF-8 text") from None
    active = await run(_replace, gov, text, who.principal)
    return policy_out(active)


def _replace(gov: Governance, text: str, author: str) -> ActivePolicy:
    active = gov.ctx.policies.replace(text, source=f"upload by {author}", author=author)
    notify = getattr(gov.ctx, "on_policy_change", None)
    if callable(notify):
        notify(active)
    return active


def policy_out(active: ActivePolicy) -> PolicyOut:
    return PolicyOut(
        version=active.loaded.version,
        source=active.loaded.source,
        warnings=[w.to_dict() for w in active.loaded.warnings],
        policy=active.text,
    )

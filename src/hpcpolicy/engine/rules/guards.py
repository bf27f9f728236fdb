"""Guards that need a role: GPU use at all, and jobs whose estimated cost is above a threshold."""

from __future__ import annotations

from hpcpolicy.engine.codes import Code
from hpcpolicy.engine.decision import Violation, num
from hpcpolicy.engine.request import Request
from hpcpolicy.policy.schema import Guards


def guard_violations(request: Request, guards: Guards, roles: frozenset[str], cost: float) -> list[Violation]:
    found: list[Violation] = []
    user_scope = f"user:{request.user_id}"
    gpu = guards.gpu
    if gpu is not None and request.gpus > 0 and gpu.role not in roles:
        found.append(
            Violation(
                Code.GPU_ROLE_REQUIRED,
                f"GPU jobs require role {gpu.role}",
                user_scope,
                limit=gpu.role,
                requested=request.gpus,
            )
        )
    expensive = guards.expensive_job
    if expensive is not None and cost > expensive.cost_threshold and expensive.role not in roles:
        found.append(
            Violation(
                Code.COST_ROLE_REQUIRED,
                f"estimated cost {num(cost)} is above {num(expensive.cost_threshold)}; requires role {expensive.role}",
                user_scope,
                limit=expensive.cost_threshold,
                requested=round(cost, 6),
            )
        )
    return found

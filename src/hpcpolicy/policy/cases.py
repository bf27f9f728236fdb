"""Policy test cases as data (like ``opa test``): a request, optional usage, the expected outcome.

A case file lets an admin pin down what a policy must do before it is deployed::

    policy: policy.yaml            # relative to this file; the CLI's --policy wins
    now: 2026-11-01T00:00:00Z      # optional; the time every case is evaluated at
    cases:
      - name: students cannot use the DGX
        request: {user_id: erin, partition: dgx-a100, gpus: 1}
        expect: {allow: false, codes: [partition.role_required]}

``codes`` must equal the set of violation codes; ``partition``/``cluster`` check the route.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hpcpolicy.engine import Active, Amounts, PolicySnapshot, Request, UsageSnapshot, evaluate
from hpcpolicy.engine.decision import Decision


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountsDoc(_Doc):
    cpu_hours: Annotated[float, Field(ge=0)] = 0.0
    gpu_hours: Annotated[float, Field(ge=0)] = 0.0
    cost: Annotated[float, Field(ge=0)] = 0.0


class ActiveDoc(_Doc):
    jobs: Annotated[int, Field(ge=0)] = 0
    gpus: Annotated[int, Field(ge=0)] = 0


class UsageDoc(_Doc):
    """The JSON/YAML form of a usage snapshot: ``consumed`` by quota id, ``active`` by scope id."""

    consumed: dict[str, AmountsDoc] = {}
    active: dict[str, ActiveDoc] = {}

    def to_snapshot(self) -> UsageSnapshot:
        return UsageSnapshot(
            consumed={k: Amounts(v.cpu_hours, v.gpu_hours, v.cost) for k, v in self.consumed.items()},
            active={k: Active(v.jobs, v.gpus) for k, v in self.active.items()},
        )


class Expectation(_Doc):
    allow: bool
    codes: list[str] | None = None
    partition: str | None = None
    cluster: str | None = None


class Case(_Doc):
    name: Annotated[str, Field(min_length=1)]
    request: Request
    usage: UsageDoc = UsageDoc()
    expect: Expectation


class CaseFile(_Doc):
    policy: str | None = None
    now: datetime | None = None
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    passed: bool
    problems: tuple[str, ...]
    decision: Decision


def run_case(case: Case, snap: PolicySnapshot, now: datetime) -> CaseResult:
    decision = evaluate(case.request, snap, case.usage.to_snapshot(), now=now)
    expect, problems = case.expect, []
    if decision.allow != expect.allow:
        problems.append(f"expected allow={expect.allow}, got allow={decision.allow}")
    if expect.codes is not None and set(expect.codes) != set(decision.codes):
        problems.append(f"expected codes {sorted(set(expect.codes))}, got {sorted(set(decision.codes))}")
    route = decision.route
    for field in ("partition", "cluster"):
        wanted = getattr(expect, field)
        got = getattr(route, field) if route else None
        if wanted is not None and wanted != got:
            problems.append(f"expected {field} {wanted}, got {got}")
    return CaseResult(case.name, not problems, tuple(problems), decision)


def run_cases(cases: CaseFile, snap: PolicySnapshot, now: datetime | None = None) -> list[CaseResult]:
    """Evaluate every case at ``now`` (the caller's, else the file's, else 1 Jan 2000 UTC: deterministic)."""
    at = now or cases.now or datetime(2000, 1, 1, tzinfo=UTC)
    return [run_case(case, snap, at) for case in cases.cases]

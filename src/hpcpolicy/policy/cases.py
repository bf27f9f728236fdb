"""Policy test cases as data (like ``opa test``): a request, optional usage, the expected outcome.

A case file lets an admin pin down what a policy must do before it is deployed::

    policy: policy.yaml            # relative to this file; the CLI's --policy wins
    now: 2026-11-01T00:00:00Z      # optional; the time every case is evaluated at
    cases:
      - name: students cannot use the DGX
        request: {user_id: erin, partition: dgx-a100, gpus: 1}
        expect: {allow: false, codes: [partition.role_required]}
      - name: the interactive partition is open on a Monday morning
        now: 2026-11-16T14:00:00Z  # a case about time (opening hours, an ended grant) sets its own
        request: {user_id: erin, partition: interactive}
        expect: {allow: true}

``expect`` may state every part of the decision (:mod:`hpcpolicy.policy.expect`: codes, violations with
their numbers, route, estimate, remaining balances, warnings). A usage key that names no quota
(``consumed``) or scope (``active``) of the policy is an error (:func:`usage_problems`): the engine would
simply never read it, and the case would test less than it says; so is an expected ``remaining`` balance
of a quota the policy does not have.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hpcpolicy.engine import Active, Amounts, PolicySnapshot, Request, UsageSnapshot, evaluate
from hpcpolicy.engine.decision import Decision
from hpcpolicy.engine.windows import as_utc
from hpcpolicy.policy.expect import Expectation, problems


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
    """The JSON/YAML form of a usage snapshot: ``consumed`` by quota id (and ``<quota id>@<child scope>``
    for a child's use of a shared quota), ``active`` by counter (a scope, or ``scope[slice]``),
    ``previous`` by quota id (what a quota with ``carry_over`` settled in its previous window)."""

    consumed: dict[str, AmountsDoc] = {}
    active: dict[str, ActiveDoc] = {}
    previous: dict[str, AmountsDoc] = {}

    def to_snapshot(self) -> UsageSnapshot:
        return UsageSnapshot(
            consumed={k: Amounts(v.cpu_hours, v.gpu_hours, v.cost) for k, v in self.consumed.items()},
            active={k: Active(v.jobs, v.gpus) for k, v in self.active.items()},
            previous={k: Amounts(v.cpu_hours, v.gpu_hours, v.cost) for k, v in self.previous.items()},
        )


#: Up to this many ids, an unknown key's message lists them all; beyond, the closest few.
LIST_ALL = 12


def usage_problems(usage: UsageDoc, snap: PolicySnapshot) -> list[str]:
    """``consumed.<key>: why`` for each key no decision under ``snap`` would read; empty if all are used."""
    problems: list[str] = []
    ids = snap.quota_ids()
    for table, keys in (("consumed", usage.consumed), ("previous", usage.previous)):
        for key in keys:
            if not snap.is_quota_id(key):
                known = _known(key, ids, "quota ids", "user:<name> of a user the policy does not list")
                problems.append(f"{table}.{key}: no quota has this id{_scope_hint(key, snap) or known}")
    scopes = list(snap.scope_quotas)
    for key in usage.active:
        if not snap.is_scope(key):
            problems.append(f"active.{key}: no such scope{_known(key, scopes, 'scopes', 'user:<name> of any user')}")
    return problems


def case_problems(cases: CaseFile, snap: PolicySnapshot) -> list[str]:
    """:func:`usage_problems` of every case, each prefixed ``cases[i].usage.``, and expected balances of
    quotas that do not exist (``cases[i].expect.remaining.<id>``)."""
    found = [f"cases[{i}].usage.{p}" for i, case in enumerate(cases.cases) for p in usage_problems(case.usage, snap)]
    ids = snap.quota_ids()
    for i, case in enumerate(cases.cases):
        for key in case.expect.remaining or {}:
            if not snap.is_quota_id(key):
                hint = _scope_hint(key, snap) or _known(key, ids, "quota ids", "user:<name> of an unlisted user")
                found.append(f"cases[{i}].expect.remaining.{key}: no quota has this id{hint}")
    return found


def _scope_hint(key: str, snap: PolicySnapshot) -> str | None:
    """For a key that is a scope of the policy but not a quota id: what that scope's quotas are."""
    if key not in snap.scope_quotas:
        return None
    refs = snap.quotas_for(key)
    if not refs:
        return f" ({key} is in the policy without quotas: nothing is counted against it)"
    return f" ({key}'s quotas are named: use {' or '.join(ref.id for ref in refs)})"


def _known(key: str, names: list[str], what: str, also: str) -> str:
    """`` (did you mean …?); <what>: …`` — every name when there are few, else the closest ones."""
    guess = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {guess[0]}?)" if guess else ""
    if len(names) <= LIST_ALL:
        return f"{hint}; {what}: {', '.join([*names, also])}"
    closest = difflib.get_close_matches(key, names, n=5, cutoff=0.0)
    return f"{hint}; closest {what} of {len(names)}: {', '.join([*closest, also])}"


class Case(_Doc):
    name: Annotated[str, Field(min_length=1)]
    now: datetime | None = None
    """This case's time, over the file's and the caller's: the time is what the case is about."""
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
    expect: Expectation


def run_case(case: Case, snap: PolicySnapshot, now: datetime) -> CaseResult:
    """``case`` evaluated at its own ``now`` if it states one, else at ``now``."""
    at = as_utc(case.now) if case.now is not None else now
    decision = evaluate(case.request, snap, case.usage.to_snapshot(), now=at)
    found = problems(case.expect, decision)
    return CaseResult(case.name, not found, tuple(found), decision, case.expect)


def run_cases(cases: CaseFile, snap: PolicySnapshot, now: datetime | None = None) -> list[CaseResult]:
    """Evaluate every case at ``now`` (a case's own, else the caller's, else the file's, else 1 Jan 2000
    UTC: deterministic)."""
    at = now or (as_utc(cases.now) if cases.now else None) or datetime(2000, 1, 1, tzinfo=UTC)
    return [run_case(case, snap, at) for case in cases.cases]

"""Usage snapshots in case and usage files: every key must be one some decision would read.

The rule is the snapshot's (``is_quota_id``, ``is_scope``); these tests hold it to what the engine
actually reads, and check that a refusal names the key and the ids that exist.
"""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Request, compile_policy, evaluate
from hpcpolicy.policy import load_policy
from hpcpolicy.policy.cases import Case, CaseFile, UsageDoc, case_problems, usage_problems
from tests.builders import NOW

LOADED = load_policy(env={})
SNAP = compile_policy(LOADED.policy, LOADED.version)


def usage(consumed: tuple[str, ...] | list[str] = (), active: tuple[str, ...] | list[str] = ()) -> UsageDoc:
    return UsageDoc.model_validate(
        {"consumed": {k: {"cpu_hours": 1} for k in consumed}, "active": {k: {} for k in active}}
    )


def test_every_quota_id_a_decision_reads_is_accepted() -> None:
    read: set[str] = set()
    for user, project in [("alice", "wgs-cohort"), ("alice", "rnaseq-atlas"), ("bob", "variant-calling"),
                          ("carol", "protein-lm"), ("erin", "imaging-ai"), ("newbie", None)]:  # fmt: skip
        read |= set(evaluate(Request(user_id=user, project=project), SNAP, now=NOW).remaining)
    on_dgx = Request(user_id="carol", partition="dgx-a100", gpus=8)  # the quotas on slices of the DGX bind there
    read |= set(evaluate(on_dgx, SNAP, now=NOW).remaining)
    member, per_user = "project:wgs-cohort/user:alice", "user:carol#per_user:dgx-a100"  # not in quota_ids()
    assert read == {*SNAP.quota_ids(), "user:newbie", member, per_user}
    assert usage_problems(usage(consumed=sorted(read)), SNAP) == []


def test_every_scope_and_any_unlisted_user_is_an_active_key() -> None:
    scopes = [*SNAP.scope_quotas, "user:newbie", "user:alice"]
    assert usage_problems(usage(active=scopes), SNAP) == []


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("project:wgs-cohrt", "(did you mean project:wgs-cohort?); closest quota ids of 13: project:wgs-cohort,"),
        ("project:protein-lm", "are named: use project:protein-lm#monthly or project:protein-lm#dgx or project:pro"),
        ("org:biocenter", "are named: use org:biocenter#yearly"),
        ("user:erin#monthly", "(did you mean user:erin?)"),
        ("user:newbie#monthly", "user:<name> of a user the policy does not list"),
        ("user:alice", "user:alice is in the policy without quotas"),
        ("user:", "closest quota ids of 13: user:bob,"),
        ("wgs-cohort", "(did you mean project:wgs-cohort?)"),
    ],
)
def test_a_consumed_key_no_decision_reads_is_named_with_the_ids_that_exist(key: str, says: str) -> None:
    [problem] = usage_problems(usage(consumed=[key]), SNAP)
    assert problem.startswith(f"consumed.{key}: no quota has this id") and says in problem


def test_an_unknown_active_scope_lists_the_closest_scopes() -> None:
    [problem] = usage_problems(usage(active=["team:genomic"]), SNAP)
    assert problem.startswith("active.team:genomic: no such scope (did you mean team:genomics?); closest scopes of")


def test_case_problems_say_which_case() -> None:
    request = Request(user_id="alice")
    cases = CaseFile(
        cases=[
            Case(name="fine", request=request, usage=usage(consumed=["project:wgs-cohort"]), expect={"allow": True}),
            Case(name="typo", request=request, usage=usage(active=["project:wgs"]), expect={"allow": True}),
        ]
    )
    [problem] = case_problems(cases, SNAP)
    assert problem.startswith("cases[1].usage.active.project:wgs: no such scope")

"""``policy test`` expectations: every part of a decision can be stated, and a difference says what differs.

The decisions here are built by hand, so that warnings (which no v1 construct produces) and exact numbers
are under the test's control; the end-to-end cases run the example policy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from hpcpolicy.engine import Decision, Estimate, Route, Violation, compile_policy
from hpcpolicy.policy import load_policy
from hpcpolicy.policy.cases import CaseFile, case_problems, run_cases
from hpcpolicy.policy.expect import Expectation, matching, problems

QUOTA = Violation("quota.cpu_hours_exceeded", "…", "project:wgs", 200000.0, 3072.0, 1000.0)
ROLE = Violation("gpu.role_required", "…", "user:alice", "gpu_user")
WARN = Violation("quota.warn_threshold", "…", "team:genomics", 0.8, 0.85, 60000.0)
DECISION = Decision(
    allow=False,
    violations=(QUOTA, ROLE),
    route=Route("helix", "cpu"),
    estimate=Estimate(cpu_hours=3072.0, gpu_hours=0.0, cost=9.216000000000001, walltime_hours=48.0),
    remaining={"project:wgs": {"cpu_hours": -2072.0, "jobs": 3.0}, "team:genomics": {"cpu_hours": 8000.0}},
    policy_version="p@1",
    project="wgs",
    account_path=("user:alice", "project:wgs"),
    warnings=(WARN,),
)


def check(**expect: Any) -> list[str]:
    return problems(Expectation.model_validate({"allow": False, **expect}), DECISION)


def test_an_expectation_stating_everything_the_decision_carries_passes() -> None:
    assert check(
        codes=["gpu.role_required", "quota.cpu_hours_exceeded"],
        violations=[
            {"code": "gpu.role_required", "scope": "user:alice", "limit": "gpu_user"},
            {"code": "quota.cpu_hours_exceeded", "scope": "project:wgs", "limit": 200000, "available": 1000},
        ],
        route={"cluster": "helix", "partition": "cpu"},
        partition="cpu",
        estimate={"cpu_hours": 3072, "gpu_hours": 0, "cost": 9.216, "walltime_hours": 48},
        remaining={"project:wgs": {"cpu_hours": -2072, "jobs": 3}, "team:genomics": {"cpu_hours": 8000}},
        warnings=[{"code": "quota.warn_threshold", "scope": "team:genomics", "limit": 0.8, "requested": 0.85}],
    ) == []


@pytest.mark.parametrize(
    ("expect", "problem"),
    [
        ({"allow": True}, "expected allow=True, got allow=False"),
        ({"codes": ["gpu.role_required"]}, "expected codes ['gpu.role_required'], got ['gpu.role_required', 'quota"),
        ({"route": {"partition": "gpu"}}, "expected route.partition gpu, got cpu"),
        ({"cluster": "kube-ai"}, "expected cluster kube-ai, got helix"),
        ({"estimate": {"cost": 9.2}}, "expected estimate.cost 9.2, got 9.216"),
        ({"estimate": {"cpu_hours": 3072.01}}, "expected estimate.cpu_hours 3072.01, got 3072"),
        ({"remaining": {"project:wgs": {"cpu_hours": -2000}}}, "remaining project:wgs cpu_hours -2000, got -2072"),
        ({"remaining": {"project:wgs": {"gpu_hours": 5}}}, "gpu_hours 5, but the quota bounds cpu_hours, jobs"),
        ({"remaining": {"org:x": {"cost": 1}}}, "org:x, but it is not on the decision's path (quotas: project:wgs,"),
        ({"warnings": []}, "expected warning codes [], got ['quota.warn_threshold']"),
        ({"warnings": ["quota.overdraft"]}, "expected warning codes ['quota.overdraft'], got ['quota.warn_threshold']"),
        ({"warnings": [{"scope": "team:ai"}]}, "expected warnings[0] {scope: team:ai}: no actual warning matches"),
    ],
)  # fmt: skip
def test_each_difference_is_one_line_naming_the_part(expect: dict[str, Any], problem: str) -> None:
    found = problems(Expectation.model_validate({"allow": False, **expect}), DECISION)
    assert found and problem in found[0], found


def test_violations_are_matched_one_to_one_and_the_leftovers_named() -> None:
    found = check(violations=[{"code": "quota.cpu_hours_exceeded", "available": 999}])
    assert found == [
        "expected violations[0] {code: quota.cpu_hours_exceeded, available: 999}: no actual violation matches",
        "unexpected violation quota.cpu_hours_exceeded project:wgs (limit 200000, requested 3072, available 1000)",
        "unexpected violation gpu.role_required user:alice (limit gpu_user)",
    ]
    # one actual violation cannot satisfy two expectations
    twice = check(violations=[{"code": "gpu.role_required"}, {"scope": "user:alice"}, {"scope": "project:wgs"}])
    assert twice == ["expected violations[1] {scope: user:alice}: no actual violation matches"]


def test_matching_finds_a_pairing_whatever_the_order() -> None:
    # expected 0 fits both actual items, expected 1 only the first: a greedy pass would pair 0 with 0
    assert matching(2, 2, lambda i, j: i == 0 or j == 0) == {0: 1, 1: 0}
    assert matching(2, 1, lambda i, j: True) == {0: 0}
    assert matching(0, 3, lambda i, j: True) == {}


@pytest.mark.parametrize(
    ("want", "passes"),
    [(9.216, True), (9.21600001, True), (9.2161, False), (9.22, False)],
)
def test_numbers_match_to_six_significant_digits(want: float, passes: bool) -> None:
    assert (check(estimate={"cost": want}) == []) is passes


@pytest.mark.parametrize(
    "expect",
    [
        {"violation": []},
        {"violations": [{"cod": "x"}]},
        {"estimate": {"cpu": 1}},
        {"route": {"node": "x"}},
        {"remaining": {"project:wgs": {"cpu_hour": 1}}},
        {"warnings": [{"code": "x", "message": "y"}]},
        {"warnings": ["quota.overdraft", {"code": "x"}]},  # codes or detailed items, not a mix
        {"estimate": {"cost": float("nan")}},
    ],
)
def test_unknown_or_malformed_expectations_are_errors(expect: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Expectation.model_validate({"allow": True, **expect})


LOADED = load_policy(env={})
SNAP = compile_policy(LOADED.policy, LOADED.version)
SPENT: dict[str, Any] = {
    "name": "project budget exhausted",
    "request": {"user_id": "alice", "partition": "cpu", "cpus": 64, "walltime_hours": 48},
    "usage": {"consumed": {"project:wgs-cohort": {"cpu_hours": 199000}}},
}


def test_a_case_on_the_example_policy_states_the_numbers_of_its_denial() -> None:
    expect = {
        "allow": False,
        "violations": [{"code": "quota.cpu_hours_exceeded", "scope": "project:wgs-cohort", "limit": 200000,
                        "requested": 3072, "available": 1000}],
        "route": {"cluster": "helix", "partition": "cpu"},
        "estimate": {"cpu_hours": 3072, "gpu_hours": 0, "walltime_hours": 48},
        "remaining": {"project:wgs-cohort": {"cpu_hours": -2072}},
        "warnings": [],
    }  # fmt: skip
    [result] = run_cases(CaseFile.model_validate({"cases": [{**SPENT, "expect": expect}]}), SNAP)
    assert result.passed, result.problems


def test_an_expected_balance_of_a_quota_the_policy_lacks_is_refused_before_running() -> None:
    cases = CaseFile.model_validate(
        {"cases": [{**SPENT, "expect": {"allow": False, "remaining": {"project:wgs-cohrt": {"cpu_hours": 0}}}}]}
    )
    [problem] = case_problems(cases, SNAP)
    assert problem.startswith("cases[0].expect.remaining.project:wgs-cohrt: no quota has this id (did you mean")


def test_run_cases_defaults_to_a_fixed_instant() -> None:
    cases = CaseFile.model_validate({"cases": [{**SPENT, "expect": {"allow": False}}]})
    assert run_cases(cases, SNAP)[0].passed
    assert run_cases(cases, SNAP, datetime(2026, 11, 1, tzinfo=UTC))[0].passed

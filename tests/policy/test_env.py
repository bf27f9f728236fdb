"""Environment overrides of the default user quota (variable names kept from the original service)."""

from __future__ import annotations

import os

import pytest

from hpcpolicy.engine import Code, compile_policy
from hpcpolicy.policy import PolicyError, load_policy
from hpcpolicy.policy.errors import dotted
from tests.builders import decide

BASE = load_policy(env={})


@pytest.mark.parametrize(
    ("var", "value", "field", "expected"),
    [
        ("DEFAULT_CPU_HOURS", "500", "cpu_hours", 500.0),
        ("DEFAULT_CPU_HOURS", " 7.5 ", "cpu_hours", 7.5),
        ("DEFAULT_GPU_HOURS", "0", "gpu_hours", 0.0),
        ("MAX_CONCURRENT_JOBS", "3", "max_jobs", 3),
    ],
)
def test_each_variable_overrides_its_field_and_the_version(var: str, value: str, field: str, expected: float) -> None:
    loaded = load_policy(env={var: value})
    quota = loaded.policy.defaults.user_quota
    assert getattr(quota, field) == expected
    assert loaded.version != BASE.version
    untouched = {"cpu_hours", "gpu_hours", "max_jobs", "window", "cost", "max_gpus"} - {field}
    assert all(getattr(quota, f) == getattr(BASE.policy.defaults.user_quota, f) for f in untouched)


def test_all_three_together() -> None:
    env = {"DEFAULT_CPU_HOURS": "10", "DEFAULT_GPU_HOURS": "1", "MAX_CONCURRENT_JOBS": "2"}
    quota = load_policy(env=env).policy.defaults.user_quota
    assert (quota.cpu_hours, quota.gpu_hours, quota.max_jobs) == (10, 1, 2)


@pytest.mark.parametrize("env", [None, {}, {"DEFAULT_CPU_HOURS": ""}, {"DEFAULT_CPU_HOURS": "  "}, {"OTHER": "1"}])
def test_absent_or_blank_variables_change_nothing(env: dict[str, str] | None) -> None:
    assert load_policy(env=env).version == BASE.version


def test_the_process_environment_counts_only_when_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_CPU_HOURS", "42")
    assert load_policy().version == BASE.version
    assert load_policy(env=os.environ).policy.defaults.user_quota.cpu_hours == 42


@pytest.mark.parametrize(
    ("var", "value", "words"),
    [
        ("DEFAULT_CPU_HOURS", "lots", "must be a float"),
        ("DEFAULT_GPU_HOURS", "-1", "must be ≥ 0"),
        ("DEFAULT_CPU_HOURS", "nan", "must be ≥ 0"),  # NaN would make every comparison false: unlimited
        ("MAX_CONCURRENT_JOBS", "2.5", "must be a"),  # an int
        ("MAX_CONCURRENT_JOBS", "-3", "must be ≥ 0"),
    ],
)
def test_a_bad_value_is_a_clear_error(var: str, value: str, words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(env={var: value})
    [issue] = caught.value.issues
    assert dotted(issue.path) == f"env.{var}"
    assert words in issue.message
    assert repr(value) in issue.message


def test_every_bad_variable_is_reported() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(env={"DEFAULT_CPU_HOURS": "x", "DEFAULT_GPU_HOURS": "24", "MAX_CONCURRENT_JOBS": "y"})
    assert [dotted(i.path) for i in caught.value.issues] == ["env.DEFAULT_CPU_HOURS", "env.MAX_CONCURRENT_JOBS"]


def test_overrides_reach_the_engine() -> None:
    loaded = load_policy(env={"DEFAULT_CPU_HOURS": "10", "MAX_CONCURRENT_JOBS": "0"})
    snap = compile_policy(loaded.policy, loaded.version)
    decision = decide(snap, user_id="newbie", cpu_hours=12, gpu_hours=2)
    assert set(decision.codes) == {Code.QUOTA_CPU_HOURS, Code.CONCURRENCY_MAX_JOBS}
    assert decision.policy_version == loaded.version
    assert decision.remaining["user:newbie"]["cpu_hours"] == pytest.approx(-2)

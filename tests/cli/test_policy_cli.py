"""``hpcpolicy policy test`` output: a failing case shows what differs and the decision it actually got."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hpcpolicy.cli import render
from hpcpolicy.engine import Decision, Estimate, Violation
from hpcpolicy.policy.cases import CaseResult
from hpcpolicy.policy.expect import Expectation
from tests.cli.test_cli import EXAMPLES, run

SPENT = "quota.cpu_hours_exceeded project:wgs-cohort (limit 200000, requested 3072, available 1000)"


def test_a_failing_case_prints_the_actual_violations_route_and_estimate(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"policy: {EXAMPLES / 'policy.yaml'}\n"
        "now: 2026-11-15T12:00:00Z\n"
        "cases:\n"
        "  - name: budget\n"
        "    request: {user_id: alice, partition: cpu, cpus: 64, walltime_hours: 48}\n"
        "    usage: {consumed: {project:wgs-cohort: {cpu_hours: 199000}}}\n"
        "    expect:\n"
        "      allow: true\n"
        "      violations: [{code: quota.cpu_hours_exceeded, available: 2000}]\n"
        "      remaining: {project:wgs-cohort: {cpu_hours: 5}}\n"
    )
    code, out, _ = run("policy", "test", str(cases))
    lines = [line.strip() for line in out.splitlines()]
    assert code == 1
    assert lines[:8] == [
        "FAIL budget",
        "expected allow=True, got allow=False",
        "expected violations[0] {code: quota.cpu_hours_exceeded, available: 2000}: no actual violation matches",
        f"unexpected violation {SPENT}",
        "expected remaining project:wgs-cohort cpu_hours 5, got -2072",
        "the decision: allow=False, route helix/cpu, project wgs-cohort",
        "estimate: 3,072 CPU-h, 0 GPU-h, cost 30.72 over 48 h",
        f"violation {SPENT}",
    ]
    assert lines[8].startswith("remaining project:wgs-cohort: cpu_hours -2,072, gpu_hours 500")


def test_a_failing_case_prints_warnings_and_a_missing_route() -> None:
    decision = Decision(
        allow=True,
        violations=(),
        route=None,
        estimate=Estimate(1.0, 0.0, 0.5, 1.0),
        remaining={},
        policy_version="p@1",
        project=None,
        account_path=("user:u",),
        warnings=(Violation("quota.warn_threshold", "…", "project:p", 0.8, 0.9, 10.0),),
    )
    expect = Expectation(allow=True, warnings=[])
    console = Console(record=True, width=200)
    result = CaseResult("soft", False, ("expected warning codes [], got […]",), decision, expect)
    render.case_results(console, [result], False)
    text = console.export_text()
    assert "the decision: allow=True, route none, project -" in text
    assert "warning quota.warn_threshold project:p (limit 0.8, requested 0.9, available 10)" in text


def test_the_example_cases_state_numbers_and_pass() -> None:
    code, out, _ = run("policy", "test", str(EXAMPLES / "policy_test.yaml"))
    assert code == 0, out
    assert "requested: 3072" in (EXAMPLES / "policy_test.yaml").read_text()


def test_an_unknown_expectation_key_is_refused(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n  - name: x\n    request: {user_id: alice}\n    expect: {allow: true, estimate: {cpu: 1}}\n"
    )
    code, _, err = run("policy", "test", "--policy", str(EXAMPLES / "policy.yaml"), str(cases))
    assert code == 1
    assert "cases.0.expect.estimate.cpu" in err

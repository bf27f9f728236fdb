"""``hpcpolicy policy test`` output: a failing case shows what differs and the decision it actually got."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hpcpolicy.cli import render
from hpcpolicy.engine import Decision, Estimate, Violation
from hpcpolicy.policy.cases import CaseResult
from hpcpolicy.policy.expect import Expectation
from tests.builders import EXAMPLE_V1
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


#: An allowed job that crossed a warning threshold, with no route (decided before routing, say).
SOFT = Decision(
    allow=True,
    violations=(),
    route=None,
    estimate=Estimate(1.0, 0.0, 0.5, 1.0),
    remaining={},
    policy_version="p@1",
    project="p",
    account_path=("user:u", "project:p"),
    warnings=(Violation("quota.warn_threshold", "80% of the monthly budget used", "project:p", 0.8, 0.9, 10.0),),
)


def test_a_failing_case_prints_warnings_and_a_missing_route() -> None:
    expect = Expectation(allow=True, warnings=[])
    console = Console(record=True, width=200)
    result = CaseResult("soft", False, ("expected warning codes [], got […]",), SOFT, expect)
    render.case_results(console, [result], False)
    text = console.export_text()
    assert "the decision: allow=True, route none, project p" in text
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


# -- policy migrate -------------------------------------------------------------------------------------


def v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(EXAMPLE_V1.read_text())
    path.chmod(0o640)
    return path


def test_migrate_prints_the_v2_file_and_leaves_the_original(tmp_path: Path) -> None:
    path = v1_file(tmp_path)
    before = path.read_text()
    code, out, _ = run("policy", "migrate", str(path))
    assert code == 0
    assert out == before.replace("apiVersion: hpcpolicy/v1", "apiVersion: hpcpolicy/v2")
    assert path.read_text() == before


def test_migrate_writes_an_output_file_that_checks_as_v2(tmp_path: Path) -> None:
    path, target = v1_file(tmp_path), tmp_path / "v2.yaml"
    code, out, err = run("policy", "migrate", str(path), "-o", str(target))
    assert code == 0 and out == ""
    assert f"{path} migrated to hpcpolicy/v2: wrote {target} (biocenter@" in err
    assert "apiVersion: hpcpolicy/v2" in target.read_text()
    assert run("policy", "check", str(target))[0] == 0


def test_migrate_in_place_keeps_the_file_mode(tmp_path: Path) -> None:
    path = v1_file(tmp_path)
    code, _, _ = run("policy", "migrate", "--in-place", str(path))
    assert code == 0
    assert "apiVersion: hpcpolicy/v2" in path.read_text() and path.stat().st_mode & 0o777 == 0o640
    mtime = path.stat().st_mtime_ns
    code, _, err = run("policy", "migrate", "--in-place", str(path))
    assert code == 0 and f"{path} is already hpcpolicy/v2: nothing to change" in err
    assert path.stat().st_mtime_ns == mtime  # not even rewritten


def test_migrate_refuses_a_broken_file_and_writes_nothing(tmp_path: Path) -> None:
    path = v1_file(tmp_path)
    broken = path.read_text().replace("max_gpus: 16, max_walltime_hours: 72", "max_gpus: -1, max_walltime_hours: 72")
    path.write_text(broken)
    target = tmp_path / "v2.yaml"
    code, _, err = run("policy", "migrate", str(path), "-o", str(target))
    assert code == 1 and not target.exists()
    assert "clusters.helix.partitions.gpu.limits.max_gpus: must be ≥ 0" in err and "was not migrated" in err


def test_migrate_takes_one_destination(tmp_path: Path) -> None:
    path = v1_file(tmp_path)
    code, _, err = run("policy", "migrate", str(path), "-o", str(tmp_path / "x.yaml"), "--in-place")
    assert code == 2 and "not both" in err


def test_a_decision_shows_its_warnings_after_its_violations() -> None:
    console = Console(record=True, width=120)
    render.decision(console, SOFT)
    lines = console.export_text().splitlines()
    assert lines[0].startswith("ALLOW")
    assert "  ! quota.warn_threshold  project:p  (limit 0.8, requested 0.9, available 10)" in lines
    assert "      80% of the monthly budget used" in lines

"""The offline CLI end to end: exit codes, error locations, decisions as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from hpcpolicy.policy import example_policy_path

EXAMPLES = example_policy_path().parent
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def decide(*args: str) -> dict:
    code, out, err = run("evaluate", "--json", "--now", "2026-11-15T12:00:00", *args)
    assert code == 0, err
    return json.loads(out)


def test_check_accepts_the_example_policy() -> None:
    code, out, _ = run("policy", "check", str(EXAMPLES / "policy.yaml"))
    assert code == 0
    assert "ok" in out and "7 partition(s)" in out and "0 warning(s)" in out


def test_check_json_reports_version() -> None:
    code, out, _ = run("policy", "check", "--json", str(EXAMPLES / "policy.yaml"))
    assert code == 0
    assert json.loads(out)["version"].startswith("biocenter@")


def test_check_rejects_a_broken_policy_with_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "apiVersion: hpcpolicy/v1\n"
        "clusters:\n"
        "  c:\n"
        "    scheduler: slurm\n"
        "    partitions:\n"
        "      dgx-a100:\n"
        "        nodes: {count: 1, cpus: 4, memory_gb: 8}\n"
        "        limits:\n"
        "          max_gpus: -1\n"
    )
    code, _, err = run("policy", "check", str(bad))
    assert code == 1
    assert f"{bad}:9 clusters.c.partitions.dgx-a100.limits.max_gpus: must be ≥ 0" in err


def test_check_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("policy", "check", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert "cannot read policy file" in err


def test_example_policy_tests_pass() -> None:
    code, out, _ = run("policy", "test", str(EXAMPLES / "policy_test.yaml"))
    assert code == 0, out
    assert "PASS: 52/52" in out


def test_policy_test_reports_failures_and_exits_1(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"policy: {EXAMPLES / 'policy.yaml'}\n"
        "cases:\n"
        "  - name: wrongly expected allow\n"
        "    request: {user_id: alice, partition: gpu, gpus: 1}\n"
        "    expect: {allow: true}\n"
        "  - name: right\n"
        "    request: {user_id: alice, partition: cpu}\n"
        "    expect: {allow: true, codes: []}\n"
    )
    code, out, _ = run("policy", "test", str(cases))
    assert code == 1
    assert "FAIL wrongly expected allow" in out
    assert "expected allow=True, got allow=False" in out
    assert "PASS: 1/2" in out


def test_policy_test_invalid_case_file_names_the_field(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: x\n    request: {user_id: alice, gpus: -1}\n    expect: {allow: true}\n")
    code, _, err = run("policy", "test", "--policy", str(EXAMPLES / "policy.yaml"), str(cases))
    assert code == 1
    assert "cases.0.request.gpus" in err


def test_policy_test_refuses_a_usage_key_no_quota_has(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"policy: {EXAMPLES / 'policy.yaml'}\n"
        "cases:\n"
        "  - name: the project's budget is spent\n"
        "    request: {user_id: carol, partition: gpu, gpus: 1}\n"
        "    usage: {consumed: {project:protein-lm: {gpu_hours: 12000}}}\n"  # the quota is protein-lm#monthly
        "    expect: {allow: false}\n"
    )
    code, out, err = run("policy", "test", str(cases))
    message = " ".join(err.split())
    assert code == 1 and "PASS" not in out
    assert f"{cases}: cases[0].usage.consumed.project:protein-lm: no quota has this id" in message
    assert "use project:protein-lm#monthly or project:protein-lm#dgx or project:protein-lm#grant" in message


def test_gpu_job_without_gpu_role_is_denied() -> None:
    d = decide("--user", "alice", "--partition", "gpu", "--gpus", "1")
    assert d["allow"] is False
    assert [v["code"] for v in d["violations"]] == ["gpu.role_required"]


def test_dgx_without_dgx_access_is_denied() -> None:
    d = decide("--user", "bob", "--partition", "dgx-a100", "--gpus", "8")
    assert d["allow"] is False
    assert "partition.role_required" in [v["code"] for v in d["violations"]]


def test_every_violation_is_reported() -> None:
    d = decide("--user", "alice", "--partition", "cpu", "--cpus", "2048", "--gpus", "2", "--walltime-hours", "200")
    codes = {v["code"] for v in d["violations"]}
    assert {"limit.max_cpus", "limit.max_gpus", "limit.max_walltime", "gpu.role_required"} <= codes
    assert len(codes) >= 5


def test_cpu_job_without_partition_routes_to_cheapest_fit() -> None:
    d = decide("--user", "alice", "--cpus", "16", "--memory-gb", "64", "--walltime-hours", "10")
    assert d["allow"] is True
    assert d["route"] == {"cluster": "helix", "partition": "cpu", "reason": "cheapest of 2 candidates"}


def test_the_route_reason_and_qos_on_the_command_line() -> None:
    code, text, _ = run("evaluate", "--user", "alice", "--cpus", "4", "--memory-gb", "300", "--qos", "normal")
    assert code == 0
    assert "route=helix/highmem" in text
    assert "route: cheapest of 2 candidates; cheaper rejected: cpu (limit.memory_per_node)" in text


def test_request_file_with_flag_override_and_usage(tmp_path: Path) -> None:
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"user_id": "alice", "partition": "cpu", "cpus": 64, "walltime_hours": 48}))
    usage = tmp_path / "usage.yaml"
    usage.write_text("consumed:\n  project:wgs-cohort: {cpu_hours: 199000}\n")
    d = decide("--request", str(request), "--usage", str(usage))
    assert [v["code"] for v in d["violations"]] == ["quota.cpu_hours_exceeded"]
    violation = d["violations"][0]
    assert (violation["limit"], violation["requested"], violation["available"]) == (200000, 3072, 1000)
    d = decide("--request", str(request), "--usage", str(usage), "--cpus", "4")
    assert d["allow"] is True


def test_evaluate_takes_the_users_groups() -> None:
    job = ("--user", "newbie", "--partition", "gpu", "--gpus", "1")
    assert [v["code"] for v in decide(*job)["violations"]] == ["gpu.role_required"]
    assert decide(*job, "--group", "hpc-gpu", "--group", "unix-only")["allow"]  # the group's gpu_user


def test_evaluate_refuses_usage_keys_that_match_no_quota_or_scope(tmp_path: Path) -> None:
    usage = tmp_path / "usage.yaml"
    usage.write_text(
        "consumed:\n  project:wgs-cohrt: {cpu_hours: 199000}\n  user:newbie: {cpu_hours: 5}\n"
        "active:\n  team:genomic: {jobs: 3}\n"
    )
    code, out, err = run("evaluate", "--user", "alice", "--usage", str(usage))
    message = " ".join(err.split())
    assert code == 1 and out == ""
    assert f"{usage}: consumed.project:wgs-cohrt: no quota has this id (did you mean project:wgs-cohort?)" in message
    assert "closest quota ids of 13: project:wgs-cohort," in message
    assert f"{usage}: active.team:genomic: no such scope (did you mean team:genomics?)" in message
    assert "user:newbie" not in message and "2 problem(s)" in message


def test_text_output_shows_verdict_and_violation() -> None:
    code, out, _ = run("evaluate", "--user", "alice", "--partition", "gpu", "--gpus", "1")
    assert code == 0
    assert "DENY" in out and "gpu.role_required" in out


def test_a_balance_the_job_overruns_reads_over_by_not_a_negative_number() -> None:
    code, out, _ = run("evaluate", "--user", "newbie", "--partition", "cpu", "--cpu-hours", "500")
    assert code == 0 and "DENY" in out
    assert "CPU-hours 500 exceeds the monthly balance of 120 (limit 120): over by 380" in out
    [row] = [line for line in out.splitlines() if "user:newbie" in line and "│" in line]
    assert "over by 380" in row and "-380" not in out


def test_fail_on_deny_exits_3() -> None:
    code, _, _ = run("evaluate", "--fail-on-deny", "--user", "alice", "--partition", "gpu", "--gpus", "1")
    assert code == 3


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ('{"user_id": "alice", "gpus": 1,}', ".json", ":1: invalid JSON"),
        ('{"user_id": "alice", "gpu": 1}', ".json", "gpu: Extra inputs are not permitted"),
        ('{"user_id": "alice", "cpus": 0}', ".json", "cpus: Input should be greater than or equal to 1"),
        ("user_id: [unclosed", ".yaml", "invalid YAML"),
    ],
)
def test_bad_request_files_give_clear_errors(tmp_path: Path, content: str, suffix: str, expected: str) -> None:
    request = tmp_path / f"req{suffix}"
    request.write_text(content)
    code, _, err = run("evaluate", "--request", str(request))
    assert code == 1
    assert expected in err


def test_missing_user_is_an_error() -> None:
    code, _, err = run("evaluate", "--partition", "cpu")
    assert code == 1
    assert "user_id: Field required" in err

"""``hpcpolicy simulate`` end to end: reports written, runs compared, and bad input refused with its location."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpcpolicy.cli.main import app
from tests.adapters.paths import DATA, SHARED, needs_shared
from tests.adapters.test_sacct import SLYME

runner = CliRunner()
SDSC = DATA / "sdsc_first60.swf"  # 60 records, 55 jobs that ran (13 of them trace user 34's); 128 processors

POLICY = """\
apiVersion: hpcpolicy/v1
metadata: {name: sdsc}
defaults:
  user_quota: {cpu_hours: 100000}
clusters:
  sp2:
    scheduler: slurm
    partitions:
      batch:
        nodes: {count: 128, cpus: 1, memory_gb: 1}
        rates: {cpu_hour: 1.0}
orgs:
  sdsc:
    teams:
      all:
        projects:
          chemistry:
            quotas: [{window: monthly, cpu_hours: %s}]
users:
  alice: {projects: [chemistry]}
"""


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["simulate", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def policy_file(tmp_path: Path, budget: float = 1000, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(POLICY % budget, encoding="utf-8")
    return path


def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text("users:\n  34: {user: alice, project: chemistry}\ndefault_project: null\n", encoding="utf-8")
    return path


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_scheduling_alone_writes_json_and_html(tmp_path: Path) -> None:
    code, out, err = run(SDSC, "--no-policy", "--json", tmp_path / "r.json", "--html", tmp_path / "r.html")
    assert code == 0, err
    data = report(tmp_path / "r.json")
    assert data["trace"]["format"] == "swf" and data["trace"]["dropped"] == {"runtime unknown (the job never ran)": 5}
    (only,) = data["runs"]
    assert only["label"] == "easy · no policy" and only["capacity"] == 128
    assert only["scheduling"]["jobs_run"] == 55 and only["governance"] is None
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "jobs run" in out


def test_policy_with_mapping_compared_across_schedulers(tmp_path: Path) -> None:
    args = ["--policy", policy_file(tmp_path), "--mapping", mapping_file(tmp_path), "--compare", "fifo"]
    code, out, err = run(SDSC, *args, "--json", tmp_path / "r.json")
    assert code == 0, err
    easy, fifo = report(tmp_path / "r.json")["runs"]
    assert (easy["scheduler"], fifo["scheduler"]) == ("easy", "fifo")
    for governed in (easy, fifo):
        gov = governed["governance"]
        assert gov["decisions"] == 55 and gov["allowed"] == 55  # a 1000 CPU-hour budget holds
        assert gov["accounts"]["project:chemistry"]["allowed"] == 13  # the others charge only their user
        assert len(gov["accounts"]) == 1 + len({a for a in gov["accounts"] if a.startswith("user:u")})
    assert "allowed / denied" in out


def test_two_policies_side_by_side(tmp_path: Path) -> None:
    tight = policy_file(tmp_path, budget=30, name="tight.yaml")
    args = ["--policy", policy_file(tmp_path), "--compare", tight, "--mapping", mapping_file(tmp_path)]
    code, _, err = run(SDSC, *args, "--scheduler", "fifo", "--json", tmp_path / "r.json")
    assert code == 0, err
    loose, strict = report(tmp_path / "r.json")["runs"]
    assert loose["policy"]["file"].endswith("policy.yaml") and strict["policy"]["file"].endswith("tight.yaml")
    assert strict["governance"]["denied_by_code"] == {"quota.cpu_hours_exceeded": strict["governance"]["denied"]}
    assert strict["governance"]["denied"] > 0 == loose["governance"]["denied"]
    (dry,) = strict["governance"]["budgets_ran_dry"]
    assert dry["quota"] == "project:chemistry" and dry["date"].startswith("1998-")


def test_policy_against_scheduling_alone(tmp_path: Path) -> None:
    code, _, err = run(SDSC, "--policy", policy_file(tmp_path), "--compare", "no-policy", "--json", tmp_path / "r.json")
    assert code == 0, err
    governed, alone = report(tmp_path / "r.json")["runs"]
    # without a mapping every job names its group's project g<id>, which this policy does not have
    assert governed["governance"]["denied_by_code"] == {"project.unknown": 55}
    assert alone["governance"] is None and alone["scheduling"]["jobs_run"] == 55


def test_a_malformed_line_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.swf"
    lines = SDSC.read_text(encoding="utf-8").splitlines()
    assert lines[20].split()[3] == "172832"
    lines[20] = lines[20].replace("172832", "17x832")
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run(bad, "--no-policy", "--json", tmp_path / "r.json")
    assert code == 1 and "bad.swf:21: field 4 (run time): not a number" in err
    assert not (tmp_path / "r.json").exists()
    code, _, err = run(bad, "--no-policy", "--lenient", "--json", tmp_path / "r.json")
    assert code == 0 and "skipped 1 malformed line" in err
    assert report(tmp_path / "r.json")["trace"]["malformed_lines_skipped"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "pass exactly one of --policy FILE and --no-policy"),
        (["--no-policy", "--policy", "x.yaml"], 2, "pass exactly one of"),
        (["--no-policy", "--compare", "sjf"], 2, "--compare sjf: not fifo, easy, fairshare, no-policy or an existing"),
        (["--no-policy", "--compare", "easy"], 2, "is the scheduler already chosen"),
        (["--no-policy", "--compare", "no-policy"], 2, "needs --policy"),
        (["--no-policy", "--json", "/nonexistent/dir/r.json"], 1, "directory /nonexistent/dir does not exist"),
        (["--no-policy", "--requested-time-field", "2"], 1, "requested_time_field must be a field number"),
        (["--no-policy", "--scheduler", "sjf"], 2, "sjf"),
    ],
)
def test_command_line_errors(args: list[str], code: int, message: str) -> None:
    status, _, err = run(SDSC, *args)
    assert status == code and message in " ".join(err.split())


def test_bad_mapping_and_bad_policy_name_their_lines(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("users:\n  1: {usr: x}\n", encoding="utf-8")
    code, _, err = run(SDSC, "--no-policy", "--mapping", mapping)
    assert code == 1 and f"{mapping}:2: users.1.usr: Extra inputs are not permitted" in err
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: hpcpolicy/v1\nclusters: {}\nbogus: 1\n", encoding="utf-8")
    code, _, err = run(SDSC, "--policy", policy)
    assert code == 1 and f"{policy}:3" in err


def test_formats_are_detected_and_capacity_is_required_without_a_header(tmp_path: Path) -> None:
    code, _, err = run(DATA / "apel_excerpt.log", "--no-policy")
    assert code == 1 and "pass --capacity N" in err
    code, _, err = run(DATA / "apel_excerpt.log", "--no-policy", "--capacity", "16", "--json", tmp_path / "p.json")
    assert code == 0, err
    assert report(tmp_path / "p.json")["trace"]["format"] == "pbs"
    code, _, err = run(DATA / "sacct_header.out", "--no-policy", "--capacity", "32", "--json", tmp_path / "s.json")
    assert code == 0, err
    assert report(tmp_path / "s.json")["trace"]["format"] == "sacct"
    unknown = tmp_path / "trace.txt"
    unknown.write_text("hello world\n", encoding="utf-8")
    code, _, err = run(unknown, "--no-policy")
    assert code == 1 and "cannot tell the format" in err


SACCT = ["--capacity", "8", "--columns", ",".join(SLYME)]
SHARED_RUNS = [
    ("swf/NASA-iPSC-1993-3.1-cln.swf", []),
    ("swf/SDSC-SP2-1998-4.2-first5K-pyss.swf", []),
    ("swf/lublin_256.swf", []),
    ("swf/theta_argonne.swf", ["--requested-time-field", "6"]),
    ("sacct/fasrc_slyme_sacct_single_parallel_COMPLETED_parsable.out", SACCT),
    ("sacct/fasrc_slyme_sacct_single_serial_COMPLETED_parsable.out", SACCT),
    ("pbs/apel_test_pbs_torque_E_records.log", ["--capacity", "16"]),
]


@needs_shared
@pytest.mark.parametrize(("name", "flags"), SHARED_RUNS, ids=[name for name, _ in SHARED_RUNS])
def test_every_shared_trace_replays(tmp_path: Path, name: str, flags: list[str]) -> None:
    code, _, err = run(SHARED / name, "--no-policy", "--compare", "fifo", *flags, "--json", tmp_path / "r.json")
    assert code == 0, err
    data = report(tmp_path / "r.json")
    assert data["trace"]["jobs"] > 0
    for result in data["runs"]:
        assert result["scheduling"]["jobs_run"] + result["scheduling"]["jobs_skipped"] == data["trace"]["jobs"]


CAPPED = (POLICY % 1000).replace("{cpu_hours: 100000}", "{cpu_hours: 100000, max_jobs: 3}")  # 3 jobs a user


@needs_shared
def test_fairshare_with_queued_admission_on_a_shared_trace_excerpt(tmp_path: Path) -> None:
    """The first 1,500 records of the SDSC SP2 log, every user capped at 3 jobs at a time."""
    lines = (SHARED / "swf" / "SDSC-SP2-1998-4.2-first5K-pyss.swf").read_text(encoding="utf-8").splitlines()
    header = [line for line in lines if line.startswith(";")]
    excerpt = tmp_path / "sdsc1500.swf"
    excerpt.write_text("\n".join(header + [line for line in lines if not line.startswith(";")][:1500]) + "\n")
    (tmp_path / "p.yaml").write_text(CAPPED, encoding="utf-8")
    args = ["--policy", tmp_path / "p.yaml", "--mapping", mapping_file(tmp_path), "--scheduler", "fairshare"]
    code, out, err = run(excerpt, *args, "--compare", "easy", "--json", tmp_path / "r.json", "--html", tmp_path / "h")
    assert code == 0, err
    fair, easy = report(tmp_path / "r.json")["runs"]
    assert (fair["scheduler"], fair["queue"], easy["scheduler"], easy["queue"]) == ("fairshare", True, "easy", True)
    for result in (fair, easy):
        gov = result["governance"]
        assert gov["denied"] == 0 and gov["held"] > 0 and gov["held_expired"] == 0
        assert set(gov["held_by_code"]) <= {"concurrency.max_jobs", "queue.waiting"}  # held for the cap, or behind
        accounts = result["fairness"]["accounts"]
        assert sum(a["usage"] for a in accounts.values()) == pytest.approx(1.0)
        assert sum(a["held"] for a in accounts.values()) == gov["held"]
        assert all(a["fairshare_factor"] is not None for a in accounts.values())  # both ranked held jobs
    jobs = report(tmp_path / "r.json")["trace"]["jobs"]
    assert fair["scheduling"]["jobs_run"] == easy["scheduling"]["jobs_run"] == jobs  # held, not denied
    assert "held by the" in out and "accounts that used most: fairshare + queue" in out
    code, _, err = run(excerpt, *args, "--no-queue", "--json", tmp_path / "n.json")
    assert code == 0, err
    (alone,) = report(tmp_path / "n.json")["runs"]
    assert alone["queue"] is False and alone["governance"]["denied_by_code"]["concurrency.max_jobs"] > 0


def test_queue_needs_a_policy() -> None:
    code, _, err = run(SDSC, "--no-policy", "--queue")
    assert code == 2 and "--queue holds jobs the policy refuses; it needs --policy FILE" in " ".join(err.split())

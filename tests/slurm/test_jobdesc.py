"""job_desc → job shape → request, on what the plugin really sent from Slurm 22.05.

``data/job_desc_recorded.json`` was recorded by pointing the generated job_submit.lua at a server that
stored each request body: one entry per sbatch command line (``sbatch``) and per ``scontrol update``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hpcpolicy.adapters.slurm.jobdesc import (
    JobDesc,
    JobShape,
    array_size,
    gpu_spec,
    modified,
    shape_of,
    shape_of_record,
)

RECORDED = json.loads((Path(__file__).parent / "data" / "job_desc_recorded.json").read_text())
SUBMITTED = {" ".join(entry["sbatch"]): entry["body"]["job"] for entry in RECORDED["submit"]}
MODIFIED = [entry for entry in RECORDED["modify"] if entry["body"] is not None]
GIB = 1024.0

SHAPES: list[tuple[str, dict[str, Any]]] = [
    (
        "-n 2 -c 3 -t 10 --mem=2000 --gres=gpu:a100:2 -p gpu -A chem --wrap sleep 2",
        {"cpus": 6, "nodes": 1, "gpus": 2, "gpu_type": "a100", "memory_gb": 2000 / GIB, "walltime_hours": 10 / 60,
         "partition": "gpu", "account": "chem"},
    ),
    (
        "-N 1 --gpus=2 --mem-per-cpu=500 -t 1-02:00:00 --hold --wrap true",  # pn_min_memory carries the flag
        {"cpus": 1, "nodes": 1, "gpus": 2, "gpu_type": None, "memory_gb": 500 / GIB, "walltime_hours": 26.0},
    ),
    (
        "--gpus-per-node=a100:1 --array=0-9%2 -t 5 --hold --wrap true",
        {"cpus": 1, "gpus": 1, "gpu_type": "a100", "memory_gb": 0.0, "array_tasks": 10},
    ),
    ("--gres=gpu:1 --hold --wrap true", {"gpus": 1, "gpu_type": None, "walltime_hours": None}),
    ("-N 2 --ntasks-per-node=4 -t 30 --hold --wrap true", {"cpus": 8, "nodes": 2, "gpus": 0}),
    ("-n 4 --gpus-per-task=1 -t 15 -p gpu --hold --wrap true", {"cpus": 4, "gpus": 4, "partition": "gpu"}),
    (
        "--wrap true --hold",  # nothing asked: Slurm's and the policy's defaults apply
        {"cpus": 1, "nodes": 1, "gpus": 0, "memory_gb": 0.0, "walltime_hours": None, "partition": None,
         "account": None, "array_tasks": 1},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("sbatch", "expected"), SHAPES, ids=[s for s, _ in SHAPES])
def test_recorded_submissions_map_to_their_shape(sbatch: str, expected: dict[str, Any]) -> None:
    shape = shape_of(JobDesc.model_validate(SUBMITTED[sbatch]))
    assert {key: getattr(shape, key) for key in expected} == pytest.approx(expected)


def test_the_recording_covers_every_sbatch_line_listed() -> None:
    assert {s for s, _ in SHAPES} <= SUBMITTED.keys()


def test_unset_sentinels_read_as_none() -> None:
    desc = JobDesc.model_validate(SUBMITTED["--wrap true --hold"])
    assert [desc.number(f) for f in ("cpus_per_task", "min_nodes", "time_limit", "pn_min_memory")] == [None] * 4
    assert desc.number("min_cpus") == 1


def test_array_tasks_multiply_the_hours_not_the_job() -> None:
    shape = shape_of(JobDesc.model_validate(SUBMITTED["--gpus-per-node=a100:1 --array=0-9%2 -t 5 --hold --wrap true"]))
    request = shape.to_request("bin", ("bin",), "testcluster")
    assert (request.cpus, request.gpus) == (1, 1)
    assert request.cpu_hours == pytest.approx(10 * 5 / 60) and request.gpu_hours == pytest.approx(10 * 5 / 60)


def test_request_carries_identity_from_the_caller_not_the_job() -> None:
    body = SUBMITTED["-n 2 -c 3 -t 10 --mem=2000 --gres=gpu:a100:2 -p gpu -A chem --wrap sleep 2"]
    desc = JobDesc.model_validate(body | {"roles": ["dgx_access"], "comment": "role=admin"})  # ignored fields
    request = shape_of(desc).to_request("daemon", (), "testcluster")
    assert (request.user_id, request.roles, request.project, request.cluster) == ("daemon", (), "chem", "testcluster")
    assert request.groups == ()


RECORD = JobDesc.model_validate(MODIFIED[0]["body"]["job"])  # job 2: --gpus=2 --mem-per-cpu=500 -t 26 h


def test_a_job_record_is_read_from_its_tres_totals() -> None:
    shape = shape_of_record(RECORD)
    assert shape == JobShape("cpu", None, cpus=1, nodes=1, gpus=2, gpu_type=None, memory_gb=500 / GIB,
                             walltime_hours=26.0, qos="normal")  # fmt: skip  (Slurm's default QOS, recorded)


@pytest.mark.parametrize(
    ("scontrol", "raises"),
    [
        ("TimeLimit=2-00:00:00", True),
        ("Partition=dgx-a100", True),
        ("NumNodes=1", False),  # already one node
        ("Gres=gpu:a100:3", True),
        ("MinMemoryCPU=800", True),
        ("NumTasks=2", True),
    ],
)
def test_recorded_updates_that_ask_for_more_are_detected(scontrol: str, raises: bool) -> None:
    entry = next(e for e in MODIFIED if e["scontrol"] == [scontrol])
    before = shape_of_record(JobDesc.model_validate(entry["body"]["job"]))
    after = modified(before, JobDesc.model_validate(entry["body"]["changes"]))
    assert after.raises(before) is raises


def test_an_update_keeps_what_it_does_not_change_and_shrinking_needs_no_decision() -> None:
    before = shape_of_record(RECORD)
    after = modified(before, JobDesc(time_limit=60))
    assert after == JobShape("cpu", None, 1, 1, 2, None, 500 / GIB, 1.0, qos="normal")
    assert not after.raises(before)
    assert modified(before, JobDesc(account="ml")).raises(before)  # another budget is another decision
    assert modified(before, JobDesc(qos="long")).raises(before)  # another QOS: other limits, other access
    assert modified(before, JobDesc(qos="long")).to_request("u", (), None).qos == "long"


def test_a_job_without_a_time_limit_getting_one_is_decided_again() -> None:
    before = shape_of(JobDesc.model_validate(SUBMITTED["--gres=gpu:1 --hold --wrap true"]))
    assert modified(before, JobDesc(time_limit=5)).raises(before)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("gres:gpu:a100:2", (2, "a100")),
        ("gres/gpu:a100=2", (2, "a100")),  # Slurm 23.x spelling
        ("gres:gpu:2", (2, None)),
        ("gres:gpu", (1, None)),
        ("gpu:l40s:4", (4, "l40s")),
        ("gres:gpu:a100:1,gres:gpu:v100:1", (2, None)),
        ("gres:shard:2,gres:gpu:1", (1, None)),
        ("gres:mps:100", (0, None)),
        (None, (0, None)),
    ],
)
def test_gpu_specs(spec: str | None, expected: tuple[int, str | None]) -> None:
    assert gpu_spec(spec) == expected


@pytest.mark.parametrize(("spec", "tasks"), [("0-9%2", 10), ("1,3,5-7", 5), ("0-15:4", 4), ("7", 1)])
def test_array_sizes(spec: str, tasks: int) -> None:
    assert array_size(spec) == tasks


@pytest.mark.parametrize("spec", ["a-b", "0-9:0", "9-0", "1:", "²", "-1", "0--1", "1,,2", ""])
def test_a_bad_array_spec_is_an_error(spec: str) -> None:
    with pytest.raises(ValueError, match="bad array spec"):
        array_size(spec)


def test_an_array_larger_than_slurm_allows_is_an_error() -> None:
    assert array_size("0-4000000") == 4_000_001
    with pytest.raises(ValueError, match="more than 4000001 tasks"):
        array_size("0-4000001")

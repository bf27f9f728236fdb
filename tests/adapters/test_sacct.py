"""sacct --parsable2 reader: header or caller columns, steps folded, time/TRES/ReqMem formats, states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hpcpolicy.adapters.traces import SacctTrace, TraceError, read_sacct
from hpcpolicy.adapters.traces.sacct import parse_limit, parse_reqmem, parse_timestamp, parse_tres, tres_gpus

from .paths import DATA

# The --format of the fasrc/slyme mock files (see ../shared/traces/sacct/fasrc_slyme_README).
SLYME = [
    "User", "JobID", "JobName", "State", "Partition", "NCPUS", "NNodes", "CPUTime", "TotalCPU", "UserCPU",
    "SystemCPU", "ReqMem", "MaxRSS", "Submit", "Start", "End", "NodeList",
]  # fmt: skip


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_noheader_file_with_caller_columns_folds_steps() -> None:
    trace = SacctTrace(DATA / "fasrc_parallel_noheader.out", columns=SLYME)
    (job,) = trace
    assert job.job_id == "77454" and job.user == "jab" and job.partition == "general"
    assert job.submit == epoch("2014-06-26T11:51:28") and job.wait == 0.0 and job.runtime == 63.0
    assert job.procs_allocated == 3 and job.status == "completed"
    assert job.memory_gb == pytest.approx(2 * 5150 / 1024)  # 5150Mn: per node, 2 nodes
    assert trace.steps_folded == 2 and trace.orphan_steps == 0


def test_noheader_without_columns_is_an_error() -> None:
    with pytest.raises(TraceError, match=r"fasrc_parallel_noheader.out:1: no header line: pass columns="):
        list(read_sacct(DATA / "fasrc_parallel_noheader.out"))


def test_header_file() -> None:
    trace = SacctTrace(DATA / "sacct_header.out")
    jobs = {job.job_id: job for job in trace}
    assert list(jobs) == ["1001", "1002", "1003", "1004", "1005"]
    assert trace.steps_folded == 3

    gpu = jobs["1001"]
    assert (gpu.wait, gpu.runtime, gpu.time_requested) == (300.0, 7200.0, 86400.0)
    assert gpu.gpus == 2 and gpu.memory_gb == 32.0 and gpu.procs == 8
    assert (gpu.user, gpu.group, gpu.queue, gpu.partition) == ("alice", "lab", "normal", "gpu")

    cancelled = jobs["1002"]  # "CANCELLED by 123" while pending
    assert cancelled.status == "cancelled" and cancelled.wait is None and cancelled.runtime is None
    assert cancelled.time_requested is None  # UNLIMITED
    assert cancelled.memory_gb == 16.0  # 4Gc: per CPU, 4 CPUs

    timeout = jobs["1003"]
    assert timeout.status == "timeout" and timeout.runtime == 1801.0 and timeout.time_requested == 1800.0
    assert timeout.memory_gb == pytest.approx(10300 / 1024)

    running = jobs["1004"]
    assert running.status == "running" and running.runtime is None  # elapsed so far is not a runtime
    assert running.time_requested is None and running.gpus == 1  # Partition_Limit; typed gres in ReqTRES

    assert jobs["1005"].status == "failed" and jobs["1005"].runtime == 7.0


def test_timezone_option() -> None:
    plus2 = timezone(timedelta(hours=2))
    (job,) = SacctTrace(DATA / "fasrc_parallel_noheader.out", columns=SLYME, tz=plus2)
    assert job.submit == epoch("2014-06-26T11:51:28") - 7200


def test_orphan_steps_and_lenient(tmp_path: Path) -> None:
    path = tmp_path / "s.out"
    path.write_text(
        "JobID|State|Submit|NCPUS\n"
        "5.batch|COMPLETED|2024-01-01T00:00:00|1\n"  # its job line was filtered out
        "6|COMPLETED|2024-01-01T00:00:00|2\n"
        "7|COMPLETED|2024-01-01T00:00:00\n"  # a field short
        "8|COMPLETED|yesterday|1\n"
        "9|COMPLETED|Unknown|1\n"
        "10|COMPLETED|2024-01-01T00:00:00|1\n"
    )
    with pytest.raises(TraceError, match=r"^s.out:4: expected 4 fields, got 3$"):
        list(read_sacct(path))
    trace = SacctTrace(path, lenient=True)
    assert [job.job_id for job in trace] == ["6", "10"]
    assert trace.orphan_steps == 1 and trace.problems.skipped == 3
    assert "s.out:5: job 8:" in trace.problems.messages[1]
    assert trace.problems.messages[2] == "s.out:6: job 9: Submit is unknown: the job cannot be replayed"


def test_end_before_start(tmp_path: Path) -> None:
    path = tmp_path / "s.out"
    path.write_text("JobID|Submit|Start|End\n1|2024-01-01T00:00:00|2024-01-01T02:00:00|2024-01-01T01:00:00\n")
    with pytest.raises(TraceError, match="End before Start"):
        list(read_sacct(path))


def test_helpers() -> None:
    assert parse_timestamp("Unknown") is None and parse_timestamp("None") is None
    assert parse_timestamp("1970-01-01T00:01:00") == 60.0
    assert parse_limit("UNLIMITED") is None and parse_limit("Partition_Limit") is None
    assert parse_limit("2-00:00:00") == 172800.0
    tres = parse_tres("cpu=4,mem=8G,node=1,billing=4,gres/gpu=1,gres/gpu:a100=2")
    assert tres == {"cpu": "4", "mem": "8G", "node": "1", "billing": "4", "gres/gpu": "1", "gres/gpu:a100": "2"}
    assert tres_gpus(tres) == 2  # inconsistent log: never under-count
    assert tres_gpus(parse_tres("gres/gpu=4,gres/gpu:a100=2,gres/gpu:v100=2")) == 4
    assert tres_gpus(parse_tres("")) == 0
    assert parse_reqmem("5150Mn", nodes=2, cpus=8) == pytest.approx(5150 * 2 / 1024)
    assert parse_reqmem("4Gc", nodes=1, cpus=8) == 32.0
    assert parse_reqmem("8G", nodes=4, cpus=8) == 8.0  # Slurm >= 21.08: already the job total
    assert parse_reqmem("4Gn", nodes=None, cpus=8) is None and parse_reqmem("0n", nodes=1, cpus=1) is None
    with pytest.raises(ValueError):
        parse_reqmem("lots", nodes=1, cpus=1)


def test_job_arrays_stay_separate_jobs(tmp_path: Path) -> None:
    path = tmp_path / "a.out"
    path.write_text(
        "JobID|Submit|NCPUS\n42_1|2024-01-01T00:00:00|1\n42_1.batch|2024-01-01T00:00:00|1\n42_2|2024-01-01T00:00:00|1\n"
    )
    trace = SacctTrace(path)
    assert [job.job_id for job in trace] == ["42_1", "42_2"] and trace.steps_folded == 1

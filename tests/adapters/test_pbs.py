"""PBS/Torque accounting reader: E records, node specs, slots, walltime formats, duplicate ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcpolicy.adapters.traces import PbsTrace, TraceError, read_pbs
from hpcpolicy.adapters.traces.pbs import parse_exec_host, parse_nodes, parse_select

from .paths import DATA, SHARED, needs_shared

BASE = "qtime=100 start=160 end=460 exec_host=n1/0+n1/1 Resource_List.walltime=00:10:00 Exit_status=0"


def write(tmp_path: Path, *messages: str, kind: str = "E") -> Path:
    path = tmp_path / "acct.log"
    lines = [f"01/01/2020 00:00:00;{kind};{i}.srv;user=u group=g queue=q {m}\n" for i, m in enumerate(messages)]
    path.write_text("".join(lines))
    return path


def test_excerpt_first_duplicate_wins() -> None:
    trace = PbsTrace(DATA / "apel_excerpt.log")
    jobs = list(trace)
    assert [job.job_id for job in jobs] == ["21010040.lcgbatch01.gridpp.rl.ac.uk", "24940336.b0", "21430205.b0"]
    assert trace.duplicates_skipped == 2  # skipped before parsing, so the corrupt third copy never raises
    eight = jobs[0]
    assert eight.procs_requested == 8 and eight.procs_allocated == 8 and eight.runtime == 0.0
    assert eight.submit == 1317427361.0 and eight.wait == 169.0 and eight.time_requested == 96 * 3600.0
    dup = jobs[1]
    assert dup.line == 2 and dup.runtime == 12767.0 and dup.status == "failed"  # Exit_status=271
    prefixed = jobs[2]  # "20150327:" before the date, "1pn=4" node spec
    assert prefixed.procs_allocated == 4 and prefixed.procs_requested is None
    assert prefixed.memory_gb == pytest.approx(4 * 2666 / 1024)  # pmem per process x slots
    assert (prefixed.user, prefixed.group, prefixed.queue) == ("atprd006", "atprd", "atlas")


def test_excerpt_last_duplicate_wins_and_corrupt_copy_is_reported() -> None:
    with pytest.raises(TraceError, match=r"apel_excerpt.log:5: job 24940336.b0: end 1448914025 before start"):
        list(PbsTrace(DATA / "apel_excerpt.log", duplicates="last"))
    trace = PbsTrace(DATA / "apel_excerpt.log", duplicates="last", lenient=True)
    jobs = {job.job_id: job for job in trace}
    assert jobs["24940336.b0"].line == 3 and jobs["24940336.b0"].status == "completed"
    assert jobs["24940336.b0"].runtime == 1448926926 - 1448914025
    assert trace.duplicates_skipped == 1 and trace.problems.skipped == 1


@needs_shared
def test_shared_apel_sample() -> None:
    trace = PbsTrace(SHARED / "pbs" / "apel_test_pbs_torque_E_records.log")
    jobs = list(trace)
    assert len(jobs) == 6 and trace.duplicates_skipped == 2
    first = jobs[0]  # resources_used.walltime=19:23:4 disagrees with end - start; end - start wins
    assert first.runtime == 1317534104 - 1317509945 and first.procs == 1
    assert jobs[-1].runtime == 56.0


def test_duplicates_option_is_validated() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        PbsTrace(DATA / "apel_excerpt.log", duplicates="middle")  # type: ignore[arg-type]


def test_record_fields(tmp_path: Path) -> None:
    (job,) = read_pbs(write(tmp_path, BASE + " Resource_List.nodes=1:ppn=2 Resource_List.mem=8gb"))
    assert (job.submit, job.wait, job.runtime, job.time_requested) == (100.0, 60.0, 300.0, 600.0)
    assert job.procs == 2 and job.memory_gb == 8.0 and job.status == "completed" and job.partition is None


def test_other_records_and_fallbacks(tmp_path: Path) -> None:
    path = write(tmp_path, "qtime=1", kind="Q")
    trace = PbsTrace(path)
    assert list(trace) == [] and trace.other_records == 1
    (job,) = read_pbs(write(tmp_path, "ctime=5 resources_used.walltime=12767 Exit_status=1"))
    assert job.submit == 5.0 and job.wait is None and job.runtime == 12767.0 and job.status == "failed"
    (job,) = read_pbs(write(tmp_path, BASE.replace("Exit_status=0", "Exit_status=271")))
    assert job.status == "failed"
    (job,) = read_pbs(write(tmp_path, BASE.replace("end=460", "end=760").replace("Exit_status=0", "Exit_status=-11")))
    assert job.status == "timeout"  # ran its full 10 minutes and exited non-zero
    (job,) = read_pbs(write(tmp_path, "qtime=1 Resource_List.select=2:ncpus=4:ngpus=1"))
    assert job.procs_requested == 8 and job.gpus == 2 and job.status == "unknown"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("qtime=1 etime=1317509574start=1317509945", "etime='1317509574start=1317509945' is not an epoch"),
        ("qtime=1 orphan", "attribute without '='"),
        ("user=x", "no qtime/ctime/etime"),
        ("qtime=1 start=10 end=5", "end 5 before start 10"),
        ("qtime=1 resources_used.walltime=-00:00:01", "bad duration"),
    ],
)
def test_malformed_records(tmp_path: Path, message: str, error: str) -> None:
    with pytest.raises(TraceError, match=r"acct.log:1: job 0.srv: ") as caught:
        list(read_pbs(write(tmp_path, message)))
    assert error in str(caught.value)


def test_lenient_and_bad_layout(tmp_path: Path) -> None:
    path = tmp_path / "acct.log"
    path.write_text("garbage without separators\n01/01/2020 00:00:00;E;1.srv;qtime=1\n")
    with pytest.raises(TraceError, match=r"acct.log:1: expected 'date;type;jobid;attributes'"):
        list(read_pbs(path))
    trace = PbsTrace(path, lenient=True)
    assert [job.job_id for job in trace] == ["1.srv"] and trace.problems.skipped == 1


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("2:ppn=4", (8, 0)),
        ("1:ppn=4", (4, 0)),
        ("1", (1, 0)),
        ("hostA+hostB", (2, 0)),
        ("hostA:ppn=2+2:ppn=8:gpus=1", (18, 2)),
        ("1:ppn=8:bigmem", (8, 0)),
        ("1pn=4", None),  # as written in the APEL sample: not guessed
        ("2:ppn=x", None),
    ],
)
def test_parse_nodes(spec: str, expected: tuple[int, int] | None) -> None:
    assert parse_nodes(spec) == expected


def test_exec_host_and_select() -> None:
    assert parse_exec_host("lcg0766/7+lcg0766/6+lcg0766/5") == 3
    assert parse_exec_host("b391/0-3") == 4
    assert parse_exec_host("b391/0-1,5,11") == 4
    assert parse_exec_host("b341") == 1
    assert parse_select("2:ncpus=4:ngpus=1+1:ncpus=8") == (16, 2)
    assert parse_select("ncpus=2") == (2, 0)

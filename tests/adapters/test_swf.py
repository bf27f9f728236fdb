"""SWF reader: fields, unknowns, status codes, header, the Theta field-6 option, malformed lines."""

from __future__ import annotations

import gzip
import re
import types
from pathlib import Path

import pytest

from hpcpolicy.adapters.traces import JobRecord, SwfTrace, TraceError, read_swf
from hpcpolicy.adapters.traces.errors import MAX_MESSAGES

from .paths import DATA

GOOD = "1 0 5 100 4 -1 -1 4 200 1024 1 7 2 -1 1 3 -1 -1\n"


def write(tmp_path: Path, text: str, name: str = "lublin.swf") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nasa_header_and_unknowns() -> None:
    trace = SwfTrace(DATA / "nasa_excerpt.swf")
    assert trace.max_procs == 128 and trace.max_nodes == 128 and trace.capacity == 128
    assert trace.unix_start_time == 749458803
    assert trace.header["Computer"] == "Intel iPSC/860"
    assert trace.queue_names == {"0": "interactive", "1": "batch"}
    jobs = list(trace)
    assert [job.job_id for job in jobs] == ["1", "2", "3", "4"]
    first = jobs[0]
    assert first.submit == 0.0 and first.runtime == 1451.0 and first.procs == 128
    assert first.wait is None and first.time_requested is None and first.procs_requested is None  # all -1
    assert first.status == "unknown" and first.user == "1" and first.queue is None
    assert first.line == 11  # the file line, headers included


def test_sdsc_cancelled_jobs_that_never_ran() -> None:
    trace = SwfTrace(DATA / "sdsc_excerpt.swf")
    jobs = list(trace)
    never_ran = jobs[0]
    assert never_ran.status == "cancelled" and never_ran.runtime is None and never_ran.procs_allocated is None
    assert never_ran.procs == 64  # falls back to the request
    assert never_ran.wait == 864895.0 and never_ran.time_requested == 43200.0
    assert never_ran.queue == "low"  # queue 4, named by the header
    ran = jobs[3]
    assert ran.status == "cancelled" and ran.runtime == 172830.0 and ran.procs == 5 and ran.queue == "normal"


def test_theta_requested_time_in_field_6() -> None:
    default = list(SwfTrace(DATA / "theta_excerpt.swf"))
    assert all(job.time_requested is None for job in default)  # field 9 is -1: no silent guessing
    jobs = list(SwfTrace(DATA / "theta_excerpt.swf", requested_time_field=6))
    assert [job.time_requested for job in jobs[:3]] == [3600.0, 21600.0, 21600.0]
    assert jobs[0].runtime == 3632.0  # ran past its request: Theta allows a grace period
    assert SwfTrace(DATA / "theta_excerpt.swf").capacity == 4392


def test_requested_time_field_is_validated() -> None:
    with pytest.raises(ValueError, match="requested_time_field"):
        SwfTrace(DATA / "theta_excerpt.swf", requested_time_field=2)


def test_all_fields_and_memory(tmp_path: Path) -> None:
    (job,) = read_swf(write(tmp_path, "; MaxNodes: 8\n" + GOOD))
    assert job == JobRecord(
        job_id="1", submit=0.0, wait=5.0, runtime=100.0, procs_requested=4, procs_allocated=4,
        time_requested=200.0, memory_gb=4 * 1024 / 1024**2, status="completed", user="7", group="2",
        queue="1", partition="3", line=2,
    )  # fmt: skip
    assert job.start == 5.0


@pytest.mark.parametrize(("code", "status"), [(1, "completed"), (0, "failed"), (5, "cancelled"), (2, "partial")])
def test_status_codes(tmp_path: Path, code: int, status: str) -> None:
    (job,) = read_swf(write(tmp_path, GOOD.replace(" 1 7 2 ", f" {code} 7 2 ")))
    assert job.status == status


def test_capacity_falls_back_to_max_nodes(tmp_path: Path) -> None:
    trace = SwfTrace(write(tmp_path, "; MaxNodes: 256\n; MaxRuntime: 162754\n" + GOOD))
    assert trace.max_procs is None and trace.capacity == 256
    assert SwfTrace(write(tmp_path, GOOD, "bare.swf")).capacity is None


def test_header_continuations_and_repeats(tmp_path: Path) -> None:
    text = "; Information: http://a/\n;              http://b/\n; Note: one\n; Note: two\n;\n; MaxProcs: 4\n"
    header = SwfTrace(write(tmp_path, text + GOOD)).header
    assert header["Information"] == "http://a/\nhttp://b/"
    assert header["Note"] == "one\ntwo"
    assert header["MaxProcs"] == "4"


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    lines = ["; header\n"] * 16 + ["1 2 3 4 5 6 7 8 9 10 11 12\n"]
    with pytest.raises(TraceError, match=r"^lublin.swf:17: expected 18 fields, got 12$"):
        list(SwfTrace(write(tmp_path, "".join(lines))))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (GOOD.replace(" 100 ", " abc "), "field 4 (run time): not a number: 'abc'"),
        (GOOD.replace(" 1 7 2 ", " 9 7 2 "), "unknown status code 9"),
        (GOOD.replace("1 0 5", "1 -1 5", 1), "submit time unknown"),
    ],
)
def test_malformed_values(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(TraceError, match=re.escape(message)):
        list(read_swf(write(tmp_path, line)))


def test_lenient_skips_and_counts(tmp_path: Path) -> None:
    text = GOOD + "oops\n" * 12 + GOOD.replace("1 0", "2 9", 1)
    trace = SwfTrace(write(tmp_path, text), lenient=True)
    assert [job.job_id for job in trace] == ["1", "2"]
    assert trace.problems.skipped == 12
    assert len(trace.problems.messages) == MAX_MESSAGES
    assert trace.problems.messages[0] == "lublin.swf:2: expected 18 fields, got 1"


def test_streams_without_a_list(tmp_path: Path) -> None:
    jobs = read_swf(write(tmp_path, GOOD * 3))
    assert isinstance(jobs, types.GeneratorType)
    assert next(jobs).job_id == "1"


def test_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.swf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("; MaxProcs: 16\n" + GOOD)
    trace = SwfTrace(path)
    assert trace.capacity == 16 and len(list(trace)) == 1

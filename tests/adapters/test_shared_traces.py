"""The full shared traces read cleanly in strict mode (skipped when ../shared/traces is absent)."""

from __future__ import annotations

import pytest

from hpcpolicy.adapters.traces import SacctTrace, SwfTrace

from .paths import SHARED, needs_shared
from .test_sacct import SLYME

pytestmark = needs_shared


@pytest.mark.parametrize(
    ("name", "jobs", "capacity", "field"),
    [
        ("NASA-iPSC-1993-3.1-cln.swf", 18239, 128, 9),
        ("SDSC-SP2-1998-4.2-first5K-pyss.swf", 4961, 128, 9),
        ("lublin_256.swf", 10000, 256, 9),
        ("theta_argonne.swf", 23387, 4392, 6),
    ],
)
def test_swf_traces(name: str, jobs: int, capacity: int, field: int) -> None:
    trace = SwfTrace(SHARED / "swf" / name, requested_time_field=field)
    records = list(trace)
    assert len(records) == jobs and trace.capacity == capacity and trace.problems.skipped == 0
    assert all(record.procs is not None for record in records)


def test_nasa_has_no_waits_and_sdsc_has_cancelled_jobs_that_never_ran() -> None:
    nasa = SwfTrace(SHARED / "swf" / "NASA-iPSC-1993-3.1-cln.swf")
    assert all(record.wait is None and record.time_requested is None for record in nasa)
    sdsc = list(SwfTrace(SHARED / "swf" / "SDSC-SP2-1998-4.2-first5K-pyss.swf"))
    never_ran = [record for record in sdsc if record.runtime is None]
    assert len(never_ran) == 355 and {record.status for record in never_ran} == {"cancelled"}


def test_theta_is_not_sorted_by_submit() -> None:
    """Why the scheduler refuses unsorted input instead of trusting file order."""
    submits = [record.submit for record in SwfTrace(SHARED / "swf" / "theta_argonne.swf", requested_time_field=6)]
    assert submits != sorted(submits)


def test_sacct_mock_files() -> None:
    serial = SacctTrace(SHARED / "sacct" / "fasrc_slyme_sacct_single_serial_COMPLETED_parsable.out", columns=SLYME)
    (job,) = serial
    assert job.job_id == "77369" and job.wait == 1.0 and job.runtime == 62.0 and job.procs == 1
    assert serial.steps_folded == 1

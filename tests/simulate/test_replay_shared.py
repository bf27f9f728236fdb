"""Both models on every shared SWF trace: invariants hold at scale (skipped without ../shared/traces)."""

from __future__ import annotations

import pytest

from hpcpolicy.adapters.traces import JobRecord, SwfTrace
from hpcpolicy.simulate import SimJob, schedule_easy, schedule_fifo, summarize, to_sim_jobs

from ..adapters.paths import SHARED, needs_shared
from .checks import assert_valid

pytestmark = needs_shared
TRACES = [
    ("NASA-iPSC-1993-3.1-cln.swf", 9),
    ("SDSC-SP2-1998-4.2-first5K-pyss.swf", 9),
    ("lublin_256.swf", 9),
    ("theta_argonne.swf", 6),
]


def load(name: str, field: int) -> tuple[list[SimJob], int]:
    trace = SwfTrace(SHARED / "swf" / name, requested_time_field=field)
    jobs = sorted(to_sim_jobs(trace), key=lambda job: job.submit)  # theta is not in submit order
    assert trace.capacity is not None
    return jobs, trace.capacity


@pytest.mark.parametrize(("name", "field"), TRACES)
def test_models_on_shared_traces(name: str, field: int) -> None:
    jobs, capacity = load(name, field)
    fifo, easy = schedule_fifo(jobs, capacity), schedule_easy(jobs, capacity)
    for schedule in (fifo, easy):
        assert_valid(schedule, jobs)
        assert not schedule.skipped
    assert all(p.start <= p.reserved for p in easy.placements if p.reserved is not None)
    assert summarize(easy).mean_wait <= summarize(fifo).mean_wait  # true on all four traces, not a theorem


def test_sdsc_drops_cancelled_jobs_that_never_ran() -> None:
    dropped: list[tuple[JobRecord, str]] = []
    jobs = list(to_sim_jobs(SwfTrace(SHARED / "swf" / "SDSC-SP2-1998-4.2-first5K-pyss.swf"), dropped))
    assert len(jobs) == 4606 and len(dropped) == 355

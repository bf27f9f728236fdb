"""Invariants every schedule must satisfy, shared by the hand-written and the property tests."""

from __future__ import annotations

from collections.abc import Sequence

from hpcpolicy.simulate import Schedule, SimJob


def assert_valid(schedule: Schedule, jobs: Sequence[SimJob], kill_at_limit: bool = True) -> None:
    """Each fitting job placed once with its (possibly cut) runtime, no start before submit, never over capacity."""
    by_id = {job.id: job for job in jobs}
    placed = [p.id for p in schedule.placements]
    skipped = [s.job.id for s in schedule.skipped]
    assert sorted(placed + skipped) == sorted(by_id)
    assert all(s.job.procs > schedule.capacity or s.job.procs < 1 for s in schedule.skipped)
    for p in schedule.placements:
        job = by_id[p.id]
        req = job.requested if job.requested is not None and job.requested > 0 else job.runtime
        run = min(job.runtime, req) if kill_at_limit else job.runtime
        assert p.start >= p.submit == job.submit
        assert p.end - p.start == run or abs((p.end - p.start) - run) < 1e-9
        assert p.procs == job.procs
    events = sorted(
        [(p.start, 1, p.procs) for p in schedule.placements] + [(p.end, 0, -p.procs) for p in schedule.placements]
    )
    busy = 0
    for _time, _kind, delta in events:  # ends (kind 0) before starts (kind 1) at the same instant
        busy += delta
        assert busy <= schedule.capacity
    starts = [p.start for p in schedule.placements]
    assert starts == sorted(starts)  # placements are in order of start

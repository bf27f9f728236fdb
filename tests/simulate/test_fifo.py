"""FIFO on small crafted traces, with expected start times worked out by hand."""

from __future__ import annotations

import pytest

from hpcpolicy.simulate import SimJob, schedule_fifo

from .checks import assert_valid


def starts(jobs: list[SimJob], capacity: int, **options: bool) -> dict[str, float]:
    schedule = schedule_fifo(jobs, capacity, **options)
    assert_valid(schedule, jobs, options.get("kill_at_limit", True))
    return {p.id: p.start for p in schedule.placements}


def test_nobody_overtakes_the_head() -> None:
    jobs = [SimJob("a", 0, 10, 2), SimJob("b", 1, 5, 4), SimJob("c", 2, 2, 1)]
    # a runs 0-10 on 2 of 4 procs; b needs all 4, waits for a (10-15); c would fit at t=2 but waits behind b.
    assert starts(jobs, 4) == {"a": 0, "b": 10, "c": 15}


def test_heads_start_together_when_processors_free() -> None:
    jobs = [
        SimJob("a", 0, 100, 6), SimJob("b", 1, 50, 8), SimJob("c", 2, 200, 2),
        SimJob("d", 3, 200, 1), SimJob("e", 4, 50, 2),
    ]  # fmt: skip
    # a 0-100; b waits for a (100-150); c fits next to b at 100; d and e wait for b's end at 150.
    assert starts(jobs, 10) == {"a": 0, "b": 100, "c": 100, "d": 150, "e": 150}


def test_completion_frees_before_arrival_at_the_same_instant() -> None:
    jobs = [SimJob("a", 0, 5, 4), SimJob("b", 5, 1, 4)]
    assert starts(jobs, 4) == {"a": 0, "b": 5}


def test_zero_runtime_jobs() -> None:
    jobs = [SimJob("a", 0, 0, 4), SimJob("b", 0, 0, 4), SimJob("c", 0, 3, 4)]
    assert starts(jobs, 4) == {"a": 0, "b": 0, "c": 0}


def test_oversized_jobs_are_skipped_not_blocking() -> None:
    jobs = [SimJob("a", 0, 10, 2), SimJob("huge", 1, 5, 5), SimJob("c", 2, 2, 2)]
    schedule = schedule_fifo(jobs, 4)
    assert [(s.job.id, s.reason) for s in schedule.skipped] == [("huge", "needs 5 processors, the machine has 4")]
    assert {p.id: p.start for p in schedule.placements} == {"a": 0, "c": 2}


def test_kill_at_limit() -> None:
    jobs = [SimJob("a", 0, 100, 1, requested=50), SimJob("b", 0, 10, 1, requested=None)]
    killed = schedule_fifo(jobs, 1)
    assert [(p.id, p.start, p.end) for p in killed.placements] == [("a", 0, 50), ("b", 50, 60)]
    assert killed.truncated == 1
    full = schedule_fifo(jobs, 1, kill_at_limit=False)
    assert [(p.id, p.start, p.end) for p in full.placements] == [("a", 0, 100), ("b", 100, 110)]
    assert full.truncated == 0


def test_rejects_unsorted_input_and_bad_capacity() -> None:
    with pytest.raises(ValueError, match="sorted by submit time: job b submits at 1 after 5"):
        schedule_fifo([SimJob("a", 5, 1, 1), SimJob("b", 1, 1, 1)], 4)
    with pytest.raises(ValueError, match="capacity"):
        schedule_fifo([], 0)


def test_accepts_any_iterable() -> None:
    schedule = schedule_fifo((SimJob(str(i), i, 1, 1) for i in range(3)), 1)
    assert [p.start for p in schedule.placements] == [0, 1, 2]

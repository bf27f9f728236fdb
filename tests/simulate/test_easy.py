"""EASY backfilling on small crafted traces, with expected start times and reservations worked out by hand."""

from __future__ import annotations

from hpcpolicy.simulate import Placement, SimJob, schedule_easy

from .checks import assert_valid


def run(jobs: list[SimJob], capacity: int, kill_at_limit: bool = True) -> dict[str, Placement]:
    schedule = schedule_easy(jobs, capacity, kill_at_limit=kill_at_limit)
    assert_valid(schedule, jobs, kill_at_limit)
    return {p.id: p for p in schedule.placements}


def test_short_job_backfills_before_the_shadow_time() -> None:
    jobs = [SimJob("a", 0, 10, 2), SimJob("b", 1, 5, 4), SimJob("c", 2, 2, 1)]
    # b (4 procs) is blocked at t=1: a ends (by request = runtime) at 10, so shadow = 10, extra = 0.
    # c arrives at 2, fits 2 free procs and ends at 4 <= 10: it starts at once (FIFO would start it at 15).
    placed = run(jobs, 4)
    assert {i: p.start for i, p in placed.items()} == {"a": 0, "b": 10, "c": 2}
    assert placed["b"].reserved == 10 and placed["a"].reserved is None and placed["c"].reserved is None


def test_long_job_backfills_on_extra_processors_only() -> None:
    jobs = [
        SimJob("a", 0, 100, 6), SimJob("b", 1, 50, 8), SimJob("c", 2, 200, 2),
        SimJob("d", 3, 200, 1), SimJob("e", 4, 50, 2),
    ]  # fmt: skip
    # t=1: b blocked; shadow = 100 (a ends), 4 + 6 = 10 free then, extra = 10 - 8 = 2.
    # t=2: c runs past 100 but needs 2 <= extra: starts, extra = 0, free = 2.
    # t=3: d runs past 100, extra is used up: waits.   t=4: e ends at 54 <= 100: starts, free = 0.
    # t=54: e ends; d still runs past the shadow and extra = 0.   t=100: a ends, b starts (100-150).
    # d is now head, blocked (free 0): shadow = 150 (b's end).   t=150: d starts.
    placed = run(jobs, 10)
    assert {i: p.start for i, p in placed.items()} == {"a": 0, "b": 100, "c": 2, "d": 150, "e": 4}
    assert placed["b"].reserved == 100 and placed["d"].reserved == 150


def test_reservation_uses_requested_not_actual_times() -> None:
    jobs = [
        SimJob("a", 0, 10, 3, requested=100), SimJob("b", 1, 10, 4, requested=10),
        SimJob("c", 2, 5, 1, requested=50), SimJob("d", 3, 5, 1, requested=200),
    ]  # fmt: skip
    # t=1: b blocked, shadow = 100 (a's *requested* end), extra = 0.  t=2: c ends by 52 <= 100: backfills.
    # t=3: no free procs for d.  t=7: c ends; d would end at 207 > 100 and extra = 0: waits.
    # t=10: a really ends, b starts (ends 20); d is head, shadow 20.  t=20: d starts.
    placed = run(jobs, 4)
    assert {i: p.start for i, p in placed.items()} == {"a": 0, "b": 10, "c": 2, "d": 20}
    assert placed["b"].reserved == 100 and placed["d"].reserved == 20


def test_tied_expected_ends_all_count_towards_extra() -> None:
    jobs = [
        SimJob("a", 0, 10, 1), SimJob("b", 0, 10, 3), SimJob("head", 1, 5, 2),
        SimJob("long", 2, 100, 1), SimJob("short", 3, 1, 1),
    ]  # fmt: skip
    # capacity 5, 1 proc free: head needs 2. By t=10 a and b both end: 1 + 1 + 3 = 5 free, so
    # shadow = 10 and extra = 3 — b counts although a alone already covers the head's need.
    # long (runs past 10) fits the free proc and the extra: starts at 2. short finds nothing free
    # until 10, when it starts next to head (free 4 - 2).
    placed = run(jobs, 5)
    assert {i: p.start for i, p in placed.items()} == {"a": 0, "b": 0, "head": 10, "long": 2, "short": 10}
    assert placed["head"].reserved == 10


def test_overrun_without_kill_limit_expected_to_end_now() -> None:
    jobs = [SimJob("a", 0, 30, 2, requested=10), SimJob("b", 1, 5, 2), SimJob("c", 20, 1, 1)]
    # capacity 3, kill_at_limit=False: a overruns its 10 s request and really ends at 30.
    # b is blocked at t=1 with shadow 10. At t=20 a has overrun: it is expected to end "now" (20),
    # so shadow = 20 and c (ends at 21) may not backfill on time; extra = 3 - 2 = 1 lets it start.
    placed = run(jobs, 3, kill_at_limit=False)
    assert placed["b"].start == 30 and placed["b"].reserved == 10  # the reservation slipped
    assert placed["c"].start == 20


def test_oversized_and_queue_drains() -> None:
    jobs = [SimJob("a", 0, 10, 4), SimJob("huge", 0, 10, 9), SimJob("b", 0, 10, 4), SimJob("c", 0, 10, 4)]
    schedule = schedule_easy(jobs, 8)
    assert [s.job.id for s in schedule.skipped] == ["huge"]
    assert {p.id: p.start for p in schedule.placements} == {"a": 0, "b": 0, "c": 10}

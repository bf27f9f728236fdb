"""EASY over a priority order (the ``fairshare`` model) with priorities set by hand: who goes first, who backfills.

The priorities here come from a table, not from fair share (``test_fairshare_replay.py`` does that), so each
expected schedule can be worked out in the comments.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.simulate import Placement, Schedule, SimJob, schedule_easy
from hpcpolicy.simulate.scheduler import Easy

from .checks import assert_valid
from .test_properties import workloads


class Table:
    """An ordering with fixed priorities (default 0) and one version: ranks never need refreshing."""

    def __init__(self, priorities: Mapping[str, float] | None = None) -> None:
        self.priorities = priorities or {}

    def refresh(self, now: float) -> int:
        return 1

    def priority(self, job: SimJob, now: float) -> float:
        return self.priorities.get(job.id, 0.0)


def ranked(jobs: list[SimJob], capacity: int, priorities: Mapping[str, float], kill: bool = True) -> Schedule:
    model = Easy(capacity, kill_at_limit=kill, ordering=Table(priorities))
    for job in jobs:
        model.submit(job)
    schedule = model.drain()
    assert schedule.model == "fairshare"
    assert_valid(schedule, jobs, kill)
    return schedule


def placed(schedule: Schedule) -> dict[str, Placement]:
    return {p.id: p for p in schedule.placements}


def test_the_higher_priority_goes_first_whatever_the_arrival() -> None:
    jobs = [SimJob("a", 0, 10, 4), SimJob("low", 1, 10, 4), SimJob("high", 2, 10, 4)]
    # a fills the machine; low waits from 1 (head, reservation at 10); high arrives at 2 and outranks it.
    starts = {i: p.start for i, p in placed(ranked(jobs, 4, {"low": 1, "high": 5})).items()}
    assert starts == {"a": 0, "high": 10, "low": 20}
    assert {p.id: p.start for p in schedule_easy(jobs, 4).placements}["low"] == 10  # EASY: arrival order


def test_ties_go_to_the_earlier_arrival() -> None:
    jobs = [SimJob("a", 0, 10, 4), SimJob("first", 1, 10, 4), SimJob("second", 2, 10, 4)]
    starts = {i: p.start for i, p in placed(ranked(jobs, 4, {"first": 3, "second": 3})).items()}
    assert starts == {"a": 0, "first": 10, "second": 20}


def test_backfill_still_fills_holes_without_delaying_the_head() -> None:
    jobs = [SimJob("a", 0, 10, 3), SimJob("head", 1, 5, 4), SimJob("short", 2, 5, 1), SimJob("long", 3, 50, 1)]
    # a leaves 1 processor free until 10; head (highest priority) is reserved for 10. short (ends 7 ≤ 10)
    # backfills at 2; long would end after 10 and there is no extra processor: it waits behind head.
    schedule = ranked(jobs, 4, {"head": 9, "short": 1, "long": 2})
    by_id = placed(schedule)
    assert {i: p.start for i, p in by_id.items()} == {"a": 0, "head": 10, "short": 2, "long": 15}
    assert by_id["head"].reserved == 10


def test_backfill_candidates_are_tried_in_priority_order() -> None:
    jobs = [SimJob("a", 0, 10, 3), SimJob("b", 0, 9, 1), SimJob("head", 1, 5, 4),
            SimJob("x", 2, 1, 1), SimJob("y", 3, 1, 1)]  # fmt: skip
    # t=1: head waits for a and b (shadow 10). x, y arrive with no processor free. t=9: b ends, one is
    # free: the pass tries y first (it ends at 10 ≤ 10), then x finds nothing free. t=10: head starts.
    starts = {i: p.start for i, p in placed(ranked(jobs, 4, {"head": 9, "x": 1, "y": 5})).items()}
    assert starts["y"] == 9 and starts["head"] == 10 and starts["x"] == 15


@settings(max_examples=200, deadline=None)
@given(workloads(), st.booleans())
def test_with_equal_priorities_the_model_is_easy(workload: tuple[list[SimJob], int], kill: bool) -> None:
    jobs, capacity = workload
    assert ranked(jobs, capacity, {}, kill).placements == schedule_easy(jobs, capacity, kill_at_limit=kill).placements


@settings(max_examples=200, deadline=None)
@given(workloads(), st.booleans(), st.data())
def test_any_priorities_give_a_valid_schedule(
    workload: tuple[list[SimJob], int], kill: bool, data: st.DataObject
) -> None:
    jobs, capacity = workload
    ranked(jobs, capacity, {job.id: data.draw(st.integers(0, 3)) for job in jobs}, kill)  # asserts validity

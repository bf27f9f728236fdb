"""Property tests on random small workloads: invariants of both models, and EASY against a naive reference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.simulate import SimJob, schedule_easy, schedule_fifo

from .checks import assert_valid
from .reference import reference_easy

CAPACITY = st.integers(min_value=1, max_value=8)


@st.composite
def workloads(draw: st.DrawFn) -> tuple[list[SimJob], int]:
    """Sorted jobs with integer times (so ties are common), some oversized, some misestimated."""
    capacity = draw(CAPACITY)
    count = draw(st.integers(min_value=0, max_value=25))
    submits = sorted(draw(st.lists(st.integers(0, 40), min_size=count, max_size=count)))
    jobs = []
    for index, submit in enumerate(submits):
        runtime = draw(st.integers(0, 20))
        requested = draw(st.one_of(st.none(), st.integers(0, 30)))
        procs = draw(st.integers(1, capacity + 1))
        jobs.append(
            SimJob(f"j{index}", float(submit), float(runtime), procs, None if requested is None else float(requested))
        )
    return jobs, capacity


@settings(max_examples=300, deadline=None)
@given(workloads(), st.booleans())
def test_fifo_invariants(workload: tuple[list[SimJob], int], kill: bool) -> None:
    jobs, capacity = workload
    schedule = schedule_fifo(jobs, capacity, kill_at_limit=kill)
    assert_valid(schedule, jobs, kill)
    order = {job.id: index for index, job in enumerate(jobs)}
    assert [order[p.id] for p in schedule.placements] == sorted(order[p.id] for p in schedule.placements)


@settings(max_examples=300, deadline=None)
@given(workloads(), st.booleans())
def test_easy_invariants_and_reference(workload: tuple[list[SimJob], int], kill: bool) -> None:
    jobs, capacity = workload
    schedule = schedule_easy(jobs, capacity, kill_at_limit=kill)
    assert_valid(schedule, jobs, kill)
    if kill:  # the guarantee EASY gives; without a kill limit a job can overrun and delay the head
        assert all(p.start <= p.reserved for p in schedule.placements if p.reserved is not None)
    index = {job.id: i for i, job in enumerate(jobs)}
    assert {index[p.id]: (p.start, p.end) for p in schedule.placements} == reference_easy(jobs, capacity, kill)


@settings(max_examples=200, deadline=None)
@given(workloads(), st.floats(min_value=1.6e9, max_value=1.8e9), st.sampled_from([0.1, 0.3, 1.7]))
def test_easy_matches_reference_at_epoch_scale(workload: tuple[list[SimJob], int], base: float, scale: float) -> None:
    """Epoch-sized float times round; the candidate index must not lose a job the exact test would start."""
    jobs, capacity = workload
    shifted = [
        job._replace(
            submit=base + job.submit * scale,
            runtime=job.runtime * scale,
            requested=None if job.requested is None else job.requested * scale,
        )
        for job in jobs
    ]
    schedule = schedule_easy(shifted, capacity)
    index = {job.id: i for i, job in enumerate(shifted)}
    assert {index[p.id]: (p.start, p.end) for p in schedule.placements} == reference_easy(shifted, capacity)

"""Queued admission in the replay: a job refused only by a concurrency cap is held, then admitted, not denied.

Trace users 1, 2, 3 are policy users ``u1``, ``u2``, ``u3`` of project ``g7`` (see ``test_fairshare_replay``).
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.policy import LoadedPolicy
from hpcpolicy.service.context import QueueSettings
from hpcpolicy.simulate.clock import TraceClock
from hpcpolicy.simulate.run import Options, Variant, run_variant
from hpcpolicy.simulate.source import Trace

from .helpers import HOUR, base, policy, run, starts, trace_by, trace_of

JOBS = [("j1", 0, HOUR, 1, HOUR), ("j2", 60, HOUR, 1, HOUR), ("j3", 120, HOUR, 1, HOUR)]


def capped(**quota: object) -> LoadedPolicy:
    return policy(base().user_quota("u1", **{"cpu_hours": 1000, **quota}))


def test_a_job_over_max_jobs_is_denied_without_the_queue() -> None:
    result = run(trace_of(*JOBS), capped(max_jobs=1), "easy")
    assert starts(result) == {"j1": 0}
    assert result.tally is not None and dict(result.tally.codes) == {"concurrency.max_jobs": 2}


def test_with_the_queue_it_is_held_and_admitted_when_a_slot_frees() -> None:
    result = run(trace_of(*JOBS), capped(max_jobs=1), "easy", queue=True)
    # j2 and j3 wait for j1's slot (1 h); j2 was held first and both have one user: j2 at 1 h, j3 at 2 h.
    assert starts(result) == {"j1": 0, "j2": HOUR, "j3": 2 * HOUR}
    tally = result.tally
    assert tally is not None and (tally.allowed, tally.denied) == (3, 0)
    assert tally.held == {"project:g7": 2} and tally.to_dict()["held_by_code"] == {"concurrency.max_jobs": 2}
    assert sorted(tally.waits["project:g7"]) == [0, HOUR - 60, 2 * HOUR - 120]  # held time counts in the wait


def test_a_held_job_the_budget_refuses_when_released_is_denied_then() -> None:
    result = run(trace_of(*JOBS), capped(max_jobs=1, cpu_hours=2.5), "fairshare", queue=True)
    # At 1 h j2 is admitted (1 charged + 1 ≤ 2.5); j3, decided next, would make 3: denied for the budget (and
    # the cap j2 now fills), not held again.
    assert starts(result) == {"j1": 0, "j2": HOUR}
    tally = result.tally
    assert tally is not None and tally.held.total() == 2 and (tally.allowed, tally.denied) == (2, 1)
    assert dict(tally.codes) == {"quota.cpu_hours_exceeded": 1, "concurrency.max_jobs": 1}


def test_held_jobs_are_released_in_priority_order() -> None:
    loaded = policy(
        base().user("u2", projects=["g7"]).user("u3", projects=["g7"]).project_quota("g7", cpu_hours=1e4, max_jobs=1)
    )
    trace = trace_by(
        ("a0", 0, 2 * HOUR, 4, 2 * HOUR, "1"),  # u1 uses 8 CPU-hours
        ("c0", 2 * HOUR, HOUR, 1, HOUR, "3"),  # holds g7's one slot from 2 h to 3 h
        ("a1", 2 * HOUR + 60, HOUR, 1, HOUR, "1"),  # held first
        ("b1", 2 * HOUR + 120, HOUR, 1, HOUR, "2"),  # held second, but u2 has used nothing
    )
    result = run(trace, loaded, "easy", queue=True)
    assert starts(result) == {"a0": 0, "c0": 2 * HOUR, "b1": 3 * HOUR, "a1": 4 * HOUR}
    assert result.tally is not None and result.tally.held.total() == 2 and result.tally.denied == 0


def test_a_budget_denial_is_never_held() -> None:
    loaded = policy(base().user_quota("u1", cpu_hours=1.5, max_jobs=1))
    result = run(trace_of(*JOBS), loaded, "easy", queue=True)
    # j2 breaks both the cap and the budget (1 + 1 > 1.5): denied at once; so is j3.
    assert starts(result) == {"j1": 0}
    assert result.tally is not None and result.tally.held.total() == 0 and result.tally.denied == 2


@st.composite
def two_users(draw: st.DrawFn) -> tuple[Trace, int]:
    capacity = draw(st.integers(1, 8))
    count = draw(st.integers(0, 30))
    submits = sorted(draw(st.lists(st.integers(0, 48), min_size=count, max_size=count)))  # hours
    jobs = []
    for index, submit in enumerate(submits):
        requested = draw(st.integers(1, 12)) * HOUR
        runtime = draw(st.floats(0, 1.2)) * requested
        procs, user = draw(st.integers(1, capacity + 1)), draw(st.sampled_from(["1", "2"]))
        jobs.append((f"j{index}", submit * HOUR, runtime, procs, requested, user))
    return trace_by(*jobs), capacity


@settings(max_examples=100, deadline=None)
@given(two_users(), st.integers(1, 3), st.sampled_from(["fifo", "easy", "fairshare"]))
def test_with_the_queue_no_job_is_denied_for_a_cap_and_no_cap_is_exceeded(
    workload: tuple[Trace, int], cap: int, scheduler: str
) -> None:
    trace, capacity = workload
    builder = base().user("u2", projects=["g7"])
    loaded = policy(builder.user_quota("u1", max_jobs=cap).user_quota("u2", max_jobs=cap))
    result = run(trace, loaded, scheduler, capacity, ttl_hours=10_000, queue=True)
    tally, schedule = result.tally, result.schedule
    assert tally is not None
    assert tally.allowed + tally.denied + len(schedule.skipped) == len(trace.jobs)
    assert tally.denied == 0 and len(schedule.placements) == tally.allowed
    owner = {job.sim.id: job.user for job in trace.jobs}
    events = sorted((t, delta, owner[p.id]) for p in schedule.placements for t, delta in ((p.start, 1), (p.end, -1)))
    running = {"1": 0, "2": 0}
    for _t, delta, user in events:  # ends (-1) sort before starts (+1) at the same instant
        running[user] += delta
        assert running[user] <= cap


def test_a_newcomer_waits_behind_jobs_held_for_the_same_limit() -> None:
    """A lien that lapses while its job waits for processors frees a slot nobody is told of (no job ended); the
    next job of the project would take it, but the job held earlier is owed it (``queue.waiting``)."""
    loaded = policy(base().project_quota("g7", cpu_hours=1e4, max_jobs=1).project("g8").user("u3", projects=["g8"]))
    trace = trace_by(
        ("x", 0, 2.5 * HOUR, 1, 2.5 * HOUR, "3"),  # project g8 fills the one processor until 2.5 h
        ("j1", 1, HOUR, 1, HOUR, "1"),  # g7's slot: admitted, waits for x; its lien lapses at 1 h + 1 s
        ("j2", 2, HOUR, 1, HOUR, "1"),  # g7 full: held
        ("j3", 2 * HOUR, HOUR, 1, HOUR, "1"),  # the slot looks free: j3 queues behind j2, j2 is admitted now
    )
    trace.jobs[0] = trace.jobs[0]._replace(group="8")
    result = run(trace, loaded, "easy", capacity=1, ttl_hours=1, queue=True)
    assert starts(result) == {"x": 0, "j1": 2.5 * HOUR, "j2": 3.5 * HOUR, "j3": 4.5 * HOUR}
    tally = result.tally
    assert tally is not None and dict(tally.held_codes) == {"concurrency.max_jobs": 1, "queue.waiting": 1}


def test_a_job_held_past_the_queue_ttl_is_denied() -> None:
    trace = trace_of(("j1", 0, 10 * HOUR, 1, 10 * HOUR), ("j2", 60, HOUR, 1, HOUR))
    options = Options(4, TraceClock(trace.epoch), queue=QueueSettings(ttl=timedelta(hours=1)))
    result = run_variant(trace, Variant("easy", capped(max_jobs=1), queue=True), options)
    assert starts(result) == {"j1": 0}
    tally = result.tally
    assert tally is not None and (tally.denied, tally.expired) == (1, 1)
    assert tally.to_dict()["held_expired"] == 1 and dict(tally.codes) == {"concurrency.max_jobs": 1}

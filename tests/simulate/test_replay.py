"""Replay semantics on crafted traces, expected outcomes worked out by hand in the comments.

Policies are the builder's base (one 4×32-CPU partition ``cpu`` at 1 credit per CPU-hour) plus the
quota under test on project ``g7``, which trace user 1 (policy user ``u1``) charges.
"""

from __future__ import annotations

from hpcpolicy.simulate import schedule_easy, schedule_fifo

from .helpers import DAY, HOUR, base, policy, run, starts, trace_of


def test_without_a_policy_the_replay_is_the_scheduler_alone() -> None:
    trace = trace_of(("a", 0, 10, 2, None), ("b", 1, 5, 4, None), ("c", 2, 2, 1, 3.0), ("d", 3, 1, 9, None))
    for name, model in (("fifo", schedule_fifo), ("easy", schedule_easy)):
        result = run(trace, None, name)
        assert result.schedule.placements == model([job.sim for job in trace.jobs], 4).placements
        assert [s.job.id for s in result.schedule.skipped] == ["d"]  # 9 processors on a 4-processor machine
        assert result.tally is None


def test_denied_jobs_never_run() -> None:
    loaded = policy(base().limits(max_cpus=2))
    trace = trace_of(("small", 0, 60, 2, 60.0), ("big", 10, 60, 4, 60.0), ("after", 20, 60, 2, 60.0))
    result = run(trace, loaded)
    assert starts(result) == {"small": 0, "after": 20}  # "big" would have blocked FIFO until 60
    assert result.tally is not None
    assert (result.tally.allowed, result.tally.denied) == (2, 1)
    assert dict(result.tally.codes) == {"route.no_fit": 1}  # no partition named, and the only one refuses


def test_a_job_larger_than_the_machine_is_skipped_before_the_policy_sees_it() -> None:
    result = run(trace_of(("huge", 0, 60, 8, 60.0), ("ok", 1, 60, 1, 60.0)), policy(base()))
    assert [s.job.id for s in result.schedule.skipped] == ["huge"]
    assert result.tally is not None and result.tally.allowed + result.tally.denied == 1


def test_budget_runs_dry_on_the_right_date_and_the_window_rolls() -> None:
    # 10 CPU-hours a month; each job is 1 CPU for 3 h (its request): days 0, 1, 2 use 9, day 3 would make 12.
    loaded = policy(base().project_quota("g7", cpu_hours=10, window="monthly"))
    jobs = [(f"d{day}", day * DAY, 3 * HOUR, 1, 3 * HOUR) for day in (0, 1, 2, 3, 4, 31)]
    result = run(trace_of(*jobs), loaded)
    assert sorted(starts(result)) == ["d0", "d1", "d2", "d31"]  # February 1st: a fresh window
    assert result.tally is not None
    (dry,) = result.tally.dry
    assert dry["quota"] == "project:g7" and dry["metric"] == "cpu_hours"
    assert dry["date"] == "2024-01-04T00:00:00+00:00"
    assert (dry["window_start"], dry["window_end"]) == ("2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00")
    assert dry["available"] == 1.0 and dry["denied_jobs"] == 2


def test_a_rolling_window_frees_budget_as_old_charges_age_out() -> None:
    loaded = policy(base().project_quota("g7", cpu_hours=5, window={"rolling_days": 2}))
    # 4 CPU-hours at day 0; at day 1 another 4 does not fit; at day 2.5 the first charge (dated 4 h) is out.
    jobs = [("a", 0, 4 * HOUR, 1, 4 * HOUR), ("b", DAY, 4 * HOUR, 1, 4 * HOUR), ("c", 2.5 * DAY, 4 * HOUR, 1, 4 * HOUR)]
    assert sorted(starts(run(trace_of(*jobs), loaded))) == ["a", "c"]


def test_liens_count_from_submit_and_charges_use_actual_usage() -> None:
    loaded = policy(base().project_quota("g7", cpu_hours=12))
    # a asks 10 h and holds a 10 CPU-hour lien; b at the same instant does not fit next to it.
    # a really runs 1 h: at 2 h it is charged 1, so c (10 h) fits: 1 + 10 ≤ 12.
    jobs = [("a", 0, 1 * HOUR, 1, 10 * HOUR), ("b", 0, 1 * HOUR, 1, 10 * HOUR), ("c", 2 * HOUR, HOUR, 1, 10 * HOUR)]
    result = run(trace_of(*jobs), loaded)
    assert sorted(starts(result)) == ["a", "c"]
    assert result.tally is not None and result.tally.accounts["project:g7"][2] == 2.0  # charged: 1 h + 1 h


def test_charges_follow_the_schedulers_start_times() -> None:
    """On one processor b waits for a, so it ends at 5 h, not 2 h: at 3 h its lien still counts."""
    loaded = policy(base().project_quota("g7", cpu_hours=10))
    jobs = [
        ("a", 0, 4 * HOUR, 1, 4 * HOUR),  # runs 0–4 h, lien 4
        ("b", 1 * HOUR, 1 * HOUR, 1, 4 * HOUR),  # lien 4; queued behind a: runs 4–5 h, charged 1
        ("d", 3 * HOUR, HOUR, 1, 5 * HOUR),  # a 4 + b 4 + 5 > 10: denied (had b run at once: 4 + 1 + 5 = 10)
        ("e", 6 * HOUR, HOUR, 1, 5 * HOUR),  # a charged 4 + b charged 1 + 5 = 10: allowed
    ]
    result = run(trace_of(*jobs), loaded, capacity=1)
    assert starts(result) == {"a": 0, "b": 4 * HOUR, "e": 6 * HOUR}


def test_a_queued_lien_expires_after_its_ttl_but_a_running_one_does_not() -> None:
    loaded = policy(base().project_quota("g7", cpu_hours=60))
    jobs = [
        ("a", 0, 48 * HOUR, 1, 48 * HOUR),  # runs 0–48 h: outlives its 24 h lien, so it is marked running
        ("b", 1 * HOUR, HOUR, 1, 10 * HOUR),  # queued behind a; its lien expires at 25 h
        ("c", 26 * HOUR, HOUR, 1, 10 * HOUR),  # a 48 + (b expired) + 10 = 58: allowed
        ("d", 27 * HOUR, HOUR, 1, 13 * HOUR),  # a 48 + c 10 + 13 = 71: denied (a still counts)
    ]
    result = run(trace_of(*jobs), loaded, capacity=1)
    assert sorted(starts(result)) == ["a", "b", "c"]
    assert result.tally is not None and dict(result.tally.codes) == {"quota.cpu_hours_exceeded": 1}


def test_easy_backfills_admitted_jobs_only() -> None:
    loaded = policy(base().limits(max_walltime_hours=2))
    jobs = [
        ("a", 0, 2 * HOUR, 3, 2 * HOUR),
        ("head", 60, HOUR, 4, HOUR),  # waits for a: reservation at 2 h
        ("long", 120, 3 * HOUR, 1, 3 * HOUR),  # would fit the free processor, but 3 h is over the limit: denied
        ("short", 180, HOUR, 1, HOUR),  # ends by 2 h: backfilled at once
    ]
    result = run(trace_of(*jobs), loaded, "easy")
    assert starts(result) == {"a": 0, "head": 2 * HOUR, "short": 180}

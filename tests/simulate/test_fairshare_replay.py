"""``--scheduler fairshare`` over a policy: priorities from the replay's own usage, worked out by hand.

Users: trace users 1, 2, 3 are policy users ``u1`` (A, the heavy one), ``u2`` (B, light) and ``u3`` (C, who
fills the machine), all in project ``g7``; the builder's user ``u`` of project ``proj`` never runs. Fair
Tree therefore ranks ``u`` first (its project has no usage), then g7's users by usage: with four users the
factors are 1, 3/4, 2/4, 1/4. Default weights: 1000 × factor + 1000 × min(wait / 7 d, 1), in whole units.
"""

from __future__ import annotations

import pytest

from hpcpolicy.engine.fairshare import Row
from hpcpolicy.policy import LoadedPolicy

from .helpers import HOUR, base, policy, run, starts, trace_by, trace_of

A, B, C = "1", "2", "3"


def three_users() -> LoadedPolicy:
    return policy(base().user("u2", projects=["g7"]).user("u3", projects=["g7"]))


def factors(rows: list[Row] | None) -> dict[str, float]:
    assert rows is not None
    return {r.scope.rpartition("/")[2]: r.factor for r in rows if r.factor is not None}


def test_a_light_users_job_goes_before_a_heavy_users() -> None:
    trace = trace_by(
        ("a0", 0, 2 * HOUR, 4, 2 * HOUR, A),  # A uses 8 CPU-hours
        ("c0", 2 * HOUR, HOUR, 4, HOUR, C),  # C fills the machine from 2 h to 3 h
        ("a1", 2 * HOUR + 60, HOUR, 4, HOUR, A),  # both wait for c0; A's job came first
        ("b1", 2 * HOUR + 120, HOUR, 4, HOUR, B),
    )
    loaded = three_users()
    # At 2 h + 2 min: B (no usage) 3/4, C (2 min of c0 so far) 2/4, A (8) 1/4; a1: 250, b1: 750.
    fair = run(trace, loaded, "fairshare")
    assert starts(fair) == {"a0": 0, "c0": 2 * HOUR, "b1": 3 * HOUR, "a1": 4 * HOUR}
    assert starts(run(trace, loaded, "easy"))["a1"] == 3 * HOUR  # EASY: arrival order
    final = factors(fair.fairshare)
    assert final["user:u"] == 1 and final["user:u1"] < final["user:u2"]


def test_age_eventually_wins_over_fair_share() -> None:
    trace = trace_by(
        ("a0", 0, HOUR, 4, HOUR, A),  # A uses 4 CPU-hours
        ("c0", HOUR, 24 * HOUR, 4, 24 * HOUR, C),  # C holds the machine from 1 h to 25 h
        ("a1", HOUR + 60, HOUR, 4, HOUR, A),
        ("b1", 24 * HOUR, HOUR, 4, HOUR, B),
    )
    # Age counts up to max_age_hours, here a day. At 25 h: C (96 so far) 1/4, A 2/4, B 3/4. a1 has waited
    # almost a day: 500 + 999 = 1499 against b1's 750 + 42: the heavier user's old job goes first.
    loaded = policy(base().user("u2", projects=["g7"]).user("u3", projects=["g7"]).set(
        "fairshare.priority.max_age_hours", 24))  # fmt: skip
    assert starts(run(trace, loaded, "fairshare")) == {"a0": 0, "c0": HOUR, "a1": 25 * HOUR, "b1": 26 * HOUR}
    # With the default cap (7 days) a day's wait is worth 1000 / 7 = 143 only: b1, younger but lighter, wins.
    assert starts(run(trace, three_users(), "fairshare"))["b1"] == 25 * HOUR


def test_factors_follow_the_replays_usage_and_decay() -> None:
    trace = trace_by(("a0", 0, 10 * HOUR, 1, 10 * HOUR, A), ("b0", 0, HOUR, 1, HOUR, B))
    result = run(trace, three_users(), "fairshare")
    assert result.fairshare_at == 10 * HOUR
    by_user = {r.scope: r for r in result.fairshare or []}
    assert by_user["project:g7/user:u1"].raw_usage == pytest.approx(10.0)  # ended just now: undecayed
    assert by_user["project:g7/user:u2"].raw_usage == pytest.approx(0.5 ** (9 / (7 * 24)))  # 9 h old, 7 d half-life


def test_without_a_policy_users_share_equally() -> None:
    trace = trace_by(
        ("a0", 0, 2 * HOUR, 4, 2 * HOUR, A),
        ("c0", 2 * HOUR, HOUR, 4, HOUR, C),
        ("a1", 2 * HOUR + 60, HOUR, 4, HOUR, A),
        ("b1", 2 * HOUR + 120, HOUR, 4, HOUR, B),
    )
    result = run(trace, None, "fairshare")
    assert starts(result) == {"a0": 0, "c0": 2 * HOUR, "b1": 3 * HOUR, "a1": 4 * HOUR}
    assert result.tally is None and set(factors(result.fairshare)) == {"user:u1", "user:u2", "user:u3"}


def test_one_user_alone_is_scheduled_as_easy_would() -> None:
    jobs = [(f"j{i}", i * 600.0, (i % 5 + 1) * 1800.0, 1 + i % 4, (i % 5 + 1) * 2400.0) for i in range(40)]
    trace = trace_of(*jobs)
    loaded = policy(base())
    assert run(trace, loaded, "fairshare").schedule.placements == run(trace, loaded, "easy").schedule.placements

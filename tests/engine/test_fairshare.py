"""Fair Tree: level fair share among siblings, the walk, the users' ranks and factors, decay."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpcpolicy.engine.fairshare import build, decayed, rank

PATHS = [("o", "t", "a"), ("o", "t", "b")]


def factors(usage: dict[tuple[str | None, str], float], shares: dict[str, float] | None = None) -> dict[str, float]:
    rows = rank(build(PATHS, [], shares or {}, usage))
    return {r.scope: r.factor for r in rows if r.factor is not None}


def test_every_user_of_an_under_served_project_ranks_above_every_user_of_an_over_served_one() -> None:
    got = factors({("a", "heavy-a"): 100, ("a", "light-a"): 1, ("b", "heavy-b"): 30, ("b", "light-b"): 20})
    b_users = [got["project:b/user:heavy-b"], got["project:b/user:light-b"]]
    a_users = [got["project:a/user:heavy-a"], got["project:a/user:light-a"]]
    assert min(b_users) > max(a_users)  # b used less of the same promise, so even its heavy user goes first
    assert got["project:b/user:light-b"] == 1.0 and got["project:a/user:heavy-a"] == 0.25


def test_shares_weigh_usage_and_no_usage_ranks_first() -> None:
    # b holds twice the shares: using 1.5x what a uses, it is still under its promise (level FS 4/3 vs 2/3)
    got = factors({("a", "u1"): 10, ("b", "u2"): 15, ("b", "idle"): 0}, {"project:b": 2})
    assert got["project:b/user:idle"] == 1.0 > got["project:b/user:u2"] > got["project:a/user:u1"]


def test_users_tied_at_every_level_share_the_higher_rank() -> None:
    got = factors({("a", "x"): 5, ("a", "y"): 5, ("b", "z"): 10})
    assert got["project:a/user:x"] == got["project:a/user:y"]
    rows = {r.scope: r for r in rank(build(PATHS, [], {}, {("a", "x"): 5, ("a", "y"): 5, ("b", "z"): 10}))}
    assert rows["project:a"].level_fs == pytest.approx(1.0) and rows["project:a"].norm_usage == pytest.approx(0.5)


def test_members_without_usage_and_users_without_a_project_are_in_the_tree() -> None:
    rows = rank(build(PATHS, [("a", "listed")], {"user:solo": 3}, {(None, "solo"): 4, ("gone", "x"): 9}))
    scopes = {r.scope: r for r in rows}
    assert scopes["project:a/user:listed"].factor == 1.0 and scopes["user:solo"].raw_shares == 3
    assert "project:gone/user:x" not in scopes  # a project the policy no longer has counts nowhere
    assert scopes["org:o"].raw_usage == 0 and scopes["org:o"].level_fs == math.inf


@given(st.dictionaries(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["u", "v", "w"])),
                       st.floats(0, 1e6), max_size=6))  # fmt: skip
def test_factors_are_ranks_over_users_and_usage_sums_up_the_tree(usage: dict[tuple[str, str], float]) -> None:
    rows = rank(build(PATHS, [], {}, usage))  # type: ignore[arg-type]
    users = [r for r in rows if r.factor is not None]
    assert all(0 < r.factor <= 1 for r in users) and (not users or max(r.factor for r in users) == 1.0)  # type: ignore[operator]
    org = next(r for r in rows if r.scope == "org:o")
    assert org.raw_usage == pytest.approx(sum(usage.values()))


def test_decay_halves_usage_every_half_life() -> None:
    assert decayed(8, 0, 7) == 8 and decayed(8, 7, 7) == 4 and decayed(8, 21, 7) == 1
    assert decayed(8, -3, 7) == 8  # usage dated in the future counts in full, not more


def test_tied_accounts_rank_their_users_together_and_no_usage_ties_everyone() -> None:
    # a and b used the same: their users are ranked as one list, not a's first because of its name
    got = factors({("a", "x"): 10, ("a", "y"): 0, ("b", "z"): 5, ("b", "w"): 5})
    assert got["project:a/user:y"] == 1.0
    assert got["project:b/user:z"] == got["project:b/user:w"] == 0.75 > got["project:a/user:x"] == 0.25
    assert set(factors({("a", "x"): 0, ("b", "z"): 0}).values()) == {1.0}

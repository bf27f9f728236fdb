"""Fair Tree: level fair share among siblings, the walk, the users' ranks and factors, decay."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcpolicy.engine.fairshare import Row, build, decayed, rank
from hpcpolicy.engine.fairshare import factors as factors_of

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


# --- the optimised engine against a reference written for reading, not speed ---------------------------------------


@dataclass(eq=False)
class _RefNode:
    scope: str
    shares: float = 1.0
    user: bool = False
    usage: float = 0.0
    children: list[_RefNode] = field(default_factory=list)
    norm_shares: float = 0.0
    norm_usage: float = 0.0
    level_fs: float = 0.0
    factor: float | None = None


RefRow = tuple[str, int, float, float, float, float, float, "float | None"]


def reference(
    paths: list[tuple[str, str, str]],
    members: list[tuple[str | None, str]],
    shares: dict[str, float],
    usage: dict[tuple[str | None, str], float],
) -> list[RefRow]:
    """Fair Tree as the module docstring says it, one node object per association (the engine's first version):
    level FS = (S / ΣS) / (U / ΣU) among siblings, inf for no usage, 0 for no shares; the walk in descending
    level FS, tied siblings one group whose users share the higher rank and whose children are walked together;
    factor = rank / users; rows depth first, siblings by descending level FS then scope."""
    root, index, projects = _RefNode("root"), dict[str, _RefNode](), dict[str, _RefNode]()

    def child(parent: _RefNode, scope: str) -> _RefNode:
        if scope not in index:
            index[scope] = _RefNode(scope, float(shares.get(scope, 1.0)))
            parent.children.append(index[scope])
        return index[scope]

    for org, team, name in paths:
        projects[name] = child(child(child(root, f"org:{org}"), f"team:{team}"), f"project:{name}")
    users: list[_RefNode] = []
    for project, user in {*members, *usage}:
        parent = projects.get(project) if project is not None else root
        if parent is not None:
            scope = f"project:{project}/user:{user}" if project is not None else f"user:{user}"
            leaf = child(parent, scope)
            leaf.shares = float(shares.get(scope, shares.get(f"user:{user}", 1.0)))
            leaf.usage = float(usage.get((project, user), 0.0))
            leaf.user = True
            users.append(leaf)

    def sum_usage(node: _RefNode) -> float:
        if node.children:
            node.usage = sum(sum_usage(c) for c in node.children)
        return node.usage

    def levels(node: _RefNode) -> None:
        total_shares, total_usage = sum(c.shares for c in node.children), sum(c.usage for c in node.children)
        for c in node.children:
            c.norm_shares = c.shares / total_shares if total_shares > 0 else 0.0
            c.norm_usage = c.usage / total_usage if total_usage > 0 else 0.0
            c.level_fs = 0.0 if c.norm_shares == 0 else math.inf if c.norm_usage == 0 else c.norm_shares / c.norm_usage
            levels(c)

    def order(n: _RefNode) -> tuple[float, str]:
        return -n.level_fs, n.scope

    left = len(users)

    def visit(siblings: list[_RefNode]) -> None:
        nonlocal left
        siblings.sort(key=order)
        while siblings:
            group = [n for n in siblings if n.level_fs == siblings[0].level_fs]
            siblings = siblings[len(group):]
            reached = [n for n in group if n.user]
            for n in reached:
                n.factor = left / len(users)
            left -= len(reached)
            if merged := [c for n in group for c in n.children]:
                visit(merged)

    sum_usage(root)
    levels(root)
    visit(list(root.children))
    rows: list[RefRow] = []

    def display(node: _RefNode, depth: int) -> None:
        for c in sorted(node.children, key=order):
            rows.append((c.scope, depth, c.shares, c.norm_shares, c.usage, c.norm_usage, c.level_fs, c.factor))
            display(c, depth + 1)

    display(root, 0)
    return rows


def as_tuples(rows: list[Row]) -> list[RefRow]:
    return [(r.scope, r.depth, r.raw_shares, r.norm_shares, r.raw_usage, r.norm_usage, r.level_fs, r.factor)
            for r in rows]  # fmt: skip


ORGS, TEAMS, PROJECTS, USERS = ("o1", "o2"), ("t1", "t2", "t3"), ("a", "b", "c", "d", "e"), ("u", "v", "w", "x")
SCOPES = [*(f"org:{o}" for o in ORGS), *(f"team:{t}" for t in TEAMS), *(f"project:{p}" for p in PROJECTS),
          *(f"user:{u}" for u in USERS), *(f"project:{p}/user:{u}" for p in PROJECTS for u in USERS)]  # fmt: skip
SMALL = st.integers(0, 3) | st.integers(0, 3).map(float)  # small integers: ties everywhere, and sums exact in any order
KEYS = st.tuples(st.sampled_from([None, *PROJECTS, "gone"]), st.sampled_from(USERS))


@settings(max_examples=500, deadline=None)
@given(paths=st.lists(st.tuples(*(st.sampled_from(names) for names in (ORGS, TEAMS, PROJECTS))), max_size=7),
       members=st.lists(KEYS, max_size=10), shares=st.dictionaries(st.sampled_from(SCOPES), SMALL, max_size=10),
       usage=st.dictionaries(KEYS, SMALL, max_size=16))  # fmt: skip
def test_rows_are_exactly_the_reference_walks_on_random_trees_with_ties(
    paths: list[tuple[str, str, str]],
    members: list[tuple[str | None, str]],
    shares: dict[str, float],
    usage: dict[tuple[str | None, str], float],
) -> None:
    # a team named under two orgs, a project twice, a user twice in members: the first place wins, as in the reference
    tree = build(paths, members, shares, usage)
    rows = rank(tree)
    assert as_tuples(rows) == reference(paths, members, shares, usage)
    assert rank(tree) == rows  # ranking again reads the same tree the same way
    assert factors_of(tree) == {r.scope: r.factor for r in rows if r.factor is not None}  # the queue's view


def test_a_large_tree_with_ties_matches_the_reference() -> None:
    rng = random.Random(12)
    paths = [(f"o{i % 3}", f"t{i % 11}", f"p{i}") for i in range(150)]
    projects = [None, *(f"p{i}" for i in range(160))]  # some without a project, some the policy no longer has
    usage = {(rng.choice(projects), f"u{u}"): float(rng.randrange(4)) for u in range(3000)}
    members = [(f"p{rng.randrange(150)}", f"u{rng.randrange(4000)}") for _ in range(500)]
    shares = {f"project:p{i}": rng.randrange(3) for i in range(0, 150, 7)}
    shares |= {f"user:u{u}": 2 for u in range(0, 3000, 9)}
    assert as_tuples(rank(build(paths, members, shares, usage))) == reference(paths, members, shares, usage)

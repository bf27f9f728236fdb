"""Fair share by Slurm's Fair Tree: who has used least of what they were promised goes first.

The account tree is org → team → project → user (a user under each project they charge). Each node has
raw shares (default 1) and a decayed usage (its subtree's). Among siblings, a node's *level fair share*
is its normalised shares over its normalised usage, ``(S / ΣS) / (U / ΣU)`` (infinite for no usage). The
tree is walked depth first, siblings in descending level fair share, and users are ranked in the order
they are reached; a user's factor is ``rank / users``, 1.0 for the first reached, down to ``1 / users``.

Why Fair Tree rather than the classic ``2^(-U/S)``: it is Slurm's default since 19.05, and it keeps the
promise a centre makes to an account as a whole — every user of an under-served project ranks above every
user of an over-served sibling, however the projects' own users share among themselves. The classic
formula lets a light user of a heavy account outrank a heavy user of a light one. Tied siblings are
walked as one: their users share a rank (the higher one) and their accounts' children are ranked
together, as Slurm merges them, so a tie never favours a name.

Pure: the tree, shares and usage come in, factors go out (no ledger, no clock).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(slots=True)
class Node:
    """One association: ``scope`` is ``org:…``, ``team:…``, ``project:…`` or ``project:p/user:u``."""

    scope: str
    shares: float = 1.0
    usage: float = 0.0  # decayed, this node's subtree
    children: list[Node] = field(default_factory=list)
    # computed by :func:`rank`
    norm_shares: float = 0.0
    norm_usage: float = 0.0
    level_fs: float = 0.0
    factor: float | None = None  # users only

    @property
    def is_user(self) -> bool:
        return not self.children and "user:" in self.scope


class Row(NamedTuple):
    """A line of ``sshare``: the association, its depth, shares and usage raw and normalised among its
    siblings, its level fair share and (users) the fair-share factor. A named tuple rather than a frozen
    dataclass: as immutable and hashable, and ``tuple.__new__`` builds one without a Python ``__init__``
    (the frozen dataclass's, one ``object.__setattr__`` a field, took 30 ms for 22,000 rows)."""

    scope: str
    depth: int
    raw_shares: float
    norm_shares: float
    raw_usage: float
    norm_usage: float
    level_fs: float
    factor: float | None


def build(
    paths: Iterable[tuple[str, str, str]],
    members: Iterable[tuple[str | None, str]],
    shares: Mapping[str, float],
    usage: Mapping[tuple[str | None, str], float],
) -> Node:
    """The tree from ``paths`` (org, team, project), ``members`` (project or None, user) and the users with
    ``usage`` keyed the same way; ``shares`` by scope (``org:o``, ``team:t``, ``project:p``, ``user:u`` for
    every association of that user, ``project:p/user:u`` for one). Usage is summed up the tree."""
    root = Node("root")
    index: dict[str, Node] = {}

    def child(parent: Node, scope: str) -> Node:
        found = index.get(scope)
        if found is None:
            found = index[scope] = Node(scope, float(shares.get(scope, 1.0)))
            parent.children.append(found)
        return found

    projects: dict[str, Node] = {}
    for org, team, name in paths:
        projects[name] = child(child(child(root, f"org:{org}"), f"team:{team}"), f"project:{name}")
    for project, user in {*members, *usage}:
        parent = projects.get(project) if project is not None else root
        if parent is None:
            continue  # a project the policy no longer has: its usage counts nowhere
        scope = f"project:{project}/user:{user}" if project is not None else f"user:{user}"
        leaf = child(parent, scope)
        leaf.shares = float(shares.get(scope, shares.get(f"user:{user}", 1.0)))
        leaf.usage = float(usage.get((project, user), 0.0))
    _sum_usage(root)
    return root


def _sum_usage(node: Node) -> float:
    if node.children:
        node.usage = sum(_sum_usage(c) for c in node.children)
    return node.usage


def rank(root: Node) -> list[Row]:
    """Fill in every node's normalised shares, usage and level fair share and every user's factor; return
    the tree as rows, each parent followed by its children in descending level fair share."""
    _levels(root)
    total = _count_users(root)
    left = [total]  # the rank the next users reached get: walk order is rank order

    def visit(siblings: list[Node]) -> None:
        """Walk siblings by level fair share; tied siblings are one group: its users share a rank, and its
        accounts' children are walked together (Slurm merges them), so ties never favour a name."""
        siblings.sort(key=_walk_order)
        start = 0
        while start < len(siblings):
            end = start
            while end < len(siblings) and siblings[end].level_fs == siblings[start].level_fs:
                end += 1
            group = siblings[start:end]
            users = [n for n in group if n.is_user]
            for n in users:
                n.factor = left[0] / total
            left[0] -= len(users)
            merged = [child for n in group for child in n.children]
            if merged:
                visit(merged)
            start = end

    if total:
        visit(list(root.children))
    order: list[tuple[Node, int]] = []
    _display(root, 0, order)
    return [Row(n.scope, depth, n.shares, n.norm_shares, n.usage, n.norm_usage, n.level_fs, n.factor)
            for n, depth in order]  # fmt: skip


def _levels(node: Node) -> None:
    """Each child's shares and usage normalised among its siblings, and its level fair share."""
    children = node.children
    total_shares = sum(c.shares for c in children)
    total_usage = sum(c.usage for c in children)
    for c in children:
        c.norm_shares = c.shares / total_shares if total_shares > 0 else 0.0
        c.norm_usage = c.usage / total_usage if total_usage > 0 else 0.0
        if c.norm_shares == 0:
            c.level_fs = 0.0
        else:
            c.level_fs = math.inf if c.norm_usage == 0 else c.norm_shares / c.norm_usage
        if c.children:
            _levels(c)


def _display(node: Node, depth: int, order: list[tuple[Node, int]]) -> None:
    for c in sorted(node.children, key=_walk_order):
        order.append((c, depth))
        _display(c, depth + 1, order)


def _walk_order(node: Node) -> tuple[float, str]:
    return -node.level_fs, node.scope


def _count_users(node: Node) -> int:
    return sum(_count_users(c) if c.children else int(c.is_user) for c in node.children)


def decayed(amount: float, age_days: float, half_life_days: float) -> float:
    """``amount`` used ``age_days`` ago, as it counts now: halved every ``half_life_days``."""
    return float(amount * 0.5 ** (max(age_days, 0.0) / half_life_days))

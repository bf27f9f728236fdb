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

Why users are columns rather than objects: ``benchmarks/fairshare.py`` ranks 20,000 users under 2,000
projects, and the factors should take under 50 ms (issue 12); a node object, a key-function call, a
recursive visit and a frozen dataclass row per user took 200 ms. Accounts (orgs, teams, projects: a few
thousand) are :class:`Node` objects; users are positions in columns (scope, shares, usage) kept in the
order the usage came, so the caller's keys are read once, in the order they sit in memory, and are then
normalised, ordered and turned into rows in bulk by ``map``, ``zip`` and ``sorted``, which loop in C. When
no two sibling accounts tie (nothing to merge), the walk reaches users in display order, so their ranks are
counted rather than walked.

Pure: the tree, shares and usage come in, factors go out (no ledger, no clock).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, and_, attrgetter, eq, is_, itemgetter, truediv
from typing import NamedTuple


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


class Node:
    """An account: the root, ``org:…``, ``team:…`` or ``project:…``, with its sub-accounts in ``children``
    and its users (a project's, or the root's users who charge no project) as ``positions`` in the
    :class:`Tree`'s columns, in the order :func:`build` met them. :func:`rank` fills in the rest."""

    __slots__ = ("children", "level_fs", "norm_shares", "norm_usage", "order", "positions", "scope", "shares",
                 "total_shares", "usage", "users")  # fmt: skip

    def __init__(self, scope: str, shares: float = 1.0) -> None:
        self.scope = scope
        self.shares = shares
        self.usage = 0.0  # decayed, this account's subtree: also ΣU among its children
        self.total_shares = 0.0  # ΣS among its children
        self.children: list[Node] = []
        self.positions: Sequence[int] = ()
        # computed by :func:`rank`
        self.norm_shares = 0.0
        self.norm_usage = 0.0
        self.level_fs = 0.0
        self.order: Sequence[Node] = ()  # sub-accounts in display order
        self.users: Sequence[int] = ()  # its users' positions in display order (descending level fair share)


class Tree:
    """What :func:`build` makes and :func:`rank` reads: the root, and every user as a position in columns
    (``scopes``, ``shares``, ``usage``) in the order the keys came, with ``owner``, the index of its account
    in ``accounts`` (the root, then the projects; ``len(accounts)`` for a project the policy no longer has).
    Columns rather than a node per user: 20,000 users are a few lists, read in the order they sit in memory.
    ``shares`` is None when every user holds the default single share (no ``user:`` entry)."""

    __slots__ = ("accounts", "owner", "parents", "root", "scopes", "shares", "usage")

    def __init__(self, root: Node, accounts: list[Node], owner: list[int], scopes: list[str],
                 shares: list[float] | None, usage: list[float]) -> None:  # fmt: skip
        self.root, self.accounts, self.owner, self.scopes, self.shares, self.usage = (
            root, accounts, owner, scopes, shares, usage)  # fmt: skip
        self.parents = [a for a in accounts if a.positions]  # the accounts with users


def build(
    paths: Iterable[tuple[str, str, str]],
    members: Iterable[tuple[str | None, str]],
    shares: Mapping[str, float],
    usage: Mapping[tuple[str | None, str], float],
) -> Tree:
    """The tree from ``paths`` (org, team, project), ``members`` (project or None, user) and the users with
    ``usage`` keyed the same way; ``shares`` by scope (``org:o``, ``team:t``, ``project:p``, ``user:u`` for
    every association of that user, ``project:p/user:u`` for one). Usage is summed up the tree.

    An account stays where its scope is first met (a team named under two orgs is under the first); a user
    met twice (a member with usage, a member listed twice) is one association. Names are policy names (no
    ``:`` or ``/``), so a user's scope never collides with an account's."""
    root = Node("root")
    known: dict[str, Node] = {}

    def child(parent: Node, scope: str) -> Node:
        found = known.get(scope)
        if found is None:
            found = known[scope] = Node(scope, float(shares.get(scope, 1.0)))
            parent.children.append(found)
        return found

    teams: dict[tuple[str, str], Node] = {}  # (org, team) → where that path's team is: one lookup a project
    parents: dict[str | None, Node] = {None: root}  # by project name; None: the root, for users of no project
    for org, team, name in paths:
        if (under := teams.get((org, team))) is None:
            under = teams[org, team] = child(child(root, f"org:{org}"), f"team:{team}")
        parents[name] = child(under, f"project:{name}")
    accounts = list(parents.values())
    keys = list(usage)
    values = list(usage.values())
    keys += (key for key in dict.fromkeys(members) if key not in usage)
    values += repeat(0.0, len(keys) - len(values))
    # every column in key order (one pass each, in C, over the keys as they sit in memory)
    index = dict(zip(parents, range(len(accounts)), strict=True)).get
    owner = list(map(index, map(itemgetter(0), keys), repeat(len(accounts))))
    prefixes = list(map(leaf_prefix, parents))
    scopes = list(map(add, map([*prefixes, ""].__getitem__, owner), map(itemgetter(1), keys)))
    used = list(map(float, values))
    user_shares = None
    if any(scope.startswith("user:") or "/user:" in scope for scope in shares):
        user_shares = [float(shares.get(scope, shares.get(f"user:{user}", 1.0)))
                       for scope, (_, user) in zip(scopes, keys, strict=True)]  # fmt: skip
    # each account's users' positions: a bound append per account, no object per user
    buckets: list[list[int]] = [[] for _ in range(len(accounts) + 1)]  # the last: projects the policy no longer has
    appends = [bucket.append for bucket in buckets]
    for at, i in enumerate(owner):
        appends[i](at)
    for node, bucket in zip(accounts, buckets, strict=False):
        if bucket:
            node.positions = bucket
            node.usage = sum(map(used.__getitem__, bucket))  # the root's is redone with its accounts'
            node.total_shares = float(len(bucket)) if user_shares is None else sum(map(user_shares.__getitem__, bucket))
    _sum_usage(root, used)
    return Tree(root, accounts, owner, scopes, user_shares, used)


def leaf_prefix(project: str | None) -> str:
    """A user's association scope without the user's name: ``project:p/user:``, or ``user:`` without a project."""
    return "user:" if project is None else f"project:{project}/user:"


def leaf_scope(project: str | None, user: str) -> str:
    """The scope of a user's association, as :func:`build` names its row: ``project:p/user:u``, or ``user:u``."""
    return leaf_prefix(project) + user


def _sum_usage(node: Node, used: list[float]) -> float:
    """An account's usage: its sub-accounts' then its users', summed in that order, the order of its children
    in a tree of one object per association. Accounts with users only are summed already."""
    node.usage = sum([*(_sum_usage(c, used) if c.children else c.usage for c in node.children),
                      *map(used.__getitem__, node.positions)])  # fmt: skip
    return node.usage


def rank(tree: Tree) -> list[Row]:
    """Every account's and user's normalised shares, usage and level fair share and every user's factor, as
    rows: each parent followed by its children in descending level fair share (then scope), depth first."""
    r = _ranked(tree)
    scopes, used, perm, counts = tree.scopes, tree.usage, r.perm, r.counts
    if tree.shares is None:
        raw_shares: Iterable[float] = repeat(1.0)
        shown_shares: Iterable[float] = chain.from_iterable(
            map(repeat, [1.0 / o.total_shares if o.total_shares > 0 else 0.0 for o in r.owners], counts))
    else:
        raw_shares, shown_shares = map(tree.shares.__getitem__, perm), map(r.norm_shares.__getitem__, perm)
    columns = zip(map(scopes.__getitem__, perm), chain.from_iterable(map(repeat, r.depths, counts)), raw_shares,
                  shown_shares, map(used.__getitem__, perm), map(r.norm_usage.__getitem__, perm), r.shown_level,
                  r.shown, strict=False)  # fmt: skip  # repeat(1.0) never ends
    users: Iterator[Row] = map(tuple.__new__, repeat(Row), columns)  # in C, and zip reuses its tuple
    rows: list[Row] = []
    for item in r.layout:
        if isinstance(item, int):
            rows += islice(users, item)
        else:
            rows.append(item)
    return rows


def factors(tree: Tree) -> dict[str, float]:
    """Each user association's factor by scope (``project:p/user:u``, ``user:u``): what the admission queue
    ranks by, without making a row per user (which, with the collector's passes over them, was most of the
    time a table of 20,000 users took)."""
    r = _ranked(tree)
    return dict(zip(map(tree.scopes.__getitem__, r.perm), r.shown, strict=True))  # type: ignore[arg-type]


class _Ranking(NamedTuple):
    layout: list[Row | int]
    perm: list[int]
    counts: list[int]
    owners: list[Node]
    depths: list[int]
    norm_shares: list[float]
    norm_usage: list[float]
    shown_level: list[float]
    shown: Iterable[float | None]


def _ranked(tree: Tree) -> _Ranking:
    """The ranking both :func:`rank` and :func:`factors` read: levels, the display order of users (``perm``)
    and accounts (``layout``), and each user's factor in display order (``shown``)."""
    root, accounts, owner, scopes, used = tree.root, tree.accounts, tree.owner, tree.scopes, tree.usage
    total = sum(len(p.positions) for p in tree.parents)
    merges = _levels(root, tree.shares)
    if tree.shares is None:  # one share each: a user's normalised shares is its account's 1 / ΣS
        per_account = [1.0 / a.total_shares if a.total_shares > 0 else 0.0 for a in accounts]
        norm_shares = list(map([*per_account, 1.0].__getitem__, owner))
    else:
        norm_shares = _normalised(tree.shares, owner, accounts, [a.total_shares for a in accounts])
    norm_usage = _normalised(used, owner, accounts, [a.usage for a in accounts])
    if not all(norm_shares) or not all(norm_usage):  # a zero: no shares (level 0) or no usage (infinite)
        level = [0.0 if ns == 0 else math.inf if nu == 0 else ns / nu
                 for ns, nu in zip(norm_shares, norm_usage, strict=True)]  # fmt: skip
    else:
        level = list(map(truediv, norm_shares, norm_usage))
    by_level = level.__getitem__
    for p in tree.parents:  # by level alone (float keys, compared in C); ties are put in scope order below
        p.users = sorted(p.positions, key=by_level, reverse=True)
    if root.order and root.users:  # an account tied with a user of no project: the walk merges them too
        merges = merges or not {c.level_fs for c in root.order}.isdisjoint(map(by_level, root.users))
    layout: list[Row | int] = []  # account rows, and how many user rows come next
    perm: list[int] = []  # users in display order
    owners: list[Node] = []  # the account of each run of users in layout
    depths: list[int] = []  # and its depth
    _lay_out(root, 0, level, scopes, layout, perm, owners, depths)
    counts = [item for item in layout if isinstance(item, int)]
    shown_level = list(map(by_level, perm))
    tied = _tied_in_display_order(shown_level, counts, owners, perm, level, scopes)
    shown: Iterable[float | None]  # the factors, in display order
    if merges:
        factors: list[float | None] = [None] * len(scopes)
        if total:
            _walk([root], total, total, level, factors)
        shown = map(factors.__getitem__, perm)
    else:  # no merge: the walk is the display order, each user a rank, a run of tied users that of its first
        shown = list(map(truediv, range(total, 0, -1), repeat(total)))
        for j in tied:
            shown[j] = shown[j - 1]
    return _Ranking(layout, perm, counts, owners, depths, norm_shares, norm_usage, shown_level, shown)


def _levels(node: Node, user_shares: list[float] | None) -> bool:
    """Each sub-account's shares and usage normalised among its siblings, and its level fair share; the
    sub-accounts in display order; ΣS among all of ``node``'s children. True when two sibling accounts tie
    somewhere below ``node`` (the walk must then merge them)."""
    children = node.children
    own = repeat(1.0, len(node.positions)) if user_shares is None else map(user_shares.__getitem__, node.positions)
    node.total_shares = total_shares = sum([*(c.shares for c in children), *own])
    total_usage = node.usage  # ΣU among the children: :func:`_sum_usage` made it so
    for c in children:
        c.norm_shares = ns = c.shares / total_shares if total_shares > 0 else 0.0
        c.norm_usage = nu = c.usage / total_usage if total_usage > 0 else 0.0
        c.level_fs = 0.0 if ns == 0 else math.inf if nu == 0 else ns / nu
    order = node.order = sorted(children, key=_display_order)
    tied = any(map(eq, map(_level, order), map(_level, order[1:])))
    for c in children:
        if c.children:
            tied = _levels(c, user_shares) or tied
    return tied


def _normalised(column: list[float], owner: list[int], accounts: list[Node], totals: list[float]) -> list[float]:
    """Each user's value over its account's total among siblings, 0 where that total is not positive: the
    divisions in C (one ``map`` over all users), the rare non-positive totals patched after."""
    out = list(map(truediv, column, map([*(t if t > 0 else 1.0 for t in totals), 1.0].__getitem__, owner)))
    for a, t in zip(accounts, totals, strict=True):
        if a.positions and not t > 0:
            for at in a.positions:
                out[at] = 0.0
    return out


def _tied_in_display_order(level: list[float], counts: list[int], owners: list[Node], perm: list[int],
                           by_position: list[float], scopes: list[str]) -> list[int]:  # fmt: skip
    """Where, in display order, a user ties with the one before under the same account (found in C: equal
    levels and the same account side by side). Such an account's users, sorted by level alone, are sorted
    again by scope then (stably) by level, and ``perm`` is patched; the root's users among its accounts were
    sorted with their scopes already."""
    if not any(map(eq, islice(level, 1, None), level)):
        return []  # no two equal levels side by side
    owner = list(chain.from_iterable(map(repeat, owners, counts)))
    tied = list(compress(range(1, len(level)), map(and_, map(eq, islice(level, 1, None), level),
                                                   map(is_, islice(owner, 1, None), owner))))  # fmt: skip
    if tied:
        starts = dict(zip(owners, accumulate(counts, initial=0), strict=False))  # an account's (last) run
        for account in {owner[j] for j in tied}:
            if not account.order:  # its users are one run
                account.users = sorted(sorted(account.users, key=scopes.__getitem__), key=by_position.__getitem__,
                                       reverse=True)  # fmt: skip
                perm[starts[account] : starts[account] + len(account.users)] = account.users
    return tied


def _lay_out(node: Node, depth: int, level: list[float], scopes: list[str], layout: list[Row | int], perm: list[int],
             owners: list[Node], depths: list[int]) -> None:  # fmt: skip
    """The display order below ``node``: account rows and counts of user rows in ``layout``, those users'
    positions in ``perm``, the account and depth of each count in ``owners`` and ``depths``."""
    items: Sequence[Node | int] = node.order  # accounts; their users follow them
    if node.order and node.users:  # the root: accounts and users of no project, interleaved
        items = sorted([*node.order, *node.users],
                       key=lambda x: _display_order(x) if isinstance(x, Node) else (-level[x], scopes[x]))  # fmt: skip
    new = tuple.__new__
    for item in items:
        if isinstance(item, Node):
            layout.append(new(Row, (item.scope, depth, item.shares, item.norm_shares, item.usage, item.norm_usage,
                                    item.level_fs, None)))  # fmt: skip
            if item.children:
                _lay_out(item, depth + 1, level, scopes, layout, perm, owners, depths)
            elif item.users:  # a project: its users follow (inline: 2,000 calls fewer)
                perm += item.users
                layout.append(len(item.users))
                owners.append(item)
                depths.append(depth + 1)
        else:
            perm.append(item)
            layout.append(1)
            owners.append(node)
            depths.append(depth)
    if node.users and not node.order:
        perm += node.users
        layout.append(len(node.users))
        owners.append(node)
        depths.append(depth)


def _walk(parents: Sequence[Node], left: int, total: int, level: list[float], factors: list[float | None]) -> int:
    """Rank the users reached below ``parents`` (one account, or tied siblings walked as one), the first
    group at ``left``; return the rank the next users reached get. Siblings are walked by level fair share;
    tied ones are one group: its users share the higher rank, and its accounts' children are walked together
    (Slurm merges them), so ties never favour a name."""
    if len(parents) == 1:
        accounts, users = parents[0].order, parents[0].users
    else:
        accounts = sorted(chain.from_iterable(p.children for p in parents), key=_level, reverse=True)
        users = sorted(chain.from_iterable(p.users for p in parents), key=level.__getitem__, reverse=True)
    if not accounts:  # users only (a project, or tied projects): each run of equal level at its first's rank
        values = list(map(level.__getitem__, users))
        factor, previous = left / total, values[0] if values else 0.0
        for j, (u, value) in enumerate(zip(users, values, strict=True)):
            if value != previous:
                factor, previous = (left - j) / total, value
            factors[u] = factor
        return left - len(users)
    i = j = 0
    while i < len(accounts) or j < len(users):
        if j == len(users) or (i < len(accounts) and accounts[i].level_fs >= level[users[j]]):
            at = accounts[i].level_fs
        else:
            at = level[users[j]]
        start, factor = j, left / total
        while j < len(users) and level[users[j]] == at:
            factors[users[j]] = factor
            j += 1
        left -= j - start
        start = i
        while i < len(accounts) and accounts[i].level_fs == at:
            i += 1
        if i > start:
            left = _walk(accounts[start:i], left, total, level, factors)
    return left


def _display_order(node: Node) -> tuple[float, str]:
    return -node.level_fs, node.scope


_level: Callable[[Node], float] = attrgetter("level_fs")


def decayed(amount: float, age_days: float, half_life_days: float) -> float:
    """``amount`` used ``age_days`` ago, as it counts now: halved every ``half_life_days``."""
    return float(amount * 0.5 ** (max(age_days, 0.0) / half_life_days))

"""The chargeback report of a period: org → team → project → user, with subtotals and a grand total.

Pure: it shapes the ledger's sums (:class:`hpcpolicy.ledger.reports.PeriodSums`) and reads nothing else.

- **Charges** are placed by the path recorded on each charge (history keeps the path it was charged to,
  even if the policy later moved the project); a charge without an org, team or project goes to the
  ``None`` node of that level (shown as ``(none)``), never dropped. CPU-hours and GPU-hours are the
  *actual* hours (before the policy's weights), GPU-hours also per GPU type; cost is as charged.
- **Adjustments** (grants, refunds, deposits, debits) count with the sign the ledger gives them as
  consumption (:data:`~hpcpolicy.ledger.rules.ADJUSTMENT_SIGN`: grants, refunds and deposits negative,
  debits positive), on the node of the scope they were made on: ``org:o``, ``team:t``, ``project:p``, a
  member ``project:p/user:u`` (user u under project p) and ``user:u`` (user u outside any project: the
  ``(none)`` project of the ``(none)`` team and org, where a user's charges without a project are too).
  A quota id ``scope#name`` counts to its scope. An adjustment records only its scope, so the teams and
  orgs above it are the policy's (:class:`Placement`); a scope the policy does not place goes under
  ``(none)``, and one outside the org tree (a service) is listed in :attr:`Chargeback.elsewhere`.
- **Subtotals**: a node's :attr:`Node.totals` are its children's plus the adjustments made on it
  (:attr:`Node.adjusted_here`); the grand total is the orgs' plus :attr:`Chargeback.elsewhere`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from hpcpolicy.engine.usage import ZERO, Amounts
from hpcpolicy.ledger.reports import AdjustmentGroup, ChargeGroup, PeriodSums
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN
from hpcpolicy.reports.period import Period

Level = Literal["org", "team", "project", "user"]
LEVELS: tuple[Level, ...] = ("org", "team", "project", "user")
#: A node's place: (org, team, project, user), as long as its level is deep; None is the "(none)" bucket.
Path = tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over a node (or the report): charges, actual hours, cost, and signed adjustments."""

    charges: int = 0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    gpu_hours_by_type: Mapping[str | None, float] = field(default_factory=dict)  # None: charges without a type
    cost: float = 0.0
    adjustments: Amounts = ZERO  # signed as consumption: what was given back is negative
    adjustment_count: int = 0

    @property
    def net_cost(self) -> float:
        """What the node is billed: the cost charged plus the adjustments' (signed) cost."""
        return self.cost + self.adjustments.cost


@dataclass(frozen=True, slots=True)
class Node:
    level: Level
    name: str | None  # None: charges (or adjustments) with no org, team or project recorded
    path: Path
    totals: Totals  # this node and everything below it
    adjusted_here: Amounts = ZERO  # the adjustments made on this node's own scope (signed)
    children: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class ScopeAdjustments:
    """Adjustments on a scope outside the org tree, signed."""

    scope: str
    count: int
    amounts: Amounts


@dataclass(frozen=True, slots=True)
class Chargeback:
    period: Period
    project: str | None  # the report is of this project only
    gpu_types: tuple[str | None, ...]  # every GPU type with hours in the report (None last)
    orgs: tuple[Node, ...]
    elsewhere: tuple[ScopeAdjustments, ...]
    totals: Totals


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the policy puts each project (team, org) and team (org): the parents of an adjusted scope."""

    projects: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # project → (team, org)
    teams: Mapping[str, str] = field(default_factory=dict)  # team → org

    def of(self, scope: str) -> Path | None:
        """The node an adjustment on ``scope`` (or a quota id of it) counts to; None outside the org tree."""
        kind, _, name = scope.partition("#")[0].partition(":")
        if not name:
            return None
        if kind == "org":
            return (name,)
        if kind == "team":
            return (self.teams.get(name), name)
        if kind == "user":
            return (None, None, None, name)
        if kind == "project":
            project, member, user = name.partition("/user:")
            if member and not (project and user):
                return None
            team, org = self.projects.get(project, (None, None))
            return (org, team, project, user) if member else (org, team, project)
        return None


class _Sum:
    """A node's totals while they are added up."""

    __slots__ = ("adj_cost", "adj_cpu", "adj_gpu", "adj_n", "by_type", "charges", "cost", "cpu", "gpu")

    def __init__(self) -> None:
        self.charges, self.cpu, self.gpu, self.cost = 0, 0.0, 0.0, 0.0
        self.by_type: dict[str | None, float] = {}
        self.adj_cpu, self.adj_gpu, self.adj_cost, self.adj_n = 0.0, 0.0, 0.0, 0

    def charge(self, g: ChargeGroup) -> None:
        self.charges += g.charges
        self.cpu += g.cpu_hours
        self.gpu += g.gpu_hours
        self.cost += g.cost
        if g.gpu_type is not None or g.gpu_hours != 0:
            self.by_type[g.gpu_type] = self.by_type.get(g.gpu_type, 0.0) + g.gpu_hours

    def adjust(self, amounts: Amounts, count: int) -> None:
        self.adj_cpu += amounts.cpu_hours
        self.adj_gpu += amounts.gpu_hours
        self.adj_cost += amounts.cost
        self.adj_n += count

    def add(self, other: _Sum) -> None:
        self.charges += other.charges
        self.cpu += other.cpu
        self.gpu += other.gpu
        self.cost += other.cost
        for gpu_type, hours in other.by_type.items():
            self.by_type[gpu_type] = self.by_type.get(gpu_type, 0.0) + hours
        self.adjust(Amounts(other.adj_cpu, other.adj_gpu, other.adj_cost), other.adj_n)

    def totals(self) -> Totals:
        by_type = dict(sorted(self.by_type.items(), key=lambda item: _order(item[0])))
        adjustments = Amounts(self.adj_cpu, self.adj_gpu, self.adj_cost)
        return Totals(self.charges, self.cpu, self.gpu, by_type, self.cost, adjustments, self.adj_n)


def signed(group: AdjustmentGroup) -> Amounts:
    sign = ADJUSTMENT_SIGN[group.kind]
    return Amounts(sign * group.cpu_hours, sign * group.gpu_hours, sign * group.cost)


def chargeback(
    period: Period, sums: PeriodSums, placement: Placement = Placement(), project: str | None = None
) -> Chargeback:
    """The report of ``period`` from the ledger's ``sums`` (of ``project`` only, if the sums are)."""
    leaves: dict[Path, _Sum] = {}
    for g in sums.charges:
        path = (g.org, g.team, g.project, g.user)
        if (leaf := leaves.get(path)) is None:
            leaf = leaves[path] = _Sum()
        leaf.charge(g)
    here: dict[Path, tuple[Amounts, int]] = {}
    outside: dict[str, tuple[Amounts, int]] = {}
    for a in sums.adjustments:
        if (where := placement.of(a.scope)) is None:
            outside[a.scope] = _plus(outside.get(a.scope), a)
        else:
            here[where] = _plus(here.get(where), a)
    orgs, total = _level(0, (), _children(leaves, here), leaves, here)
    elsewhere = tuple(ScopeAdjustments(scope, n, amounts) for scope, (amounts, n) in sorted(outside.items()))
    for e in elsewhere:
        total.adjust(e.amounts, e.count)
    totals = total.totals()
    return Chargeback(period, project, tuple(totals.gpu_hours_by_type), orgs, elsewhere, totals)


def _plus(sofar: tuple[Amounts, int] | None, group: AdjustmentGroup) -> tuple[Amounts, int]:
    amounts, count = sofar or (ZERO, 0)
    return amounts + signed(group), count + group.adjustments


def _children(leaves: Iterable[Path], here: Iterable[Path]) -> dict[Path, set[str | None]]:
    """For every node's path, the names of its children (nodes exist for charges and adjustments)."""
    below: dict[Path, set[str | None]] = {}
    for path in (*leaves, *here):
        for depth in range(len(path)):
            below.setdefault(path[:depth], set()).add(path[depth])
    return below


def _level(
    depth: int, parent: Path, below: dict[Path, set[str | None]], leaves: dict[Path, _Sum],
    here: dict[Path, tuple[Amounts, int]],
) -> tuple[tuple[Node, ...], _Sum]:  # fmt: skip
    """The nodes under ``parent`` (at ``depth``), sorted by name with ``(none)`` last, and their sum."""
    nodes: list[Node] = []
    total = _Sum()
    for name in sorted(below.get(parent, ()), key=_order):
        path = (*parent, name)
        if depth == len(LEVELS) - 1:
            children: tuple[Node, ...] = ()
            node_sum = leaves.get(path) or _Sum()
        else:
            children, node_sum = _level(depth + 1, path, below, leaves, here)
        adjusted, count = here.get(path, (ZERO, 0))
        node_sum.adjust(adjusted, count)
        nodes.append(Node(LEVELS[depth], name, path, node_sum.totals(), adjusted, children))
        total.add(node_sum)
    return tuple(nodes), total


def _order(name: str | None) -> tuple[bool, str]:
    return name is None, name or ""

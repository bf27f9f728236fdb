"""What fair share counts and over which tree: one definition for the service and the replay.

``hpcpolicy fairshare`` (the service, from the ledger) and ``simulate --scheduler fairshare`` (from the
replay's charges) must rank the same usage the same way, or the replay would predict an order the queue
never follows. Both therefore weigh an amount, count a running job and lay out the policy's associations
with these functions, and rank with :mod:`hpcpolicy.engine.fairshare`; only where the amounts come from
differs. Pure: no ledger, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from hpcpolicy.engine.fairshare import Row, Tree, build, rank
from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.policy.schema.fairshare import UsageWeights

Association = tuple[str | None, str]
"""(project or None, user): one leaf of the fair-share tree, as usage is keyed."""


class Metered(Protocol):
    """An amount (a charge's :class:`~hpcpolicy.engine.Amounts`, a decision's estimate, a lien's amounts)."""

    @property
    def cpu_hours(self) -> float: ...

    @property
    def gpu_hours(self) -> float: ...

    @property
    def cost(self) -> float: ...


def weighted(amounts: Metered, weights: UsageWeights) -> float:
    """An amount as fair share counts it (the policy's ``fairshare.usage`` weights, Slurm's TRES billing)."""
    return amounts.cpu_hours * weights.cpu_hours + amounts.gpu_hours * weights.gpu_hours + amounts.cost * weights.cost


def running_usage(estimate: float, walltime_hours: float, elapsed_hours: float) -> float:
    """A running job's usage so far: the part of its (:func:`weighted`) estimate its elapsed time has used, at
    most all of it, so that a long job counts while it runs, not only when it ends. Undecayed: it is now."""
    if walltime_hours <= 0:
        return 0.0
    return min(max(elapsed_hours / walltime_hours, 0.0), 1.0) * estimate


def policy_tree(snapshot: PolicySnapshot, usage: Mapping[Association, float]) -> Tree:
    """The fair-share tree of ``snapshot``'s accounts and members, with ``usage`` (decayed) on its users."""
    paths = [(org, team, project) for project, (team, org) in snapshot.project_parents.items()]
    members = [(project, user) for user, spec in snapshot.policy.users.items() for project in spec.projects]
    return build(paths, members, snapshot.policy.fairshare.shares, usage)


def fair_tree(snapshot: PolicySnapshot, usage: Mapping[Association, float]) -> list[Row]:
    """Every association in Fair Tree order with its factor (users), as ``sshare`` shows it."""
    return rank(policy_tree(snapshot, usage))

"""Reports over the ledger (``hpcpolicy report``, ``GET /v1/reports/...``): read the sums, shape them.

The ledger sums a period's charges and adjustments per group in one read-only snapshot; the pure
:mod:`hpcpolicy.reports` shapes them. The policy in force places adjusted scopes (an adjustment records
only its scope, not the team and org above it).
"""

from __future__ import annotations

from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.reports import Chargeback, Period, Placement, chargeback
from hpcpolicy.service.context import Context


class Reports:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def chargeback(self, period: Period, project: str | None = None) -> Chargeback:
        """The chargeback report of ``period`` (of ``project`` only, when given).

        Raises :class:`hpcpolicy.ledger.base.LedgerUnavailable` if the ledger cannot be read.
        """
        placement = placement_of(self.ctx.policies.current.snapshot)
        sums = self.ctx.ledger.period_sums(period.start, period.end, project)
        return chargeback(period, sums, placement, project)


def placement_of(snapshot: PolicySnapshot) -> Placement:
    """Each project's team and org, and each team's org, as the policy nests them."""
    teams = {team: org for org, spec in snapshot.policy.orgs.items() for team in spec.teams}
    return Placement(snapshot.project_parents, teams)

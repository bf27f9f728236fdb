"""Fair share of every association, from the policy's shares and the ledger's decayed usage (``sshare``).

Usage is what the ledger charged, weighted by the policy's ``fairshare.usage`` (CPU-hours, GPU-hours,
cost) and halved every ``half_life_days``, plus the part of each running job's estimate its elapsed time
has used (so a long job counts while it runs, not only when it ends). Charges older than twenty half-lives
(under a millionth of their weight) are not read. The ranking itself is :mod:`hpcpolicy.engine.fairshare`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.fairshare import Row, build, decayed, rank
from hpcpolicy.ledger import LienState
from hpcpolicy.policy.schema.fairshare import UsageWeights
from hpcpolicy.service.context import Context

#: Usage older than this many half-lives is left out: 2**-20 of its weight.
HORIZON_HALF_LIVES = 20


class FairShares:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def tree(self, now: datetime | None = None) -> list[Row]:
        """Every association in Fair Tree order, with shares, usage, level fair share and users' factors."""
        now = now or self.ctx.clock()
        snapshot = self.ctx.policies.current.snapshot
        settings = snapshot.policy.fairshare
        half_life, weights = settings.half_life_days, settings.usage
        usage: dict[tuple[str | None, str], float] = defaultdict(float)
        with self.ctx.ledger.session() as tx:
            since = now - timedelta(days=half_life * HORIZON_HALF_LIVES)
            for project, user, at, amounts in tx.usage_since(since):
                age_days = (now - at).total_seconds() / 86400
                usage[(project, user)] += decayed(_weighted(amounts, weights), age_days, half_life)
            for lien in tx.open_liens():
                if lien.state is LienState.RUNNING and lien.started_at is not None and lien.walltime_hours > 0:
                    elapsed = (now - lien.started_at).total_seconds() / 3600
                    used = min(max(elapsed / lien.walltime_hours, 0.0), 1.0)
                    usage[(lien.project, lien.user_id)] += used * _weighted(lien.amounts, weights)
        paths = [(org, team, project) for project, (team, org) in snapshot.project_parents.items()]
        members = [(project, user) for user, spec in snapshot.policy.users.items() for project in spec.projects]
        return rank(build(paths, members, settings.shares, usage))

    def visible(self, rows: list[Row], user: str, groups: Iterable[str] = ()) -> list[Row]:
        """The rows a user may read: their own associations, the projects they may charge, and the teams
        and orgs above those projects."""
        snapshot, mine = self.ctx.policies.current.snapshot, f"user:{user}"
        projects = {r.scope for r in rows if r.scope.startswith("project:") and "/" not in r.scope
                    and snapshot.members.is_member(user, groups, r.scope.removeprefix("project:"))}  # fmt: skip
        above = {f"{kind}:{name}" for p in projects
                 for kind, name in zip(("team", "org"), snapshot.project_parents[p.removeprefix("project:")],
                                       strict=True)}  # fmt: skip
        return [r for r in rows if r.scope in projects or r.scope in above or r.scope.rpartition("/")[2] == mine]


def _weighted(amounts: Amounts, weights: UsageWeights) -> float:
    return amounts.cpu_hours * weights.cpu_hours + amounts.gpu_hours * weights.gpu_hours + amounts.cost * weights.cost

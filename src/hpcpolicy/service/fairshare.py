"""Fair share of every association, from the policy's shares and the ledger's decayed usage (``sshare``).

Usage is what the ledger charged, weighted by the policy's ``fairshare.usage`` (CPU-hours, GPU-hours,
cost) and halved every ``half_life_days``, plus the part of each running job's estimate its elapsed time
has used (so a long job counts while it runs, not only when it ends). Charges older than twenty half-lives
(under a millionth of their weight) are not read. How an amount counts, the tree and the ranking are
:mod:`hpcpolicy.engine.fairusage` and :mod:`hpcpolicy.engine.fairshare`, shared with the replay.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from hpcpolicy.engine.fairshare import Row, decayed, factors
from hpcpolicy.engine.fairusage import Association, fair_tree, policy_tree, running_usage, weighted
from hpcpolicy.engine.snapshot import PolicySnapshot
from hpcpolicy.ledger import LienState
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
        return fair_tree(snapshot, self._usage(snapshot, now))

    def factors(self, now: datetime | None = None) -> dict[str, float]:
        """Each user association's factor by scope (``project:p/user:u``): what the admission queue reads."""
        now = now or self.ctx.clock()
        snapshot = self.ctx.policies.current.snapshot
        return factors(policy_tree(snapshot, self._usage(snapshot, now)))

    def _usage(self, snapshot: PolicySnapshot, now: datetime) -> dict[Association, float]:
        settings = snapshot.policy.fairshare
        half_life, weights = settings.half_life_days, settings.usage
        usage: dict[Association, float] = defaultdict(float)
        # A snapshot: the horizon's charges are many, and on SQLite a write session would hold admissions up.
        with self.ctx.ledger.reading() as tx:
            since = now - timedelta(days=half_life * HORIZON_HALF_LIVES)
            for project, user, at, amounts in tx.usage_since(since):
                age_days = (now - at).total_seconds() / 86400
                usage[(project, user)] += decayed(weighted(amounts, weights), age_days, half_life)
            for lien in tx.open_liens():
                if lien.state is LienState.RUNNING and lien.started_at is not None and lien.walltime_hours > 0:
                    elapsed = (now - lien.started_at).total_seconds() / 3600
                    estimate = weighted(lien.amounts, weights)
                    usage[(lien.project, lien.user_id)] += running_usage(estimate, lien.walltime_hours, elapsed)
        return usage

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

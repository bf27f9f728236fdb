"""Fair share in a replay: the usage the service would read from its ledger, ranked as the service ranks it.

What counts is what :mod:`hpcpolicy.service.fairshare` counts — each finished job's charge weighted by
the policy's ``fairshare.usage`` and halved every ``half_life_days`` from its end, plus the elapsed part
of each running job's estimate — through the same functions (:mod:`hpcpolicy.engine.fairusage`), and the
ranking is the same Fair Tree. Only the bookkeeping differs, because the replay needs the factors every
few simulated minutes over months of trace: instead of summing every charge again, :class:`Usage` keeps
each association's decayed total and folds new charges in (halving is multiplicative, so decaying a total
equals decaying each charge). Charges older than the service's horizon (twenty half-lives, a millionth of
their weight) still count here, which moves no factor in practice.

:class:`FairSharePriorities` turns factors into the priority of a waiting job for the ``fairshare`` model
and the admission queue: ``engine.priority`` in whole units, as the service's queue ranks held requests
(:func:`hpcpolicy.service.admission_order.whole_priority`), so that near-equal jobs tie and go by arrival.
Factors are recomputed at most once per ``period`` seconds of trace time (Slurm's ``PriorityCalcPeriod``,
5 minutes by default, as the service's ``recalc_seconds``) and when a job of an association the last
ranking did not know arrives: the tree costs about a millisecond per hundred users, and months of trace
hold tens of thousands of periods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hpcpolicy.engine.fairshare import Row, decayed, leaf_scope
from hpcpolicy.engine.fairusage import Association, Metered, running_usage, weighted
from hpcpolicy.policy.schema.fairshare import FairShare
from hpcpolicy.service.admission_order import whole_priority

from .workload import SimJob

#: Slurm's ``PriorityCalcPeriod`` default: factors are recomputed at most this often (trace seconds).
CALC_PERIOD = 300.0
_DAY = 86400.0

Tree = Callable[[Mapping[Association, float]], list[Row]]
"""Usage by association → the ranked tree (the policy's accounts, or a flat tree without a policy)."""


class Usage:
    """Each association's usage as fair share counts it, kept current incrementally (see the module doc)."""

    def __init__(self, settings: FairShare) -> None:
        self.half_life = settings.half_life_days
        self.weights = settings.usage
        self.totals: dict[Association, float] = {}  # decayed to ``asof``
        self.asof = 0.0
        self.ended: list[tuple[float, Association, float]] = []  # charges since ``asof``: (end, who, weighted)
        self.running: dict[str, tuple[Association, float, float, float]] = {}  # token → (who, start, wall h, est)

    def started(self, token: str, who: Association, estimate: Metered, walltime_hours: float, start: float) -> None:
        """A job started: it counts for the elapsed part of its estimate until it ends."""
        self.running[token] = (who, start, walltime_hours, weighted(estimate, self.weights))

    def finished(self, token: str, charged: Metered | None, end: float) -> None:
        """A job ended: it counts for its charge (None: nothing charged), decayed from ``end``."""
        who = self.running.pop(token)[0]
        if charged is not None:
            self.ended.append((end, who, weighted(charged, self.weights)))

    def at(self, now: float) -> dict[Association, float]:
        """Usage by association at trace time ``now`` (not before the previous call)."""
        half_life, totals = self.half_life, self.totals
        age = (now - self.asof) / _DAY
        if age > 0:
            for who, value in totals.items():
                totals[who] = decayed(value, age, half_life)
        for end, who, amount in self.ended:
            totals[who] = totals.get(who, 0.0) + decayed(amount, (now - end) / _DAY, half_life)
        self.ended.clear()
        self.asof = now
        usage = dict(totals)
        for who, start, walltime, estimate in self.running.values():
            usage[who] = usage.get(who, 0.0) + running_usage(estimate, walltime, (now - start) / 3600.0)
        return usage


class FairSharePriorities:
    """Priorities of waiting jobs from fair share, age and size (an :class:`~.scheduler.Ordering`).

    The replay names each waiting job's association and size (:meth:`register`: its fraction of its
    partition, as the service's queue counts it, or of the machine without a policy) and feeds :attr:`usage`.
    """

    def __init__(self, settings: FairShare, tree: Tree, period: float = CALC_PERIOD) -> None:
        self.usage = Usage(settings)
        self.weights = settings.priority
        self.tree = tree
        self.period = period
        self.who: dict[str, tuple[Association, str, float]] = {}  # job id → (association, its scope, size)
        self.factors: dict[str, float] = {}  # leaf scope → factor, from the last ranking
        self.rows: list[Row] = []
        self.version = 0
        self.next = float("-inf")  # when the factors are due again

    def register(self, job_id: str, who: Association, size: float) -> None:
        """``job_id`` waits (queued or held) on behalf of ``who``; ``size`` is its fraction of its partition."""
        scope = leaf_scope(*who)
        self.who[job_id] = who, scope, size
        if scope not in self.factors:
            self.next = float("-inf")  # an association the last ranking did not know: rank again now

    def forget(self, job_id: str) -> None:
        """The job started: its priority is no longer asked for."""
        self.who.pop(job_id, None)

    def refresh(self, now: float) -> int:
        if now >= self.next:
            self.rank(now)
        return self.version

    def rank(self, now: float) -> list[Row]:
        """Recompute every factor at ``now`` (associations with waiting jobs included, usage or not)."""
        usage = self.usage.at(now)
        for who, _scope, _size in self.who.values():
            usage.setdefault(who, 0.0)
        self.rows = self.tree(usage)
        self.factors = {row.scope: row.factor for row in self.rows if row.factor is not None}
        self.version += 1
        self.next = now + self.period
        return self.rows

    def priority(self, job: SimJob, now: float) -> int:
        """The job's priority at ``now``: its owner's last factor (1.0 outside the tree), its wait since submit
        (time held by the admission queue included) and its size."""
        _who, scope, size = self.who[job.id]
        return whole_priority(self.weights, self.factors.get(scope, 1.0), now - job.submit, size)

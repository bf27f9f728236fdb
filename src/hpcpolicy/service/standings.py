"""Where every budget stands: used, reserved, left, burn rate and forecast, for many quotas at once.

``GET /v1/usage`` reads one scope; the dashboard's overview and the alert pass read every quota of the
policy. Asking the ledger once per quota would be 2,000 round trips for 2,000 projects, so this module
asks a few grouped questions instead (:meth:`~hpcpolicy.ledger.base.LedgerSession.scope_totals`: charges
summed per scope for each window and slice, and per day over the last :data:`LOOKBACK_DAYS` days, from the
ledger's running totals; adjustments per scope; the open liens) and distributes the rows to the quotas
here. A test proves the figures equal ``Accounts.balances`` quota by quota.

The forecast method is :mod:`hpcpolicy.engine.forecast`'s: the daily burn is charges dated that day plus
the part of running jobs' estimates their elapsed time used that day; adjustments move the balance, not the
burn rate.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from hpcpolicy.engine import Amounts, QuotaRef
from hpcpolicy.engine.forecast import elapsed_by_day, forecast
from hpcpolicy.engine.quotaref import METERED
from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.standing import MetricStanding, QuotaStanding, ranked, used_fraction
from hpcpolicy.engine.usage import ZERO
from hpcpolicy.ledger.base import LedgerSession
from hpcpolicy.ledger.counters import counter, counts_toward, entry_scopes
from hpcpolicy.ledger.model import Lien, LienState, ScopeBalance
from hpcpolicy.service.accounts import Accounts
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import NotFound

#: Days of history the burn rate reads (the last is yesterday); with a 3-day half-life the oldest weighs 5 %.
LOOKBACK_DAYS = 14
_SLICE_COLUMNS = ("cluster", "partition", "gpu_type")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every quota's standing as read at ``as_of`` under the policy ``version``, most at risk first."""

    as_of: datetime
    version: str
    standings: list[QuotaStanding]

    def of(self, scopes: Collection[str] | None) -> list[QuotaStanding]:
        return self.standings if scopes is None else [s for s in self.standings if s.scope in scopes]


class Standings:
    def __init__(self, ctx: Context, accounts: Accounts):
        self.ctx = ctx
        self.accounts = accounts
        self._snapshot: Snapshot | None = None
        self._reading = threading.Lock()

    def current(self) -> Snapshot:
        """:meth:`all`, reused while it is younger than ``ctx.standings_max_age`` and the policy unchanged:
        the dashboard's overview shows this, with its time. One thread reads; others wait for its result."""
        with self._reading:
            now = self.ctx.clock()
            version = self.ctx.policies.current.snapshot.version
            last = self._snapshot
            if last is None or not self._reusable(last, now, version):
                last = self._snapshot = Snapshot(now, version, self.all(now))
            return last

    def _reusable(self, last: Snapshot, now: datetime, version: str) -> bool:
        """Same policy, and younger than the max age (0: never reused, even on a clock that has not moved)."""
        age = now - last.as_of
        return last.version == version and bool(self.max_age) and timedelta(0) <= age <= self.max_age

    @property
    def max_age(self) -> timedelta:
        return self.ctx.standings_max_age

    def all(self, now: datetime | None = None, scopes: Collection[str] | None = None) -> list[QuotaStanding]:
        """Every metered quota of the policy's org, team, project and user scopes (only those of ``scopes``
        when given), most at risk first."""
        snap = self.ctx.policies.current.snapshot
        refs = [ref for scope, quotas in snap.scope_quotas.items()
                if scopes is None or scope in scopes for ref in quotas if ref.metered]  # fmt: skip
        return ranked(self.of(refs, now or self.ctx.clock()))

    def of_scope(self, scope: str, now: datetime | None = None) -> list[QuotaStanding]:
        """The metered quotas that bind ``scope`` (a user's default and per-partition quotas, a member's),
        in the policy's order. NotFound/InvalidInput as ``Accounts.quotas``."""
        return self.of([ref for ref in self.accounts.quotas(scope) if ref.metered], now or self.ctx.clock())

    def of(self, refs: list[QuotaRef], now: datetime) -> list[QuotaStanding]:
        now = now.astimezone(UTC)
        with self.ctx.ledger.reading() as tx:
            tally = _Tally(tx, refs, now)
        out = []
        for ref in refs:
            start, end = ref.bounds(now)
            charged, reserved, daily = tally.charged[ref.id], tally.reserved[ref.id], tally.daily[ref.id]
            metrics = []
            for index, limit in ref.metered:
                name = METERED[index]
                c, r = getattr(charged, name), getattr(reserved, name)
                left = limit - c - r
                burn = [max(getattr(day, name), 0.0) for day in daily]
                metrics.append(MetricStanding(name, limit, c, r, left, used_fraction(c + r, limit),
                                              forecast(left, burn, now, end)))  # fmt: skip
            out.append(QuotaStanding(ref.id, ref.scope, ref.window_label, start, end, tuple(metrics)))
        return out

    def balances(self, scope: str, now: datetime | None = None) -> list[ScopeBalance]:
        """``Accounts.balances`` with each metered limit's forecast (``GET /v1/usage``, ``hpcpolicy usage``)."""
        now = now or self.ctx.clock()
        rows = self.accounts.balances(scope, now)
        ahead = {(s.quota_id, m.metric): m.forecast for s in self.of_scope(scope, now) for m in s.metrics}
        return [replace(row, forecast=ahead.get((row.quota_id, row.metric))) for row in rows]

    def burn_down(self, quota_id: str, now: datetime | None = None) -> list[tuple[date, Amounts]]:
        """Consumption per UTC day from the window's start to today (charges and signed adjustments), for a
        burn-down chart. NotFound for a quota id the policy does not have."""
        now = (now or self.ctx.clock()).astimezone(UTC)
        scope = quota_id.partition("#")[0]
        ref = next((r for r in self.accounts.quotas(scope) if r.id == quota_id), None)
        if ref is None:
            raise NotFound(f"{quota_id} is not a quota in the policy")
        start, end = ref.bounds(now)
        stop = min(end, now)
        found = counter(ref)
        per_day: dict[date, Amounts] = defaultdict(lambda: ZERO)
        with self.ctx.ledger.reading() as tx:
            for dims, day, amounts in tx.charge_totals(_slice_dims(ref), start, stop, daily=True, where=found.columns):
                if day is not None and _in_slice(ref, dims):
                    per_day[day] += amounts
            for _, day, amounts in tx.adjustment_totals(start, stop, daily=True, scopes=found.adjusted):
                if day is not None:
                    per_day[day] += amounts
        first, last = start.date(), stop.date()
        return [(first + timedelta(days=k), per_day[first + timedelta(days=k)])
                for k in range((last - first).days + 1)]  # fmt: skip


def _slice_dims(ref: QuotaRef) -> tuple[str, ...]:
    return _SLICE_COLUMNS if ref.slice is not None else ()


def _in_slice(ref: QuotaRef, dims: tuple[str | None, ...]) -> bool:
    return ref.slice is None or ref.slice.admits(*dims)


class _Tally:
    """One reading of the ledger for ``refs``: ``charged`` (charges and signed adjustments in each quota's
    window), ``reserved`` (open liens now) and ``daily`` (the last :data:`LOOKBACK_DAYS` days' burn), by
    quota id.

    Charges are read from the ledger's running totals per scope (:meth:`~hpcpolicy.ledger.base.LedgerSession.
    scope_totals`): one query per distinct window and slice, one per slice for the daily burn (a row per
    scope either way), one for adjustments per window, and one for the open liens.
    """

    def __init__(self, tx: LedgerSession, refs: list[QuotaRef], now: datetime):
        self.charged: dict[str, Amounts] = {ref.id: ZERO for ref in refs}
        self.reserved: dict[str, Amounts] = dict(self.charged)
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        self.first_day = today - timedelta(days=LOOKBACK_DAYS)
        self.daily: dict[str, list[Amounts]] = {ref.id: [ZERO] * LOOKBACK_DAYS for ref in refs}
        windows: dict[tuple[datetime, datetime], list[QuotaRef]] = defaultdict(list)
        counted: dict[tuple[datetime, datetime, Slice | None], list[QuotaRef]] = defaultdict(list)
        sliced: dict[Slice | None, list[QuotaRef]] = defaultdict(list)
        for ref in refs:
            bounds = ref.bounds(now)
            windows[bounds].append(ref)
            counted[(*bounds, ref.slice)].append(ref)
            sliced[ref.slice].append(ref)
        for (start, end, slice_), members in counted.items():
            totals = tx.scope_totals({ref.scope for ref in members}, start, end, slice_)
            for ref in members:
                if ref.scope in totals:
                    self.charged[ref.id] += totals[ref.scope]
        for slice_, members in sliced.items():
            per_day = tx.scope_daily({ref.scope for ref in members}, self.first_day, LOOKBACK_DAYS, slice_)
            for ref in members:
                if ref.scope in per_day:
                    self.daily[ref.id] = list(per_day[ref.scope])  # its own list: running jobs add to it
        for (start, end), members in windows.items():
            self._adjustments(tx, start, end, members)
        self._liens(tx, refs, now)

    def _adjustments(self, tx: LedgerSession, start: datetime, end: datetime, refs: list[QuotaRef]) -> None:
        adjusted = {scope: amounts for scope, _, amounts in tx.adjustment_totals(start, end)}
        for ref in refs:
            for target in counter(ref).adjusted:
                if target in adjusted:
                    self.charged[ref.id] += adjusted[target]

    def _liens(self, tx: LedgerSession, refs: list[QuotaRef], now: datetime) -> None:
        by_scope: dict[str, list[QuotaRef]] = defaultdict(list)
        for ref in refs:
            by_scope[ref.scope].append(ref)
        for lien in tx.open_liens(next(iter(by_scope)) if len(by_scope) == 1 else None):  # one scope: its own
            if not _counts(lien, now):
                continue
            spent = None
            if lien.state is LienState.RUNNING and lien.started_at is not None:
                spent = elapsed_by_day(lien.started_at, lien.walltime_hours, now, self.first_day, LOOKBACK_DAYS)
            for scope in entry_scopes(lien):
                for ref in by_scope.get(scope, ()):
                    if not counts_toward(lien, ref.slice):
                        continue
                    self.reserved[ref.id] += lien.amounts
                    if spent is not None:
                        daily = self.daily[ref.id]
                        for k, fraction in enumerate(spent):
                            if fraction:
                                a = lien.amounts
                                daily[k] += Amounts(a.cpu_hours * fraction, a.gpu_hours * fraction, a.cost * fraction)


def _counts(lien: Lien, now: datetime) -> bool:
    """Whether an open lien counts now: running, or reserved and not past its TTL (the ledgers' rule)."""
    return lien.state is LienState.RUNNING or (lien.state is LienState.RESERVED and lien.expires_at > now)

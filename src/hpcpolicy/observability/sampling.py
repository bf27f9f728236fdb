"""Gauges read from the ledger at scrape time: open reservations and quota utilization.

Utilization is sampled for the policy's org, team and project quotas (users are too many to scrape);
results are cached for ``ttl`` seconds so frequent scrapes cost at most one pass over the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from hpcpolicy.observability.metrics import Metrics
from hpcpolicy.service import Governance

Sample = tuple[str, dict[str, str], float]


class LedgerSampler:
    def __init__(self, gov: Governance, ttl: float = 15.0):
        self.gov = gov
        self.ttl = ttl
        self._cached: tuple[float, list[Sample]] = (0.0, [])

    def __call__(self) -> list[Sample]:
        taken, samples = self._cached
        if time.monotonic() - taken < self.ttl:
            return samples
        samples = list(self._read())
        self._cached = (time.monotonic(), samples)
        return samples

    def _read(self) -> Iterator[Sample]:
        with self.gov.ctx.ledger.session() as tx:
            liens = list(tx.open_liens())
        yield "hpcpolicy_reservations_open", {}, float(len(liens))
        snap = self.gov.ctx.policies.current.snapshot
        for scope, quotas in snap.scope_quotas.items():
            if not quotas or scope.startswith("user:"):
                continue
            for balance in self.gov.accounts.balances(scope):
                if balance.limit:
                    used = (balance.limit - (balance.available or 0.0)) / balance.limit
                    yield "hpcpolicy_quota_utilization", {"quota": balance.quota_id, "metric": balance.metric}, used


class MetricsObserver:
    """Feeds service events into the Prometheus metrics."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def decided(self, decision: dict[str, object], reserved: bool, seconds: float) -> None:
        self.metrics.observe_decision(decision, reserved, seconds)

    def ledger_failed(self, error: Exception) -> None:
        self.metrics.database_errors.inc()

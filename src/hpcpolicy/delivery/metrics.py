"""Prometheus metrics of the delivery workers, read at scrape time:

- ``hpcpolicy_audit_delivered_total{sink}``: events the sink acknowledged while this process held the lease
- ``hpcpolicy_audit_delivery_failures_total{sink}``: failed attempts (each retried)
- ``hpcpolicy_audit_lag_events{sink}``: sealed events the sink has not acknowledged yet (from the database, so
  every replica reports it, holder or not: the one to alert on)
- ``hpcpolicy_audit_delivery_holding{sink}``: 1 on the replica delivering to that sink
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.audit import head
from hpcpolicy.ledger.sql.cursors import cursor


class DeliveryCollector(Collector):
    def __init__(self, workers: Sequence[DeliveryWorker], ttl: float = 5.0):
        self.workers, self.ttl = workers, ttl
        self._lag: tuple[float, dict[str, float]] = (0.0, {})

    def collect(self) -> Iterator[Metric]:
        delivered = CounterMetricFamily("hpcpolicy_audit_delivered", "Audit events acknowledged by the sink.",
                                        labels=["sink"])  # fmt: skip
        failures = CounterMetricFamily("hpcpolicy_audit_delivery_failures", "Failed delivery attempts (retried).",
                                       labels=["sink"])  # fmt: skip
        holding = GaugeMetricFamily("hpcpolicy_audit_delivery_holding", "1 where this replica delivers to the sink.",
                                    labels=["sink"])  # fmt: skip
        for worker in self.workers:
            name = worker.sink.name
            delivered.add_metric([name], worker.progress.delivered)
            failures.add_metric([name], worker.progress.failures)
            holding.add_metric([name], 1.0 if worker.progress.holding else 0.0)
        yield from (delivered, failures, holding)
        lag = GaugeMetricFamily("hpcpolicy_audit_lag_events", "Sealed audit events not yet acknowledged by the sink.",
                                labels=["sink"])  # fmt: skip
        for name, value in self._lags().items():
            lag.add_metric([name], value)
        yield lag

    def _lags(self) -> dict[str, float]:
        taken, lags = self._lag
        if time.monotonic() - taken < self.ttl or not self.workers:
            return lags
        try:
            last = head(self.workers[0].ledger)
            lags = {w.sink.name: float(max(0, last - cursor(w.ledger, w.sink.name))) for w in self.workers}
        except Exception:  # a scrape must not fail because the database is down
            return lags
        self._lag = (time.monotonic(), lags)
        return lags

"""Prometheus metrics, registered on a registry per app (no import-time global state to leak between tests).

- ``hpcpolicy_decisions_total{outcome, reserved}`` (outcome ``allow``, ``deny``, or either with ``_fail_open``
  when decided without the ledger) and ``hpcpolicy_violations_total{code}``
- ``hpcpolicy_decision_seconds``: latency of a whole decision (ledger transaction included)
- ``hpcpolicy_reservations_open``: open liens (reserved or running), sampled at scrape time
- ``hpcpolicy_quota_utilization{quota}``: (charged + reserved) / limit per quota and metric, sampled at
  scrape time for the scopes the policy declares
- ``hpcpolicy_database_errors_total``: ledger failures (each one also a 503)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "hpcpolicy_decisions", "Decisions by outcome.", ["outcome", "reserved"], registry=self.registry
        )
        self.violations = Counter("hpcpolicy_violations", "Violated rules by code.", ["code"], registry=self.registry)
        self.latency = Histogram(
            "hpcpolicy_decision_seconds",
            "Time to decide, ledger included.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.database_errors = Counter(
            "hpcpolicy_database_errors", "Ledger operations that failed.", registry=self.registry
        )

    def observe_decision(self, decision: dict[str, Any], reserved: bool, seconds: float) -> None:
        outcome = "allow" if decision["allow"] else "deny"
        if decision.get("degraded"):
            outcome += "_fail_open"  # decided without the ledger (a partition marked fail_open)
        self.decisions.labels(outcome, str(reserved).lower()).inc()
        for violation in decision["violations"]:
            self.violations.labels(violation["code"]).inc()
        self.latency.observe(seconds)

    def sample(self, collect: Callable[[], Iterable[tuple[str, dict[str, str], float]]]) -> None:
        """Register a callback producing (metric name, labels, value) gauges at scrape time."""
        self.registry.register(_Sampled(collect))


class _Sampled(Collector):
    def __init__(self, collect: Callable[[], Iterable[tuple[str, dict[str, str], float]]]):
        self._collect = collect

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        try:
            samples = list(self._collect())
        except Exception:  # a scrape must not fail because the database is down; the error counter says so
            samples = []
        for name, labels, value in samples:
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(name, _HELP.get(name, name), labels=sorted(labels))
            family.add_metric([labels[k] for k in sorted(labels)], value)
        yield from families.values()


_HELP = {
    "hpcpolicy_reservations_open": "Liens reserved or running.",
    "hpcpolicy_quota_utilization": "(charged + reserved) / limit, per quota and metric.",
}

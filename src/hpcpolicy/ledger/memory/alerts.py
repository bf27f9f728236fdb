"""Fired alerts and their outbox kept in memory: the same contract as :mod:`hpcpolicy.ledger.sql.alert_rows`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from hpcpolicy.ledger.alerts import AlertDelivery, AlertRecord, DeliveryState, FiredAlert
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.model import DecisionRecord, Lien, LienState


class MemoryAlerts:
    if TYPE_CHECKING:
        decisions: dict[str, DecisionRecord]

        @property
        def liens(self) -> dict[str, Lien]: ...

    def __init__(self) -> None:
        self._alerts: dict[str, AlertRecord] = {}  # by key
        self._deliveries: dict[int, AlertDelivery] = {}

    def add_alert(self, alert: AlertRecord, deliveries: Sequence[AlertDelivery]) -> None:
        if alert.key in self._alerts:
            raise DuplicateKey(f"alert {alert.key} fired already")
        self._alerts[alert.key] = alert
        for delivery in deliveries:
            stored = replace(delivery, id=len(self._deliveries) + 1)
            self._deliveries[stored.id] = stored

    def fired_keys(self, keys: Collection[str]) -> set[str]:
        return {key for key in keys if key in self._alerts}

    def fired_alerts(self, scopes: Collection[str] | None = None, limit: int = 100) -> list[FiredAlert]:
        found = [a for a in self._alerts.values() if scopes is None or a.scope in scopes]
        found = sorted(found, key=lambda a: a.id)
        found = sorted(found, key=lambda a: a.fired_at, reverse=True)[:limit]
        return [FiredAlert(a, tuple(d for d in self._deliveries.values() if d.alert_id == a.id)) for a in found]

    def deliveries_due(self, now: datetime, limit: int = 100) -> list[tuple[AlertDelivery, AlertRecord]]:
        by_id = {a.id: a for a in self._alerts.values()}
        due = [d for d in self._deliveries.values() if d.state is DeliveryState.PENDING
               and d.next_attempt_at is not None and d.next_attempt_at <= now]  # fmt: skip
        due.sort(key=lambda d: (d.next_attempt_at or now, d.id))
        return [(d, by_id[d.alert_id]) for d in due[:limit]]

    def set_delivery(self, delivery: AlertDelivery) -> None:
        self._deliveries[delivery.id] = delivery

    def denials(self, since: datetime, limit: int = 100_000) -> list[tuple[datetime, tuple[str, ...]]]:
        found = [r for r in self.decisions.values() if not r.allow and r.at >= since]
        found.sort(key=lambda r: r.at, reverse=True)
        return [(r.at, tuple(r.decision.get("account_path") or ()) or (f"user:{r.user_id}",)) for r in found[:limit]]

    def running_liens(self, started_before: datetime) -> list[Lien]:
        running = [lien for lien in self.liens.values() if lien.state is LienState.RUNNING
                   and lien.started_at is not None and lien.started_at < started_before]  # fmt: skip
        return sorted(running, key=lambda lien: lien.started_at or started_before)

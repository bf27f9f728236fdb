"""Fired alerts and their deliveries, as the ledger stores them (docs/alerts.md).

An alert row is written once per identity (its ``key`` is unique: firing is idempotent across replicas
and restarts), in the same transaction as its audit event and one *delivery* per channel and recipient:
an outbox the delivery loop works through, at least once, with capped exponential backoff, until the
channel accepts it or the attempts run out (``failed``, the last error kept). Rows stay: they are what
``GET /v1/alerts`` and ``hpcpolicy alerts list`` show.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

EMAIL, WEBHOOK = "email", "webhook"


class DeliveryState(StrEnum):
    PENDING = "pending"  # not accepted yet: due at ``next_attempt_at``
    DELIVERED = "delivered"  # the SMTP server or the webhook accepted it
    FAILED = "failed"  # given up after the last attempt (``last_error`` says why)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    key: str  # the identity's hash (:func:`hpcpolicy.engine.alerts.identity`)
    rule: str
    scope: str
    subject: str  # a quota id, ``lien:<id>`` or a scope
    condition: str  # ``used:0.8``, ``runs_dry``, ``stuck_lien``, ``denied_spike``
    window_start: datetime
    fired_at: datetime
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One message of an alert: ``channel`` is ``email`` (``recipient`` an address) or ``webhook``
    (``recipient`` the webhook's name; its URL is a setting)."""

    alert_id: str
    channel: str
    recipient: str
    next_attempt_at: datetime | None
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    delivered_at: datetime | None = None
    last_error: str | None = None
    id: int = 0  # the store's id (0 until stored)

    def attempted(self, at: datetime, error: str | None, retry_at: datetime | None) -> AlertDelivery:
        """After an attempt at ``at``: delivered (no ``error``), due again at ``retry_at``, or failed."""
        if error is None:
            return replace(self, state=DeliveryState.DELIVERED, attempts=self.attempts + 1, delivered_at=at,
                           next_attempt_at=None, last_error=None)  # fmt: skip
        state = DeliveryState.PENDING if retry_at is not None else DeliveryState.FAILED
        return replace(self, state=state, attempts=self.attempts + 1, next_attempt_at=retry_at, last_error=error[:2000])


@dataclass(frozen=True, slots=True)
class FiredAlert:
    """An alert with its deliveries (the listing)."""

    alert: AlertRecord
    deliveries: tuple[AlertDelivery, ...]

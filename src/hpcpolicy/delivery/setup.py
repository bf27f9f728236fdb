"""Delivery workers from the service settings: one per configured sink, none without a SQL audit log."""

from __future__ import annotations

import logging

from hpcpolicy.delivery.backoff import Backoff
from hpcpolicy.delivery.sink import Sink
from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.settings import ServiceSettings

log = logging.getLogger("hpcpolicy.delivery")

SINKS = ("nats", "webhook")


def configured_sinks(settings: ServiceSettings) -> list[Sink]:
    """The sinks the settings name (the NATS client is imported only when JetStream is configured)."""
    sinks: list[Sink] = []
    if settings.audit_nats_url:
        from hpcpolicy.delivery.jetstream import JetStreamSink

        sinks.append(JetStreamSink(settings.audit_nats_url, settings.audit_nats_stream))
    if settings.audit_webhook_url:
        from hpcpolicy.delivery.webhook import WebhookSink

        secret = settings.audit_webhook_secret.get_secret_value() if settings.audit_webhook_secret else None
        sinks.append(WebhookSink(settings.audit_webhook_url, secret=secret, batch=settings.audit_webhook_batch,
                                 timeout=settings.audit_webhook_timeout_seconds))  # fmt: skip
    return sinks


def delivery_workers(settings: ServiceSettings, ledger: object, only: str | None = None) -> list[DeliveryWorker]:
    """A worker per configured sink (``only``: just that one), or none when there is nothing to deliver: the
    ledger is not SQL or records no audit events."""
    sinks = [sink for sink in configured_sinks(settings) if only is None or sink.name == only]
    if not sinks:
        return []
    if not isinstance(ledger, SqlLedger) or not ledger.audit:
        log.warning("audit sinks configured but no SQL audit log (HPCPOLICY_AUDIT_LOG=true): nothing to deliver")
        return []
    lease, cap = settings.audit_lease_seconds, settings.audit_retry_max_seconds
    return [
        DeliveryWorker(ledger, sink, lease_seconds=lease, batch=_batch(settings, sink), backoff=Backoff(cap=cap))
        for sink in sinks
    ]


def _batch(settings: ServiceSettings, sink: Sink) -> int:
    """Events read per step: JetStream's pipeline depth; for a webhook, ten requests' worth."""
    return settings.audit_nats_batch if sink.name == "nats" else 10 * settings.audit_webhook_batch

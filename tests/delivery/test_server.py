"""The server runs a configured sink's worker in the background: decisions made over HTTP are sealed and
delivered, ``/metrics`` counts them, and shutting down releases the lease for another replica."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpcpolicy.api import create_app
from hpcpolicy.auth import Authenticator, AuthSettings
from hpcpolicy.delivery.backoff import Backoff
from hpcpolicy.delivery.setup import delivery_workers
from hpcpolicy.delivery.webhook import WebhookSink
from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.settings import ServiceSettings
from tests.cli.conftest import clean_service_env
from tests.delivery.receiver import receiver
from tests.ledger.conftest import sqlite_ledger


def test_the_server_delivers_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_service_env(monkeypatch)
    ledger = SqlLedger(sqlite_ledger(tmp_path).engine, audit=True)
    governance = Governance(Context(ledger, PolicyStore.from_file(None, env={})))
    authenticator = Authenticator(AuthSettings(), data_dir=tmp_path, loopback=True)
    with receiver(["500"]) as sink_side:
        sink = WebhookSink(sink_side.url)
        worker = DeliveryWorker(ledger, sink, lease_seconds=2, poll_seconds=0.05, backoff=Backoff(first=0.05))
        with TestClient(create_app(governance, authenticator, deliveries=[worker])) as client:
            for cpus in (1, 2, 3):
                body = {"user_id": "alice", "partition": "cpu", "cpus": cpus, "reserve": True}
                assert client.post("/v1/decisions", json=body).status_code == 200
            deadline = time.monotonic() + 10
            while len(sink_side.accepted()) < 6:  # a decision and its lien each, sealed within a second
                assert time.monotonic() < deadline, sink_side.requests
                time.sleep(0.05)
            metrics = client.get("/metrics").text
        assert 'hpcpolicy_audit_delivered_total{sink="webhook"} 6.0' in metrics
        assert 'hpcpolicy_audit_delivery_failures_total{sink="webhook"} 1.0' in metrics
        assert 'hpcpolicy_audit_lag_events{sink="webhook"} 0.0' in metrics
    owner = worker.lease.owner()
    assert owner is not None and owner[1] < datetime.now(UTC)  # released at shutdown
    ledger.engine.dispose()


def test_no_worker_without_a_sql_audit_log(tmp_path: Path) -> None:
    settings = ServiceSettings(audit_webhook_url="http://127.0.0.1:9/x", audit_nats_url="nats://127.0.0.1:9")
    plain = sqlite_ledger(tmp_path)
    assert delivery_workers(settings, plain) == []  # audit log off: nothing to deliver
    audited = SqlLedger(plain.engine, audit=True)
    assert [w.sink.name for w in delivery_workers(settings, audited)] == ["nats", "webhook"]
    assert [w.lease.name for w in delivery_workers(settings, audited, only="nats")] == ["audit:delivery:nats"]
    assert delivery_workers(ServiceSettings(), audited) == []
    plain.engine.dispose()

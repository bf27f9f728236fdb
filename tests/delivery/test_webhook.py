"""Delivery to a real HTTP receiver that fails for a while (500s, connections dropped without an answer, a
503) and then recovers: every event arrives in order in CloudEvents batches, each signed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import pytest

from hpcpolicy.delivery.backoff import Backoff
from hpcpolicy.delivery.webhook import CONTENT_TYPE, SIGNATURE_HEADER, WebhookSink
from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.ledger import SqlLedger
from tests.delivery.events import fill
from tests.delivery.ordering import assert_delivered_in_order
from tests.delivery.receiver import receiver

SECRET = "s3cret-for-tests"


def test_every_event_arrives_in_order_through_failures(audited: SqlLedger, caplog: pytest.LogCaptureFixture) -> None:
    fill(audited, 1000)
    script = ["500", "500", "drop", "ok", "ok", "drop", "500", "503", "ok"]  # then ok
    with receiver(script) as sink_side:
        sink = WebhookSink(sink_side.url, secret=SECRET, batch=100, timeout=2.0)
        worker = DeliveryWorker(audited, sink, lease_seconds=5, batch=300, backoff=Backoff(first=0.02, cap=0.2))
        with caplog.at_level(logging.WARNING, "hpcpolicy.delivery"):
            assert asyncio.run(worker.run(once=True, max_failures=20))
    assert worker.progress.cursor == 1000 and worker.progress.failures == 6
    assert assert_delivered_in_order(sink_side.accepted(), audited) == 0
    everything = [event for got in sink_side.requests for event in got.events]
    assert assert_delivered_in_order(everything, audited) > 0  # refused batches came again, same ids, in order
    for got in sink_side.requests:
        assert got.headers["Content-Type"] == CONTENT_TYPE and len(got.events) <= 100
        expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(got.headers[SIGNATURE_HEADER], expected)
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 6 and "answered 500" in failures[0] and "answered 503" in failures[-1]


def test_without_a_secret_nothing_is_signed(audited: SqlLedger) -> None:
    fill(audited, 5)
    with receiver([]) as sink_side:
        worker = DeliveryWorker(audited, WebhookSink(sink_side.url), lease_seconds=5)
        assert asyncio.run(worker.run(once=True))
    (only,) = sink_side.requests
    assert SIGNATURE_HEADER not in only.headers and [e["hpcpolicyseq"] for e in only.events] == [1, 2, 3, 4, 5]

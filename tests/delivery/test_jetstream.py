"""Delivery to a real NATS JetStream server: every sealed event arrives in order as a CloudEvent, also when the
server is killed mid-stream and comes back on the same port and store, and when a previous holder delivered
events it never recorded."""

from __future__ import annotations

import asyncio
import threading
import time

from sqlalchemy import update

from hpcpolicy.delivery.backoff import Backoff
from hpcpolicy.delivery.jetstream import JetStreamSink
from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import audit_cursors
from tests.delivery.events import fill
from tests.delivery.natsserver import NatsServer, stream_events
from tests.delivery.ordering import assert_delivered_in_order


def worker(ledger: SqlLedger, url: str, batch: int = 1000, holder: str = "test") -> DeliveryWorker:
    return DeliveryWorker(ledger, JetStreamSink(url, ack_timeout=2.0), lease_seconds=5, batch=batch,
                          poll_seconds=0.05, backoff=Backoff(first=0.05, cap=0.5), holder=holder)  # fmt: skip


def test_every_event_arrives_in_order_as_a_cloudevent(audited: SqlLedger, nats_server: NatsServer) -> None:
    fill(audited, 250)
    delivering = worker(audited, nats_server.url, batch=100)
    assert asyncio.run(delivering.run(once=True))
    assert delivering.progress.delivered == 250 and delivering.progress.cursor == 250
    received = stream_events(nats_server.url)
    assert assert_delivered_in_order([event for _, _, event in received], audited) == 0
    subject, headers, first = received[0]
    assert subject == "hpcpolicy.events.decision.made"
    assert headers["Nats-Msg-Id"] == first["id"] and headers["Hpcpolicy-Seq"] == "1"
    assert (first["specversion"], first["source"], first["type"]) == ("1.0", "hpcpolicy", "hpcpolicy.decision.made")
    assert first["subject"] == "d-0" and first["data"]["request"]["user_id"] == "user0" and first["time"].endswith("Z")
    fill(audited, 10, start=250)  # the next run resumes after the cursor
    assert asyncio.run(worker(audited, nats_server.url).run(once=True))
    assert len(stream_events(nats_server.url)) == 260


def test_a_server_killed_mid_stream_loses_nothing(audited: SqlLedger, nats_server: NatsServer) -> None:
    fill(audited, 3000)
    delivering = worker(audited, nats_server.url, batch=500)
    sink = delivering.sink
    assert isinstance(sink, JetStreamSink)
    restarted = threading.Event()

    def crash() -> None:  # from another thread, so the kill lands while a batch is in flight
        while delivering.progress.delivered < 1000 or not sink._acks:
            time.sleep(0.0005)
        nats_server.kill()
        fill(audited, 500, start=3000)  # events keep coming while the sink is down
        time.sleep(0.5)
        nats_server.start()
        restarted.set()

    async def deliver_until_caught_up() -> None:
        task = asyncio.create_task(delivering.run())
        while not (restarted.is_set() and delivering.progress.cursor == 3500):
            assert not task.done(), task
            await asyncio.sleep(0.05)
        delivering.stop()
        await task

    killer = threading.Thread(target=crash)
    killer.start()
    asyncio.run(asyncio.wait_for(deliver_until_caught_up(), 60))
    killer.join()
    assert delivering.progress.failures >= 1  # the crash was felt
    received = [event for _, _, event in stream_events(nats_server.url)]
    assert assert_delivered_in_order(received, audited) == 0  # and JetStream holds no duplicate either


def test_what_a_previous_holder_delivered_but_never_recorded_is_not_sent_again(
    audited: SqlLedger, nats_server: NatsServer
) -> None:
    fill(audited, 300)
    assert asyncio.run(worker(audited, nats_server.url, holder="first").run(once=True))
    with audited.engine.begin() as conn:  # as if the first holder died between JetStream's ack and the cursor
        conn.execute(update(audit_cursors).values(seq=120))
    fill(audited, 50, start=300)
    second = worker(audited, nats_server.url, holder="second")
    assert asyncio.run(second.run(once=True))
    assert second.progress.delivered == 50 and second.progress.cursor == 350
    received = [event for _, _, event in stream_events(nats_server.url)]
    assert len(received) == 350 and assert_delivered_in_order(received, audited) == 0

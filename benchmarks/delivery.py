"""Audit delivery throughput: sealed events per second into NATS JetStream and into an HTTP webhook.

Fills a SQLite ledger with N realistic decision events through the ledger session (as the service writes
them) and seals them, then delivers them all with the same worker the server runs: once to a nats-server
started here (JetStream, file store), once to a local threaded HTTP receiver (batches of 100 CloudEvents,
HMAC-signed). Prints events/s for each; the target is 2,000/s.

    python benchmarks/delivery.py [--events 50000] [--nats-batch 1000] [--webhook-batch 100]
"""

from __future__ import annotations

import os
import sys

# benchmarks/http.py would shadow the standard library's http package: drop this folder from the path, and
# put the repository there instead (the tests' helpers start the servers).
sys.path.remove(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from hpcpolicy.delivery.jetstream import JetStreamSink
from hpcpolicy.delivery.sink import Sink
from hpcpolicy.delivery.webhook import WebhookSink
from hpcpolicy.delivery.worker import DeliveryWorker
from hpcpolicy.ledger.sql.ledger import SqlLedger
from tests.delivery.events import fill
from tests.delivery.natsserver import NatsServer, stream_events
from tests.delivery.receiver import receiver
from tests.ledger.conftest import sqlite_ledger


def deliver(ledger: SqlLedger, sink: Sink, batch: int) -> tuple[int, float]:
    worker = DeliveryWorker(ledger, sink, batch=batch)
    started = time.perf_counter()
    assert asyncio.run(worker.run(once=True, max_failures=5)), "lease not taken"
    return worker.progress.delivered, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--nats-batch", type=int, default=1000)
    parser.add_argument("--webhook-batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SqlLedger(sqlite_ledger(Path(tmp)).engine, audit=True)
        started = time.perf_counter()
        fill(ledger, args.events)
        print(f"{args.events} events written and sealed in {time.perf_counter() - started:.1f} s")
        server = NatsServer(Path(tmp) / "jetstream").start()
        try:
            count, seconds = deliver(ledger, JetStreamSink(server.url), args.nats_batch)
            stored = len(stream_events(server.url))
        finally:
            server.stop()
        assert count == stored == args.events, (count, stored)
        print(f"NATS JetStream: {count} events in {seconds:.2f} s = {count / seconds:,.0f} events/s "
              f"(batch {args.nats_batch})")  # fmt: skip
        with receiver([]) as sink_side:
            sink = WebhookSink(sink_side.url, secret="benchmark", batch=args.webhook_batch)
            count, seconds = deliver(ledger, sink, 10 * args.webhook_batch)
            assert len(sink_side.accepted()) == args.events
        print(f"HTTP webhook:   {count} events in {seconds:.2f} s = {count / seconds:,.0f} events/s "
              f"({args.webhook_batch} per request, signed)")  # fmt: skip
        ledger.engine.dispose()


if __name__ == "__main__":
    main()

"""``hpcpolicy audit deliver``: the delivery workers in the foreground, for a dedicated deployment or cron.

Without ``--once`` it runs until interrupted, as a server's background task would (the servers seal; this
delivers). With ``--once`` each sink gets what is sealed now, then the command exits: 0 when delivered or when
another process holds a sink's lease (it is delivering), 1 after five failed attempts in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from hpcpolicy.cli.common import err, fail, out
from hpcpolicy.delivery.setup import SINKS, delivery_workers
from hpcpolicy.delivery.worker import DeliveryWorker, Stalled
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.observability import logs
from hpcpolicy.settings import ServiceSettings


def run_deliveries(ledger: SqlLedger, settings: ServiceSettings, *, once: bool, sink: str | None) -> None:
    if sink is not None and sink not in SINKS:
        fail(f"unknown sink {sink!r}: one of {', '.join(SINKS)}")
    ledger.audit = True  # reading sealed events only; nothing is written but cursors and leases
    workers = delivery_workers(settings, ledger, only=sink)
    if not workers:
        fail("no audit sink configured (HPCPOLICY_AUDIT_NATS_URL, HPCPOLICY_AUDIT_WEBHOOK_URL)")
    logs.configure("info")
    try:
        held = asyncio.run(_run(workers, once))
    except Stalled as exc:
        fail(str(exc))
    for worker, holding in zip(workers, held, strict=True):
        name, done = worker.sink.name, worker.progress
        if holding:
            out.print(f"{name}: delivered {done.delivered} event(s); acknowledged up to seq {done.cursor}")
        else:
            err.print(f"{name}: another process holds the lease {worker.lease.name!r}; it delivers")


async def _run(workers: list[DeliveryWorker], once: bool) -> list[bool]:
    def stop() -> None:  # on SIGINT or SIGTERM: finish the step, release the leases, exit
        for worker in workers:
            worker.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop)
    max_failures = 5 if once else None
    return list(await asyncio.gather(*(worker.run(once=once, max_failures=max_failures) for worker in workers)))

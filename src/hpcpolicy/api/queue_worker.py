"""The admission queue in a running server: the dispatcher's loop, its lease, and waiting callers.

Every replica runs this loop; the one holding the ``queue-dispatcher`` lease dispatches (on SQLite, a
single server, it simply always holds it). The loop wakes when this process frees a slot, or every
``poll_seconds`` to read the slots other replicas freed, makes a pass (:mod:`hpcpolicy.service.dispatcher`),
tells long-polling and streaming callers of this process what was resolved, and sends due callbacks.
When the holder dies its lease runs out and another replica's loop takes over, reading the queue afresh
from the database, which holds all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import timedelta

import httpx

from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.queue import QueuedRequest
from hpcpolicy.ledger.sql.lease import Keeper, Lease
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance
from hpcpolicy.service.callbacks import deliver_due
from hpcpolicy.service.dispatcher import Dispatcher, PassReport

log = logging.getLogger(__name__)

LEASE = "queue-dispatcher"
LEASE_TTL = timedelta(seconds=10)


class Waiters:
    """Callers of this process waiting for held requests (long-poll and server-sent events)."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)

    async def wait(self, entry_id: str, seconds: float) -> None:
        """Return when ``entry_id`` is resolved here, or after ``seconds`` (the caller then re-reads it: a
        request another replica admitted is seen by reading, not by being told)."""
        event = asyncio.Event()
        self._waiting[entry_id].add(event)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiting[entry_id].discard(event)
            if not self._waiting[entry_id]:
                del self._waiting[entry_id]

    def resolved(self, entry: QueuedRequest) -> None:
        for event in self._waiting.get(entry.id, ()):
            event.set()


class QueueWorker:
    def __init__(self, governance: Governance, waiters: Waiters):
        self.gov = governance
        self.waiters = waiters
        self.dispatcher = Dispatcher(governance)
        governance.ctx.observers.on_freed(self.dispatcher.freed)
        governance.ctx.observers.on_queued(lambda entry: self.dispatcher.wake.set())  # read it in a pass now
        ledger = governance.ctx.ledger
        self.keeper = Keeper(Lease(ledger, LEASE, LEASE_TTL) if isinstance(ledger, SqlLedger) else None)
        self._stopped = False

    async def run(self) -> None:
        settings = self.gov.ctx.queue
        delivered = 0.0
        with httpx.Client() as client:
            while not self._stopped:
                try:
                    if await asyncio.to_thread(self._hold):
                        report = await asyncio.to_thread(self._pass)
                        for entry in report.resolved:
                            self.waiters.resolved(entry)
                        # Callbacks: at once for what this pass resolved, else once a second (retries).
                        if any(e.callback_url for e in report.resolved) or time.monotonic() - delivered >= 1.0:
                            delivered = time.monotonic()
                            await asyncio.to_thread(deliver_due, self.gov.ctx.ledger, settings.callback_secret,
                                                    self.gov.ctx.clock(), client)  # fmt: skip
                except (LedgerUnavailable, OSError) as exc:
                    log.warning("admission queue: pass skipped: %s", exc)
                except Exception:  # never let the loop die: the next pass starts from the database
                    log.exception("admission queue: pass failed")
                    self.dispatcher.forget()
                await asyncio.to_thread(self.dispatcher.wake.wait, settings.poll_seconds)
                self.dispatcher.wake.clear()

    def _hold(self) -> bool:
        """Hold (or renew, every third of its TTL) the dispatcher lease; on losing it, forget the cache."""
        held = self.keeper.holding
        if not self.keeper.hold() and held:
            self.dispatcher.forget()
        return self.keeper.holding

    def _pass(self) -> PassReport:
        return self.dispatcher.step(poll=True)

    async def stop(self) -> None:
        self._stopped = True
        self.dispatcher.wake.set()
        await asyncio.to_thread(self.keeper.release)

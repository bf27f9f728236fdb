"""The delivery worker: sealed audit events to one sink, at least once, in order, nothing lost.

One worker per sink and replica; the lease ``audit:delivery:<sink>`` lets exactly one of them deliver. The
holder reads sealed events after the sink's cursor in ``seq`` order, hands them to the sink, and advances
the cursor only over the prefix the sink acknowledged, in a transaction that checks the lease
(:func:`hpcpolicy.ledger.sql.cursors.advance`). Whatever fails — the sink, the network, the database — the
same events are delivered again after a capped, jittered exponential pause; an event is never skipped (a
gap in ``seq`` stops delivery and says so). A crash between acknowledgement and cursor means redelivery of
the same CloudEvents ids, never loss.

The lease is renewed in the background every third of its TTL. The worker stops delivering as soon as a
renewal says another holder has it, or when it could not renew for most of the TTL (a lost database), and
goes back to acquiring it; its cursor writes are refused meanwhile anyway. Database calls run on the
default executor, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar

from hpcpolicy.delivery.backoff import Backoff
from hpcpolicy.delivery.sink import Sink, Stored
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.events import Event
from hpcpolicy.ledger.sql.cursors import advance, cursor
from hpcpolicy.ledger.sql.lease import Lease
from hpcpolicy.ledger.sql.ledger import SqlLedger

log = logging.getLogger("hpcpolicy.delivery")
T = TypeVar("T")


class LeaseLost(RuntimeError):
    """The cursor write was refused: another holder has the lease (or it ran out)."""


class Stalled(RuntimeError):
    """``run(once=True)`` gave up after too many failures in a row."""


@dataclass
class Progress:
    """What this process has done for its sink (read by the metrics at scrape time)."""

    delivered: int = 0  # events acknowledged by the sink while this process held the lease
    cursor: int = 0  # the last seq recorded as acknowledged (as this process last saw it)
    failures: int = 0  # failed attempts (each one retried)
    holding: bool = False


class DeliveryWorker:
    def __init__(self, ledger: SqlLedger, sink: Sink, *, lease_seconds: float = 10.0, batch: int = 1000,
                 poll_seconds: float = 0.2, backoff: Backoff | None = None, holder: str | None = None):  # fmt: skip
        """``batch``: events read and handed to the sink at a time; ``poll_seconds``: the wait for new events
        once caught up; ``holder``: the lease holder id (default: host, pid and a random part)."""
        self.ledger, self.sink, self.batch, self.poll = ledger, sink, batch, poll_seconds
        self.lease = Lease(ledger, f"audit:delivery:{sink.name}", timedelta(seconds=lease_seconds))
        if holder is not None:
            self.lease.holder = holder
        self.backoff = backoff or Backoff()
        self.progress = Progress()
        self._ttl = lease_seconds
        self._held_until = 0.0  # monotonic: trusted until then (90 % of the TTL after the last renewal began)
        self._lost = False
        self._stopping = False
        self._wake = asyncio.Event()

    def stop(self) -> None:
        """Finish the current step and return from :meth:`run` (releasing the lease)."""
        self._stopping = True
        self._wake.set()

    async def run(self, *, once: bool = False, max_failures: int | None = None) -> bool:
        """Deliver until stopped. With ``once``: deliver what is sealed now and return (False at once when
        another holder has the lease). ``max_failures``: raise :class:`Stalled` after that many failed
        attempts in a row (default: retry forever)."""
        try:
            while not self._stopping:
                if await self._acquire():
                    await self._deliver_while_held(once, max_failures)
                    if once:
                        return True
                elif once:
                    return False
                await self._sleep(self._ttl / 4)
            return self.progress.holding
        finally:
            await self._let_go()

    # -- holding the lease ------------------------------------------------------------------------------

    def _held(self) -> bool:
        return not self._lost and time.monotonic() < self._held_until

    async def _acquire(self) -> bool:
        started = time.monotonic()
        try:
            if not await _db(self.lease.acquire):
                return False
        except LedgerUnavailable as exc:
            log.warning("audit delivery to %s: cannot take the lease: %s", self.sink.name, exc)
            return False
        self._held_until, self._lost = started + 0.9 * self._ttl, False
        if not self.progress.holding:
            log.info("audit delivery to %s: lease taken by %s", self.sink.name, self.lease.holder)
        self.progress.holding = True
        return True

    async def _renew_in_background(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            started = time.monotonic()
            try:
                if await _db(self.lease.renew):
                    self._held_until = max(self._held_until, started + 0.9 * self._ttl)
                    continue
            except LedgerUnavailable as exc:  # keep trying: the lease is trusted until it would have run out
                log.warning("audit delivery to %s: cannot renew the lease: %s", self.sink.name, exc)
                continue
            log.warning("audit delivery to %s: lease lost; stopping", self.sink.name)
            self._lost = True
            self._wake.set()
            return

    async def _let_go(self) -> None:
        await self.sink.close()
        if not self.progress.holding:
            return
        self.progress.holding = False
        with contextlib.suppress(LedgerUnavailable):  # if not, it runs out by itself
            await _db(self.lease.release)

    # -- delivering -------------------------------------------------------------------------------------

    async def _deliver_while_held(self, once: bool, max_failures: int | None) -> None:
        renewer = asyncio.create_task(self._renew_in_background())
        try:
            opened = False
            position = self.progress.cursor = await _db(cursor, self.ledger, self.sink.name)
            while not self._stopping and self._held():
                try:
                    if not opened:
                        position = await self._reconcile(await self.sink.open(), position)
                        opened = True
                    caught_up, position = await self._step(position)
                    self.backoff.reset()
                    if caught_up:
                        if once:
                            return
                        await self._sleep(self.poll)
                except LeaseLost:
                    log.warning("audit delivery to %s: cursor refused (lease lost); stopping", self.sink.name)
                    self._lost = True
                except Exception as exc:  # the sink, the network or the database: the same events go again
                    position, opened = self.progress.cursor, False  # reconnect, and ask the sink what it holds
                    await self._failed(exc, max_failures)
        except LedgerUnavailable as exc:
            log.warning("audit delivery to %s: cannot read the cursor: %s", self.sink.name, exc)
            await self._sleep(self.backoff.next())
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if not self._held():
                self.progress.holding = False
                await self.sink.close()

    async def _step(self, position: int) -> tuple[bool, int]:
        """Deliver the next batch after ``position``; (caught up, new position)."""
        events = _consecutive(await _db(self.ledger.events, position, self.batch), position)
        if not events:
            return True, position
        if not self._held():
            raise LeaseLost
        try:
            await self.sink.deliver(events)
        except Exception as exc:
            await self._record(events, getattr(exc, "acked", 0))
            raise
        return len(events) < self.batch, await self._record(events, len(events))

    async def _record(self, events: Sequence[Event], acked: int) -> int:
        if acked > 0:
            await self._advance_to(_seq(events[acked - 1]))
            self.progress.delivered += acked
        return self.progress.cursor

    async def _advance_to(self, seq: int) -> None:
        started = time.monotonic()
        if not await _db(advance, self.lease, self.sink.name, seq):
            raise LeaseLost
        self._held_until = max(self._held_until, started + 0.9 * self._ttl)  # advancing renewed the lease
        self.progress.cursor = seq

    async def _reconcile(self, stored: Stored | None, position: int) -> int:
        """Skip what the sink already holds from an earlier holder, if it is this ledger's event there."""
        if stored is None or stored.seq <= position:
            return position
        found = await _db(self.ledger.events, stored.seq - 1, 1)
        if not found or found[0].seq != stored.seq or found[0].event_id != stored.event_id:
            log.warning("audit delivery to %s: the sink's last event (seq %d, id %s) is not this ledger's; "
                        "delivering from seq %d", self.sink.name, stored.seq, stored.event_id, position + 1)
            return position
        await self._advance_to(stored.seq)
        log.info("audit delivery to %s: the sink already holds up to seq %d", self.sink.name, stored.seq)
        return stored.seq

    async def _failed(self, exc: Exception, max_failures: int | None) -> None:
        self.progress.failures += 1
        pause = self.backoff.next()
        log.warning("audit delivery to %s failed after seq %d (attempt %d, again in %.1f s): %s",
                    self.sink.name, self.progress.cursor, self.backoff.failures, pause, exc)  # fmt: skip
        if max_failures is not None and self.backoff.failures >= max_failures:
            raise Stalled(f"audit delivery to {self.sink.name}: {self.backoff.failures} failures in a row: {exc}")
        await self._sleep(pause)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


def _consecutive(events: Sequence[Event], position: int) -> list[Event]:
    """The events that follow ``position`` without a gap. A gap (an event deleted) is an error, never a
    skip: delivery stops there until someone restores the chain."""
    run: list[Event] = []
    for event in events:
        if _seq(event) != position + len(run) + 1:
            if not run:
                raise RuntimeError(f"sealed event {position + 1} is missing (next is {event.seq}): not skipping it")
            break
        run.append(event)
    return run


def _seq(event: Event) -> int:
    if event.seq is None:  # pragma: no cover - sealed events only
        raise RuntimeError(f"event {event.event_id} is not sealed")
    return event.seq


async def _db(call: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, partial(call, *args))

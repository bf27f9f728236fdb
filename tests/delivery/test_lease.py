"""The lease and the cursor it guards, on SQLite, PostgreSQL and MariaDB: one holder among racing acquirers,
handed over when it runs out or is released, and a holder that lost it can move the cursor neither way."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from hpcpolicy.ledger.sql.cursors import advance, cursor
from hpcpolicy.ledger.sql.lease import Lease
from hpcpolicy.ledger.sql.ledger import SqlLedger
from tests.delivery.events import T0

TTL = timedelta(seconds=10)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def race(acquirers: list[Lease]) -> list[bool]:
    """Every lease's ``acquire`` at once, from its own thread."""
    start = threading.Barrier(len(acquirers))
    results: list[bool] = [False] * len(acquirers)

    def run(i: int, take: Callable[[], bool]) -> None:
        start.wait()
        results[i] = take()

    threads = [threading.Thread(target=run, args=(i, lease.acquire)) for i, lease in enumerate(acquirers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_holder_among_racing_acquirers(sql: SqlLedger) -> None:
    clock = Clock()
    contenders = [Lease(sql, "audit:delivery:nats", TTL, holder=f"replica-{i}", clock=clock) for i in range(8)]
    for _ in range(3):  # a missing row (INSERT race), then an expired one twice (UPDATE race)
        won = race(contenders)
        assert won.count(True) == 1
        winner = contenders[won.index(True)]
        assert winner.owner() == (winner.holder, clock.now + TTL)
        assert not any(lease.acquire() for lease in contenders if lease is not winner)
        clock.now += TTL + timedelta(seconds=1)


def test_expiry_and_release_hand_it_over(sql: SqlLedger) -> None:
    clock = Clock()
    first, second = (Lease(sql, "audit:delivery:webhook", TTL, holder=name, clock=clock) for name in ("a", "b"))
    assert first.acquire() and not second.acquire()
    clock.now += TTL / 2
    assert first.renew() and first.acquire()  # acquiring one's own lease renews it
    clock.now += TTL - timedelta(microseconds=1)
    assert not second.acquire()  # renewed: still held
    clock.now += timedelta(seconds=1)
    assert second.acquire() and not first.renew()
    second.release()
    assert first.acquire() and not second.renew()


def test_a_holder_that_lost_the_lease_cannot_move_the_cursor(sql: SqlLedger) -> None:
    clock = Clock()
    old, new = (Lease(sql, "audit:delivery:nats", TTL, holder=name, clock=clock) for name in ("old", "new"))
    assert old.acquire() and advance(old, "nats", 10)
    clock.now += TTL + timedelta(seconds=1)  # the old holder pauses past its expiry...
    assert not advance(old, "nats", 11)  # ...and, even with nobody else holding it, cannot move the cursor
    assert new.acquire() and cursor(sql, "nats") == 10 and advance(new, "nats", 12)
    assert not advance(old, "nats", 20) and not advance(old, "nats", 5)  # neither forward nor back
    assert advance(new, "nats", 11) and cursor(sql, "nats") == 12  # a cursor never moves back
    assert cursor(sql, "webhook") == 0  # one cursor per sink

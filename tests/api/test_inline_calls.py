"""SQLite calls run inline on the event loop, and never wait for another writer there.

An inline call whose first write finds the writer busy (another thread of the process, another process)
raises ``WriterBusy`` before doing anything, pauses, tries again, and at last waits on the ledger's thread:
the answer is the same as ever, nothing is written twice, and the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hpcpolicy.api.deps import Offload
from hpcpolicy.engine import Request
from hpcpolicy.ledger import deadline
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import decisions, liens
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock

JOB = Request(user_id="alice", partition="cpu", cpus=4, walltime_hours=1)


@pytest.fixture
def gov(tmp_path: Path, clock: Clock) -> Governance:
    return Governance(Context(sqlite_ledger(tmp_path), PolicyStore.from_file(None, env={}), clock=clock,
                              lien_ttl=timedelta(hours=2)))  # fmt: skip


def counts(ledger: SqlLedger) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(liens)).scalar_one(),
                conn.execute(select(func.count()).select_from(decisions)).scalar_one())  # fmt: skip


def test_the_first_write_of_an_inline_call_refuses_to_wait_and_the_next_waits(gov: Governance) -> None:
    ledger = gov.ctx.ledger
    assert isinstance(ledger, SqlLedger)
    held = threading.Event()
    done = threading.Event()

    def writer() -> None:
        with ledger.session():
            held.set()
            done.wait(5)

    other = threading.Thread(target=writer)
    other.start()
    held.wait(5)
    with deadline.inline(), pytest.raises(deadline.WriterBusy, match="another thread"):
        gov.decide(JOB, "user:alice", reserve=True)
    done.set()
    other.join()
    assert counts(ledger) == (0, 0)
    with deadline.inline():
        gov.decide(JOB, "user:alice", reserve=True)  # the writer is free: it runs
        with ledger.session():  # a second write session of the same call: it does not refuse
            pass
    assert counts(ledger) == (1, 1)


def test_another_process_holding_sqlite_makes_an_inline_call_refuse_at_once(gov: Governance, tmp_path: Path) -> None:
    ledger = gov.ctx.ledger
    assert isinstance(ledger, SqlLedger)
    outside = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")  # as another process would: this file's write lock
    try:
        started = time.monotonic()
        with deadline.inline(), pytest.raises(deadline.WriterBusy, match="another process"):
            gov.decide(JOB, "user:alice", reserve=True)
        assert time.monotonic() - started < 1.0  # not the busy timeout's 30 s
    finally:
        outside.execute("ROLLBACK")
        outside.close()
    assert counts(ledger) == (0, 0)
    gov.decide(JOB, "user:alice", reserve=True)  # the connection's busy timeout is back: it works as ever
    assert counts(ledger) == (1, 1)


def test_an_inline_call_blocked_for_long_finishes_on_the_thread_while_the_loop_serves(
    gov: Governance, tmp_path: Path
) -> None:
    ledger = gov.ctx.ledger
    assert isinstance(ledger, SqlLedger)
    offload = Offload(1, timeout=10.0, inline=True)
    outside = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None, check_same_thread=False)
    outside.execute("BEGIN IMMEDIATE")

    async def scenario() -> tuple[bool, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        asyncio.get_running_loop().call_later(0.5, outside.execute, "ROLLBACK")  # past the inline pauses
        outcome = await offload(lambda: gov.decide(JOB, "user:alice", reserve=True))
        ticking.cancel()
        return outcome.allow, ticks

    try:
        allow, ticks = asyncio.run(scenario())
    finally:
        outside.close()
        offload.close()
    assert allow
    assert ticks >= 20  # the loop kept running while the decision waited for the writer
    assert counts(ledger) == (1, 1)

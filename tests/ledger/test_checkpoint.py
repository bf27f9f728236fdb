"""The server's background WAL checkpoint (SQLite): copies the log back and never takes the write lock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from hpcpolicy.engine import Request
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from tests.ledger.conftest import sqlite_ledger


def test_checkpoint_backfills_the_log_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)
    gov = Governance(
        Context(ledger, PolicyStore.from_file(None, env={}), clock=lambda: datetime(2026, 11, 15, tzinfo=UTC))
    )
    for n in range(50):
        gov.decide(Request(user_id=f"u{n}", cpu_hours=1), "t", reserve=True)
    held = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with ledger.session():  # BEGIN IMMEDIATE: the database write lock
            held.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    ledger.checkpoint()  # must not wait for the writer (the busy timeout is 30 s)
    waited = time.monotonic() - started
    release.set()
    thread.join()
    assert waited < 5
    raw = ledger.engine.raw_connection()
    try:
        busy, log_frames, checkpointed = raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        raw.close()
    assert busy == 0 and log_frames == checkpointed
    ledger.engine.dispose()

"""Reads that never wait for SQLite's writer: the readiness probe, the audit log's readers, a lease's owner,
the sinks' cursors. Each reads a snapshot (a deferred BEGIN); a plain connection's transaction would start
with BEGIN IMMEDIATE, queue behind every admission and hold the next ones up while it read."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hpcpolicy.ledger import deadline
from hpcpolicy.ledger.sql import audit, cursors
from hpcpolicy.ledger.sql.lease import Lease
from hpcpolicy.ledger.sql.ledger import SqlLedger
from tests.ledger.conftest import sqlite_ledger
from tests.ledger.test_audit import history


@pytest.fixture
def ledger(tmp_path: Path) -> SqlLedger:
    made = SqlLedger(sqlite_ledger(tmp_path).engine, audit=True)
    history(made)
    return made


READS: dict[str, Callable[[SqlLedger], Any]] = {
    "ping": lambda ledger: ledger.ping(),
    "events": lambda ledger: audit.read_events(ledger, 0, 10),
    "unsealed": audit.unsealed,
    "head": audit.head,
    "first sealed": audit.first_sealed,
    "hash at": lambda ledger: audit.hash_at(ledger, 1),
    "checkpoints": audit.stored_checkpoints,
    "cursors": cursors.cursors,
    "a cursor": lambda ledger: cursors.cursor(ledger, "sink"),
    "lease owner": lambda ledger: Lease(ledger, "queue", timedelta(seconds=10)).owner(),
}


@pytest.mark.parametrize("name", list(READS))
def test_a_read_answers_while_another_process_writes(ledger: SqlLedger, tmp_path: Path, name: str) -> None:
    writer = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write transaction
    try:
        done = threading.Event()
        failed: list[BaseException] = []

        def read() -> None:
            try:
                READS[name](ledger)
            except BaseException as exc:  # reported below
                failed.append(exc)
            done.set()

        worker = threading.Thread(target=read)
        worker.start()
        assert done.wait(2.0), f"{name} waited for the writer"
        assert not failed, failed
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    worker.join()


def test_an_inline_read_takes_no_write_lock_and_keeps_its_connection(ledger: SqlLedger, tmp_path: Path) -> None:
    """A read-only check on the event loop (an inline call) reads a snapshot on a connection kept for such
    reads: it answers while another process writes, and sees what committed before it began."""
    writer = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with deadline.inline():
            with ledger.reading() as first:
                found = first.get_decision("d1")
                with ledger.reading() as nested:  # the kept connection is busy: the pool's serves this one
                    assert nested.conn is not first.conn
            with ledger.reading() as again:
                assert again.conn is first.conn
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert found is not None and found.lien_id == "l1"  # committed by history() before the read began


def test_an_inline_read_ends_its_snapshot_whatever_ran_in_it(ledger: SqlLedger, tmp_path: Path) -> None:
    """The kept reader's snapshot is begun and ended on the driver: after a read, with or without a
    statement run through SQLAlchemy and with or without an error, nothing stays open (an open snapshot
    would hold the WAL from every checkpoint), and the next read sees what committed since."""
    writer = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    try:
        with deadline.inline():
            with ledger.reading() as tx:
                assert tx.get_decision("d1") is not None  # through SQLAlchemy: it joins the snapshot
                raw = tx.conn.connection.dbapi_connection
                assert raw is not None and raw.in_transaction
            assert not tx.conn.in_transaction() and not raw.in_transaction
            writer.execute("UPDATE decisions SET caller = 'changed' WHERE id = 'd1'")
            with pytest.raises(RuntimeError), ledger.reading() as failing:
                assert failing.conn is tx.conn
                failing.get_decision("d1")
                raise RuntimeError("a read that fails")
            assert not raw.in_transaction
            with ledger.reading() as again:
                assert again.conn is tx.conn
                found = again.get_decision("d1")
            assert not raw.in_transaction
    finally:
        writer.close()
    assert found is not None and found.caller == "changed"


def test_an_inline_read_is_one_snapshot(ledger: SqlLedger, tmp_path: Path) -> None:
    """Two statements of one read see the same state, though another process commits between them."""
    writer = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    try:
        with deadline.inline(), ledger.reading() as tx:
            first = tx.get_decision("d1")
            writer.execute("UPDATE decisions SET caller = 'changed' WHERE id = 'd1'")
            second = tx.get_decision("d1")
    finally:
        writer.close()
    assert first is not None and second is not None and first.caller == second.caller != "changed"

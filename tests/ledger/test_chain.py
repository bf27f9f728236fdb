"""SQLite's write transactions seal their own audit events (hpcpolicy.ledger.sql.chain): the chain is the
one the sealer would have made, in commit order, never forked by a rollback, tampering is still found,
events an older writer left unsealed keep their order, and the sealer no longer takes the writer for
nothing."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from hpcpolicy.ledger.checkpoints import Signer, new_private_key_pem
from hpcpolicy.ledger.sql.audit import CheckpointPolicy, seal, sealed_events, stored_checkpoints, unsealed
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import events
from hpcpolicy.ledger.sql.verify import verify
from tests.ledger.conftest import sqlite_ledger
from tests.ledger.test_audit import history
from tests.ledger.test_contract import T0, lien


def chain_of(ledger: SqlLedger) -> list[tuple[int, str, str, str]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(events.c.seq, events.c.event_id, events.c.prev_hash, events.c.hash)
                            .order_by(events.c.id)).all()  # fmt: skip
    return [tuple(row) for row in rows]  # type: ignore[misc]


def audited(path: Path, *, seal_on_write: bool | None = None) -> SqlLedger:
    path.mkdir()
    return SqlLedger(sqlite_ledger(path).engine, audit=True, seal_on_write=seal_on_write)


def test_sqlite_writers_seal_their_events_as_the_sealer_would_have(tmp_path: Path) -> None:
    on_write, by_sealer = audited(tmp_path / "a"), audited(tmp_path / "b", seal_on_write=False)
    assert on_write.seal_on_write and not by_sealer.seal_on_write
    for ledger in (on_write, by_sealer):
        random.seed(7)  # the same event ids, so the same bodies and digests
        history(ledger)
    assert unsealed(on_write) == 0 and seal(on_write) == 0  # sealed at commit: nothing left for the sealer
    assert unsealed(by_sealer) == 8 and seal(by_sealer) == 8
    assert chain_of(on_write) == chain_of(by_sealer)
    assert [seq for seq, *_ in chain_of(on_write)] == list(range(1, 9))
    assert verify(on_write) == (8, None)


def test_a_rolled_back_transaction_leaves_no_gap_in_the_chain(tmp_path: Path) -> None:
    ledger = audited(tmp_path / "l")
    with ledger.session() as tx:
        tx.add_lien(lien("l1"))
    with pytest.raises(RuntimeError), ledger.session() as tx:
        tx.add_lien(lien("l2"))
        tx.flush_events()  # sealed as the second event, then rolled back with the lien
        raise RuntimeError("the decision failed after its writes")
    with ledger.session() as tx:
        tx.add_lien(lien("l3"))
    assert [e.subject for e in sealed_events(ledger)] == ["l1", "l3"]
    assert verify(ledger) == (2, None)


def test_events_an_older_writer_left_unsealed_keep_the_commit_order(tmp_path: Path) -> None:
    ledger = audited(tmp_path / "l")
    older = SqlLedger(ledger.engine, audit=True, seal_on_write=False)  # an earlier version, or a CLI with it off
    with ledger.session() as tx:
        tx.add_lien(lien("l1"))
    with older.session() as tx:
        tx.add_lien(lien("l2"))
    with ledger.session() as tx:
        tx.add_lien(lien("l3"))  # l2 waits for the sealer: l3 must not take a seq before it
    assert unsealed(ledger) == 2
    assert seal(ledger) == 2
    with ledger.session() as tx:
        tx.add_lien(lien("l4"))  # nothing waits any more: sealed on write again
    assert unsealed(ledger) == 0
    assert [(e.seq, e.subject) for e in sealed_events(ledger)] == [(1, "l1"), (2, "l2"), (3, "l3"), (4, "l4")]
    assert verify(ledger) == (4, None)


def test_tampering_with_a_chain_sealed_on_write_is_found(tmp_path: Path) -> None:
    ledger = audited(tmp_path / "l")
    history(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'user:mallory' WHERE seq = 1"))
    _, tamper = verify(ledger)
    assert tamper is not None and (tamper.kind, tamper.seq) == ("edited", 1)


def test_the_sealer_signs_checkpoints_over_a_chain_sealed_on_write(tmp_path: Path) -> None:
    ledger = audited(tmp_path / "l")
    private, public = new_private_key_pem()
    (tmp_path / "audit.pem").write_bytes(private)
    (tmp_path / "audit.pem.pub").write_bytes(public)
    ledger.checkpoints = CheckpointPolicy(Signer.from_file(tmp_path / "audit.pem"), 3, T0 - T0, None)
    history(ledger)
    assert seal(ledger, now=T0) == 0  # nothing to seal, but a checkpoint is due
    assert [cp.seq for cp in stored_checkpoints(ledger)] == [8]
    assert seal(ledger, now=T0) == 0 and [cp.seq for cp in stored_checkpoints(ledger)] == [8]  # nothing new


def test_the_sealer_does_not_wait_for_the_writer_when_nothing_waits_for_it(tmp_path: Path) -> None:
    ledger = audited(tmp_path / "l")
    history(ledger)
    other = sqlite3.connect(tmp_path / "l" / "ledger.db", isolation_level=None)  # another process, writing
    other.execute("BEGIN IMMEDIATE")
    try:
        done = threading.Event()
        sealed: list[int] = []
        worker = threading.Thread(target=lambda: (sealed.append(seal(ledger)), done.set()))
        worker.start()
        assert done.wait(2.0), "the sealer waited for the writer with nothing to seal"
        assert sealed == [0]
    finally:
        other.execute("ROLLBACK")
        other.close()
    worker.join()


def test_sealing_on_write_is_refused_where_writers_are_not_serialised(postgresql_engine: object) -> None:
    with pytest.raises(ValueError, match="serialises writers"):
        SqlLedger(postgresql_engine, audit=True, seal_on_write=True)  # type: ignore[arg-type]

"""A decision's writes go to the database together (``LedgerSession.writes``: one round trip on PostgreSQL,
psycopg's pipeline mode): an error among them still comes out as the ledger's, and nothing of the
transaction is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcpolicy.ledger import DecisionRecord
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.sql.ledger import SqlLedger
from tests.ledger.conftest import backend_ledger
from tests.ledger.test_contract import T0, lien


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    """Each SQL backend (the in-memory ledger has no transactions to undo: it refuses a taken id at once)."""
    made = backend_ledger(request.param, request, tmp_path)
    yield made
    if request.param == "sqlite":
        made.engine.dispose()


def record(decision_id: str, lien_id: str) -> DecisionRecord:
    return DecisionRecord(decision_id, T0, "key:gw", "alice", True, "p@1", {"user_id": "alice"}, {"allow": True},
                          lien_id)  # fmt: skip


def test_a_duplicate_among_the_writes_is_a_duplicate_key_and_nothing_is_written(ledger: SqlLedger) -> None:
    with ledger.session() as tx, tx.writes():
        tx.add_lien(lien("l1"))
        tx.add_decision(record("d1", "l1"))
    with pytest.raises(DuplicateKey), ledger.session() as tx, tx.writes():
        tx.add_decision(record("d2", "l1"))  # written first, then undone with the rest
        tx.add_lien(lien("l1"))  # the id is taken
    with ledger.session() as tx:
        assert tx.get_decision("d1") is not None and tx.get_decision("d2") is None
        _, active = tx.reserved("user:alice", T0)
    assert active.jobs == 1  # the first lien, once: the second one's running totals went with it


@pytest.mark.parametrize("failing", [False, True], ids=["committed", "a duplicate"])
def test_the_last_writes_carry_the_commit(ledger: SqlLedger, failing: bool) -> None:
    """``writes(last=True)``: the session's commit goes with them (PostgreSQL); what they wrote is
    committed once, or, after an error among them, not at all, and the connection serves the next session."""
    with ledger.session() as tx, tx.writes(last=True):
        tx.add_lien(lien("l1"))
    if failing:
        with pytest.raises(DuplicateKey), ledger.session() as tx, tx.writes(last=True):
            tx.add_decision(record("d2", "l1"))
            tx.add_lien(lien("l1"))
    else:
        with ledger.session() as tx, tx.writes(last=True):
            tx.add_decision(record("d2", "l1"))
    for _ in range(3):  # every pooled connection idle again, none left inside a transaction
        with ledger.session() as tx:
            assert (tx.get_decision("d2") is None) is failing
            _, active = tx.reserved("user:alice", T0)
        assert active.jobs == 1

"""Transactions rolled back for contention (deadlock, serialization failure) are run again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.ledger.base import Contention, LedgerSession
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.retry import retrying
from tests.ledger.conftest import sqlite_ledger


class Flaky(SqlLedger):
    """A SQLite ledger whose first ``failures`` transactions end in Contention (rolled back), as after deadlocks."""

    def __init__(self, path: Path, failures: int):
        super().__init__(sqlite_ledger(path).engine)
        self.failures = failures
        self.sessions = 0

    @contextmanager
    def session(self) -> Iterator[LedgerSession]:
        self.sessions += 1
        with super().session() as tx:
            yield tx
            if self.failures:
                self.failures -= 1
                raise Contention("deadlock detected")


def service(ledger: SqlLedger) -> Governance:
    return Governance(
        Context(ledger, PolicyStore.from_file(None, env={}), clock=lambda: datetime(2026, 11, 15, tzinfo=UTC))
    )


def test_a_deadlocked_reservation_is_retried_and_reserved_once(tmp_path: Path) -> None:
    ledger = Flaky(tmp_path, failures=2)
    outcome = service(ledger).decide(Request(user_id="u", cpu_hours=5), "t", reserve=True)
    assert outcome.allow and ledger.sessions == 3
    with ledger.session() as tx:
        assert [lien.id for lien in tx.open_liens()] == [outcome.lien_id]


def test_persistent_contention_reaches_the_caller(tmp_path: Path) -> None:
    ledger = Flaky(tmp_path, failures=100)
    with pytest.raises(Contention):
        service(ledger).decide(Request(user_id="u", cpu_hours=5), "t", reserve=True)
    assert ledger.sessions == 5
    ledger.failures = 0
    with ledger.session() as tx:
        assert list(tx.open_liens()) == []  # every attempt was rolled back


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not contention")

    with pytest.raises(ValueError):
        retrying(broken)
    assert calls == [1]

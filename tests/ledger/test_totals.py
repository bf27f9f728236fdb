"""Grouped totals (``charge_totals``, ``adjustment_totals``) on every ledger: what standings are built from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Charge
from tests.ledger.conftest import sqlite_ledger

T0 = datetime(2026, 10, 30, 22, tzinfo=UTC)


def _charge(n: int, user: str, project: str | None, at: datetime, amounts: Amounts, gpu_type: str | None = None):
    return Charge(f"c{n}", None, None, user, project, "t" if project else None, "o" if project else None, "helix",
                  "gpu" if gpu_type else "cpu", amounts, at, "sync", f"k{n}", gpu_type)  # fmt: skip


def _load(ledger) -> None:
    with ledger.session() as tx:
        tx.add_charge(_charge(1, "ann", "p1", T0, Amounts(1, 0, 0.5)))
        tx.add_charge(_charge(2, "ann", "p1", T0 + timedelta(hours=3), Amounts(2, 1, 1), "a100"))  # the 31st
        tx.add_charge(_charge(3, "bo", "p1", T0 + timedelta(hours=1, minutes=59), Amounts(4, 0, 2)))  # 23:59 the 30th
        tx.add_charge(_charge(4, "bo", None, T0 + timedelta(days=1, hours=2), Amounts(8, 0, 4)))  # Nov 1st, 00:00
        tx.add_charge(_charge(5, "ann", "p2", T0 + timedelta(days=5), Amounts(16, 0, 8)))  # outside
        for n, kind in enumerate((AdjustmentKind.GRANT, AdjustmentKind.DEBIT, AdjustmentKind.DEBIT)):
            tx.add_adjustment(Adjustment(f"a{n}", "project:p1", kind, Amounts(10, 1, 1), "why", "admin",
                                         T0 + timedelta(hours=n * 2)))  # fmt: skip


def test_charges_are_summed_per_group_and_per_utc_day(ledger) -> None:
    _load(ledger)
    start, end = T0 - timedelta(hours=22), T0 + timedelta(days=2)
    with ledger.session() as tx:
        by_project = {values: a for values, day, a in tx.charge_totals(("project",), start, end)}
        daily = {(values, day): a for values, day, a in tx.charge_totals(("user_id",), start, end, daily=True)}
        sliced = tx.charge_totals(("project", "gpu_type"), start, end, where=(("user_id", "ann"),))
    assert by_project == {("p1",): Amounts(7, 1, 3.5), (None,): Amounts(8, 0, 4)}
    assert daily == {
        (("ann",), date(2026, 10, 30)): Amounts(1, 0, 0.5),
        (("ann",), date(2026, 10, 31)): Amounts(2, 1, 1),
        (("bo",), date(2026, 10, 30)): Amounts(4, 0, 2),
        (("bo",), date(2026, 11, 1)): Amounts(8, 0, 4),
    }
    assert sorted(sliced, key=str) == sorted([(("p1", None), None, Amounts(1, 0, 0.5)),
                                              (("p1", "a100"), None, Amounts(2, 1, 1))], key=str)  # fmt: skip


def test_adjustments_are_signed_and_summed_per_scope_and_day(ledger) -> None:
    _load(ledger)
    with ledger.session() as tx:
        total = tx.adjustment_totals(T0, T0 + timedelta(days=1))
        daily = tx.adjustment_totals(T0, T0 + timedelta(days=1), daily=True, scopes=("project:p1", "user:x"))
        none = tx.adjustment_totals(T0, T0 + timedelta(days=1), scopes=("user:x",))
    assert total == [("project:p1", None, Amounts(10, 1, 1))]  # -10 + 10 + 10
    assert sorted(daily, key=str) == [("project:p1", date(2026, 10, 30), Amounts(-10, -1, -1)),  # the grant
                                      ("project:p1", date(2026, 10, 31), Amounts(20, 2, 2))]  # fmt: skip
    assert none == []


def test_grouping_by_an_unknown_column_is_refused(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)  # the SQL ledger builds a statement from the names it is given
    with ledger.session() as tx, pytest.raises(ValueError, match="grouped or filtered"):
        tx.charge_totals(("key",), T0, T0)
    ledger.engine.dispose()


def test_a_reading_session_sees_one_snapshot_and_blocks_no_writer(ledger) -> None:
    _load(ledger)
    if type(ledger).__name__ == "MemoryLedger":
        with ledger.reading() as tx:
            assert len(tx.charge_totals(("project",), T0 - timedelta(days=1), T0 + timedelta(days=9))) == 3
        return
    with ledger.reading() as tx:
        before = tx.charge_totals(("project",), T0 - timedelta(days=1), T0 + timedelta(days=9))
        with ledger.session() as writer:  # an admission commits while the reading is open: it does not wait
            writer.add_charge(_charge(6, "cy", "p3", T0, Amounts(1, 0, 0)))
        again = tx.charge_totals(("project",), T0 - timedelta(days=1), T0 + timedelta(days=9))
    assert sorted(before, key=str) == sorted(again, key=str)  # the reading's snapshot, not the new charge
    with ledger.reading() as tx:
        assert len(tx.charge_totals(("project",), T0 - timedelta(days=1), T0 + timedelta(days=9))) == 4

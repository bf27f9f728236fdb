"""The ledger's grouped sums of a period, the same on every backend (memory, SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import AdjustmentKind
from hpcpolicy.ledger.reports import AdjustmentGroup, ChargeGroup
from tests.ledger.conftest import sqlite_ledger
from tests.reports.records import NOVEMBER, OCTOBER, adjustment, charge, record

US = timedelta(microseconds=1)


def test_charges_are_summed_per_path_and_gpu_type_with_actual_hours(ledger) -> None:
    record(ledger, [
        charge("c1", OCTOBER, Amounts(2.0, 4.0, 10.0), gpu_type="a100", raw=(1.0, 2.0)),  # weighted ×2
        charge("c2", OCTOBER + timedelta(days=3), Amounts(3.0, 1.0, 5.0), gpu_type="a100"),  # not weighted
        charge("c3", OCTOBER + timedelta(days=4), Amounts(1.0, 0.0, 1.0)),
        charge("c4", OCTOBER + timedelta(days=5), Amounts(1.0, 0.0, 1.0), user="bob", path=(None, None, None)),
    ])  # fmt: skip
    sums = ledger.period_sums(OCTOBER, NOVEMBER)
    assert sorted(sums.charges, key=repr) == sorted([
        ChargeGroup("o1", "t1", "p1", "alice", "a100", 2, 4.0, 3.0, 15.0),
        ChargeGroup("o1", "t1", "p1", "alice", None, 1, 1.0, 0.0, 1.0),
        ChargeGroup(None, None, None, "bob", None, 1, 1.0, 0.0, 1.0),
    ], key=repr)  # fmt: skip
    assert sums.adjustments == []


def test_the_period_is_half_open_to_the_microsecond(ledger) -> None:
    record(ledger, [charge("first", OCTOBER), charge("last", NOVEMBER - US), charge("before", OCTOBER - US),
                    charge("next", NOVEMBER)],
           [adjustment("a1", "org:o1", at=OCTOBER), adjustment("a2", "org:o1", at=NOVEMBER)])  # fmt: skip
    sums = ledger.period_sums(OCTOBER, NOVEMBER)
    assert [g.charges for g in sums.charges] == [2]
    assert [(g.scope, g.adjustments) for g in sums.adjustments] == [("org:o1", 1)]


def test_adjustments_are_summed_per_scope_and_kind_as_stored(ledger) -> None:
    record(ledger, adjustments=[
        adjustment("a1", "project:p1", AdjustmentKind.GRANT, Amounts(1.0, 2.0, 3.0)),
        adjustment("a2", "project:p1", AdjustmentKind.GRANT, Amounts(1.0, 2.0, 3.0)),
        adjustment("a3", "project:p1", AdjustmentKind.DEBIT, Amounts(0.5, 0.0, 0.0)),
    ])  # fmt: skip
    found = sorted(ledger.period_sums(OCTOBER, NOVEMBER).adjustments)
    assert found == [AdjustmentGroup("project:p1", AdjustmentKind.DEBIT, 1, 0.5, 0.0, 0.0),
                     AdjustmentGroup("project:p1", AdjustmentKind.GRANT, 2, 2.0, 4.0, 6.0)]  # fmt: skip


def test_one_projects_sums_take_its_scopes_only_whatever_its_name_holds(ledger) -> None:
    names = ["a_b", "axb", "a%", "a%b", "p1", "p10"]  # LIKE's wildcards must match themselves only
    record(
        ledger,
        [charge(f"c-{n}", path=(n, "t1", "o1")) for n in names],
        [a for i, n in enumerate(names) for a in (
            adjustment(f"a{i}", f"project:{n}"), adjustment(f"m{i}", f"project:{n}/user:alice"),
            adjustment(f"q{i}", f"project:{n}#monthly"), adjustment(f"x{i}", f"project:{n}x"),
        )] + [adjustment("u", "user:alice"), adjustment("t", "team:t1")],
    )  # fmt: skip
    for name in names:
        sums = ledger.period_sums(OCTOBER, NOVEMBER, name)
        assert [g.project for g in sums.charges] == [name]
        assert sorted(g.scope for g in sums.adjustments) == sorted(
            [f"project:{name}", f"project:{name}#monthly", f"project:{name}/user:alice"]
        )
    assert ledger.period_sums(OCTOBER, NOVEMBER, "nobody").charges == []


def test_a_report_on_sqlite_neither_waits_for_nor_blocks_a_writer(tmp_path: Path) -> None:
    ledger = sqlite_ledger(tmp_path)
    record(ledger, [charge("c1")])
    try:
        with ledger.session() as tx:  # a decision's transaction holds the write lock...
            tx.add_charge(charge("c2"))
            seen: list[int] = []
            reader = threading.Thread(target=lambda: seen.extend(
                g.charges for g in ledger.period_sums(OCTOBER, NOVEMBER).charges))  # fmt: skip
            reader.start()
            reader.join(timeout=5)  # BEGIN IMMEDIATE would wait the 30 s busy timeout here
            assert not reader.is_alive() and seen == [1]  # ...and the report read the committed snapshot
    finally:
        ledger.engine.dispose()

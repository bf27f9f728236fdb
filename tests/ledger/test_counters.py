"""What a quota counts, the same on every ledger: its scope's entries in its slice, member scopes, and
adjustments on the scope (unsliced quotas only) or on the quota's own id."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpcpolicy.engine import Active, Amounts
from hpcpolicy.engine.quotaref import QuotaRef
from hpcpolicy.engine.slices import Slice
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Charge, LienState
from hpcpolicy.ledger.memory import MemoryLedger
from hpcpolicy.ledger.rules import snapshot
from hpcpolicy.policy.schema import Quota
from tests.ledger.test_contract import HISTORY, MONTH, T0, apply_random_operation, lien

DGX = Slice(None, frozenset({"dgx"}))
A100 = Slice(None, None, frozenset({"a100"}))
QUOTA = Quota(cpu_hours=1000, gpu_hours=1000, max_jobs=10)


def ref(quota_id: str, scope: str, sliced: Slice | None = None) -> QuotaRef:
    return QuotaRef(quota_id, scope, QUOTA, sliced)


def charge(charge_id: str, *, user: str = "alice", partition: str = "cpu", gpu_type: str | None = None,
           amounts: Amounts = Amounts(10, 0, 1)) -> Charge:  # fmt: skip
    return Charge(charge_id, None, None, user, "p", "t", "o", "c", partition, amounts, T0, "sync", None, gpu_type)


def fill(ledger: object) -> None:
    with ledger.session() as tx:  # type: ignore[attr-defined]
        tx.add_lien(lien("l1", partition="dgx", gpus=8, gpu_type="a100"))
        tx.add_lien(lien("l2", user="bob"))
        tx.add_lien(lien("l3", state=LienState.RUNNING, partition="gpu", gpus=2, gpu_type="l40s"))
        tx.add_charge(charge("c1", partition="dgx", gpu_type="a100", amounts=Amounts(5, 40, 9)))
        tx.add_charge(charge("c2", user="bob"))
        tx.add_adjustment(Adjustment("a1", "project:p", AdjustmentKind.DEBIT, Amounts(100, 0, 0), "x", "admin", T0))
        tx.add_adjustment(Adjustment("a2", "project:p#dgx", AdjustmentKind.GRANT, Amounts(0, 7, 0), "y", "admin", T0))


def test_slices_members_and_adjustments_count_alike_on_every_ledger(ledger) -> None:
    fill(ledger)
    with ledger.session() as tx:
        project = tx.settled(ref("project:p", "project:p"), *MONTH)
        assert project == Amounts(15 + 100, 40, 10)  # both charges and the scope's debit
        dgx = tx.settled(ref("project:p#dgx", "project:p", DGX), *MONTH)
        assert dgx == Amounts(5, 40 - 7, 9)  # the dgx charge, its own grant, not the scope's debit
        assert tx.reserved(ref("project:p#dgx", "project:p", DGX), T0) == (Amounts(40, 80, 4), Active(1, 8))
        assert tx.reserved(ref("team:t#a100", "team:t", A100), T0) == (Amounts(40, 80, 4), Active(1, 8))
        member = ref("project:p/user:bob", "project:p/user:bob")
        assert tx.settled(member, *MONTH) == Amounts(10, 0, 1)
        assert tx.reserved(member, T0) == (Amounts(40, 0, 4), Active(1, 0))
        assert tx.reserved("project:p/user:alice", T0) == (Amounts(80, 100, 8), Active(2, 10))
        assert tx.settled("project:p", *MONTH) == project  # a scope string: all of it, as in v1
        assert [found.id for found in tx.open_liens("project:p/user:bob")] == ["l2"]


def test_a_derived_counter_asked_late_is_filled_from_what_is_already_there() -> None:
    """The in-memory ledger registers member and sliced counters on first use: everything before counts."""
    late, early = MemoryLedger(), MemoryLedger()
    refs = (ref("project:p#dgx", "project:p", DGX), ref("project:p/user:bob", "project:p/user:bob"))
    assert early.usage(refs, T0).consumed == {refs[0].id: Amounts(), refs[1].id: Amounts()}
    fill(early)
    fill(late)
    assert late.usage(refs, T0) == early.usage(refs, T0)
    assert late.usage(refs, T0) == snapshot(refs, T0, late.settled, lambda target: late.reserved(target, T0))
    for memory in (late, early):  # closing a lien releases it from every counter that held it
        memory.update_lien(replace(memory.get_lien("l1"), state=LienState.CANCELLED))  # type: ignore[arg-type]
        assert memory.reserved(refs[0], T0) == (Amounts(), Active())


@HISTORY
@given(st.data())
def test_a_counter_registered_late_counts_what_close_lien_left_pending(data: st.DataObject) -> None:
    """A member's or a slice's counter first asked after a history of liens, closes (some still pending in
    ``close_lien``), charges and adjustments counts the same as one registered before all of it."""
    draw = data.draw
    late, early = MemoryLedger(), MemoryLedger()
    refs = (ref("project:p/user:alice", "project:p/user:alice"), ref("project:p#gpu", "project:p", Slice(None,
            frozenset({"gpu"}))), ref("user:bob#gpu", "user:bob", Slice(None, frozenset({"gpu"}))))  # fmt: skip
    early.resolve(refs)
    now = T0
    for step in range(draw(st.integers(1, 30))):
        now += timedelta(hours=draw(st.sampled_from([0, 1, 7, 24 * 9])))
        apply_random_operation(draw, [late, early], now, step)
    late.resolve(refs)  # registered now, with whatever close_lien has not written yet
    got, want = late.usage(refs, now), early.usage(refs, now)
    assert got.active == want.active
    for quota_id, amounts in want.consumed.items():  # held sums differ in float rounding only (+a-a vs none)
        mine = got.consumed[quota_id]
        assert (mine.cpu_hours, mine.gpu_hours, mine.cost) == pytest.approx(
            (amounts.cpu_hours, amounts.gpu_hours, amounts.cost), abs=1e-9
        )
    assert list(late.liens.items()) == list(early.liens.items())

"""The ledger contract: the same balance rules on every implementation (see ledger/rules.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hpcpolicy.engine import Active, Amounts
from hpcpolicy.ledger import Adjustment, AdjustmentKind, Charge, DecisionRecord, Lien, LienState

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def lien(lien_id: str = "l1", *, user: str = "alice", project: str | None = "p", gpus: int = 0, **kw: object) -> Lien:
    fields: dict[str, object] = {
        "id": lien_id,
        "decision_id": lien_id,
        "user_id": user,
        "project": project,
        "team": "t" if project else None,
        "org": "o" if project else None,
        "cluster": "c",
        "partition": "cpu",
        "cpus": 4,
        "gpus": gpus,
        "gpu_type": None,
        "memory_gb": 8.0,
        "nodes": 1,
        "walltime_hours": 10.0,
        "amounts": Amounts(40.0, gpus * 10.0, 4.0),
        "rates": (0.1, 1.0, 0.0),
        "created_at": T0,
        "expires_at": T0 + timedelta(hours=1),
    }
    fields.update(kw)
    return Lien(**fields)  # type: ignore[arg-type]


def charge(charge_id: str, at: datetime, amounts: Amounts, *, user: str = "alice", key: str | None = None) -> Charge:
    return Charge(charge_id, None, None, user, "p", "t", "o", "c", "cpu", amounts, at, "sync", key)


def test_open_lien_counts_on_every_scope_of_its_path(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(gpus=2))
    with ledger.session() as tx:
        for scope in ("user:alice", "project:p", "team:t", "org:o"):
            assert tx.reserved(scope, T0) == (Amounts(40.0, 20.0, 4.0), Active(1, 2))
        assert tx.reserved("project:other", T0) == (Amounts(), Active())


def test_reserved_lien_stops_counting_at_expiry_running_does_not(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien("a"))
        tx.add_lien(lien("b", state=LienState.RUNNING, job_id="42"))
    later = T0 + timedelta(hours=1)
    with ledger.session() as tx:
        assert tx.reserved("user:alice", later - timedelta(microseconds=1))[1].jobs == 2
        assert tx.reserved("user:alice", later)[1].jobs == 1
        tx.expire_liens(later)  # the memory ledger may already have expired it lazily while reading
    with ledger.session() as tx:
        assert tx.get_lien("a").state == LienState.EXPIRED  # type: ignore[union-attr]
        assert tx.get_lien("b").state == LienState.RUNNING  # type: ignore[union-attr]


def test_closing_a_lien_releases_it(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien())
    with ledger.session() as tx:
        tx.update_lien(replace(tx.get_lien("l1"), state=LienState.FINISHED, ended_at=T0))
    with ledger.session() as tx:
        assert tx.reserved("project:p", T0) == (Amounts(), Active())
        assert list(tx.open_liens()) == []


def test_charges_count_in_the_window_of_their_date(ledger) -> None:
    with ledger.session() as tx:
        tx.add_charge(charge("c1", datetime(2026, 10, 31, 23, 59, tzinfo=UTC), Amounts(100, 0, 1)))
        tx.add_charge(charge("c2", datetime(2026, 11, 1, tzinfo=UTC), Amounts(10, 1, 2)))
        tx.add_charge(charge("c3", datetime(2026, 11, 30, 23, 59, tzinfo=UTC), Amounts(5, 0, 0.5)))
        tx.add_charge(charge("c4", datetime(2026, 12, 1, tzinfo=UTC), Amounts(1000, 0, 0)))
    with ledger.session() as tx:
        for scope in ("user:alice", "project:p", "team:t", "org:o"):
            assert tx.settled(scope, *MONTH) == Amounts(15, 1, 2.5)
        assert tx.settled("user:bob", *MONTH) == Amounts()


def test_charges_out_of_time_order_are_summed_correctly(ledger) -> None:
    with ledger.session() as tx:
        for i, day in enumerate([20, 5, 12, 1, 28]):
            tx.add_charge(charge(f"c{i}", datetime(2026, 11, day, tzinfo=UTC), Amounts(day, 0, 0)))
    with ledger.session() as tx:
        assert tx.settled(
            "project:p", datetime(2026, 11, 5, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
        ) == Amounts(37, 0, 0)


@pytest.mark.parametrize(
    ("kind", "sign"),
    [(AdjustmentKind.GRANT, -1), (AdjustmentKind.REFUND, -1), (AdjustmentKind.DEPOSIT, -1), (AdjustmentKind.DEBIT, 1)],
)
def test_adjustments_are_signed_by_kind(ledger, kind: AdjustmentKind, sign: int) -> None:
    with ledger.session() as tx:
        tx.add_adjustment(Adjustment("a1", "project:p", kind, Amounts(10, 2, 3), "why", "admin", T0, key="k"))
    with ledger.session() as tx:
        assert tx.settled("project:p", *MONTH) == Amounts(sign * 10, sign * 2, sign * 3)
        assert tx.settled("team:t", *MONTH) == Amounts()  # adjustments apply to their own scope only
        assert tx.find_adjustment("k").kind == kind  # type: ignore[union-attr]


def test_lookups_by_job_key_and_lien(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(job_id="slurm-7"))
        tx.add_charge(replace(charge("c1", T0, Amounts(1, 0, 0), key="lien:l1"), lien_id="l1"))
        tx.add_decision(
            DecisionRecord("d1", T0, "gw", "alice", True, "v1", {"user_id": "alice"}, {"allow": True}, "l1", "k1")
        )
    with ledger.session() as tx:
        assert tx.find_lien_by_job("slurm-7").id == "l1"  # type: ignore[union-attr]
        assert tx.find_charge("lien:l1").id == "c1"  # type: ignore[union-attr]
        assert [c.id for c in tx.charges_for_lien("l1")] == ["c1"]
        record = tx.find_decision("k1")
        assert record is not None and record.decision == {"allow": True} and record.at == T0
        assert tx.get_decision("nope") is None and tx.find_lien_by_job("nope") is None


def test_times_round_trip_as_utc(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(created_at=T0.replace(microsecond=123456)))
    with ledger.session() as tx:
        got = tx.get_lien("l1")
    assert got is not None and got.created_at == T0.replace(microsecond=123456) and got.created_at.tzinfo is not None


def test_user_only_lien_has_no_project_scopes(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien(user="guest", project=None))
    with ledger.session() as tx:
        assert tx.reserved("user:guest", T0)[1] == Active(1, 0)
        assert [entry.id for entry in tx.open_liens("user:guest")] == ["l1"]

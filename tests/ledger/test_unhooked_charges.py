"""Contract: what the Slurm reconciler (service/reconcile.py) asks of every ledger, with no new primitive.

- a job that bypassed the submit hook is a charge with no lien, keyed by its scheduler id, counted on
  its whole path and found again by that key (how a re-run of the sync knows it is done);
- binding a job id to a reserved lien is an ``update_lien`` that changes nothing else: the lien keeps
  counting, and is then found by its job id;
- a modification replaces a job's lien in one transaction: the old one loses the job id and closes, the
  new one takes it (the SQL ledger's unique job id must allow this order);
- a lien whose job is gone is expired early by ``update_lien`` and stops counting; if the job turns up
  running after all, moving it to ``running`` makes it count again.
"""

from __future__ import annotations

from dataclasses import replace

from hpcpolicy.engine import Active, Amounts
from hpcpolicy.ledger import Charge, LienState
from tests.ledger.test_contract import MONTH, T0, lien


def test_a_charge_without_lien_counts_on_its_path_and_is_found_by_its_job_key(ledger) -> None:
    charge = Charge("c1", None, "4242", "alice", "p", "t", "o", "c", "cpu", Amounts(2, 1, 3), T0, "sync",
                    key="slurm:c:4242")  # fmt: skip
    with ledger.session() as tx:
        tx.add_charge(charge)
    with ledger.session() as tx:
        assert tx.find_charge("slurm:c:4242") == charge
        assert tx.find_charge("slurm:c:4243") is None
        for scope in ("user:alice", "project:p", "team:t", "org:o"):
            assert tx.settled(scope, *MONTH) == Amounts(2, 1, 3)


def test_binding_a_job_id_keeps_the_lien_counting(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien())
    with ledger.session() as tx:
        tx.update_lien(replace(tx.get_lien("l1"), job_id="77"))
    with ledger.session() as tx:
        assert [found.state for found in tx.find_liens_by_job("77")] == [LienState.RESERVED]
        assert tx.reserved("project:p", T0) == (Amounts(40.0, 0.0, 4.0), Active(1, 0))


def test_a_lien_is_replaced_under_the_same_job_id_in_one_transaction(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien("old", job_id="77", state=LienState.RUNNING))
    with ledger.session() as tx:
        tx.update_lien(replace(tx.get_lien("old"), job_id=None, state=LienState.CANCELLED, ended_at=T0))
        tx.add_lien(lien("new", job_id="77", state=LienState.RUNNING, amounts=Amounts(60.0, 0.0, 6.0)))
    with ledger.session() as tx:
        assert [found.id for found in tx.find_liens_by_job("77")] == ["new"]
        assert tx.get_lien("old").job_id is None  # type: ignore[union-attr]
        assert tx.reserved("project:p", T0) == (Amounts(60.0, 0.0, 6.0), Active(1, 0))


def test_an_early_expiry_stops_counting_and_a_late_start_counts_again(ledger) -> None:
    with ledger.session() as tx:
        tx.add_lien(lien())
    with ledger.session() as tx:
        tx.update_lien(replace(tx.get_lien("l1"), state=LienState.EXPIRED))
    with ledger.session() as tx:
        assert tx.reserved("user:alice", T0) == (Amounts(), Active())
        assert list(tx.open_liens()) == []
        tx.update_lien(replace(tx.get_lien("l1"), state=LienState.RUNNING, job_id="78", started_at=T0))
    with ledger.session() as tx:
        assert tx.reserved("user:alice", T0) == (Amounts(40.0, 0.0, 4.0), Active(1, 0))

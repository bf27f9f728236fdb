"""Reserve → start → finish changes balances exactly by actual usage; cancel and expiry release."""

from __future__ import annotations

import pytest

from hpcpolicy.engine import Request
from hpcpolicy.ledger import JobUsage, LienState
from hpcpolicy.ledger.sql.ledger import SqlSession
from hpcpolicy.service import Conflict, Governance, NotFound, PolicyStore
from hpcpolicy.service.context import Context
from tests.ledger.conftest import sqlite_ledger

NEWBIE = Request(user_id="newbie", partition="cpu", cpus=4, walltime_hours=10)  # default quota: 120 CPU-h


def available(gov: Governance, scope: str, metric: str = "cpu_hours") -> float | None:
    return next(b.available for b in gov.accounts.balances(scope) if b.metric == metric)


def test_reserve_start_finish_charges_actual_usage(gov: Governance, clock) -> None:
    out = gov.decide(NEWBIE, "test", reserve=True)
    assert out.allow and out.lien_id == out.decision_id
    assert available(gov, "user:newbie") == 80  # 120 - 40 reserved
    gov.jobs.start(out.decision_id, job_id="slurm-1")
    clock.advance(hours=3)
    lien, charge = gov.jobs.finish("slurm-1", JobUsage(elapsed_hours=2.5))
    assert lien.state == LienState.FINISHED
    assert charge is not None and charge.amounts.cpu_hours == 10  # 4 CPUs x 2.5 h
    assert available(gov, "user:newbie") == 110  # the other 30 reserved hours are released


def test_finish_prices_actual_resources_at_admission_rates(gov: Governance, clock) -> None:
    request = Request(user_id="carol", partition="gpu", cpus=8, gpus=2, memory_gb=64, walltime_hours=4)
    out = gov.decide(request, "test", reserve=True)
    assert out.allow
    clock.advance(hours=1)
    _, charge = gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=1, gpus=1))
    # gpu partition: 0.02/CPU-h, 1.0/GPU-h (l40s), 0.0005/GB-h
    assert charge is not None
    assert charge.amounts.cpu_hours == 8 and charge.amounts.gpu_hours == 1
    assert charge.amounts.cost == pytest.approx(8 * 0.02 + 1 * 1.0 + 64 * 1 * 0.0005)


def test_finish_is_idempotent_and_conflicting_retries_are_refused(gov: Governance, clock) -> None:
    out = gov.decide(NEWBIE, "test", reserve=True)
    clock.advance(hours=2)
    first = gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=1))
    again = gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=1))
    assert first == again
    assert available(gov, "user:newbie") == 116
    with pytest.raises(Conflict):
        gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=2))
    with pytest.raises(Conflict):
        gov.jobs.cancel(out.decision_id)


def test_cancel_releases_and_charges_reported_time(gov: Governance, clock) -> None:
    a = gov.decide(NEWBIE, "test", reserve=True)
    b = gov.decide(NEWBIE, "test", reserve=True)
    clock.advance(hours=1)
    gov.jobs.cancel(a.decision_id)
    _, charge = gov.jobs.cancel(b.decision_id, JobUsage(elapsed_hours=0.5), failed=True)
    assert charge is not None and charge.source == "failed" and charge.amounts.cpu_hours == 2
    assert available(gov, "user:newbie") == 118


def test_unstarted_lien_expires_after_ttl(gov: Governance, clock) -> None:
    gov.decide(NEWBIE, "test", reserve=True)
    assert available(gov, "user:newbie") == 80
    clock.advance(hours=2)
    assert available(gov, "user:newbie") == 120
    gov.jobs.expire()


def test_a_started_lien_outlives_its_ttl(gov: Governance, clock) -> None:
    out = gov.decide(NEWBIE, "test", reserve=True)
    gov.jobs.start(out.decision_id)
    clock.advance(hours=5)
    assert available(gov, "user:newbie") == 80


def test_a_job_started_after_expiry_is_held_again(gov: Governance, clock) -> None:
    out = gov.decide(NEWBIE, "test", reserve=True)
    clock.advance(hours=3)
    gov.jobs.expire()
    gov.jobs.start(out.decision_id, job_id="late")
    assert available(gov, "user:newbie") == 80


def test_budget_is_enforced_against_liens(gov: Governance) -> None:
    results = [gov.decide(NEWBIE, "test", reserve=True).allow for _ in range(4)]
    assert results == [True, True, True, False]  # 3 x 40 = 120; the fourth would overspend
    denied = gov.decide(NEWBIE, "test", reserve=True).decision
    assert [v["code"] for v in denied["violations"]] == ["quota.cpu_hours_exceeded"]


def test_window_rollover_frees_the_budget(gov: Governance, clock) -> None:
    for _ in range(3):
        out = gov.decide(NEWBIE, "test", reserve=True)
        clock.advance(hours=10)
        gov.jobs.finish(out.decision_id, JobUsage(elapsed_hours=10))
    assert not gov.decide(NEWBIE, "test").allow
    clock.advance(days=16)  # 1 December: a new monthly window
    assert gov.decide(NEWBIE, "test").allow
    assert available(gov, "user:newbie") == 120


def test_idempotent_reserve_returns_the_first_answer(gov: Governance) -> None:
    first = gov.decide(NEWBIE, "test", reserve=True, key="abc")
    again = gov.decide(NEWBIE, "test", reserve=True, key="abc")
    assert again.replayed and again.decision_id == first.decision_id and again.lien_id == first.lien_id
    assert available(gov, "user:newbie") == 80
    with pytest.raises(Conflict):
        gov.decide(Request(user_id="newbie", cpus=1), "test", reserve=True, key="abc")


def test_a_new_key_is_not_looked_up_and_a_taken_one_still_replays(tmp_path, clock, monkeypatch) -> None:
    """``new_key`` (a submit token drawn for this call) skips the reads of the key; were it taken after all,
    the key's unique index still turns the write into the first answer's replay, and nothing is reserved
    twice (SQL: the failed write rolls back; the memory ledger has no client keys to guard)."""
    gov = Governance(Context(sqlite_ledger(tmp_path), PolicyStore.from_file(None, env={}), clock=clock))
    looked: list[str] = []
    original = SqlSession.find_decision
    monkeypatch.setattr(SqlSession, "find_decision", lambda tx, key: looked.append(key) or original(tx, key))
    first = gov.decide(NEWBIE, "test", reserve=True, key="token-1", new_key=True)
    assert looked == [] and first.lien_id is not None
    again = gov.decide(NEWBIE, "test", reserve=True, key="token-1", new_key=True)
    assert again.replayed and again.decision_id == first.decision_id and again.lien_id == first.lien_id
    assert looked == ["token-1"]  # only after the unique key refused the write
    assert available(gov, "user:newbie") == 80
    gov.ctx.ledger.engine.dispose()  # type: ignore[attr-defined]


def test_dry_run_writes_nothing(gov: Governance) -> None:
    out = gov.decide(NEWBIE, "test", reserve=True, dry_run=True)
    assert out.allow and out.lien_id is None and not out.recorded
    assert available(gov, "user:newbie") == 120
    with pytest.raises(NotFound):
        gov.get_decision(out.decision_id)


def test_denied_and_plain_decisions_are_recorded(gov: Governance) -> None:
    denied = gov.decide(Request(user_id="alice", partition="gpu", gpus=1), "gateway")
    record = gov.get_decision(denied.decision_id)
    assert record.caller == "gateway" and not record.allow and record.lien_id is None
    assert record.decision["violations"][0]["code"] == "gpu.role_required"
    assert record.request["user_id"] == "alice"


def test_unknown_job_is_not_found(gov: Governance) -> None:
    with pytest.raises(NotFound):
        gov.jobs.start("nope")

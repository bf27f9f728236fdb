"""The reconciler on the memory and SQLite ledgers: liens taken by the submit hook, then what Slurm reports.

Liens are taken through the real submit path (:class:`SlurmAdmission`, fake NSS); the scheduler's side is
written as :class:`ObservedJob` records, as the sacct and squeue readers produce them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hpcpolicy.adapters.slurm.admission import SUBMIT_KEY_PREFIX, SlurmAdmission, SubmitIn, submit_key, token_of
from hpcpolicy.adapters.slurm.jobdesc import JobDesc
from hpcpolicy.engine import Amounts, Request
from hpcpolicy.ledger import JobUsage, Lien, LienState
from hpcpolicy.service import Conflict, Governance, NotFound
from hpcpolicy.service.reconcile import ObservedJob, Phase, Reconciler, Result, lien_by_key
from tests.service.conftest import Clock
from tests.slurm.conftest import fake_users


def T(*parts: int) -> datetime:  # reads like the datetime it makes, in UTC
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def submit(gov: Governance, **job: object) -> str:
    """Submit through the hook as Slurm would; return the lien key the job's token stands for."""
    fields = {"user_id": 1, "account": "chem", "partition": "cpu", "num_tasks": 2, "time_limit": 60} | job
    reply = SlurmAdmission(gov, fake_users).submit(SubmitIn(job=JobDesc.model_validate(fields)), "slurmctld")
    assert reply.allow, reply.messages
    token = token_of(reply.admin_comment)
    assert token is not None
    return submit_key(token)


def seen(key: str | None, job_id: str, phase: Phase, usage: JobUsage | None = None, **kw: object) -> ObservedJob:
    fields: dict[str, object] = {
        "job_id": job_id, "cluster": "testcluster", "user": "daemon", "account": "chem", "partition": "cpu",
        "phase": phase, "usage": usage or JobUsage(0.0), "lien_key": key,
    } | kw  # fmt: skip
    return ObservedJob(**fields)  # type: ignore[arg-type]


def lien(gov: Governance, key: str) -> Lien:
    with gov.ctx.ledger.session() as tx:
        found = lien_by_key(tx, key)
    assert found is not None
    return found


def test_pending_binds_running_starts_and_the_end_charges_actual_usage(gov: Governance, clock: Clock) -> None:
    key = submit(gov)  # 2 CPUs × 1 h reserved
    rec = Reconciler(gov.ctx)
    assert rec.observe(seen(key, "11", Phase.PENDING)) == Result.BOUND
    assert (lien(gov, key).job_id, lien(gov, key).state) == ("11", LienState.RESERVED)
    started = clock.now + timedelta(minutes=1)
    assert rec.observe(seen(key, "11", Phase.RUNNING, started_at=started)) == Result.STARTED
    assert (lien(gov, key).state, lien(gov, key).started_at) == (LienState.RUNNING, started)

    ended = seen(key, "11", Phase.COMPLETED, JobUsage(0.25, cpus=2, gpus=0, memory_gb=1.0),
                 started_at=started, ended_at=started + timedelta(minutes=15))  # fmt: skip
    assert rec.observe(ended) == Result.CHARGED
    assert rec.observe(ended) == Result.UNCHANGED
    with gov.ctx.ledger.session() as tx:
        closed = lien_by_key(tx, key)
        assert closed is not None and closed.state == LienState.FINISHED
        (charge,) = tx.charges_for_lien(closed.id)
        held, _ = tx.reserved("project:chem", clock.now)
    assert charge.amounts == Amounts(0.5, 0.0, 0.5)  # 2 CPUs × 15 min at 1 credit per CPU-hour
    assert charge.at == started + timedelta(minutes=15) and held == Amounts()


def test_a_job_first_seen_when_it_ended_is_bound_started_and_charged(gov: Governance) -> None:
    key = submit(gov)
    job = seen(key, "12", Phase.FAILED, JobUsage(0.1, cpus=2), started_at=T(2026, 11, 15, 12, 1),
               ended_at=T(2026, 11, 15, 12, 7))  # fmt: skip
    assert Reconciler(gov.ctx).observe(job) == Result.CHARGED
    closed = lien(gov, key)
    assert (closed.state, closed.job_id, closed.started_at) == (LienState.FAILED, "12", T(2026, 11, 15, 12, 1))


def test_a_job_cancelled_before_it_ran_releases_its_lien(gov: Governance) -> None:
    key = submit(gov)
    assert Reconciler(gov.ctx).observe(seen(key, "13", Phase.CANCELLED)) == Result.RELEASED
    with gov.ctx.ledger.session() as tx:
        closed = lien_by_key(tx, key)
        assert closed is not None and closed.state == LienState.CANCELLED
        assert tx.charges_for_lien(closed.id) == []


def test_a_lien_past_its_ttl_is_still_charged_when_its_job_ends(gov: Governance, clock: Clock) -> None:
    key = submit(gov)
    clock.advance(hours=3)  # TTL is 2 h: the reservation stopped counting
    job = seen(key, "14", Phase.COMPLETED, JobUsage(1.0, cpus=2), started_at=clock.now, ended_at=clock.now)
    assert Reconciler(gov.ctx).observe(job) == Result.CHARGED


def test_a_job_without_lien_is_charged_on_its_account_path_once(gov: Governance) -> None:
    rec = Reconciler(gov.ctx)
    job = seen(None, "20", Phase.COMPLETED, JobUsage(0.5, cpus=4, gpus=1, memory_gb=8.0), partition="gpu",
               gpu_type="a100", ended_at=T(2026, 11, 15, 11))  # fmt: skip
    assert rec.observe(seen(None, "20", Phase.RUNNING)) == Result.WAITING
    assert rec.observe(job) == Result.UNHOOKED
    assert rec.observe(job) == Result.UNCHANGED
    with gov.ctx.ledger.session() as tx:
        charge = tx.find_charge("slurm:testcluster:20")
    assert charge is not None and charge.lien_id is None
    assert (charge.user_id, charge.project, charge.team, charge.org) == ("daemon", "chem", "chemistry", "lab")
    assert charge.amounts == Amounts(2.0, 0.5, 2.0 * 2.0 + 0.5 * 10.0)  # gpu partition: 2/CPU-h, 10/GPU-h


def test_unknown_account_charges_the_user_and_unknown_partition_has_no_price(gov: Governance) -> None:
    job = seen(None, "21", Phase.COMPLETED, JobUsage(1.0, cpus=2), account="elsewhere", partition="debug",
               ended_at=T(2026, 11, 15, 11))  # fmt: skip
    charge = Reconciler(gov.ctx).unhooked_charge(job)
    assert (charge.project, charge.team, charge.org) == (None, None, None)
    assert charge.amounts == Amounts(2.0, 0.0, 0.0)


def test_array_tasks_share_a_token_the_first_settles_the_lien_the_rest_are_charged_alone(gov: Governance) -> None:
    key = submit(gov, array_inx="0-1")
    rec = Reconciler(gov.ctx)
    task = {"usage": JobUsage(0.5, cpus=2), "ended_at": T(2026, 11, 15, 12, 30)}
    assert rec.observe(seen(key, "31", Phase.COMPLETED, **task)) == Result.CHARGED  # type: ignore[arg-type]
    assert rec.observe(seen(key, "32", Phase.COMPLETED, **task)) == Result.UNHOOKED  # type: ignore[arg-type]
    with gov.ctx.ledger.session() as tx:
        assert tx.find_charge("slurm:testcluster:32") is not None


def test_unseen_reserved_liens_of_the_hook_expire_and_a_late_record_still_charges(
    gov: Governance, clock: Clock
) -> None:
    gone, held, fresh_key = submit(gov), submit(gov), None
    running = submit(gov)
    rec = Reconciler(gov.ctx)
    rec.observe(seen(running, "41", Phase.RUNNING, started_at=clock.now))
    api = gov.decide(Request(user_id="daemon", partition="cpu", walltime_hours=1), "gateway", reserve=True)
    clock.advance(minutes=10)
    fresh_key = submit(gov)
    expired = rec.release_unseen(SUBMIT_KEY_PREFIX, {held}, set(), clock.now - timedelta(minutes=5))
    assert expired == 1
    assert lien(gov, gone).state == LienState.EXPIRED
    assert lien(gov, held).state == LienState.RESERVED  # its job is still known to the controller
    assert lien(gov, fresh_key).state == LienState.RESERVED  # younger than the grace
    assert lien(gov, running).state == LienState.RUNNING
    with gov.ctx.ledger.session() as tx:
        assert tx.get_lien(api.lien_id or "").state == LienState.RESERVED  # type: ignore[union-attr]
    late = seen(gone, "42", Phase.COMPLETED, JobUsage(0.5, cpus=2), ended_at=clock.now)
    assert rec.observe(late) == Result.CHARGED


def test_bind_refuses_a_second_job_and_unknown_keys(gov: Governance) -> None:
    key = submit(gov)
    rec = Reconciler(gov.ctx)
    assert rec.bind(key, "51").job_id == "51"
    assert rec.bind(key, "51").job_id == "51"  # a retry
    with pytest.raises(Conflict):
        rec.bind(key, "52")
    with pytest.raises(Conflict):
        rec.bind(submit(gov), "51")  # job 51 already has a lien
    with pytest.raises(NotFound):
        rec.bind(submit_key("no-such-token"), "53")


def tiny(gov: Governance, minutes: int, *, running: bool = False, clock: Clock | None = None) -> tuple[str, Lien]:
    """sys's job on project tiny (1 CPU-hour a month), bound to job 60."""
    key = submit(gov, user_id=3, account="tiny", num_tasks=1, time_limit=minutes)
    rec = Reconciler(gov.ctx)
    phase = Phase.RUNNING if running else Phase.PENDING
    rec.observe(seen(key, "60", phase, user="sys", account="tiny", started_at=clock.now if clock else None))
    return key, lien(gov, key)


def request(minutes: int) -> Request:
    return Request(user_id="sys", project="tiny", cluster="testcluster", partition="cpu", walltime_hours=minutes / 60)


def test_resize_leaves_the_jobs_own_lien_out_and_replaces_it(gov: Governance, clock: Clock) -> None:
    key, old = tiny(gov, 30)
    outcome = Reconciler(gov.ctx).resize("60", key, request(50), "slurmctld", submit_key("t2"))
    assert outcome.allow, outcome.decision["violations"]  # 50 min fits only without the old 30
    with gov.ctx.ledger.session() as tx:
        replaced = tx.get_lien(old.id)
        new = next(iter(tx.find_liens_by_job("60")), None)
        held, active = tx.reserved("project:tiny", clock.now)
        assert lien_by_key(tx, submit_key("t2")) == new
    assert replaced is not None and (replaced.state, replaced.job_id) == (LienState.CANCELLED, None)
    assert new is not None and (new.state, new.id) == (LienState.RESERVED, outcome.lien_id)
    assert held.cpu_hours == pytest.approx(50 / 60) and active.jobs == 1


def test_resize_over_budget_is_refused_and_changes_nothing(gov: Governance) -> None:
    key, old = tiny(gov, 30)
    outcome = Reconciler(gov.ctx).resize("60", key, request(120), "slurmctld", submit_key("t3"))
    assert not outcome.allow and outcome.lien_id is None
    violation = outcome.decision["violations"][0]
    assert (violation["code"], violation["limit"], violation["requested"]) == ("quota.cpu_hours_exceeded", 1, 2)
    assert violation["available"] == pytest.approx(1.0)  # the job's own 0.5 is not counted against it
    with gov.ctx.ledger.session() as tx:
        assert next(iter(tx.find_liens_by_job("60")), None) == old


def test_resize_of_a_running_job_keeps_it_running(gov: Governance, clock: Clock) -> None:
    key, old = tiny(gov, 30, running=True, clock=clock)
    Reconciler(gov.ctx).resize("60", key, request(40), "slurmctld", submit_key("t4"))
    with gov.ctx.ledger.session() as tx:
        new = next(iter(tx.find_liens_by_job("60")), None)
    assert new is not None and new != old
    assert (new.state, new.started_at) == (LienState.RUNNING, old.started_at)
    assert replace(new, id=old.id) != old  # a new estimate: 40 minutes
    assert new.amounts.cpu_hours == pytest.approx(40 / 60)

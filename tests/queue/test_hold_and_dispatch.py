"""Hold, don't refuse: a request over a concurrency cap waits and is admitted when a slot frees, without
being sent again; budgets still deny; priority, round robin, groups, TTL and cancel (memory and SQLite)."""

from __future__ import annotations

from datetime import timedelta

from hpcpolicy.engine import Request
from hpcpolicy.ledger import JobUsage, LienState
from hpcpolicy.ledger.queue import QueueState
from hpcpolicy.service import Governance
from hpcpolicy.service.dispatcher import Dispatcher
from hpcpolicy.service.holding import Hold
from hpcpolicy.service.reconcile import Reconciler
from tests.queue.conftest import submit
from tests.service.conftest import Clock


def finish(gov: Governance, decision_id: str, hours: float = 0) -> None:
    """Start and finish the job; with ``hours``, after that long (the clock moves) and charged for it."""
    if gov.jobs.get(decision_id)[0].state is LienState.RESERVED:
        gov.jobs.start(decision_id)
    gov.ctx.clock.advance(hours=hours)  # type: ignore[attr-defined]
    gov.jobs.finish(decision_id, JobUsage(elapsed_hours=hours))


def one_job_in_p1(gov: Governance) -> None:
    """Project p1 (u1 and u2) runs one job at a time: its members wait for the same slot."""
    text = gov.ctx.policies.current.text.replace("p1: {quotas: [{cpu_hours: 50000}]}",
                                                 "p1: {quotas: [{cpu_hours: 50000, max_jobs: 1}]}")  # fmt: skip
    gov.ctx.policies.replace(text)


def test_a_request_over_its_cap_is_held_then_admitted_when_a_slot_frees(gov: Governance) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    first, second = submit(gov, "u1"), submit(gov, "u1")
    assert first.allow and second.allow
    third = submit(gov, "u1")
    assert third.held is not None and not third.allow and third.lien_id is None
    assert third.held.blocked_by == ("user:u1",)
    assert [v["code"] for v in third.decision["violations"]] == ["concurrency.max_jobs"]
    assert dispatcher.step().admitted == []  # nothing freed: still held
    finish(gov, first.decision_id)
    report = dispatcher.step()
    assert [e.id for e in report.admitted] == [third.decision_id]
    record = gov.get_decision(third.decision_id)  # the id the caller was given when it was held
    assert record.allow and record.lien_id == third.decision_id
    with gov.ctx.ledger.session() as tx:
        lien = tx.get_lien(third.decision_id)
        entry = tx.get_queued(third.decision_id)
    assert lien is not None and lien.state is LienState.RESERVED
    assert entry is not None and entry.state is QueueState.ADMITTED


def test_without_queue_the_same_request_is_denied(gov: Governance) -> None:
    submit(gov, "u1"), submit(gov, "u1")
    out = submit(gov, "u1", hold=None)
    assert out.held is None and not out.allow


def test_a_budget_denial_is_never_held(gov: Governance) -> None:
    out = submit(gov, "u1", cpus=64, hours=1000)  # 64,000 CPU-hours: over p1's 50,000
    assert out.held is None and not out.allow
    assert "quota.cpu_hours_exceeded" in [v["code"] for v in out.decision["violations"]]


def test_a_held_request_that_a_budget_refuses_later_is_denied_not_admitted(gov: Governance, clock: Clock) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    a, _ = submit(gov, "u1"), submit(gov, "u1")
    held = submit(gov, "u1", cpus=64, hours=700)  # 44,800 CPU-hours: fits p1's budget today
    assert held.held is not None
    big = submit(gov, "u2", cpus=640, nodes=10, hours=20)  # u2 spends 12,800 of p1 meanwhile
    assert big.allow
    finish(gov, big.decision_id, hours=20)
    finish(gov, a.decision_id)
    report = dispatcher.step()
    assert [e.id for e in report.denied] == [held.decision_id] and report.admitted == []
    record = gov.get_decision(held.decision_id)
    assert not record.allow and record.lien_id is None


def test_idempotent_retry_of_a_held_request_returns_the_same_hold(gov: Governance) -> None:
    submit(gov, "u1"), submit(gov, "u1")
    first = submit(gov, "u1", key="k-1")
    again = submit(gov, "u1", key="k-1")
    assert again.held is not None and again.replayed and again.decision_id == first.decision_id


def test_requests_held_by_one_user_cap_wait_in_arrival_order(gov: Governance) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    running = [submit(gov, "u1"), submit(gov, "u1")]
    held = [submit(gov, "u1") for _ in range(3)]
    order = []
    for out in running + held[:2]:
        finish(gov, out.decision_id)
        order += [e.id for e in dispatcher.step().admitted]
    assert order == [h.decision_id for h in held[:3]][: len(order)] and len(order) == 3


def test_service_caps_hold_runs_per_user_and_in_total(gov: Governance) -> None:
    first = submit(gov, "u1", service="galaxy")
    assert first.allow
    mine = submit(gov, "u1", service="galaxy")  # u1 already runs one galaxy job: per-user cap of 1
    assert mine.held is not None and mine.held.blocked_by == ("service:galaxy/user:u1",)
    assert [v["code"] for v in mine.decision["violations"]] == ["service.max_runs"]
    assert submit(gov, "u2", service="galaxy").allow and submit(gov, "u3", service="galaxy").allow
    total = submit(gov, "u4", service="galaxy")  # three runs of galaxy: the service's cap
    assert total.held is not None and total.held.blocked_by == ("service:galaxy",)
    assert submit(gov, "u4").allow  # not through galaxy: not bound by its caps
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    dispatcher.step()
    finish(gov, first.decision_id)  # frees a galaxy slot and u1's galaxy slot
    admitted = {e.id for e in dispatcher.step().admitted}
    assert admitted == {mine.decision_id} or admitted == {total.decision_id}  # one slot, one of them


def test_a_held_request_expires_at_its_ttl(gov: Governance, clock: Clock) -> None:
    dispatcher = Dispatcher(gov)
    submit(gov, "u1"), submit(gov, "u1")
    out = submit(gov, "u1", hold=Hold(ttl=timedelta(minutes=10)))
    clock.advance(minutes=11)
    report = dispatcher.step()
    assert [e.id for e in report.expired] == [out.decision_id]
    entry = gov.held(out.decision_id)
    assert entry is not None and entry.state is QueueState.EXPIRED


def test_a_cancelled_request_is_never_admitted(gov: Governance) -> None:
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    a, _ = submit(gov, "u1"), submit(gov, "u1")
    out = submit(gov, "u1")
    assert gov.cancel_held(out.decision_id, "user:u1") is not None
    assert gov.cancel_held(out.decision_id, "user:u1") is None  # once
    finish(gov, a.decision_id)
    assert dispatcher.step().admitted == []


def test_equal_priority_users_take_turns(gov: Governance, clock: Clock) -> None:
    """u1 and u2 share p1's cap once the policy allows p1 one job: with equal fair share and age, the
    dispatcher alternates between them instead of admitting u1's requests in a row."""
    one_job_in_p1(gov)
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    running = submit(gov, "u1")
    held = [submit(gov, "u1"), submit(gov, "u1"), submit(gov, "u2"), submit(gov, "u2")]
    assert all(h.held is not None and h.held.blocked_by == ("project:p1",) for h in held)
    owners = []
    current = running.decision_id
    for _ in range(4):
        finish(gov, current)
        (admitted,) = dispatcher.step().admitted
        owners.append(admitted.user_id)
        current = admitted.id
    assert owners in (["u1", "u2", "u1", "u2"], ["u2", "u1", "u2", "u1"])


def test_a_user_with_less_usage_goes_first(gov: Governance, clock: Clock) -> None:
    one_job_in_p1(gov)
    heavy = submit(gov, "u1", cpus=64, hours=10)
    finish(gov, heavy.decision_id, hours=10)  # u1 used 640 CPU-hours, u2 nothing
    running = submit(gov, "u2")
    first = submit(gov, "u1")
    second = submit(gov, "u2")
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    dispatcher.step()
    finish(gov, running.decision_id)
    assert [e.id for e in dispatcher.step().admitted] == [second.decision_id]
    assert first.held is not None


def test_age_wins_in_the_end(gov: Governance, clock: Clock) -> None:
    """A heavy user's request held past max_age_hours outranks a light user's fresh one (age bounds the wait)."""
    one_job_in_p1(gov)
    heavy = submit(gov, "u1", cpus=64, hours=10)
    finish(gov, heavy.decision_id, hours=10)
    running = submit(gov, "u2", hours=30)
    gov.jobs.start(running.decision_id)
    old = submit(gov, "u1")
    clock.advance(hours=13)  # past max_age_hours (12): the age factor is full
    fresh = submit(gov, "u2")
    dispatcher = Dispatcher(gov)
    gov.ctx.observers.on_freed(dispatcher.freed)
    dispatcher.step()
    finish(gov, running.decision_id)
    assert [e.id for e in dispatcher.step().admitted] == [old.decision_id]
    assert fresh.held is not None


def test_new_requests_fit_when_their_slot_freed_before_they_were_read(gov: Governance) -> None:
    """A slot freed between a request's evaluation and the dispatcher reading it: arrivals are tried."""
    a, _ = submit(gov, "u1"), submit(gov, "u1")
    out = submit(gov, "u1")
    finish(gov, a.decision_id)  # nobody told this dispatcher
    dispatcher = Dispatcher(gov)
    dispatcher._full = False
    assert [e.id for e in dispatcher.step().admitted] == [out.decision_id]



def test_a_past_dated_end_reported_elsewhere_frees_the_slot_at_the_next_poll(gov: Governance, clock: Clock) -> None:
    """A sync in another process reports a job that ended an hour ago: the dispatcher of the server sees the
    slot freed by when the report was recorded, not by the end time it states."""
    dispatcher = Dispatcher(gov)  # not told of frees: as in another process
    a, _ = submit(gov, "u1"), submit(gov, "u1")
    out = submit(gov, "u1")
    clock.advance(hours=1.5)
    dispatcher.step(poll=True)  # looked last now: the end below is dated before this
    gov.jobs.start(a.decision_id, at=clock() - timedelta(hours=1.5))
    gov.jobs.finish(a.decision_id, JobUsage(elapsed_hours=1), at=clock() - timedelta(hours=0.5), accounting=True)
    dispatcher._last_full = float("inf")  # no full pass: only the poll may find it
    clock.advance(seconds=1)
    assert [e.id for e in dispatcher.step(poll=True).admitted] == [out.decision_id]


def test_a_resized_service_run_does_not_count_against_its_own_service_cap(gov: Governance) -> None:
    """The run's old lien is left out when a change is decided (as for its account's caps): u1's one
    galaxy run may grow though u1's galaxy cap is one run."""
    run = submit(gov, "u1", service="galaxy")
    gov.jobs.start(run.decision_id, "42")
    longer = Request(user_id="u1", partition="cpu", cpus=1, walltime_hours=2, service="galaxy")
    outcome = Reconciler(gov.ctx).resize("42", None, longer, "user:u1", "resize-1")
    assert outcome.allow, outcome.decision["violations"]

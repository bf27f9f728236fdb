"""Group commit on SQLite: decisions ready in one turn of the event loop share one transaction.

What must hold, as with a transaction per call: no answer before the commit; a failed commit fails every
member and writes nothing; a failing member takes nothing of the others with it; members are serial, so a
group decides exactly as the same requests one at a time would (no budget overspent); calls that commit on
their own, ledger threads and full groups all find the writer free in time.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import RootTransaction, func, select
from sqlalchemy.exc import OperationalError

from hpcpolicy.api.deps import Offload
from hpcpolicy.engine import Request
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.model import DecisionRecord
from hpcpolicy.ledger.sql import held_check, transactions
from hpcpolicy.ledger.sql.audit import unsealed
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.group import MAX_MEMBERS, Group
from hpcpolicy.ledger.sql.ledger import SqlLedger, SqlSession
from hpcpolicy.ledger.sql.tables import decisions, events, liens
from hpcpolicy.ledger.sql.verify import verify
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context
from hpcpolicy.service.errors import Conflict
from tests.ledger.conftest import sqlite_ledger
from tests.service.conftest import Clock

JOB = Request(user_id="alice", partition="cpu", cpus=4, walltime_hours=1)


def governance(path: Path, clock: Clock, cpu_hours: float = 1e9) -> Governance:
    env = {"DEFAULT_CPU_HOURS": str(cpu_hours), "MAX_CONCURRENT_JOBS": "100000"}
    return Governance(Context(sqlite_ledger(path, audit=True), PolicyStore.from_file(None, env=env), clock=clock,
                              lien_ttl=timedelta(hours=2)))  # fmt: skip


@pytest.fixture
def gov(tmp_path: Path, clock: Clock) -> Iterator[Governance]:
    made = governance(tmp_path, clock)
    yield made
    assert isinstance(made.ctx.ledger, SqlLedger)
    made.ctx.ledger.engine.dispose()


def sql(gov: Governance) -> SqlLedger:
    assert isinstance(gov.ctx.ledger, SqlLedger)
    return gov.ctx.ledger


def offload(gov: Governance) -> Offload:
    return Offload(1, timeout=10.0, inline=True, groups=sql(gov))


def counts(gov: Governance) -> tuple[int, int, int]:
    with sql(gov).engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (liens, decisions, events))  # fmt: skip


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The members of each group committed, in order."""
    seen: list[int] = []
    real = Group.commit

    def counted(self: Group) -> None:
        seen.append(self.members)
        real(self)

    monkeypatch.setattr(Group, "commit", counted)
    return seen


def run_all(run: Offload, calls: list[Callable[[], Any]], grouped: bool = True) -> list[Any]:
    """``calls`` started together (one turn of the loop): each one's result or exception."""

    async def scenario() -> list[Any]:
        return await asyncio.gather(*((run.grouped if grouped else run)(c) for c in calls), return_exceptions=True)

    try:
        return asyncio.run(scenario())
    finally:
        run.close()


def decide(gov: Governance, request: Request = JOB, **options: Any) -> Callable[[], Any]:
    return lambda: gov.decide(request, f"user:{request.user_id}", reserve=True, **options)


def test_decisions_ready_in_one_turn_share_one_commit(gov: Governance, commits: list[int]) -> None:
    outcomes = run_all(offload(gov), [decide(gov) for _ in range(10)])
    assert all(o.allow and o.lien_id for o in outcomes)
    assert commits == [10]
    assert counts(gov) == (10, 10, 20)  # a lien and a decision each, and an audit event for each of those
    assert sql(gov).group is None  # and the writer is free again
    gov.decide(JOB, "user:alice", reserve=True)
    assert counts(gov)[:2] == (11, 11)


def test_a_failed_group_commit_writes_nothing_and_each_member_runs_again_alone(
    gov: Governance, monkeypatch: pytest.MonkeyPatch, commits: list[int]
) -> None:
    class FailingCommit:
        """The group's transaction, whose COMMIT fails as a full disk's would."""

        def __init__(self, real: RootTransaction):
            self.real = real

        def commit(self) -> None:
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))

        def rollback(self) -> None:
            self.real.rollback()

    real_open = transactions.Transactions._open_group

    def failing_open(self: transactions.Transactions) -> Group:
        opened = real_open(self)
        opened.transaction = FailingCommit(opened.transaction)  # type: ignore[assignment]
        return opened

    monkeypatch.setattr(transactions.Transactions, "_open_group", failing_open)
    told = Told(gov)
    outcomes = run_all(offload(gov), [decide(gov, key=f"k-{n}") for n in range(5)])
    assert commits == [5]  # the group's commit was tried, and failed
    assert told.told == ["1", "2", "3", "4", "5"]  # metrics and logs: once each, after its own commit
    # Nothing of the group was written; each member ran again in a transaction of its own and was answered
    # by that: five liens, not ten, none a replay of a decision that was never committed.
    assert all(o.allow and not o.replayed for o in outcomes)
    assert counts(gov) == (5, 5, 10)
    assert sql(gov).group is None


class Told:
    """An observer of ``gov`` recording, for each decision it is told of, how many decisions were committed then."""

    def __init__(self, gov: Governance):
        self.gov = gov
        self.told: list[str] = []
        gov.ctx.observers.subscribe(self)

    def decided(self, decision: dict[str, Any], reserved: bool, seconds: float) -> None:
        with read_only(sql(self.gov).engine) as conn:  # another connection: sees only what is committed
            committed = conn.execute(select(func.count()).select_from(decisions)).scalar_one()
        self.told.append(str(committed))

    def ledger_failed(self, error: Exception) -> None:
        pass


def test_observers_are_told_of_a_grouped_decision_once_it_is_committed(gov: Governance) -> None:
    told = Told(gov)
    run_all(offload(gov), [decide(gov) for _ in range(4)])
    assert told.told == ["4", "4", "4", "4"]  # told after the group's one commit, not as each member ended


def test_a_member_that_fails_is_answered_after_the_commit(gov: Governance) -> None:
    """An error is an answer too: a member whose call raised still waits for the group, so that a loop that
    ends with its request (a test client's) never leaves a group open behind it."""
    run_all(offload(gov), [decide(gov, job_id="7")])
    refused = run_all(offload(gov), [decide(gov, job_id="7")])  # a fresh loop: that job id is taken
    assert isinstance(refused[0], Conflict)
    assert sql(gov).group is None
    assert counts(gov)[:2] == (1, 1)


def test_a_group_left_open_by_another_loop_is_committed_by_the_next_call(gov: Governance) -> None:
    from hpcpolicy.ledger import deadline

    with deadline.inline(grouped=True):
        gov.decide(JOB, "user:alice", reserve=True)  # a group opened with no loop to commit it
    assert sql(gov).group is not None
    outcomes = run_all(offload(gov), [decide(gov)])
    assert outcomes[0].allow and sql(gov).group is None
    assert counts(gov)[:2] == (2, 2)


def test_a_failing_member_takes_nothing_of_the_others_with_it(
    gov: Governance, commits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = SqlSession.add_decision

    def failing_for_mallory(self: SqlSession, record: DecisionRecord) -> None:
        if record.user_id == "mallory":  # after her lien and its running totals were written in the group
            raise RuntimeError("the decision record could not be written")
        real(self, record)

    monkeypatch.setattr(SqlSession, "add_decision", failing_for_mallory)
    mallory = Request(user_id="mallory", partition="cpu", cpus=4, walltime_hours=1)
    # The third binds the first's scheduler job id: its lien's insert is refused (DuplicateKey, a Conflict).
    outcomes = run_all(offload(gov), [decide(gov, job_id="42"), decide(gov, mallory), decide(gov, job_id="42"),
                                      decide(gov)])  # fmt: skip
    assert outcomes[0].allow and outcomes[3].allow
    assert isinstance(outcomes[1], RuntimeError) and isinstance(outcomes[2], Conflict)
    assert commits == [3]  # one group (the refused job id's lookup after the refusal is a member too)
    assert counts(gov) == (2, 2, 4)  # nothing of mallory's lien remains, nor of the refused one
    assert held_check.check(sql(gov).engine) == []  # and no running total counts her lien
    assert unsealed(sql(gov)) == 0 and verify(sql(gov)) == (4, None)  # each member sealed its events: no gap
    monkeypatch.undo()
    assert gov.decide(mallory, "user:mallory", reserve=True).allow


def test_an_idempotent_retry_in_the_same_group_replays_the_first(gov: Governance) -> None:
    first, again = run_all(offload(gov), [decide(gov, key="k-1"), decide(gov, key="k-1")])
    assert again.replayed and again.decision_id == first.decision_id and again.lien_id == first.lien_id
    assert counts(gov)[:2] == (1, 1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    budget=st.integers(min_value=0, max_value=200),
    sizes=st.lists(st.tuples(st.sampled_from(["u1", "u2"]), st.integers(1, 64)), min_size=1, max_size=25),
)
def test_a_group_decides_as_the_same_requests_one_at_a_time(
    tmp_path_factory: pytest.TempPathFactory, clock: Clock, budget: int, sizes: list[tuple[str, int]]
) -> None:
    requests = [Request(user_id=user, partition="cpu", cpus=cpus, walltime_hours=1) for user, cpus in sizes]
    grouped = governance(tmp_path_factory.mktemp("grouped"), clock, cpu_hours=budget)
    serial = governance(tmp_path_factory.mktemp("serial"), clock, cpu_hours=budget)
    together = run_all(offload(grouped), [decide(grouped, r) for r in requests])
    one_by_one = [serial.decide(r, f"user:{r.user_id}", reserve=True) for r in requests]
    assert [o.allow for o in together] == [o.allow for o in one_by_one]
    for user in ("alice", "bob"):
        reserved = sum(r.cpus for r, o in zip(requests, together, strict=True) if o.allow and r.user_id == user)
        assert reserved <= budget  # no budget overspent inside a group
    assert counts(grouped) == counts(serial)
    assert verify(sql(grouped)) == (counts(grouped)[2], None)  # the members' events, chained in order
    for made in (grouped, serial):
        sql(made).engine.dispose()


def test_a_call_that_commits_on_its_own_commits_the_open_group_first(gov: Governance, commits: list[int]) -> None:
    run = offload(gov)

    async def scenario() -> list[Any]:
        return await asyncio.gather(run.grouped(decide(gov)), run.grouped(decide(gov)), run(decide(gov)))

    try:
        outcomes = asyncio.run(scenario())
    finally:
        run.close()
    assert all(o.allow for o in outcomes)
    assert commits == [2]  # the plain call committed the group, then wrote in a transaction of its own
    assert counts(gov)[:2] == (3, 3)


def test_a_full_group_commits_before_the_next_member_joins(gov: Governance, commits: list[int]) -> None:
    outcomes = run_all(offload(gov), [decide(gov) for _ in range(2 * MAX_MEMBERS + 1)])
    assert all(o.allow for o in outcomes)
    assert commits == [MAX_MEMBERS, MAX_MEMBERS, 1]


def test_a_ledger_thread_waits_for_the_group_and_goes_on(gov: Governance) -> None:
    run = offload(gov)
    entered = threading.Event()

    async def scenario() -> list[Any]:
        def on_thread() -> Any:
            entered.set()
            return gov.decide(JOB, "user:alice", reserve=True)  # waits for the writer lock the group holds

        thread = asyncio.get_running_loop().run_in_executor(None, on_thread)
        await asyncio.sleep(0)
        grouped = [run.grouped(decide(gov)) for _ in range(5)]
        return [*await asyncio.gather(*grouped), await asyncio.wait_for(thread, 10)]

    try:
        outcomes = asyncio.run(scenario())
    finally:
        run.close()
    assert entered.is_set() and all(o.allow for o in outcomes)
    assert counts(gov)[:2] == (6, 6)


def test_a_member_cancelled_while_it_waits_leaves_the_others_answered(gov: Governance) -> None:
    run = offload(gov)

    async def scenario() -> list[Any]:
        tasks = [asyncio.ensure_future(run.grouped(decide(gov))) for _ in range(3)]
        await asyncio.sleep(0)  # each has run its call and waits for the commit
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        outcomes = asyncio.run(scenario())
    finally:
        run.close()
    assert outcomes[0].allow and outcomes[2].allow
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert counts(gov)[:2] == (3, 3)  # its writes were in the group: committed, as a commit under way is


def test_a_write_session_outside_the_group_on_its_thread_is_refused(gov: Governance) -> None:
    """A session that would wait for the writer lock its own thread holds (a deadlock) raises instead."""
    from hpcpolicy.ledger import deadline

    ledger = sql(gov)
    with deadline.inline(grouped=True):
        gov.decide(JOB, "user:alice", reserve=True)
    assert ledger.group is not None
    with pytest.raises(RuntimeError, match="outside the group"), ledger.session():
        pass
    ledger.commit_group()
    assert ledger.group is None and counts(gov)[:2] == (1, 1)


def test_a_savepoint_the_database_refuses_is_the_ledger_unavailable(gov: Governance) -> None:
    """The savepoints run on the driver's connection: its errors still come out as the ledger's (a 503)."""
    from hpcpolicy.ledger import deadline

    ledger = sql(gov)
    with deadline.inline(grouped=True):
        gov.decide(JOB, "user:alice", reserve=True)
    group = ledger.group
    assert group is not None
    real = group._raw

    class LostDisk:
        def execute(self, statement: str) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    group._raw = LostDisk()  # type: ignore[assignment]
    with deadline.inline(grouped=True), pytest.raises(LedgerUnavailable, match="disk I/O error"):
        gov.decide(JOB, "user:alice", reserve=True)
    group._raw = real
    ledger.commit_group()
    assert counts(gov)[:2] == (1, 1)

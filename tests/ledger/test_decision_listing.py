"""Listing decision records newest first (the dashboard's decision explorer), on every ledger backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hpcpolicy.ledger import DecisionFilter, DecisionRecord

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def record(decision_id: str, minutes: int, user: str = "alice", allow: bool = True) -> DecisionRecord:
    return DecisionRecord(decision_id, T0 + timedelta(minutes=minutes), f"user:{user}", user, allow, "v1",
                          {"user_id": user}, {"allow": allow, "violations": []})  # fmt: skip


RECORDS = [
    record("d1", 0),
    record("d2", 1, "bob", allow=False),
    record("d3", 1, "alice", allow=False),  # the same instant as d2: the id orders them
    record("d4", 2, "carol"),
    record("d5", 3, "bob"),
]


@pytest.fixture
def stored(ledger):
    with ledger.session() as tx:
        for r in RECORDS:
            tx.add_decision(r)
    return ledger


def listed(ledger, where: DecisionFilter, limit: int = 100) -> list[str]:
    with ledger.session() as tx:
        return [r.id for r in tx.recent_decisions(where, limit)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (DecisionFilter(), ["d5", "d4", "d3", "d2", "d1"]),
        (DecisionFilter(users=("bob",)), ["d5", "d2"]),
        (DecisionFilter(users=("bob", "carol")), ["d5", "d4", "d2"]),
        (DecisionFilter(users=()), []),
        (DecisionFilter(allow=False), ["d3", "d2"]),
        (DecisionFilter(allow=True), ["d5", "d4", "d1"]),
        (DecisionFilter(since=T0 + timedelta(minutes=1)), ["d5", "d4", "d3", "d2"]),
        (DecisionFilter(until=T0 + timedelta(minutes=1)), ["d1"]),
        (DecisionFilter(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)), ["d4", "d3", "d2"]),
        (DecisionFilter(before=(T0 + timedelta(minutes=1), "d3")), ["d2", "d1"]),
        (DecisionFilter(users=("alice",), allow=False, since=T0), ["d3"]),
    ],
)
def test_filters(stored, where: DecisionFilter, expected: list[str]) -> None:
    assert listed(stored, where) == expected
    assert [r.id for r in sorted(RECORDS, key=lambda r: (r.at, r.id), reverse=True) if where.admits(r)] == expected


def test_pages_through_every_record_once_even_at_the_same_instant(stored) -> None:
    seen: list[str] = []
    where = DecisionFilter()
    while page := listed(stored, where, limit=2):
        seen += page
        with stored.session() as tx:
            last = tx.get_decision(page[-1])
        where = DecisionFilter(before=(last.at, last.id))
    assert seen == ["d5", "d4", "d3", "d2", "d1"]


def test_records_come_back_whole(stored) -> None:
    with stored.session() as tx:
        (first,) = tx.recent_decisions(DecisionFilter(users=("carol",)), 10)
    assert first == RECORDS[3]

"""The admission queue's storage, the same on every ledger: held requests stored and read back whole, found
by key, updated only while held, indexed by the quotas they wait for, and their callbacks scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.queue import QueuedRequest, QueueState

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(n: int, user: str = "alice", blocked: tuple[str, ...] = ("user:alice",), **extra: Any) -> QueuedRequest:
    fields: dict[str, Any] = {
        "id": f"00000000-0000-4000-8000-{n:012d}", "at": T0 + timedelta(seconds=n),
        "expires_at": T0 + timedelta(days=1),
        "caller": f"user:{user}", "user_id": user, "project": "wgs", "service": None,
        "request": {"user_id": user, "cpus": n, "note": "ünïcode"}, "blocked_by": blocked,
        "decision": {"allow": False, "violations": [{"code": "concurrency.max_jobs", "scope": blocked[0]}]},
        "size": 0.25,
    }  # fmt: skip
    return QueuedRequest(**(fields | extra))


def test_held_requests_round_trip_and_are_read_in_arrival_order(ledger: Any) -> None:
    long_quota = "service:" + "g" * 191 + "/user:" + "u" * 191  # longer than any index could hold
    with ledger.session() as tx:
        first = tx.add_queued(entry(1, key="k1", callback_url="https://hooks.example.org/q"))
        second = tx.add_queued(entry(2, user="bob", blocked=(long_quota, "project:wgs")))
    assert 0 < first.seq < second.seq
    with ledger.session() as tx:
        assert tx.get_queued(first.id) == first and tx.find_queued("k1") == first
        assert [e.id for e in tx.queued()] == [first.id, second.id]
        assert [e.id for e in tx.queued(after=first.seq)] == [second.id]
        assert [e.id for e in tx.queued(user="bob")] == [second.id]
        assert [e.id for e in tx.queued(group=second.group)] == [second.id]
        assert tx.queued_count("alice") == 1
        assert tx.waited_for([long_quota, "user:carol"]) == [long_quota]
        assert tx.waited_for(["project:wgs", "user:alice"]) == ["project:wgs", "user:alice"]


def test_a_duplicate_key_is_refused(ledger: Any) -> None:
    with ledger.session() as tx:
        tx.add_queued(entry(1, key="same"))
    with pytest.raises(DuplicateKey), ledger.session() as tx:
        tx.add_queued(entry(2, key="same"))
    with ledger.session() as tx:
        assert [e.id for e in tx.queued()] == [entry(1).id]


def test_only_a_held_request_changes_and_resolving_it_frees_its_quotas(ledger: Any) -> None:
    with ledger.session() as tx:
        held = tx.add_queued(entry(1, callback_url="https://hooks.example.org/q"))
    moved = held.still_held(("project:wgs",), {"allow": False, "violations": []})
    with ledger.session() as tx:
        assert tx.update_queued(moved)
        assert tx.waited_for(["user:alice", "project:wgs"]) == ["project:wgs"]
    done = moved.resolved(QueueState.ADMITTED, T0 + timedelta(hours=1), {"allow": True})
    with ledger.session() as tx:
        assert tx.update_queued(done, "dispatcher")
        assert not tx.update_queued(done.resolved(QueueState.CANCELLED, T0 + timedelta(hours=2)))  # resolved once
        assert tx.waited_for(["project:wgs"]) == [] and tx.queued() == []
        stored = tx.get_queued(held.id)
    assert stored is not None and stored.state is QueueState.ADMITTED and stored.decision == {"allow": True}
    with ledger.session() as tx:
        assert [e.id for e in tx.callbacks_due(T0 + timedelta(hours=1))] == [held.id]
        tx.set_callback(held.id, T0 + timedelta(hours=3), 1)
        assert tx.callbacks_due(T0 + timedelta(hours=2)) == []
        tx.set_callback(held.id, None, 1)
        assert tx.callbacks_due(T0 + timedelta(days=9)) == []

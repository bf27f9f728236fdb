"""The revision store on SQLite, PostgreSQL and MariaDB: order, round trip, one seed, races, failures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hpcpolicy.cluster import revisions as revisions_module
from hpcpolicy.cluster.revisions import RevisionStore
from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import policy_revisions
from tests.cluster.redisserver import free_port


def test_empty_store_has_no_revision(ledger: SqlLedger) -> None:
    store = RevisionStore(ledger)
    assert store.latest_id() is None and store.latest() is None


def test_appended_revisions_round_trip_in_order(ledger: SqlLedger) -> None:
    store = RevisionStore(ledger)
    big = "# " + "é" * 70_000 + "\nrules: []\n"  # beyond MySQL's 64 KiB TEXT, in 2-byte characters
    first = store.append("p@1", "a: 1\n", "policy.yaml", "startup")
    second = store.append("p@2", big, "upload by alice", "alice")
    assert second.id > first.id and store.latest_id() == second.id
    latest = store.latest()
    assert latest is not None
    assert (latest.id, latest.version, latest.text, latest.source, latest.author) == (
        second.id,
        "p@2",
        big,
        "upload by alice",
        "alice",
    )
    assert latest.created_at.tzinfo is UTC and abs(latest.created_at - second.created_at).total_seconds() < 1e-3


def test_revisions_form_one_chain(ledger: SqlLedger) -> None:
    store = RevisionStore(ledger)
    ids = [store.append(f"p@{i}", "x", "s", "a").id for i in range(3)]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(policy_revisions.c.id, policy_revisions.c.previous_id).order_by("id")).all()
    assert [tuple(r) for r in rows] == list(zip(ids, [0, *ids[:2]], strict=True))


def test_a_long_author_is_cut_to_the_column(ledger: SqlLedger) -> None:
    assert RevisionStore(ledger).append("p@1", "x", "s", "a" * 300).author == "a" * 191


def test_seed_stores_only_into_an_empty_table(ledger: SqlLedger) -> None:
    store = RevisionStore(ledger)
    seeded = store.seed("p@1", "first", "policy.yaml", "startup")
    again = store.seed("p@other", "other file", "other.yaml", "startup")
    assert again.id == seeded.id and again.text == "first" and store.latest_id() == seeded.id


def test_seed_losing_a_race_adopts_the_winner(ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RevisionStore(ledger)
    winner = store.seed("p@1", "winner", "a.yaml", "startup")
    _head_stale_once(monkeypatch, None)  # as if the winner's commit was not visible yet
    adopted = store.seed("p@2", "loser", "b.yaml", "startup")
    assert adopted.id == winner.id and adopted.text == "winner"
    with ledger.engine.connect() as conn:
        assert conn.execute(select(policy_revisions.c.id)).all() == [(winner.id,)]


def test_append_after_a_concurrent_append_goes_after_it(ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RevisionStore(ledger)
    first = store.append("p@1", "one", "s", "a")
    second = store.append("p@2", "two", "s", "b")
    _head_stale_once(monkeypatch, first.id)  # this writer read the head before ``second`` was committed
    third = store.append("p@3", "three", "s", "c")
    assert third.id > second.id and store.latest() == third
    with ledger.engine.connect() as conn:
        previous = conn.execute(select(policy_revisions.c.previous_id).where(policy_revisions.c.id == third.id))
        assert previous.scalar() == second.id


def test_append_gives_up_after_repeated_conflicts(ledger: SqlLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RevisionStore(ledger, attempts=3)
    store.append("p@1", "one", "s", "a")
    monkeypatch.setattr(revisions_module, "_head", lambda conn: None)  # always stale: always conflicts
    with pytest.raises(LedgerUnavailable, match="3 conflicting writes"):
        store.append("p@2", "two", "s", "b")


def test_a_database_without_the_table_is_unavailable(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    with pytest.raises(LedgerUnavailable, match="policy_revisions"):
        RevisionStore(SqlLedger(engine)).latest_id()
    engine.dispose()


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres@127.0.0.1:{port}/test", "mysql+pymysql://root@127.0.0.1:{port}/test"]
)
def test_an_unreachable_server_is_unavailable(url: str) -> None:
    engine = create_ledger_engine(url.format(port=free_port()), connect_timeout=1)
    store = RevisionStore(SqlLedger(engine))
    with pytest.raises(LedgerUnavailable):
        store.latest_id()
    with pytest.raises(LedgerUnavailable):
        store.append("p@1", "x", "s", "a")
    engine.dispose()


def test_created_at_comes_from_the_clock(ledger: SqlLedger) -> None:
    moment = datetime(2026, 11, 15, 12, 30, 0, 123456, tzinfo=UTC)
    store = RevisionStore(ledger, clock=lambda: moment)
    store.append("p@1", "x", "s", "a")
    latest = store.latest()
    assert latest is not None and latest.created_at == moment


def _head_stale_once(monkeypatch: pytest.MonkeyPatch, stale: int | None) -> None:
    real = revisions_module._head
    calls = {"n": 0}

    def head(conn: object) -> int | None:
        calls["n"] += 1
        return stale if calls["n"] == 1 else real(conn)  # type: ignore[arg-type]

    monkeypatch.setattr(revisions_module, "_head", head)


def test_history_lists_revisions_newest_first_without_their_texts(ledger: SqlLedger) -> None:
    store = RevisionStore(ledger)
    made = [store.append(f"p@{i}", f"text {i}", f"source {i}", f"user:{i}") for i in range(4)]
    history = store.history(10)
    assert [(e.id, e.previous_id, e.version) for e in history] == [
        (r.id, r.previous_id, r.version) for r in reversed(made)
    ]
    assert history[0].created_at.tzinfo is UTC and history[-1].previous_id == 0
    assert [e.id for e in store.history(2)] == [made[3].id, made[2].id]
    assert [e.id for e in store.history(2, before=made[2].id)] == [made[1].id, made[0].id]
    assert store.history(5, before=made[0].id) == []


def test_get_returns_one_revision_with_its_predecessor(ledger: SqlLedger) -> None:
    store = RevisionStore(ledger)
    first = store.append("p@1", "a: 1\n", "s", "a")
    second = store.append("p@2", "a: 2\n", "s", "b")
    got = store.get(second.id)
    assert got is not None and (got.text, got.previous_id) == ("a: 2\n", first.id)
    assert store.get(first.id) == first and first.previous_id == 0
    assert store.get(second.id + 100) is None

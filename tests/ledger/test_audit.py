"""The audit log of a SQL ledger: every change writes its event in its own transaction, the sealer chains
them in order, and verification names the first event edited, deleted, inserted or moved — on SQLite,
PostgreSQL and MariaDB alike, tampered with by raw SQL as a database admin would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text, update

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger import Adjustment, AdjustmentKind, DecisionRecord, LienState
from hpcpolicy.ledger.events import (
    ADJUSTMENT_RECORDED,
    CHARGE_RECORDED,
    DECISION_MADE,
    GENESIS,
    LIEN_RESERVED,
    digest,
    link,
    sealed,
    verify_chain,
)
from hpcpolicy.ledger.sql.audit import seal, sealed_events, unsealed
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import events
from hpcpolicy.ledger.sql.verify import verify
from hpcpolicy.observability.logs import request_id
from tests.dbservers import truncate
from tests.ledger.conftest import sqlite_ledger
from tests.ledger.test_contract import T0, charge, lien


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    if request.param == "sqlite":  # the sealer on SQLite too (its writers seal their own events: test_chain.py)
        ledger = sqlite_ledger(tmp_path)
        yield SqlLedger(ledger.engine, audit=True, seal_on_write=False)
        ledger.engine.dispose()
    else:
        engine = request.getfixturevalue(f"{request.param}_engine")
        truncate(engine)
        yield SqlLedger(engine, audit=True)


def history(ledger: SqlLedger) -> None:
    """A decision with its lien, the job's start and finish with a charge, an adjustment, an expiry."""
    token = request_id.set("req-42")
    try:
        with ledger.session() as tx:
            answer = {"allow": True, "account_path": ["user:alice", "project:p"]}
            asked = {"user_id": "alice"}
            tx.add_decision(DecisionRecord("d1", T0, "key:gw", "alice", True, "p@1", asked, answer, "l1"))
            tx.add_lien(lien("l1", decision_id="d1"))
    finally:
        request_id.reset(token)
    with ledger.session() as tx:
        first = tx.get_lien("l1")
        assert first is not None
        tx.update_lien(first.with_state(LienState.RUNNING, started_at=T0 + timedelta(minutes=1)))
    with ledger.session() as tx:
        running = tx.get_lien("l1")
        assert running is not None
        tx.update_lien(running.with_state(LienState.FINISHED, ended_at=T0 + timedelta(hours=2)))
        tx.add_charge(replace(charge("c1", T0 + timedelta(hours=2), Amounts(8, 0, 0.8)), lien_id="l1"))
    with ledger.session() as tx:
        tx.add_adjustment(Adjustment("a1", "project:p", AdjustmentKind.GRANT, Amounts(5, 0, 0), "deadline", "user:root",
                                     T0 + timedelta(hours=3)))  # fmt: skip
        tx.add_lien(lien("l2", decision_id="d2", job_id="9"))
    with ledger.session() as tx:
        assert tx.expire_liens(T0 + timedelta(days=2)) == 1


def test_every_change_writes_its_event_and_sealing_chains_them(sql: SqlLedger) -> None:
    history(sql)
    assert unsealed(sql) == 8
    assert seal(sql) == 8 and seal(sql) == 0 and unsealed(sql) == 0
    chain = list(sealed_events(sql))
    assert [e.type for e in chain] == [
        DECISION_MADE, LIEN_RESERVED, "hpcpolicy.lien.started", "hpcpolicy.lien.finished", CHARGE_RECORDED,
        ADJUSTMENT_RECORDED, LIEN_RESERVED, "hpcpolicy.lien.expired",
    ]  # fmt: skip
    assert [e.seq for e in chain] == list(range(1, 9))
    assert chain[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in pairwise(chain))
    assert chain[0].request_id == chain[1].request_id == "req-42" and chain[2].request_id is None
    assert chain[0].actor == "key:gw" and chain[5].actor == "user:root"
    assert chain[1].scopes == ("user:alice", "project:p", "team:t", "org:o")
    assert chain[4].data["cpu_hours"] == 8 and chain[7].subject == "l2"
    assert verify(sql) == (8, None)
    assert chain[3].cloudevent()["type"] == "hpcpolicy.lien.finished"


def test_a_rolled_back_change_leaves_no_event(sql: SqlLedger) -> None:
    with pytest.raises(RuntimeError), sql.session() as tx:
        tx.add_lien(lien("l1"))
        raise RuntimeError("the decision failed after the write")
    assert unsealed(sql) == 0 and seal(sql) == 0


def test_events_committed_later_are_sealed_later(sql: SqlLedger) -> None:
    history(sql)
    assert seal(sql, batch=3) == 3
    with sql.session() as tx:
        tx.add_lien(lien("l3"))
    assert seal(sql) == 6
    assert verify(sql) == (9, None)
    assert verify(sql, from_seq=5) == (5, None)


def _tamper(sql: SqlLedger, statement: str) -> None:
    with sql.engine.begin() as conn:
        conn.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "kind", "seq"),
    [
        ("UPDATE events SET actor = 'user:mallory' WHERE seq = 1", "edited", 1),
        ("DELETE FROM events WHERE seq = 4", "deleted", 4),
        ("UPDATE events SET seq = 100 + seq WHERE seq IN (5, 6)", "deleted", 5),
    ],
)
def test_tampering_is_found_on_every_backend(sql: SqlLedger, statement: str, kind: str, seq: int) -> None:
    history(sql)
    seal(sql)
    _tamper(sql, statement)
    _, found = verify(sql)
    assert found is not None and (found.kind, found.seq) == (kind, seq), found


def test_an_edited_amount_inside_the_data_is_found(sql: SqlLedger) -> None:
    history(sql)
    seal(sql)
    with sql.engine.begin() as conn:
        row = conn.execute(select(events.c.id, events.c.body).where(events.c.seq == 5)).one()
        assert '"cpu_hours":8,' in row.body
        smaller = row.body.replace('"cpu_hours":8,', '"cpu_hours":0.5,')  # the charge, made smaller
        conn.execute(update(events).where(events.c.id == row.id).values(body=smaller))
    _, found = verify(sql)
    assert found is not None and (found.kind, found.seq) == ("edited", 5)


def test_swapping_two_events_is_found_as_a_reordering(sql: SqlLedger) -> None:
    history(sql)
    seal(sql)
    with sql.engine.begin() as conn:  # move rows 2 and 3 past each other, keeping each row's own hash
        conn.execute(update(events).where(events.c.seq == 2).values(seq=-2))
        conn.execute(update(events).where(events.c.seq == 3).values(seq=2))
        conn.execute(update(events).where(events.c.seq == -2).values(seq=3))
    _, found = verify(sql)
    assert found is not None and (found.kind, found.seq) == ("reordered", 2), found


def test_a_rewritten_chain_is_consistent_but_a_forged_insertion_is_not() -> None:
    """The pure walk: an event inserted with a duplicated seq, or re-hashed to fit, is named."""
    chain, previous = [], GENESIS
    for n, base in enumerate(_plain_events(4), start=1):
        event = sealed(base, n, previous)
        chain.append(event)
        previous = event.hash or ""
    assert verify_chain(chain) is None
    forged = sealed(_plain_events(1)[0], 3, chain[1].hash or "")
    found = verify_chain([*chain[:3], forged, chain[3]])
    assert found is not None and (found.kind, found.seq) == ("inserted", 3)


def _plain_events(n: int) -> list:  # type: ignore[type-arg]
    from hpcpolicy.ledger.events import lien_event

    return [lien_event(lien(f"l{i}"), new=True, at=T0, request_id=None) for i in range(n)]


def test_without_the_audit_log_nothing_is_recorded(tmp_path: Path) -> None:
    plain = sqlite_ledger(tmp_path)  # HPCPOLICY_AUDIT_LOG unset: the default
    history(plain)
    assert unsealed(plain) == 0 and seal(plain) == 0 and verify(plain) == (0, None)


def test_reading_filters_by_whole_scope_names_and_types_on_every_backend(sql: SqlLedger) -> None:
    history(sql)
    seal(sql)
    assert [e.seq for e in sql.events(0, 3)] == [1, 2, 3] and [e.seq for e in sql.events(3, 100)] == [4, 5, 6, 7, 8]
    assert {e.subject for e in sql.events(0, 100, scope="user:alice")} >= {"d1", "l1", "c1"}
    assert sql.events(0, 100, scope="user:ali") == [] and sql.events(0, 100, scope="user:alic_") == []
    assert sql.events(0, 100, scope="project:%") == []  # LIKE wildcards in a name are literal
    assert [e.subject for e in sql.events(0, 100, types=("hpcpolicy.lien.expired",))] == ["l2"]
    assert {e.subject for e in sql.events(0, 100, user="alice")} >= {"d1", "l1", "c1"}
    assert [e.subject for e in sql.events(0, 100, user="root")] == ["a1"]  # the adjustment's author
    assert sql.events(0, 100, user="ali") == [] and sql.events(0, 100, user="%") == []


@pytest.mark.parametrize(("statement", "kind", "seq"), [
    (None, None, None),
    ("UPDATE events SET actor = 'user:mallory' WHERE seq = 7", "edited", 7),  # in the second range
    ("UPDATE events SET subject = 'x' WHERE seq = 2", "edited", 2),  # in the first: named first
    ("DELETE FROM events WHERE seq = 4", "deleted", 4),  # the second range's start is gone: one walk names it
])  # fmt: skip
def test_verifying_in_parallel_finds_what_one_walk_finds(sql: SqlLedger, monkeypatch: pytest.MonkeyPatch,
                                                         statement: str | None, kind: str | None,
                                                         seq: int | None) -> None:  # fmt: skip
    monkeypatch.setattr("hpcpolicy.ledger.sql.verify.PARALLEL_FROM", 2)  # eight events in ranges 1-4, 5-8
    history(sql)
    seal(sql)
    if statement is not None:
        _tamper(sql, statement)
    checked, found = verify(sql, workers=2)
    assert ((found.kind, found.seq) if found else (None, None)) == (kind, seq)
    assert (checked, found) == verify(sql, workers=1)


def test_an_event_inserted_by_raw_sql_with_the_rest_renumbered_is_found(sql: SqlLedger) -> None:
    """A database admin slips a forged event in at seq 4, chained to event 3, and renumbers the rest."""
    history(sql)
    seal(sql)
    with sql.engine.begin() as conn:
        third = conn.execute(select(events.c.hash).where(events.c.seq == 3)).scalar_one()
        conn.execute(text("UPDATE events SET seq = seq + 1000 WHERE seq >= 4"))  # two steps: the unique index
        conn.execute(text("UPDATE events SET seq = seq - 999 WHERE seq >= 1004"))
        forged = _plain_events(1)[0]
        body = forged.body()
        conn.execute(insert(events).values(
            event_id=forged.event_id, type=forged.type, subject=forged.subject, time=forged.time.replace(tzinfo=None),
            actor=None, request_id=None, scopes=" ".join(forged.scopes), body=body, digest=digest(body), seq=4,
            prev_hash=third, hash=link(third, 4, digest(body))))  # fmt: skip
    _, found = verify(sql)
    assert found is not None and (found.kind, found.seq) == ("inserted", 4), found


def test_an_event_deleted_by_raw_sql_with_the_rest_renumbered_is_found(sql: SqlLedger) -> None:
    history(sql)
    seal(sql)
    with sql.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = 4"))
        conn.execute(text("UPDATE events SET seq = seq + 1000 WHERE seq > 4"))
        conn.execute(text("UPDATE events SET seq = seq - 1001 WHERE seq > 1004"))
    _, found = verify(sql)
    assert found is not None and (found.kind, found.seq) == ("deleted", 4), found

"""Fired alerts and their outbox in every ledger (memory, SQLite, PostgreSQL, MariaDB): one row per key even
when evaluators race, the audit event in the same transaction, deliveries due in order, what the conditions
read (denials, running liens)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hpcpolicy.ledger import DecisionRecord, LienState
from hpcpolicy.ledger.alerts import EMAIL, WEBHOOK, AlertDelivery, AlertRecord, DeliveryState
from hpcpolicy.ledger.base import DuplicateKey, Ledger
from hpcpolicy.ledger.events import ALERT_FIRED
from hpcpolicy.ledger.sql.audit import seal
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.tables import alerts
from tests.ledger.conftest import ledger  # noqa: F401 - every backend
from tests.ledger.test_audit import sql  # noqa: F401 - audit ledgers on SQLite, PostgreSQL and MariaDB
from tests.ledger.test_contract import T0, lien


def alert(alert_id: str = "a1", key: str = "k" * 64, scope: str = "project:p", at: object = T0) -> AlertRecord:
    details = {"kind": "used", "metrics": [{"used": 0.81, "runs_dry_at": "2026-11-30T00:00:00Z"}]}
    return AlertRecord(alert_id, key, "budgets", scope, f"{scope}#dgx", "used:0.8", T0, at,  # type: ignore[arg-type]
                       f"{scope}: 81 % used", details)


def outbox(alert_id: str = "a1") -> list[AlertDelivery]:
    return [AlertDelivery(alert_id, EMAIL, "pi@uni.example", T0), AlertDelivery(alert_id, WEBHOOK, "ops", T0)]


def test_an_alert_is_stored_once_with_its_deliveries(ledger: Ledger) -> None:  # noqa: F811
    with ledger.session() as tx:
        tx.add_alert(alert(), outbox())
    with pytest.raises(DuplicateKey), ledger.session() as tx:
        tx.add_alert(alert("a2"), outbox("a2"))
    with ledger.session() as tx:
        assert tx.fired_keys(["k" * 64, "x" * 64]) == {"k" * 64}
        [fired] = tx.fired_alerts()
        assert fired.alert == alert()
        pending = DeliveryState.PENDING
        assert [(d.channel, d.recipient, d.state, d.attempts) for d in fired.deliveries] == [
            (EMAIL, "pi@uni.example", pending, 0), (WEBHOOK, "ops", pending, 0)]  # fmt: skip
        assert tx.fired_alerts(scopes=["project:other"]) == []


def test_deliveries_come_due_and_record_their_outcome(ledger: Ledger) -> None:  # noqa: F811
    with ledger.session() as tx:
        tx.add_alert(alert(), outbox())
        tx.add_alert(alert("a2", "j" * 64, "team:t", T0 + timedelta(minutes=1)), outbox("a2")[:1])
    with ledger.session() as tx:
        assert tx.deliveries_due(T0 - timedelta(seconds=1)) == []
        due = tx.deliveries_due(T0)
        assert [(d.alert_id, d.channel) for d, _ in due] == [("a1", EMAIL), ("a1", WEBHOOK), ("a2", EMAIL)]
        assert due[2][1].scope == "team:t"
        mail, hook = due[0][0], due[1][0]
        tx.set_delivery(mail.attempted(T0, None, None))
        tx.set_delivery(hook.attempted(T0, "webhook 'ops' answered 500", T0 + timedelta(minutes=1)))
    with ledger.session() as tx:
        assert [d.alert_id for d, _ in tx.deliveries_due(T0 + timedelta(seconds=30))] == ["a2"]
        [(again, _)] = [(d, a) for d, a in tx.deliveries_due(T0 + timedelta(minutes=1)) if d.alert_id == "a1"]
        assert again.attempts == 1 and again.last_error == "webhook 'ops' answered 500"
        tx.set_delivery(again.attempted(T0, "gone", None))
        states = {d.channel: d for d in tx.fired_alerts(scopes=["project:p"])[0].deliveries}
    assert states[EMAIL].state is DeliveryState.DELIVERED and states[EMAIL].delivered_at == T0
    assert states[WEBHOOK].state is DeliveryState.FAILED and states[WEBHOOK].attempts == 2
    assert states[WEBHOOK].last_error == "gone" and states[WEBHOOK].next_attempt_at is None
    with ledger.session() as tx:
        assert [a.alert.id for a in tx.fired_alerts()] == ["a2", "a1"]  # newest first
        assert [a.alert.id for a in tx.fired_alerts(limit=1)] == ["a2"]


def test_denials_and_running_liens_are_read_for_the_conditions(ledger: Ledger) -> None:  # noqa: F811
    with ledger.session() as tx:
        for i, (allow, path) in enumerate([(False, ["user:u", "project:p"]), (True, ["user:u"]), (False, [])]):
            tx.add_decision(DecisionRecord(f"d{i}", T0 + timedelta(minutes=i), "dev", "u", allow, "v", {},
                                           {"allow": allow, "account_path": path}))  # fmt: skip
        tx.add_lien(lien("l1"))
        tx.add_lien(lien("l2"))
    with ledger.session() as tx:
        started = tx.get_lien("l1")
        assert started is not None
        tx.update_lien(started.with_state(LienState.RUNNING, started_at=T0 + timedelta(minutes=5)))
    with ledger.session() as tx:
        assert tx.denials(T0) == [(T0 + timedelta(minutes=2), ("user:u",)),
                                  (T0, ("user:u", "project:p"))]  # fmt: skip
        assert tx.denials(T0 + timedelta(minutes=1)) == [(T0 + timedelta(minutes=2), ("user:u",))]
        assert [lien.id for lien in tx.running_liens(T0 + timedelta(minutes=6))] == ["l1"]
        assert tx.running_liens(T0 + timedelta(minutes=5)) == []


def test_firing_records_its_audit_event_in_the_same_transaction(sql: SqlLedger) -> None:  # noqa: F811
    with sql.session() as tx:
        tx.add_alert(alert(), outbox())
    with pytest.raises(DuplicateKey), sql.session() as tx:
        tx.add_alert(alert("a2"), outbox("a2"))
    seal(sql)
    [event] = sql.events(0, 10, types=(ALERT_FIRED,))
    assert event.subject == "alert:a1" and event.scopes == ("project:p",) and event.data["condition"] == "used:0.8"
    assert event.data["deliveries"] == [{"channel": EMAIL, "recipient": "pi@uni.example"},
                                        {"channel": WEBHOOK, "recipient": "ops"}]  # fmt: skip
    assert sql.events(0, 10, scope="project:p", types=(ALERT_FIRED,)) == [event]


def test_evaluators_racing_to_fire_one_alert_write_one_row(sql: SqlLedger) -> None:  # noqa: F811
    barrier, outcomes = threading.Barrier(6), []

    def fire(n: int) -> None:
        barrier.wait()
        try:
            with sql.session() as tx:
                tx.add_alert(alert(f"a{n}"), outbox(f"a{n}"))
            outcomes.append("fired")
        except DuplicateKey:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate"] * 5 + ["fired"]
    with sql.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 1
    with sql.session() as tx:
        [fired] = tx.fired_alerts()
        assert len(fired.deliveries) == 2  # the losers' deliveries rolled back with their rows

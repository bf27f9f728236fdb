"""Fired alerts, their outbox, and what alert conditions read (denials, running liens), in a ledger session
(:mod:`hpcpolicy.ledger.alerts`).

A mixin of :class:`~hpcpolicy.ledger.sql.ledger.SqlSession`: an alert, its audit event and its deliveries
commit together. A second alert with the same ``key`` is a DuplicateKey when the session ends: the
caller fires each alert in a session of its own, so the loser of a race between evaluators writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, insert, select, update

from hpcpolicy.ledger.alerts import AlertDelivery, AlertRecord, DeliveryState, FiredAlert
from hpcpolicy.ledger.events import Event, alert_event
from hpcpolicy.ledger.model import Lien, LienState
from hpcpolicy.ledger.sql.rows import from_db, lien_from_row, to_db
from hpcpolicy.ledger.sql.tables import alert_deliveries, alerts, decisions, liens

_JSON = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
#: Keys asked about per statement (an IN list that every backend takes comfortably).
_CHUNK = 500


class AlertRows:
    if TYPE_CHECKING:
        conn: Connection
        audit: bool

        def record(self, event: Event) -> None: ...

    def add_alert(self, alert: AlertRecord, deliveries: Sequence[AlertDelivery]) -> None:
        """Store a fired alert, its audit event and its deliveries (DuplicateKey if its key fired already)."""
        self.conn.execute(insert(alerts), [_alert_row(alert)])
        if deliveries:
            self.conn.execute(insert(alert_deliveries), [_delivery_row(d) for d in deliveries])
        if self.audit:
            self.record(alert_event(alert, deliveries))

    def fired_keys(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` an alert was fired with."""
        wanted, found = sorted(set(keys)), set[str]()
        for i in range(0, len(wanted), _CHUNK):
            query = select(alerts.c.key).where(alerts.c.key.in_(wanted[i : i + _CHUNK]))
            found.update(self.conn.execute(query).scalars())
        return found

    def fired_alerts(self, scopes: Collection[str] | None = None, limit: int = 100) -> list[FiredAlert]:
        """The latest alerts (of ``scopes`` when given), newest first, with their deliveries."""
        query = select(alerts).order_by(alerts.c.fired_at.desc(), alerts.c.id).limit(limit)
        if scopes is not None:
            query = query.where(alerts.c.scope.in_(sorted(scopes)))
        found = [_alert(row) for row in self.conn.execute(query).mappings()]
        sent: dict[str, list[AlertDelivery]] = {a.id: [] for a in found}
        if found:
            rows = select(alert_deliveries).where(alert_deliveries.c.alert_id.in_(list(sent)))
            for row in self.conn.execute(rows.order_by(alert_deliveries.c.id)).mappings():
                sent[row["alert_id"]].append(_delivery(row))
        return [FiredAlert(a, tuple(sent[a.id])) for a in found]

    def deliveries_due(self, now: datetime, limit: int = 100) -> list[tuple[AlertDelivery, AlertRecord]]:
        """Pending deliveries due at ``now``, oldest due first, with their alerts."""
        query = (select(alert_deliveries).where(alert_deliveries.c.state == DeliveryState.PENDING.value,
                                                alert_deliveries.c.next_attempt_at <= to_db(now))
                 .order_by(alert_deliveries.c.next_attempt_at, alert_deliveries.c.id).limit(limit))  # fmt: skip
        due = [_delivery(row) for row in self.conn.execute(query).mappings()]
        ids = sorted({d.alert_id for d in due})
        fired = {row["id"]: _alert(row) for row in
                 self.conn.execute(select(alerts).where(alerts.c.id.in_(ids))).mappings()} if ids else {}  # fmt: skip
        return [(d, fired[d.alert_id]) for d in due if d.alert_id in fired]

    def set_delivery(self, delivery: AlertDelivery) -> None:
        """Record an attempt's outcome (state, attempts, next attempt, delivery time, last error)."""
        values = {k: v for k, v in _delivery_row(delivery).items() if k not in {"alert_id", "channel", "recipient"}}
        self.conn.execute(update(alert_deliveries).where(alert_deliveries.c.id == delivery.id).values(**values))

    def denials(self, since: datetime, limit: int = 100_000) -> list[tuple[datetime, tuple[str, ...]]]:
        """Denied decisions at or after ``since``: when, and the scopes of the account path (the user's own
        when the decision names none). At most ``limit``, newest first."""
        query = (select(decisions.c.at, decisions.c.user_id, decisions.c.decision)
                 .where(decisions.c.allow.is_(False), decisions.c.at >= to_db(since))
                 .order_by(decisions.c.at.desc()).limit(limit))  # fmt: skip
        out = []
        for at, user, decision in self.conn.execute(query):
            body = orjson.loads(decision) if isinstance(decision, str | bytes) else decision
            path = tuple(body.get("account_path") or ()) or (f"user:{user}",)
            out.append((from_db(at) or at, path))
        return out

    def running_liens(self, started_before: datetime) -> list[Lien]:
        """Running liens started before ``started_before`` (a stuck job's candidates)."""
        query = select(liens).where(liens.c.state == LienState.RUNNING.value,
                                    liens.c.started_at < to_db(started_before))  # fmt: skip
        return [lien_from_row(row) for row in self.conn.execute(query.order_by(liens.c.started_at)).mappings()]


def _alert_row(alert: AlertRecord) -> dict[str, Any]:
    return {"id": alert.id, "key": alert.key, "rule": alert.rule, "scope": alert.scope, "subject": alert.subject,
            "condition": alert.condition, "window_start": to_db(alert.window_start),
            "fired_at": to_db(alert.fired_at), "summary": alert.summary,
            "details": orjson.dumps(alert.details, option=_JSON).decode()}  # fmt: skip


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(row["id"], row["key"], row["rule"], row["scope"], row["subject"], row["condition"],
                       from_db(row["window_start"]) or row["window_start"], from_db(row["fired_at"]) or row["fired_at"],
                       row["summary"], orjson.loads(row["details"]))  # fmt: skip


def _delivery_row(d: AlertDelivery) -> dict[str, Any]:
    return {"alert_id": d.alert_id, "channel": d.channel, "recipient": d.recipient, "state": d.state.value,
            "attempts": d.attempts, "next_attempt_at": to_db(d.next_attempt_at), "delivered_at": to_db(d.delivered_at),
            "last_error": d.last_error}  # fmt: skip


def _delivery(row: Any) -> AlertDelivery:
    return AlertDelivery(row["alert_id"], row["channel"], row["recipient"], from_db(row["next_attempt_at"]),
                         DeliveryState(row["state"]), int(row["attempts"]), from_db(row["delivered_at"]),
                         row["last_error"], int(row["id"]))  # fmt: skip

"""The liens of a SQL ledger session read back, and the lapsed ones swept: :class:`LienRows`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, update

from hpcpolicy.ledger.counters import scope_columns
from hpcpolicy.ledger.events import Event, lien_event
from hpcpolicy.ledger.model import Lien, LienState
from hpcpolicy.ledger.rules import OPEN_STATES
from hpcpolicy.ledger.sql import held
from hpcpolicy.ledger.sql.rows import lien_from_row, to_db
from hpcpolicy.ledger.sql.tables import liens
from hpcpolicy.observability.logs import request_id


class LienRows:
    """Reads of the liens table and the sweep of lapsed reservations (a mixin of ``SqlSession``)."""

    if TYPE_CHECKING:
        conn: Connection
        audit: bool

        def record(self, event: Event) -> None: ...

    def get_lien(self, lien_id: str, *, lock: bool = False) -> Lien | None:
        query = select(liens).where(liens.c.id == lien_id)
        if lock:  # FOR UPDATE on PostgreSQL and MariaDB; SQLite's BEGIN IMMEDIATE already serialises writers
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return lien_from_row(row) if row else None

    def find_liens_by_job(self, job_id: str, cluster: str | None = None) -> list[Lien]:
        query = select(liens).where(liens.c.job_id == job_id)
        if cluster is not None:
            query = query.where(liens.c.cluster == cluster)
        return [lien_from_row(row) for row in self.conn.execute(query.order_by(liens.c.cluster)).mappings()]

    def expire_liens(self, now: datetime) -> int:
        """Mark the reservations lapsed at ``now`` expired and take them off their running totals (the
        lapsed rows are locked first: two replicas sweeping at once expire each lien once)."""
        due = select(liens).where(liens.c.state == LienState.RESERVED.value, liens.c.expires_at <= to_db(now))
        expired = [lien_from_row(row) for row in self.conn.execute(due.with_for_update()).mappings()]
        if not expired:
            return 0
        self.conn.execute(
            update(liens).where(liens.c.id.in_([lien.id for lien in expired])).values(state=LienState.EXPIRED.value)
        )
        held.take_off(self.conn, expired)
        if self.audit:
            for lien in expired:  # one event per lien: an audit must say which reservations lapsed, and when
                gone = lien.with_state(LienState.EXPIRED)
                self.record(lien_event(gone, new=False, at=lien.expires_at, request_id=request_id.get()))
        return len(expired)

    def freed_since(self, since: datetime, now: datetime) -> list[Lien]:
        start, end = to_db(since), to_db(now)
        ended = select(liens).where(liens.c.closed_at >= start, liens.c.closed_at < end)
        lapsed = select(liens).where(liens.c.expires_at >= start, liens.c.expires_at < end,
                                     liens.c.started_at.is_(None))  # fmt: skip
        found = {}
        for query in (ended, lapsed):
            for row in self.conn.execute(query).mappings():
                found[row["id"]] = lien_from_row(row)
        return list(found.values())

    def open_liens(self, scope: str | None = None) -> Iterator[Lien]:
        query = select(liens).where(liens.c.state.in_([s.value for s in OPEN_STATES]))
        if scope is not None:
            query = query.where(*(liens.c[column] == value for column, value in scope_columns(scope)))
        for row in self.conn.execute(query.order_by(liens.c.created_at)).mappings():
            yield lien_from_row(row)

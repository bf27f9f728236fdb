"""Policy revisions in the shared database: the record of which policy the service runs.

Why the database: every replica must reach it to decide anyway (it holds the ledger), it is durable and
it orders writes. A replica that restarts, was cut off from Redis or missed a message reads the highest
revision and is right again; nothing else has to be delivered reliably.

Revisions form a chain: each row names the revision it replaced in ``previous_id``, which is unique. Two
writers starting from the same head cannot both append: the loser re-reads the head and appends after
it (an upload), or adopts what it finds (two replicas seeding an empty table at start-up).

Queries run through the ledger's own sessions, so they share its transaction handling (SQLite's writer
lock, READ COMMITTED on servers) and its error mapping: an unreachable database is LedgerUnavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.events import PolicyRevisionFacts, policy_event
from hpcpolicy.ledger.sql.ledger import DuplicateKey, SqlLedger, SqlSession, from_db, to_db
from hpcpolicy.ledger.sql.tables import policy_revisions as table
from hpcpolicy.observability.logs import request_id
from hpcpolicy.policy.diff import summarize

AUTHOR_MAX = 191  # the column's width (indexed-string limit shared with the ledger tables)


@dataclass(frozen=True, slots=True)
class PolicyRevision:
    id: int
    version: str
    text: str
    source: str
    author: str
    created_at: datetime
    previous_id: int = 0  # the revision this one replaced (0: the first)


class RevisionStore:
    def __init__(self, ledger: SqlLedger, *, attempts: int = 5, clock: Callable[[], datetime] | None = None):
        self._ledger = ledger
        self._attempts = attempts
        self._clock = clock or (lambda: datetime.now(UTC))

    def latest_id(self) -> int | None:
        """The highest revision id (one primary-key lookup: what every replica polls)."""
        with self._session() as session:
            return _head(session.conn)

    def latest(self) -> PolicyRevision | None:
        with self._session() as session:
            row = session.conn.execute(select(table).order_by(table.c.id.desc()).limit(1)).mappings().first()
        return _revision(row) if row else None

    def get(self, revision_id: int) -> PolicyRevision | None:
        with self._session() as session:
            row = session.conn.execute(select(table).where(table.c.id == revision_id)).mappings().first()
        return _revision(row) if row else None

    def history(self, limit: int, before: int | None = None) -> list[PolicyRevisionFacts]:
        """The newest ``limit`` revisions (with an id below ``before`` when given), newest first, texts left out."""
        columns = [table.c.id, table.c.previous_id, table.c.version, table.c.source, table.c.author, table.c.created_at]
        query = select(*columns).order_by(table.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(table.c.id < before)
        with self._session() as session:
            rows = session.conn.execute(query).all()
        return [PolicyRevisionFacts(int(r[0]), int(r[1]), r[2], r[3], r[4], _created(r[5])) for r in rows]

    def newest_with(self, version: str) -> PolicyRevision | None:
        """The newest revision that stored a policy with this version (name and content hash), if any."""
        query = select(table).where(table.c.version == version).order_by(table.c.id.desc()).limit(1)
        with self._session() as session:
            row = session.conn.execute(query).mappings().first()
        return _revision(row) if row else None

    def append(self, version: str, text: str, source: str, author: str) -> PolicyRevision:
        """Store a new revision after the current head (retrying if another writer appended meanwhile).

        With the audit log on, what changed since the head is summarised *before* the write transaction
        opens (parsing two large policies takes seconds, and the transaction holds the ledger's locks); a
        head that moved meanwhile is summarised again."""
        for _ in range(self._attempts):
            head, changes = self._changes_since_head(text)
            try:
                with self._session() as session:
                    if (_head(session.conn) or 0) == head:
                        return self._insert(session, head, version, text, source, author, changes)
            except DuplicateKey:
                continue
        raise LedgerUnavailable(f"could not store the policy revision after {self._attempts} conflicting writes")

    def seed(self, version: str, text: str, source: str, author: str) -> PolicyRevision:
        """The first revision, if none is stored; else (another replica got there first) the latest one."""
        changes = summarize(None, text) if self._ledger.audit else None
        try:
            with self._session() as session:
                if _head(session.conn) is None:
                    return self._insert(session, 0, version, text, source, author, changes)
        except DuplicateKey:
            pass  # a replica starting at the same moment seeded it: adopt its revision
        latest = self.latest()
        if latest is None:
            raise LedgerUnavailable("the policy revisions table is empty right after seeding it")
        return latest

    def _changes_since_head(self, text: str) -> tuple[int, dict[str, Any] | None]:
        """(the head's id, 0 for none; what ``text`` changes from it, when the audit log records it)."""
        with self._session() as session:
            row = session.conn.execute(select(table.c.id, table.c.text).order_by(table.c.id.desc()).limit(1)).first()
        head, before = (int(row[0]), str(row[1])) if row else (0, None)
        return head, summarize(before, text) if self._ledger.audit else None

    def _insert(
        self,
        session: SqlSession,
        previous: int,
        version: str,
        text: str,
        source: str,
        author: str,
        changes: dict[str, Any] | None,
    ) -> PolicyRevision:
        """Insert the revision after ``previous`` and, given what changed since it (``changes``: see
        :mod:`hpcpolicy.policy.diff`), its audit event in the same transaction."""
        conn, at = session.conn, self._clock()
        row: dict[str, Any] = {
            "previous_id": previous,
            "version": version,
            "text": text,
            "source": source,
            "author": author[:AUTHOR_MAX],
            "created_at": to_db(at),
        }
        new_id = conn.execute(insert(table), row).inserted_primary_key
        assert new_id is not None
        revision = PolicyRevision(int(new_id[0]), version, text, source, row["author"], at, previous)
        if session.audit and changes is not None:
            facts = PolicyRevisionFacts(revision.id, previous, version, source, revision.author, at)
            session.record(policy_event(facts, changes, request_id.get()))
        return revision

    @contextmanager
    def _session(self) -> Iterator[SqlSession]:
        """A ledger transaction; any other database failure (a schema not migrated) is LedgerUnavailable too."""
        try:
            with self._ledger.session() as session:
                yield session
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(f"policy revisions: {type(exc).__name__}: {exc}") from exc


def _head(conn: Connection) -> int | None:
    value = conn.execute(select(func.max(table.c.id))).scalar()
    return int(value) if value is not None else None


def _created(value: datetime) -> datetime:
    created = from_db(value)
    assert created is not None
    return created


def _revision(row: Any) -> PolicyRevision:
    return PolicyRevision(row["id"], row["version"], row["text"], row["source"], row["author"],
                          _created(row["created_at"]), int(row["previous_id"]))  # fmt: skip

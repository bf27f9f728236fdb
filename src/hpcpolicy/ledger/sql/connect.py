"""Create the SQLAlchemy engine for a ledger URL, with the settings each backend needs to be correct.

- SQLite (embedded default): WAL, ``synchronous=NORMAL``, a busy timeout, and ``BEGIN IMMEDIATE`` for
  every transaction (pysqlite's own transaction handling is turned off so the BEGIN is ours), except on a
  connection marked :data:`READ_ONLY` (reports), whose deferred ``BEGIN`` takes no write lock.
- PostgreSQL (``postgresql+psycopg://``) and MariaDB/MySQL (``mysql+pymysql://``): READ COMMITTED, so a
  balance read after taking scope locks sees everything committed before them; connections idle for a
  while are pinged before use, to drop dead ones after a database restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from hpcpolicy.ledger.sql.driver import wrapped

#: Execution option of a connection that only reads (``conn.execution_options(**{READ_ONLY: True})``): on
#: SQLite its transaction is a deferred ``BEGIN``, a snapshot that holds no lock writers wait for (WAL).
READ_ONLY = "hpcpolicy_read_only"
#: Execution option of a SQLite connection whose ``BEGIN IMMEDIATE`` must not wait for another process's
#: write lock (an inline call on the event loop: :func:`hpcpolicy.ledger.deadline.inline`).
NOWAIT = "hpcpolicy_nowait"


def sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir) / 'ledger.db'}"


def create_ledger_engine(
    url: str, *, connect_timeout: float = 5.0, statement_timeout: float | None = None, pool_size: int = 10
) -> Engine:
    """``statement_timeout`` bounds each statement (PostgreSQL server-side; MariaDB/MySQL as socket read
    and write timeouts, which also catch a database that stops answering), so a worker thread is never
    stuck for long behind a slow or lost database (``hpcpolicy db upgrade`` runs without it)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30.0},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
        )
        _sqlite_transactions(engine)
        return engine
    kwargs: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_timeout": connect_timeout,
        "isolation_level": "READ COMMITTED",
    }
    connect_args: dict[str, Any] = {"connect_timeout": max(1, int(connect_timeout))}
    if backend == "postgresql":
        if statement_timeout is not None:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
        # a dead peer is noticed in about 10 s instead of the kernel's two hours
        connect_args |= {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
    elif backend in {"mysql", "mariadb"}:
        if statement_timeout is not None:
            seconds = max(1, int(statement_timeout + 0.999))
            connect_args |= {"read_timeout": seconds, "write_timeout": seconds}
        kwargs["pool_recycle"] = 3600
    kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 2.0
#: How long SQLite waits for another process's write lock before failing a statement.
SQLITE_BUSY_TIMEOUT_MS = 30000
SQLITE_AUTOCHECKPOINT_PAGES = 10000


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for a while.

    ``pool_pre_ping`` costs a round trip on every checkout, an eighth of a decision's. Under traffic a
    connection that was fine a moment ago almost surely still is, and if the database dies mid-traffic
    the failing statement invalidates the whole pool anyway (SQLAlchemy recycles every connection older
    than the failure), so one request gets a 503 and the next ones reconnect. A connection idle longer
    than ``IDLE_PING_SECONDS`` (a quiet period, a database restart) is pinged, and replaced if dead.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", float("inf")) < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:  # any driver error means the connection is unusable
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # A checkpoint run by a committing writer puts tens of milliseconds into that request's latency;
        # the server checkpoints in the background instead (SqlLedger.checkpoint), and this larger
        # threshold (about 40 MB of WAL) is only the safety net for processes that do not.
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(READ_ONLY):
            if not conn.connection.dbapi_connection.in_transaction:  # else the kept reader's snapshot, begun
                begin_sql(conn, "BEGIN")
        elif options.get(NOWAIT):  # refused at once if another process holds the write lock
            begin_sql(conn, "PRAGMA busy_timeout=0")
            try:
                begin_sql(conn, "BEGIN IMMEDIATE")
            finally:
                begin_sql(conn, f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        else:
            begin_sql(conn, "BEGIN IMMEDIATE")


def begin_sql(conn: Any, sql: str) -> None:
    """``sql`` (a transaction's BEGIN or end) on the DB-API connection itself, a driver error raised as
    SQLAlchemy's: SQLAlchemy's own execution (``exec_driver_sql``) cost a read-only check a tenth of its
    time for a ``BEGIN``."""
    try:
        conn.connection.dbapi_connection.execute(sql)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise wrapped(conn.dialect, sql, (), exc) from exc


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that only reads, over one consistent snapshot, holding no lock a writer
    waits for: on SQLite a deferred ``BEGIN`` (a WAL snapshot), elsewhere REPEATABLE READ. For long reads
    (every quota's standing, a month's chargeback) beside admissions."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name != "sqlite":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect() as conn:
        conn = conn.execution_options(**options)
        with conn.begin():
            yield conn

"""Statements of the hot path run on the DB-API cursor, compiled once.

SQLAlchemy's execution of a compiled statement (its cache key, parameter processing, result wrapping) cost
a decision more than the database did: about 0.2 ms of server CPU for the one read of its balances. The
statements of the hot path are therefore compiled by SQLAlchemy once per shape and dialect
(:func:`compiled`), and run here with the driver's own placeholders. Such a statement has no expanding
parameters (a list is one parameter per element, its length part of the shape), and only values the
drivers take as they are, but for datetimes on SQLite (stored as SQLAlchemy's DATETIME text).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement in the driver's SQL: ``names`` gives the order of positional parameters (SQLite's ``?``);
    None, the driver takes them by name (``%(name)s`` of psycopg and PyMySQL)."""

    sql: str
    names: tuple[str, ...] | None
    text_time: bool
    #: The values the statement carries itself (a constant compared with: ``state = 'reserved'``).
    fixed: Mapping[str, Any]

    def params(self, given: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        values = {**self.fixed, **given} if self.fixed else given
        if self.names is None:
            return values
        if self.text_time:  # text_time() inlined: a read of balances has some fifty parameters
            return tuple(v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v
                         for v in map(values.__getitem__, self.names))  # fmt: skip
        return tuple(values[name] for name in self.names)


def text_time(value: Any) -> Any:
    """A datetime as SQLite's DATETIME text, as SQLAlchemy stores it; anything else as it is."""
    return value.isoformat(" ", "microseconds") if isinstance(value, datetime) else value


def compiled(statement: Any, dialect: Dialect) -> DriverStatement:
    """``statement`` in ``dialect``'s SQL (callers cache the result per shape: compiling is the dear part)."""
    done = statement.compile(dialect=dialect)
    names = tuple(done.positiontup) if done.positiontup is not None else None
    fixed = {name: value for name, value in done.params.items() if value is not None}
    return DriverStatement(done.string, names, dialect.name == "sqlite", fixed)


def fetch(conn: Connection, statement: DriverStatement, values: Mapping[str, Any]) -> list[Any]:
    """The rows of ``statement`` run with ``values`` in ``conn``'s transaction. Driver errors come out as
    SQLAlchemy's, so sessions map them as any other."""
    return fetch_bound(conn, statement.sql, statement.params(values))


def fetch_bound(conn: Connection, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    """:func:`fetch` of parameters already in the driver's form (:meth:`DriverStatement.params`)."""
    with _cursor(conn, sql, params) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


#: psycopg sends up to this many rows as one statement: a reservation's rows (four to seven running
#: totals, two audit events) each sent on their own cost more in the driver than at the server. More (a
#: sweep's) go one statement per row, as on the other drivers.
MULTI_ROW = 32


def one_statement(conn: Connection, rows: int) -> bool:
    """Whether ``rows`` rows of one INSERT go to ``conn``'s database as one multi-row statement."""
    return 1 < rows <= MULTI_ROW and conn.dialect.driver == "psycopg"


def execute_many(conn: Connection, sql: str, rows: Sequence[Any]) -> None:
    """Run ``sql`` (the driver's own placeholders) once per parameter set of ``rows`` in ``conn``'s
    transaction (errors as :func:`fetch`'s)."""
    with _cursor(conn, sql, rows) as cursor:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])  # psycopg's executemany sets up a pipeline: dearer for one row
        else:
            cursor.executemany(sql, rows)


@contextmanager
def _cursor(conn: Connection, sql: str, params: Any) -> Iterator[Any]:
    """The transaction's DB-API cursor, closed after; a driver error raised as SQLAlchemy's."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        raise wrapped(conn.dialect, sql, params, exc) from exc
    finally:
        cursor.close()


@contextmanager
def pipelined(conn: Connection, *, commit: bool = False) -> Iterator[None]:
    """The statements run in this block on ``conn``'s DB-API cursor (:func:`execute_many`) go to the server
    together, their results awaited once at the end (psycopg's pipeline mode: one round trip for a
    decision's writes instead of one each); on other drivers they run as ever. Only for writes whose
    results nobody reads inside the block. A statement's error comes out at the end, as SQLAlchemy's.

    ``commit``: they are the transaction's last, and with psycopg its ``COMMIT`` goes with them (one round
    trip less; the transaction's own commit then finds nothing to do). After an error the server skips the
    rest of the pipeline, the ``COMMIT`` included: the transaction is rolled back as ever."""
    if conn.dialect.driver != "psycopg":
        yield
        return
    raw = conn.connection.dbapi_connection
    try:
        with raw.pipeline():  # type: ignore[union-attr]
            yield
            if commit:
                with raw.cursor() as cursor:  # type: ignore[union-attr]
                    cursor.execute("COMMIT", prepare=False)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise wrapped(conn.dialect, "(pipelined writes)", (), exc) from exc


def wrapped(dialect: Dialect, sql: str, params: Any, exc: Exception) -> DBAPIError:
    """A driver's error as SQLAlchemy would have raised it."""
    return DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error, dialect=dialect)  # type: ignore[return-value]


def run_many(conn: Connection, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` once per row of ``rows`` in ``conn``'s transaction (errors as :func:`fetch`'s)."""
    execute_many(conn, statement.sql, [statement.params(row) for row in rows])

"""Prebuilt statements and row <-> model conversion for the SQL ledger.

Statements are built once at import with bind parameters, so each call only binds values (SQLAlchemy's
compiled cache then skips recompilation); timestamps are stored as naive UTC on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, Select, Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Dialect

from hpcpolicy.engine import Amounts
from hpcpolicy.ledger.counters import Counter
from hpcpolicy.ledger.events import Event, digest
from hpcpolicy.ledger.model import Charge, DecisionFilter, DecisionRecord, Lien, LienState
from hpcpolicy.ledger.sql.driver import DriverStatement, compiled
from hpcpolicy.ledger.sql.tables import charges, decisions, liens, scope_locks


def to_db(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def from_db(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


CHARGE_KIND = "charge"
_SLICE_DIMS = ("cluster", "partition", "gpu_type")


#: A sliced dimension of a counter and how many values it allows: ("cluster", 2).
Dim = tuple[str, int]


def counter_params(found: Counter) -> tuple[tuple[str, ...], tuple[Dim, ...], dict[str, Any]]:
    """The statement shape (columns, sliced dimensions with their number of values) and the bound values of
    a counter: each column's, and ``<dim>s_<k>`` for the ``k``-th value a dimension allows."""
    params: dict[str, Any] = dict(found.columns)
    dims: tuple[Dim, ...] = ()
    if found.slice is not None:
        values = (found.slice.clusters, found.slice.partitions, found.slice.gpu_types)
        for dim, allowed in zip(_SLICE_DIMS, values, strict=True):
            if allowed is not None:
                dims += ((dim, len(allowed)),)
                params |= listed(f"{dim}s", sorted(allowed))
    return tuple(column for column, _ in found.columns), dims, params


def listed(name: str, values: list[Any]) -> dict[str, Any]:
    """A list bound as one parameter per element, ``<name>_<k>`` (see :func:`in_list`)."""
    return {f"{name}_{k}": value for k, value in enumerate(values)}


def in_list(column: Any, name: str, count: int, tag: str) -> Any:
    """``column IN (:<name>_0<tag>, …)``: a list of a known length, one parameter per element, so the
    statement compiles once for the driver (:mod:`~hpcpolicy.ledger.sql.driver`; an expanding parameter is
    rendered anew at every execution)."""
    return column.in_([bindparam(f"{name}_{k}{tag}") for k in range(count)])


def lock_scopes(dialect: Dialect, scopes: list[str]) -> tuple[DriverStatement, dict[str, str]]:
    """The statement locking ``scopes`` (sorted) of an admission in that order, and its values, in the
    driver's SQL (:mod:`~hpcpolicy.ledger.sql.driver`: SQLAlchemy's execution of it cost a decision on a
    database server more than the statement did). Its rows are the scopes that have a row."""
    return _lock_scopes(dialect, len(scopes)), {f"scope_{k}": scope for k, scope in enumerate(scopes)}


@lru_cache(maxsize=32)
def _lock_scopes(dialect: Dialect, count: int) -> DriverStatement:
    scope = scope_locks.c.scope
    return compiled(select(scope).where(in_list(scope, "scope", count, "")).order_by(scope).with_for_update(),
                    dialect)  # fmt: skip


UPDATE_LIEN = update(liens).where(liens.c.id == bindparam("lien_id"))
INSERT_CHARGE = insert(charges)
DECISION_BY_KEY = select(decisions).where(decisions.c.key == bindparam("key"))


def decisions_statement(where: DecisionFilter, limit: int) -> Select[Any]:
    """:meth:`DecisionFilter.admits` in SQL, newest first: the ``at`` index serves the order and the range."""
    c = decisions.c
    query = select(decisions)
    if where.users is not None:
        query = query.where(c.user_id.in_(where.users))
    if where.since is not None:
        query = query.where(c.at >= to_db(where.since))
    if where.until is not None:
        query = query.where(c.at < to_db(where.until))
    if where.allow is not None:
        query = query.where(c.allow == where.allow)
    if where.before is not None:
        at, last = to_db(where.before[0]), where.before[1]
        query = query.where(or_(c.at < at, and_(c.at == at, c.id < last)))
    return query.order_by(c.at.desc(), c.id.desc()).limit(limit)


def lien_row(lien: Lien) -> dict[str, Any]:
    a = lien.amounts
    return {
        "id": lien.id,
        "decision_id": lien.decision_id,
        "user_id": lien.user_id,
        "project": lien.project,
        "team": lien.team,
        "org": lien.org,
        "cluster": lien.cluster,
        "partition": lien.partition,
        "cpus": lien.cpus,
        "gpus": lien.gpus,
        "gpu_type": lien.gpu_type,
        "memory_gb": lien.memory_gb,
        "nodes": lien.nodes,
        "walltime_hours": lien.walltime_hours,
        "cpu_hours": a.cpu_hours,
        "gpu_hours": a.gpu_hours,
        "cost": a.cost,
        "rate_cpu": lien.rates[0],
        "rate_gpu": lien.rates[1],
        "rate_mem": lien.rates[2],
        "created_at": to_db(lien.created_at),
        "expires_at": to_db(lien.expires_at),
        "state": lien.state.value,
        "job_id": lien.job_id,
        "started_at": to_db(lien.started_at),
        "ended_at": to_db(lien.ended_at),
        "policy_version": lien.policy_version,
        "weight_cpu": lien.weights[0],
        "weight_gpu": lien.weights[1],
        "service": lien.service,
        "closed_at": to_db(lien.closed_at),
    }


def lien_from_row(row: Any) -> Lien:
    return Lien(
        id=row["id"],
        decision_id=row["decision_id"],
        user_id=row["user_id"],
        project=row["project"],
        team=row["team"],
        org=row["org"],
        cluster=row["cluster"],
        partition=row["partition"],
        cpus=row["cpus"],
        gpus=row["gpus"],
        gpu_type=row["gpu_type"],
        memory_gb=row["memory_gb"],
        nodes=row["nodes"],
        walltime_hours=row["walltime_hours"],
        amounts=Amounts(row["cpu_hours"], row["gpu_hours"], row["cost"]),
        rates=(row["rate_cpu"], row["rate_gpu"], row["rate_mem"]),
        created_at=from_db(row["created_at"]) or row["created_at"],
        expires_at=from_db(row["expires_at"]) or row["expires_at"],
        state=LienState(row["state"]),
        job_id=row["job_id"],
        started_at=from_db(row["started_at"]),
        ended_at=from_db(row["ended_at"]),
        policy_version=row["policy_version"],
        weights=(row["weight_cpu"], row["weight_gpu"]),
        service=row["service"],
        closed_at=from_db(row["closed_at"]),
    )


def charge_from_row(row: Any) -> Charge:
    return Charge(
        id=row["id"],
        lien_id=row["lien_id"],
        job_id=row["job_id"],
        user_id=row["user_id"],
        project=row["project"],
        team=row["team"],
        org=row["org"],
        cluster=row["cluster"],
        partition=row["partition"],
        amounts=Amounts(row["cpu_hours"], row["gpu_hours"], row["cost"]),
        at=from_db(row["at"]) or row["at"],
        source=row["source"],
        key=row["key"],
        gpu_type=row["gpu_type"],
        raw_hours=None if row["raw_cpu_hours"] is None else (row["raw_cpu_hours"], row["raw_gpu_hours"]),
    )


def decision_from_row(row: Any) -> DecisionRecord:
    return DecisionRecord(
        id=row["id"],
        at=from_db(row["at"]) or row["at"],
        caller=row["caller"],
        user_id=row["user_id"],
        allow=bool(row["allow"]),
        policy_version=row["policy_version"],
        request=row["request"],
        decision=row["decision"],
        lien_id=row["lien_id"],
        key=row["key"],
    )


@lru_cache(maxsize=8)
def driver_insert(dialect: Dialect, table: Table) -> str:
    """``INSERT INTO table`` of every column, in the table's order, in the driver's own SQL: the hot path's
    rows (a lien and a decision per admission) go straight to the DB-API cursor, where SQLAlchemy's
    execution machinery cost more per statement than the database did. Names are quoted by the dialect
    (``key`` and ``partition`` are reserved words in MariaDB). Cached per dialect and table."""
    return _driver_insert(dialect.name, dialect.identifier_preparer.quote, table)


@lru_cache(maxsize=32)
def _driver_insert(name: str, quote: Any, table: Table) -> str:
    mark = "?" if name == "sqlite" else "%s"
    columns = ", ".join(quote(c.name) for c in table.columns)
    return f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join(mark for _ in table.columns)})"


def driver_values(table: Table, row: dict[str, Any], *, text_time: bool) -> tuple[Any, ...]:
    """``row`` in :func:`driver_insert`'s column order, with what SQLAlchemy's column types would have done
    to it: datetimes as SQLite's DATETIME text (``text_time``), JSON columns serialised."""
    values = []
    for name, is_json in _kinds(table):
        value = row[name]
        if isinstance(value, datetime) and text_time:
            value = value.isoformat(" ", "microseconds")
        elif is_json and value is not None:
            value = orjson.dumps(value).decode()
        values.append(value)
    return tuple(values)


@lru_cache(maxsize=32)
def _kinds(table: Table) -> tuple[tuple[str, bool], ...]:
    """Each column's name and whether it holds JSON, in the table's order (asked per row of the hot path)."""
    return tuple((column.name, isinstance(column.type, JSON)) for column in table.columns)


def decision_row(record: DecisionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "at": to_db(record.at),
        "caller": record.caller,
        "user_id": record.user_id,
        "allow": record.allow,
        "policy_version": record.policy_version,
        "request": record.request,
        "decision": record.decision,
        "lien_id": record.lien_id,
        "key": record.key,
    }


#: The columns :func:`event_row` gives values for, in its order.
EVENT_COLUMNS = ("event_id", "type", "subject", "time", "actor", "request_id", "scopes", "body", "digest", "seq",
                 "prev_hash", "hash")  # fmt: skip


@lru_cache(maxsize=64)
def insert_event_sql(dialect: str, count: int = 1) -> str:
    """The INSERT of :func:`event_row`'s values, in the driver's own placeholder style (``?`` for sqlite3,
    ``%s`` for psycopg and PyMySQL), with the columns in the order ``event_row`` lists them; ``count`` rows
    in one statement (their values one after the other)."""
    mark = "?" if dialect == "sqlite" else "%s"
    row = f"({', '.join(mark for _ in EVENT_COLUMNS)})"
    return f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES {', '.join(row for _ in range(count))}"


def event_row(event: Event, *, text_time: bool = False) -> tuple[Any, ...]:
    """The values :func:`insert_event_sql` inserts, in its column order (the body digested once, here).
    ``text_time``: the time as SQLite's DATETIME text (what SQLAlchemy would store), for the driver itself."""
    body = event.body()
    moment = to_db(event.time)
    time = moment.isoformat(" ", "microseconds") if text_time and moment is not None else moment
    return (event.event_id, event.type, event.subject, time, event.actor, event.request_id,
            " ".join(event.scopes), body, digest(body), event.seq, event.prev_hash, event.hash)  # fmt: skip


def event_from_row(row: Any) -> Event:
    """The event as its columns say, with the data of its stored body (verification compares the two:
    :func:`hpcpolicy.ledger.events.verify_stored`)."""
    return Event(
        row["event_id"],
        row["type"],
        row["subject"],
        from_db(row["time"]) or row["time"],
        row["actor"],
        row["request_id"],
        tuple(row["scopes"].split()),
        orjson.loads(row["body"]).get("data"),
        row["seq"],
        row["prev_hash"],
        row["hash"],
    )

"""Grouped sums over the whole ledger: what a dashboard or an alert pass reads for every quota at once.

A balance check reads one quota (:func:`~hpcpolicy.ledger.sql.buckets.settled_parts`); an overview of
2,000 projects would make that 2,000 round trips. These statements instead sum charges per distinct value
of a few path columns (and per UTC day, for burn rates) and adjustments per scope, in one query each;
:mod:`hpcpolicy.service.standings` distributes the rows to the quotas.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Date, bindparam, cast, func, select

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.slices import Slice
from hpcpolicy.ledger.model import AdjustmentKind
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN
from hpcpolicy.ledger.sql import bucket_reads
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import adjustments, charges

#: The charge columns a total may be grouped by: a scope's and a slice's.
GROUPABLE = frozenset({"user_id", "project", "team", "org", "cluster", "partition", "gpu_type"})

Row = tuple[tuple[str | None, ...], date | None, Amounts]


def _day(table: Any, dialect: str) -> Any:
    """The UTC calendar day of a row: timestamps are naive UTC on every backend (SQLite keeps ISO text)."""
    if dialect == "sqlite":
        return func.substr(table.c.at, 1, 10)
    return cast(table.c.at, Date)


def _as_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


@lru_cache(maxsize=128)
def _charge_statement(columns: tuple[str, ...], daily: bool, where: tuple[str, ...], dialect: str) -> Any:
    keys = [charges.c[column] for column in columns]
    if daily:
        keys.append(_day(charges, dialect).label("day"))
    return (
        select(*keys, func.sum(charges.c.cpu_hours), func.sum(charges.c.gpu_hours), func.sum(charges.c.cost))
        .where(charges.c.at >= bindparam("start"), charges.c.at < bindparam("end"),
               *(charges.c[column] == bindparam(f"w_{column}") for column in where))
        .group_by(*keys)
    )  # fmt: skip


@lru_cache(maxsize=8)
def _adjustment_statement(daily: bool, scoped: bool, dialect: str) -> Any:
    keys = [adjustments.c.scope, adjustments.c.kind]
    if daily:
        keys.append(_day(adjustments, dialect).label("day"))
    statement = select(*keys, func.sum(adjustments.c.cpu_hours), func.sum(adjustments.c.gpu_hours),
                       func.sum(adjustments.c.cost))  # fmt: skip
    statement = statement.where(adjustments.c.at >= bindparam("start"), adjustments.c.at < bindparam("end"))
    if scoped:
        statement = statement.where(adjustments.c.scope.in_(bindparam("scopes", expanding=True)))
    return statement.group_by(*keys)


def charge_totals(
    conn: Connection,
    columns: tuple[str, ...],
    start: datetime,
    end: datetime,
    daily: bool,
    where: tuple[tuple[str, str], ...] = (),
) -> list[Row]:
    unknown = (set(columns) | {column for column, _ in where}) - GROUPABLE
    if unknown:
        raise ValueError(f"charges cannot be grouped or filtered by {sorted(unknown)}")
    statement = _charge_statement(columns, daily, tuple(column for column, _ in where), conn.dialect.name)
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end)}
    params |= {f"w_{column}": value for column, value in where}
    width = len(columns)
    out: list[Row] = []
    for row in conn.execute(statement, params):
        cpu, gpu, cost = row[-3:]
        day = _as_date(row[width]) if daily else None
        out.append((tuple(row[:width]), day, Amounts(float(cpu), float(gpu), float(cost))))
    return out


def adjustment_totals(
    conn: Connection, start: datetime, end: datetime, daily: bool, scopes: tuple[str, ...] | None = None
) -> list[tuple[str, date | None, Amounts]]:
    statement = _adjustment_statement(daily, scopes is not None, conn.dialect.name)
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end)}
    if scopes is not None:
        params["scopes"] = list(scopes)
    summed: dict[tuple[str, date | None], Amounts] = {}
    for row in conn.execute(statement, params):
        scope, kind = row[0], row[1]
        cpu, gpu, cost = row[-3:]
        sign = ADJUSTMENT_SIGN[AdjustmentKind(kind)]
        key = (scope, _as_date(row[2]) if daily else None)
        signed = Amounts(sign * float(cpu), sign * float(gpu), sign * float(cost))
        summed[key] = summed[key] + signed if key in summed else signed
    return [(scope, day, amounts) for (scope, day), amounts in summed.items()]


class GroupedReads:
    """The grouped reads of a SQL ledger session (its ``conn``): :mod:`hpcpolicy.service.standings`'s."""

    if TYPE_CHECKING:
        conn: Connection

    def scope_totals(
        self, scopes: Collection[str], start: datetime, end: datetime, sliced: Slice | None = None
    ) -> dict[str, Amounts]:
        return bucket_reads.scope_totals(self.conn, scopes, start, end, sliced)

    def scope_daily(
        self, scopes: Collection[str], first_day: datetime, days: int, sliced: Slice | None = None
    ) -> dict[str, list[Amounts]]:
        return bucket_reads.scope_daily(self.conn, scopes, first_day, days, sliced)

    def adjustment_totals(
        self, start: datetime, end: datetime, *, daily: bool = False, scopes: tuple[str, ...] | None = None
    ) -> list[tuple[str, date | None, Amounts]]:
        return adjustment_totals(self.conn, start, end, daily, scopes)

"""Running totals of charges per scope, UTC day and UTC month, kept with each charge (usage_buckets).

A balance used to be a ``SUM`` over every charge of the window; a window of a busy project holds tens of
thousands. Each charge now also adds itself, in its own transaction, to one ``day`` and one ``month`` row
for every scope it draws on (:func:`~hpcpolicy.ledger.counters.entry_scopes`) and its slice (cluster,
partition, GPU type). A window ``[start, end)`` is then read as (:func:`split`):

- the whole UTC months inside it, from month rows;
- the whole UTC days left at either side of those, from day rows;
- the partial days at its edges (a rolling window's, a zoned window's local midnight), from the charges.

A UTC calendar window reads a few month rows; a rolling or zoned one a few dozen day rows and two partial
days of charges. The rows are proved equal to the charges by property tests and ``hpcpolicy db check``
(:mod:`hpcpolicy.ledger.sql.bucket_check`). See docs/design/usage-buckets.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, bindparam, func, literal_column, or_, select

from hpcpolicy.ledger.sql.rows import CHARGE_KIND, Dim, in_list
from hpcpolicy.ledger.sql.tables import adjustments, charges, usage_buckets

AMOUNTS = ("cpu_hours", "gpu_hours", "cost", "charges")
_DAY = timedelta(days=1)


def bucket_id(scope: str, grain: str, start: datetime, cluster: str | None, partition: str | None,
              gpu_type: str | None) -> str:  # fmt: skip
    """The row's key as one short column: a digest of the key in full (None and '' differ)."""
    key = orjson.dumps([scope, grain, start.strftime("%Y-%m-%d"), cluster, partition, gpu_type])
    return hashlib.sha256(key).hexdigest()


def day_of(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def month_of(moment: datetime) -> datetime:
    return day_of(moment).replace(day=1)


def next_month(month: datetime) -> datetime:
    """The first of the month after ``month`` (a first of a month)."""
    return (month + timedelta(days=32)).replace(day=1)


def bucket_row(
    scope: str, grain: str, start: datetime, sliced: tuple[str | None, str | None, str | None],
    amounts: tuple[float, float, float], count: int,
) -> dict[str, Any]:  # fmt: skip
    """One row of the table, its id included."""
    cluster, partition, gpu_type = sliced
    return {
        "id": bucket_id(scope, grain, start, cluster, partition, gpu_type), "scope": scope,
        "grain": grain, "bucket_start": start, "cluster": cluster, "partition": partition, "gpu_type": gpu_type,
        "cpu_hours": amounts[0], "gpu_hours": amounts[1], "cost": amounts[2], "charges": count,
    }  # fmt: skip


def bucket_rows(
    scopes: list[str], sliced: tuple[str | None, str | None, str | None], at: datetime,
    amounts: tuple[float, float, float], count: int = 1,
) -> list[dict[str, Any]]:  # fmt: skip
    """The rows a charge of ``amounts`` at naive UTC ``at`` adds to: a day and a month row for each of its
    ``scopes`` (:func:`~hpcpolicy.ledger.counters.entry_scopes`) in its slice (cluster, partition, GPU type),
    in key order (two transactions upserting the same rows take their locks in the same order)."""
    day, month = day_of(at), month_of(at)
    rows = [bucket_row(scope, grain, start, sliced, amounts, count)
            for scope in scopes for grain, start in (("day", day), ("month", month))]  # fmt: skip
    rows.sort(key=lambda row: str(row["id"]))
    return rows


def upsert(dialect: str) -> Any:
    """INSERT of bucket rows that adds to the row when its key exists (:func:`upsert_into`)."""
    return upsert_into(usage_buckets, AMOUNTS, dialect)


@lru_cache(maxsize=16)
def upsert_into(table: Table, summed: tuple[str, ...], dialect: str, rows: int = 0) -> Any:
    """INSERT into a table of running totals that adds the ``summed`` columns to the row when its primary key
    exists: ``ON CONFLICT DO UPDATE`` (SQLite, PostgreSQL), ``ON DUPLICATE KEY UPDATE`` (MariaDB, MySQL).
    ``rows`` (PostgreSQL): that many rows in one statement, their parameters named ``<column>_<row>`` (no two
    rows of one key)."""
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mine = mysql_insert(table)
        return mine.on_duplicate_key_update({name: table.c[name] + mine.inserted[name] for name in summed})
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        if rows:
            pg = pg.values([{c.name: bindparam(f"{c.name}_{k}") for c in table.columns} for k in range(rows)])
        added = {name: table.c[name] + pg.excluded[name] for name in summed}
        return pg.on_conflict_do_update(index_elements=list(table.primary_key.columns), set_=added)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table)
        added = {name: table.c[name] + lite.excluded[name] for name in summed}
        return lite.on_conflict_do_update(index_elements=list(table.primary_key.columns), set_=added)
    raise ValueError(f"no upsert for the {dialect} dialect")


def add(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` (:func:`bucket_rows`) to the buckets, in the caller's transaction."""
    if rows:
        conn.execute(upsert(conn.dialect.name), rows)


@dataclass(frozen=True, slots=True)
class Split:
    """``[start, end)`` as charges ``[start, d0)``, day rows ``[d0, m0)``, month rows ``[m0, m1)``, day rows
    ``[m1, d1)`` and charges ``[d1, end)`` (naive UTC; any part may be empty)."""

    start: datetime
    d0: datetime
    m0: datetime
    m1: datetime
    d1: datetime
    end: datetime

    def params(self) -> dict[str, datetime]:
        return {"start": self.start, "d0": self.d0, "m0": self.m0, "m1": self.m1, "d1": self.d1, "end": self.end}

    @property
    def shape(self) -> tuple[bool, bool, bool, bool, bool]:
        """Which parts are not empty: whole months, whole days before and after them, partial days before
        and after."""
        return (self.m0 < self.m1, self.d0 < self.m0, self.m1 < self.d1, self.start < self.d0, self.d1 < self.end)

    @property
    def edges(self) -> tuple[tuple[datetime, datetime], ...]:
        """The parts read from the charges, when not empty."""
        return tuple((a, b) for a, b in ((self.start, self.d0), (self.d1, self.end)) if a < b)


def split(start: datetime, end: datetime, *, months: bool = True) -> Split:
    """Split naive UTC ``[start, end)``; without ``months``, whole days only (a per-day reading)."""
    if end <= start:
        return Split(start, start, start, start, start, start)
    try:
        d0, d1 = day_of(start), day_of(end)
        if d0 < start:
            d0 += _DAY
        if d0 >= d1:
            return Split(start, end, end, end, end, end)
        m0, m1 = month_of(d0), month_of(d1)
        if m0 < d0:
            m0 = next_month(m0)
    except (OverflowError, ValueError):  # a fixed window ending at the end of time: no whole day after its start
        return Split(start, end, end, end, end, end)
    if not months or m0 >= m1:
        m0 = m1 = d1
    return Split(start, d0, m0, m1, d1, end)


def in_buckets(dims: tuple[str, ...]) -> Any:
    """Bucket rows in the window's whole days and months, in the sliced ``dims`` (any scope)."""
    b = usage_buckets.c

    def within(lo: str, hi: str) -> Any:
        return and_(b.bucket_start >= bindparam(lo), b.bucket_start < bindparam(hi))

    whole_months = and_(b.grain == "month", within("m0", "m1"))
    whole_days = and_(b.grain == "day", or_(within("d0", "m0"), within("m1", "d1")))
    return (*(b[dim].in_(bindparam(f"{dim}s", expanding=True)) for dim in dims), or_(whole_months, whole_days))


def settled_parts(
    columns: tuple[str, ...], dims: tuple[Dim, ...], shape: tuple[bool, ...], targets: int, part: int
) -> list[Any]:
    """What a quota has settled in ``[:start, :end)``, as part ``part`` of a batched read
    (:mod:`~hpcpolicy.ledger.sql.usage_read`, which names every parameter ``<name>_<part>``): the buckets'
    sums (scope ``:scope``, in the sliced ``dims``, each with its number of values), the charges of the
    partial days (rows whose ``columns`` equal ``:<column>``) and the signed adjustments on the ``targets``
    scopes ``:targets_<k>``, a row per kind.
    Each row is ``(part, kind, cpu, gpu, cost, 0, 0)`` (where a lien read has its count and GPUs).

    Built for the window's ``shape`` (:attr:`Split.shape`: which of its parts are not empty), so a UTC
    monthly window reads its month rows alone and each partial day is one range of a ``(column, at)``
    index: a statement for every shape at once cost a decision more than the sums it saved on a fresh
    ledger. The read caches what it builds: building SQLAlchemy expressions per call cost more than
    running them."""
    months, days_before, days_after, edge_before, edge_after = shape
    b = usage_buckets.c
    tag = f"_{part}"
    lead: Any = literal_column(str(part))
    kind: Any = literal_column(f"'{CHARGE_KIND}'")
    no_jobs: Any = literal_column("0")
    no_gpus: Any = literal_column("0")

    def p(name: str) -> Any:
        return bindparam(name + tag)

    def within(lo: str, hi: str) -> Any:
        return and_(b.bucket_start >= p(lo), b.bucket_start < p(hi))

    kept = [and_(b.grain == "month", within("m0", "m1"))] if months else []
    kept += [and_(b.grain == "day", within("d0", "m0"))] if days_before else []
    kept += [and_(b.grain == "day", within("m1", "d1"))] if days_after else []
    parts: list[Any] = []
    if kept:
        sliced = (in_list(b[dim], f"{dim}s", n, tag) for dim, n in dims)
        parts.append(select(lead, kind, *(func.sum(b[name]) for name in AMOUNTS[:3]), no_jobs, no_gpus)
                     .where(b.scope == p("scope"), *sliced, or_(*kept)))  # fmt: skip
    for wanted, lo, hi in ((edge_before, "start", "d0"), (edge_after, "d1", "end")):
        if wanted:
            parts.append(select(lead, kind, func.sum(charges.c.cpu_hours), func.sum(charges.c.gpu_hours),
                                func.sum(charges.c.cost), no_jobs, no_gpus).where(
                *(charges.c[column] == p(column) for column in columns),
                *(in_list(charges.c[dim], f"{dim}s", n, tag) for dim, n in dims),
                charges.c.at >= p(lo), charges.c.at < p(hi),
            ))  # fmt: skip
    parts.append(
        select(lead, adjustments.c.kind, func.sum(adjustments.c.cpu_hours), func.sum(adjustments.c.gpu_hours),
               func.sum(adjustments.c.cost), no_jobs, no_gpus)
        .where(in_list(adjustments.c.scope, "targets", targets, tag),
               adjustments.c.at >= p("start"), adjustments.c.at < p("end"))
        .group_by(adjustments.c.kind)
    )  # fmt: skip
    return parts

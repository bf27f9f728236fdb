"""The running totals recomputed from the charges: migration 0009's backfill and ``hpcpolicy db check``.

The charges are grouped in the database per account path, slice and UTC day (the groups, not the charges,
reach Python); each group is then added to its scopes' day and month rows exactly as a new charge would be
(:func:`~hpcpolicy.ledger.sql.buckets.bucket_rows`). :func:`differences` compares that with the stored rows
(amounts within a relative 1e-9: the two sums add the same numbers in different orders), and
:func:`rewrite` replaces the stored rows with it, in the caller's transaction.

All of it goes a UTC month at a time (a month's day and month rows hold only that month's charges): the
rows of one month are in memory at once, not the whole table's (about 600 MB of Python objects for
200,000 charges when it was done in one piece).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Date, Engine, cast, delete, func, insert, select, text

from hpcpolicy.ledger.counters import entry_scopes
from hpcpolicy.ledger.sql.buckets import bucket_row, month_of, next_month
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.tables import charges, usage_buckets

#: Relative difference two sums of the same charges may show (their order of addition differs).
TOLERANCE = 1e-9
_KEY = ("user_id", "project", "team", "org", "cluster", "partition", "gpu_type")
_BATCH = 5000
#: The columns the id digests: a row whose id matches but whose key does not was edited.
_KEYED = ("scope", "grain", "bucket_start", "cluster", "partition", "gpu_type")


class AccountPath(NamedTuple):
    """A group of charges' account path, as :func:`~hpcpolicy.ledger.counters.entry_scopes` reads a charge."""

    user_id: str
    project: str | None
    team: str | None
    org: str | None


@dataclass(frozen=True, slots=True)
class Difference:
    """A bucket whose stored amounts (None: missing) differ from the charges' (None: should not exist)."""

    scope: str
    grain: str
    bucket_start: datetime
    slice: tuple[str | None, str | None, str | None]
    stored: tuple[float, float, float, int] | None
    expected: tuple[float, float, float, int] | None


def _day(dialect: str) -> Any:
    return func.substr(charges.c.at, 1, 10) if dialect == "sqlite" else cast(charges.c.at, Date)


def months(conn: Connection) -> list[tuple[datetime, datetime]]:
    """The UTC months from the first charge or bucket to the last, each as ``[start, end)``."""
    found = [conn.execute(select(func.min(column), func.max(column))).one()
             for column in (charges.c.at, usage_buckets.c.bucket_start)]  # fmt: skip
    lows = [_moment(low) for low, _ in found if low is not None]
    highs = [_moment(high) for _, high in found if high is not None]
    if not lows:
        return []
    out, month, last = [], month_of(min(lows)), month_of(max(highs))
    while month <= last:
        following = next_month(month)
        out.append((month, following))
        month = following
    return out


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def recompute(
    conn: Connection, start: datetime | None = None, end: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Every bucket row the charges dated in ``[start, end)`` call for (all of them without), by id."""
    out: dict[str, dict[str, Any]] = {}
    for _, _, _, rows in pieces(conn, start, end):
        out |= rows
    return out


#: A piece of the recomputation: the rows of one grain whose bucket starts in ``[start, end)``, by id.
Piece = tuple[str, datetime, datetime, dict[str, dict[str, Any]]]


def pieces(conn: Connection, start: datetime | None = None, end: datetime | None = None) -> Iterator[Piece]:
    """The rows the charges of ``[start, end)`` call for, a UTC day at a time: each day's day rows as soon as
    day's groups are summed, and each month's month rows after its last day (so memory holds the groups as
    tuples, one day's day rows and one month's month rows, not a month's day rows: those of a busy site's
    month are gigabytes of Python objects)."""
    day_label = _day(conn.dialect.name).label("day")
    keys = [charges.c[name] for name in _KEY]
    query = select(day_label, *keys, func.sum(charges.c.cpu_hours), func.sum(charges.c.gpu_hours),
                   func.sum(charges.c.cost), func.count()).group_by(day_label, *keys).order_by(day_label)  # fmt: skip
    if start is not None and end is not None:
        query = query.where(charges.c.at >= start, charges.c.at < end)
    days: dict[tuple[Any, ...], list[float]] = {}
    months_: dict[tuple[Any, ...], list[float]] = {}
    current: datetime | None = None
    found = conn.execute(query).all()  # the groups as tuples (a cursor left open while rows are written is not
    for row in found:  # portable); the heavy part, the rows per scope, is built a day at a time
        raw = row[0]
        on = date.fromisoformat(raw) if isinstance(raw, str) else raw
        day = datetime(on.year, on.month, on.day)
        if current is not None and day != current:
            yield "day", current, current + timedelta(days=1), _rows("day", days)
            days = {}
            if day.replace(day=1) != current.replace(day=1):
                month = current.replace(day=1)
                yield "month", month, next_month(month), _rows("month", months_)
                months_ = {}
        current = day
        sums = (float(row[8]), float(row[9]), float(row[10]), int(row[11]))
        sliced = tuple(row[5:8])
        for scope in entry_scopes(AccountPath(*row[1:5])):
            _add(days, (scope, day, *sliced), sums)
            _add(months_, (scope, day.replace(day=1), *sliced), sums)
    if current is not None:
        yield "day", current, current + timedelta(days=1), _rows("day", days)
        month = current.replace(day=1)
        yield "month", month, next_month(month), _rows("month", months_)


def _add(summed: dict[tuple[Any, ...], list[float]], key: tuple[Any, ...], sums: tuple[float, ...]) -> None:
    mine = summed.get(key)
    if mine is None:
        summed[key] = list(sums)
    else:
        for k, value in enumerate(sums):
            mine[k] += value


def _rows(grain: str, summed: dict[tuple[Any, ...], list[float]]) -> dict[str, dict[str, Any]]:
    out = {}
    for (scope, start, *sliced), sums in summed.items():
        made = bucket_row(scope, grain, start, (sliced[0], sliced[1], sliced[2]), (sums[0], sums[1], sums[2]),
                          int(sums[3]))  # fmt: skip
        out[made["id"]] = made
    return out


def stored(
    conn: Connection, start: datetime | None = None, end: datetime | None = None, grain: str | None = None
) -> dict[str, dict[str, Any]]:
    """The stored rows (of ``grain``, when given) whose bucket starts in ``[start, end)`` (all without), by id."""
    query = select(usage_buckets)
    if start is not None and end is not None:
        query = query.where(usage_buckets.c.bucket_start >= start, usage_buckets.c.bucket_start < end)
    if grain is not None:
        query = query.where(usage_buckets.c.grain == grain)
    return {row["id"]: dict(row) for row in conn.execute(query).mappings()}


def _amounts(row: dict[str, Any] | None) -> tuple[float, float, float, int] | None:
    if row is None:
        return None
    return float(row["cpu_hours"]), float(row["gpu_hours"]), float(row["cost"]), int(row["charges"])


def same_sums(a: tuple[float | int, ...], b: tuple[float | int, ...], *, abs_tol: float = TOLERANCE) -> bool:
    """Two rows of running totals alike: amounts (the first three) within :data:`TOLERANCE` relative (or
    ``abs_tol``), counts (the rest) exactly."""
    return a[3:] == b[3:] and all(
        math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=abs_tol) for x, y in zip(a[:3], b[:3], strict=True)
    )


def differences(expected: dict[str, dict[str, Any]], found: dict[str, dict[str, Any]]) -> list[Difference]:
    """The buckets that are missing, extra, or hold other amounts (or another key) than the charges'."""
    out = []
    for key in sorted(expected.keys() | found.keys()):
        want, have = expected.get(key), found.get(key)
        a, b = _amounts(have), _amounts(want)
        if (
            have is not None
            and want is not None
            and a is not None
            and b is not None
            and same_sums(a, b)
            and all(have[n] == want[n] for n in _KEYED)
        ):
            continue
        row = want or have
        assert row is not None
        out.append(Difference(row["scope"], row["grain"], row["bucket_start"],
                              (row["cluster"], row["partition"], row["gpu_type"]), a, b))  # fmt: skip
    return out


def rewrite(
    conn: Connection, expected: dict[str, dict[str, Any]], start: datetime, end: datetime, grain: str
) -> int:
    """Replace the stored rows of ``grain`` in ``[start, end)`` with ``expected``, in the caller's
    transaction; the rows written."""
    conn.execute(delete(usage_buckets).where(usage_buckets.c.grain == grain, usage_buckets.c.bucket_start >= start,
                                             usage_buckets.c.bucket_start < end))  # fmt: skip
    rows = list(expected.values())
    for k in range(0, len(rows), _BATCH):
        conn.execute(insert(usage_buckets), rows[k : k + _BATCH])
    return len(rows)


def backfill(conn: Connection) -> int:
    """Rewrite every bucket from the charges, a month at a time, in the caller's transaction (migration
    0009, and benchmarks that bulk-load charges); the rows written."""
    conn.execute(delete(usage_buckets))
    written = 0
    for start, end in months(conn):
        for grain, low, high, rows in pieces(conn, start, end):
            written += rewrite(conn, rows, low, high, grain)
    return written


def check(engine: Engine, *, repair: bool = False) -> list[Difference]:
    """The buckets that differ from the charges. With ``repair``, rewrite the months where any does, in one
    transaction that no charge commits into meanwhile: SQLite's write lock; on PostgreSQL a lock on
    ``charges`` that lets readers in; on MariaDB SERIALIZABLE, whose reads lock what they read."""
    found: list[Difference] = []
    if not repair:
        with read_only(engine) as conn:
            for start, end in months(conn):
                found += _month_differences(conn, start, end, repair=False)
        return found
    options = {"isolation_level": "SERIALIZABLE"} if engine.dialect.name in ("mysql", "mariadb") else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE charges, usage_buckets IN SHARE ROW EXCLUSIVE MODE"))
        for start, end in months(conn):
            found += _month_differences(conn, start, end, repair=True)
    return found


def _month_differences(conn: Connection, start: datetime, end: datetime, *, repair: bool) -> list[Difference]:
    """One month's differences, piece by piece (rewriting each piece that differs, with ``repair``), and the
    stored rows of the month that no charge calls for at all (deleted, with ``repair``)."""
    found: list[Difference] = []
    seen: set[tuple[str, datetime]] = set()
    for grain, low, high, rows in pieces(conn, start, end):
        seen.add((grain, low))
        wrong = differences(rows, stored(conn, low, high, grain))
        if wrong and repair:
            rewrite(conn, rows, low, high, grain)
        found += wrong
    pieces_stored = select(usage_buckets.c.grain, usage_buckets.c.bucket_start).distinct().where(
        usage_buckets.c.bucket_start >= start, usage_buckets.c.bucket_start < end)
    for grain, low in conn.execute(pieces_stored).all():
        low = _moment(low)
        if (grain, low) in seen:
            continue
        high = low + timedelta(days=1) if grain == "day" else next_month(low)
        strays = stored(conn, low, high, grain)  # a day or month no charge is dated in
        if repair:
            rewrite(conn, {}, low, high, grain)
        found += differences({}, strays)
    return found

"""Every balance a decision reads, in one statement.

A decision on a path of five budgets used to ask the database ten times: each counter's open liens, then
each window's settled charges and adjustments. Each statement costs a round trip to a database server and,
on any backend, SQLAlchemy's execution machinery, which on this hot path cost more than the sums. The
reads are the statements a single read makes (:func:`~hpcpolicy.ledger.sql.held.held_parts`,
:func:`~hpcpolicy.ledger.sql.buckets.settled_parts`), each tagged with its part number and its parameters
named ``<name>_<part>``, joined by ``UNION ALL``; the rows are sorted back to their parts here.
``SqlSession.settled`` and ``reserved`` are this read of one part.

Run after the scope locks are held (PostgreSQL and MariaDB read at READ COMMITTED, so the one statement
sees every admission committed before the locks were granted), or inside SQLite's ``BEGIN IMMEDIATE``.
The statement is built and compiled once per shape of the path (which counters, which window shapes, how
many values each list has) and run on the driver's cursor (:mod:`~hpcpolicy.ledger.sql.driver`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, union_all
from sqlalchemy.engine import Dialect

from hpcpolicy.engine import Active, Amounts
from hpcpolicy.engine.usage import ZERO
from hpcpolicy.ledger.counters import Target, counter
from hpcpolicy.ledger.model import AdjustmentKind
from hpcpolicy.ledger.rules import ADJUSTMENT_SIGN, UsageReads
from hpcpolicy.ledger.sql import buckets
from hpcpolicy.ledger.sql.driver import DriverStatement, compiled, fetch_bound, text_time
from hpcpolicy.ledger.sql.held import HELD_KIND, LAPSED_KIND, held_parts
from hpcpolicy.ledger.sql.rows import CHARGE_KIND, counter_params, listed, to_db

#: Parts per statement at most: SQLite allows 500 terms in a compound SELECT, and a window has up to four.
MAX_PARTS = 100

#: The sign of each kind of row that is not an adjustment's: a lapsed reservation is taken off its totals.
_SIGN = {CHARGE_KIND: 1, HELD_KIND: 1, LAPSED_KIND: -1}

#: ("liens", columns, dims) or ("settled", columns, dims, window shape, adjusted scopes): one part of the
#: batched read (dims with their number of values: :func:`~hpcpolicy.ledger.sql.rows.counter_params`).
Spec = tuple[Any, ...]


def read_usage(
    conn: Connection, reads: UsageReads, now: datetime
) -> tuple[list[tuple[Amounts, Active]], list[Amounts]]:
    """Open liens of each of ``reads.liens`` at ``now`` and what each of ``reads.windows`` settled, as
    :meth:`SqlSession.reserved <hpcpolicy.ledger.sql.ledger.SqlSession.reserved>` and
    :meth:`~hpcpolicy.ledger.sql.ledger.SqlSession.settled` would each answer them."""
    totals: list[list[float]] = [[0.0, 0.0, 0.0, 0, 0] for _ in range(len(reads.liens) + len(reads.windows))]
    moment = to_db(now)
    for chunk in plan(conn.dialect, reads):
        for part, kind, cpu, gpu, cost, jobs, gpus in fetch_bound(conn, chunk.statement.sql, chunk.at(moment)):
            if cpu is None:  # SUM over no rows
                continue
            sign = _SIGN.get(kind) or ADJUSTMENT_SIGN[AdjustmentKind(kind)]
            sums = totals[chunk.first + int(part)]
            sums[0] += sign * float(cpu)
            sums[1] += sign * float(gpu)
            sums[2] += sign * float(cost)
            sums[3] += sign * int(jobs)
            sums[4] += sign * int(gpus)
    # No lien open, nothing held: not what rounding left of amounts added to a running total and taken off.
    held = [(Amounts(*row[:3]) if row[3] else ZERO, Active(int(row[3]), int(row[4])))
            for row in totals[: len(reads.liens)]]  # fmt: skip
    return held, [Amounts(*row[:3]) for row in totals[len(reads.liens) :]]


class _Now:
    """Where ``:now`` goes in a chunk's prepared parameters (the one value that changes at every read)."""


_NOW = _Now()


@dataclass(frozen=True, slots=True)
class Chunk:
    """Up to :data:`MAX_PARTS` parts of a read (its first is part ``first`` of the whole), compiled, with
    every parameter in the driver's form but ``:now``."""

    first: int
    statement: DriverStatement
    prepared: Sequence[Any] | Mapping[str, Any]
    now_at: tuple[int, ...]

    def at(self, moment: datetime | None) -> Sequence[Any] | Mapping[str, Any]:
        """The parameters with ``:now`` = ``moment`` (naive UTC)."""
        if isinstance(self.prepared, Mapping):
            return {**self.prepared, "now": moment}
        values = list(self.prepared)
        now = text_time(moment) if self.statement.text_time else moment
        for index in self.now_at:
            values[index] = now
        return values


#: Plans by dialect and reads: a path's windows stay the same for a month (a rolling window's do not, and
#: its reads are planned anew each time); building the parameters cost more than running the read.
_PLANS: dict[tuple[Any, ...], tuple[Chunk, ...]] = {}
_PLAN_LIMIT = 4096


def plan(dialect: Dialect, reads: UsageReads) -> tuple[Chunk, ...]:
    """The compiled chunks of ``reads`` and their parameters but ``:now`` (memoised per reads)."""
    key = (dialect, tuple(_target_key(t) for t in reads.liens),
           tuple((_target_key(t), start, end) for t, start, end in reads.windows))  # fmt: skip
    found = _PLANS.get(key)
    if found is None:
        if len(_PLANS) >= _PLAN_LIMIT:
            _PLANS.clear()
        found = _PLANS[key] = _plan(dialect, reads)
    return found


def _target_key(target: Target) -> Any:
    """What :func:`~hpcpolicy.ledger.counters.counter` reads of a target."""
    return target if isinstance(target, str) else (target.id, target.scope, target.slice)


def _plan(dialect: Dialect, reads: UsageReads) -> tuple[Chunk, ...]:
    specs: list[Spec] = []
    params: list[dict[str, Any]] = []
    for target in reads.liens:
        found = counter(target)
        columns, dims, values = counter_params(found)
        specs.append(("liens", columns, dims))
        params.append(values | {"scope": found.scope})
    for target, start, end in reads.windows:
        found = counter(target)
        columns, dims, values = counter_params(found)
        window = buckets.split(to_db(start) or start, to_db(end) or end)
        specs.append(("settled", columns, dims, window.shape, len(found.adjusted)))
        params.append(values | listed("targets", list(found.adjusted)) | {"scope": found.scope} | window.params())
    chunks = []
    for first in range(0, len(specs), MAX_PARTS):
        statement = driver_statement(tuple(specs[first : first + MAX_PARTS]), dialect)
        bound: dict[str, Any] = {"now": _NOW}
        for part, values in enumerate(params[first : first + MAX_PARTS]):
            bound |= {f"{name}_{part}": value for name, value in values.items()}
        prepared = statement.params(bound)
        now_at = () if isinstance(prepared, Mapping) else tuple(i for i, v in enumerate(prepared) if v is _NOW)
        chunks.append(Chunk(first, statement, prepared, now_at))
    return tuple(chunks)


@lru_cache(maxsize=1024)
def usage_statement(specs: tuple[Spec, ...]) -> Any:
    """The ``UNION ALL`` of each part's selects; each row is ``(part, kind, cpu, gpu, cost, jobs, gpus)``."""
    selects: list[Any] = []
    for part, spec in enumerate(specs):
        if spec[0] == "liens":
            selects.extend(held_parts(spec[1], spec[2], part))
        else:
            selects.extend(buckets.settled_parts(spec[1], spec[2], spec[3], spec[4], part))
    return union_all(*selects) if len(selects) > 1 else selects[0]


@lru_cache(maxsize=1024)
def driver_statement(specs: tuple[Spec, ...], dialect: Dialect) -> DriverStatement:
    """:func:`usage_statement` compiled for ``dialect``'s driver (:mod:`~hpcpolicy.ledger.sql.driver`)."""
    return compiled(usage_statement(specs), dialect)

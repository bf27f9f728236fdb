"""Running totals of the open liens per scope and slice (held_totals), kept with every change of a lien.

A balance counts the liens still open: running, or reserved and not lapsed. Summing them per decision read
every open lien of the scope, and an org's scope holds all of its members' pending and running jobs (3 ms
on SQLite at 11,500 of them, growing with each). Each lien now also adds itself, in its own transaction, to
one row per scope it draws on (:func:`~hpcpolicy.ledger.counters.entry_scopes`) in its slice (cluster,
partition, GPU type) while it is reserved or running, and takes itself off when it closes.

A reservation lapses by the clock, not by a write: until the sweeper (``Jobs.expire``, every few seconds in
the service) marks it expired, it is still in its rows. A read therefore subtracts the scope's reservations
whose ``expires_at`` has passed, one range of a ``(state, <scope column>, expires_at)`` index: the few not
swept yet, not the scope's open liens (:func:`held_parts`). ``hpcpolicy db check`` recomputes the rows
from the liens (:mod:`~hpcpolicy.ledger.sql.held_check`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, literal_column, select
from sqlalchemy.engine import Dialect

from hpcpolicy.ledger.counters import entry_scopes
from hpcpolicy.ledger.model import Lien, LienState
from hpcpolicy.ledger.rules import OPEN_STATES
from hpcpolicy.ledger.sql.buckets import upsert_into
from hpcpolicy.ledger.sql.driver import MULTI_ROW, DriverStatement, compiled, one_statement, run_many
from hpcpolicy.ledger.sql.rows import Dim, in_list
from hpcpolicy.ledger.sql.tables import held_totals, liens

#: The summed columns of a row, in the order a read returns them.
SUMS = ("cpu_hours", "gpu_hours", "cost", "jobs", "gpus")
#: The kind of a read's row of lapsed reservations: subtracted from the running total.
LAPSED_KIND = "lapsed"
HELD_KIND = "held"


def held_id(scope: str, cluster: str | None, partition: str | None, gpu_type: str | None) -> str:
    """The row's key as one short column: a digest of the key in full (None and '' differ)."""
    return hashlib.sha256(orjson.dumps([scope, cluster, partition, gpu_type])).hexdigest()


def held_row(
    scope: str, sliced: tuple[str | None, str | None, str | None], sums: tuple[float, float, float, int, int]
) -> dict[str, Any]:
    cluster, partition, gpu_type = sliced
    return {"scope": scope, "id": held_id(scope, cluster, partition, gpu_type), "cluster": cluster,
            "partition": partition, "gpu_type": gpu_type, "cpu_hours": sums[0], "gpu_hours": sums[1],
            "cost": sums[2], "jobs": sums[3], "gpus": sums[4]}  # fmt: skip


def contribution(lien: Lien, sign: int) -> list[dict[str, Any]]:
    """What ``lien`` adds to (``sign`` 1) or takes off (-1) its scopes' rows: nothing unless it is reserved
    or running."""
    if lien.state not in OPEN_STATES:
        return []
    a = lien.amounts
    sums = (sign * a.cpu_hours, sign * a.gpu_hours, sign * a.cost, sign, sign * lien.gpus)
    sliced = (lien.cluster, lien.partition, lien.gpu_type)
    return [held_row(scope, sliced, sums) for scope in entry_scopes(lien)]


def change(conn: Connection, before: Lien | None, after: Lien | None) -> None:
    """Move the rows from what ``before`` held to what ``after`` holds (either may be None: a new lien, a
    removed one), in the caller's transaction. A change that moves nothing (a reservation started, its
    amounts and path the same) cancels out and writes nothing."""
    _apply(conn, (contribution(before, -1) if before is not None else []) + (
        contribution(after, 1) if after is not None else []))  # fmt: skip


def take_off(conn: Connection, gone: Sequence[Lien]) -> None:
    """Take ``gone`` (liens that were open, now closed) off their rows, in the caller's transaction."""
    _apply(conn, [row for lien in gone for row in contribution(lien, -1)])


def merged(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``rows`` with those of one key (``id``) added into one, by key."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        mine = out.get(row["id"])
        if mine is None:
            out[row["id"]] = dict(row)
        else:
            for name in SUMS:
                mine[name] += row[name]
    return out


def _apply(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` to the table, those of one key merged first and those that came to nothing left out, in
    key order (two transactions changing the same rows take their locks in the same order)."""
    by_key = merged(rows)
    changed = [by_key[key] for key in sorted(by_key) if any(by_key[key][name] for name in SUMS)]
    if one_statement(conn, len(changed)):
        numbered = {f"{name}_{k}": value for k, row in enumerate(changed) for name, value in row.items()}
        run_many(conn, _upsert_rows(conn.dialect, len(changed)), [numbered])
    elif changed:
        run_many(conn, _upsert(conn.dialect), changed)


@lru_cache(maxsize=8)
def _upsert(dialect: Dialect) -> DriverStatement:
    return compiled(upsert_into(held_totals, SUMS, dialect.name), dialect)


@lru_cache(maxsize=MULTI_ROW + 1)
def _upsert_rows(dialect: Dialect, count: int) -> DriverStatement:
    """``count`` rows in one upsert (PostgreSQL), their parameters named ``<column>_<row>``."""
    return compiled(upsert_into(held_totals, SUMS, dialect.name, count), dialect)


def held_parts(columns: tuple[str, ...], dims: tuple[Dim, ...], part: int) -> list[Any]:
    """One counter's open liens as part ``part`` of a batched read (:mod:`~hpcpolicy.ledger.sql.usage_read`,
    which names every parameter ``<name>_<part>``; ``:now`` is shared): its running totals (scope
    ``:scope``, in the sliced ``dims``, each with its number of values), and the reservations of its
    ``columns`` lapsed at ``:now`` but not swept, to subtract. Each row is ``(part, kind, cpu, gpu, cost,
    jobs, gpus)``."""
    tag = f"_{part}"
    h = held_totals.c
    lead: Any = literal_column(str(part))
    totals = select(lead, literal_column(f"'{HELD_KIND}'"), *(func.sum(h[name]) for name in SUMS)).where(
        h.scope == bindparam("scope" + tag), *(in_list(h[dim], f"{dim}s", n, tag) for dim, n in dims)
    )
    c = liens.c
    lapsed = select(
        lead,
        literal_column(f"'{LAPSED_KIND}'"),
        func.sum(c.cpu_hours),
        func.sum(c.gpu_hours),
        func.sum(c.cost),
        func.count(),
        func.sum(c.gpus),
    ).where(
        c.state == LienState.RESERVED.value,
        *(c[column] == bindparam(column + tag) for column in columns),
        c.expires_at <= bindparam("now"),
        *(in_list(c[dim], f"{dim}s", n, tag) for dim, n in dims),
    )
    return [totals, lapsed]


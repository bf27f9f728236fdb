"""Many scopes' consumption at once from the running totals: a query per window and slice, a row per scope.

What the dashboard's overview and the alert pass read for every quota
(:meth:`~hpcpolicy.ledger.base.LedgerSession.scope_totals`, ``scope_daily``). A window is split as a balance
check splits it (:func:`~hpcpolicy.ledger.sql.buckets.split`): month and day rows of the scopes asked, and
the charges of its partial days, grouped per account path in the database and distributed to the scopes
here. The last days' burn is whole days only: day rows, a row per scope and day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, select, type_coerce

from hpcpolicy.engine import Amounts
from hpcpolicy.engine.slices import Slice
from hpcpolicy.engine.usage import ZERO
from hpcpolicy.ledger.counters import entry_scopes, scope_columns
from hpcpolicy.ledger.sql.bucket_check import AccountPath
from hpcpolicy.ledger.sql.buckets import day_of, in_buckets, split
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import charges, usage_buckets

#: Scopes per statement: an IN list well inside every backend's limit on bound parameters.
_CHUNK = 2000
_DIMS = ("cluster", "partition", "gpu_type")
_METRICS = ("cpu_hours", "gpu_hours", "cost")
#: How SQLAlchemy stores a DateTime in SQLite (text), and so how a day comes back from :func:`_daily_statement`.
_STORED = "%Y-%m-%d %H:%M:%S.%f"


def _slice_params(sliced: Slice | None) -> tuple[tuple[str, ...], dict[str, Any]]:
    if sliced is None:
        return (), {}
    dims: tuple[str, ...] = ()
    params: dict[str, Any] = {}
    for dim, allowed in zip(_DIMS, (sliced.clusters, sliced.partitions, sliced.gpu_types), strict=True):
        if allowed is not None:
            dims += (dim,)
            params[f"{dim}s"] = sorted(allowed)
    return dims, params


def _in(table: Any, dims: tuple[str, ...]) -> list[Any]:
    return [table.c[dim].in_(bindparam(f"{dim}s", expanding=True)) for dim in dims]


@lru_cache(maxsize=64)
def _window_statement(dims: tuple[str, ...]) -> Any:
    b = usage_buckets.c
    scoped = (b.scope.in_(bindparam("scopes", expanding=True)), *in_buckets(dims))
    return select(b.scope, *(func.sum(b[m]) for m in _METRICS)).where(*scoped).group_by(b.scope)


@lru_cache(maxsize=64)
def _edge_statement(dims: tuple[str, ...], column: str) -> Any:
    """Charges in ``[:a, :b)`` whose ``column`` is one of ``:names``, per account path: through that column's
    ``(column, at)`` index, only the charges of the scopes asked."""
    keys = (charges.c.user_id, charges.c.project, charges.c.team, charges.c.org)
    return (
        select(*keys, *(func.sum(charges.c[m]) for m in _METRICS))
        .where(charges.c[column].in_(bindparam("names", expanding=True)), charges.c.at >= bindparam("a"),
               charges.c.at < bindparam("b"), *_in(charges, dims))
        .group_by(*keys)
    )  # fmt: skip


def _by_column(scopes: Collection[str]) -> dict[str, dict[str, set[str]]]:
    """The scopes by the charge column that finds their charges (a member's: its project's), then by name."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for scope in scopes:
        column, name = scope_columns(scope)[0]
        if column in charges.c:  # a service's scopes count liens only: no charges
            out[column][name].add(scope)
    return out


@lru_cache(maxsize=64)
def _daily_statement(dims: tuple[str, ...]) -> Any:
    """Day rows per scope and day; the day as stored (SQLite's text: parsing 30,000 of them cost more than
    the query), matched to its index by :func:`scope_daily`."""
    b = usage_buckets.c
    day = type_coerce(b.bucket_start, String)
    return (
        select(b.scope, day, *(func.sum(b[m]) for m in _METRICS))
        .where(b.scope.in_(bindparam("scopes", expanding=True)), b.grain == "day",
               b.bucket_start >= bindparam("first"), b.bucket_start < bindparam("stop"), *_in(usage_buckets, dims))
        .group_by(b.scope, b.bucket_start)
    )  # fmt: skip


def _chunks(scopes: Collection[str]) -> list[list[str]]:
    ordered = sorted(scopes)
    return [ordered[k : k + _CHUNK] for k in range(0, len(ordered), _CHUNK)]


def scope_totals(
    conn: Connection, scopes: Collection[str], start: datetime, end: datetime, sliced: Slice | None
) -> dict[str, Amounts]:
    dims, params = _slice_params(sliced)
    parts = split(to_db(start) or start, to_db(end) or end)
    out: dict[str, Amounts] = {}
    for chunk in _chunks(scopes):
        for scope, cpu, gpu, cost in conn.execute(_window_statement(dims), params | parts.params() | {"scopes": chunk}):
            out[scope] = Amounts(float(cpu), float(gpu), float(cost))
    columns = _by_column(scopes) if parts.edges else {}
    for a, b in parts.edges:
        for column, named in columns.items():
            wanted = {scope for found in named.values() for scope in found}
            for chunk in _chunks(named):
                edge = params | {"a": a, "b": b, "names": chunk}
                for user, project, team, org, cpu, gpu, cost in conn.execute(_edge_statement(dims, column), edge):
                    amounts = Amounts(float(cpu), float(gpu), float(cost))
                    for scope in entry_scopes(AccountPath(user, project, team, org)):
                        if scope in wanted:  # only this column's scopes: another column's query counts the rest
                            out[scope] = out.get(scope, ZERO) + amounts
    return out


def scope_daily(
    conn: Connection, scopes: Collection[str], first_day: datetime, days: int, sliced: Slice | None
) -> dict[str, list[Amounts]]:
    first = to_db(first_day) or first_day
    if first != day_of(first):
        raise ValueError(f"the first day must start at UTC midnight, got {first_day}")
    dims, params = _slice_params(sliced)
    params |= {"first": first, "stop": first + timedelta(days=days)}
    index: dict[Any, int] = {}
    for k in range(days):
        moment = first + timedelta(days=k)
        index[moment] = index[moment.strftime(_STORED)] = k
    out: dict[str, list[Amounts]] = {}
    for chunk in _chunks(scopes):
        for scope, day, cpu, gpu, cost in conn.execute(_daily_statement(dims), params | {"scopes": chunk}):
            mine = out.get(scope)
            if mine is None:
                mine = out[scope] = [ZERO] * days
            mine[index[day]] = Amounts(float(cpu), float(gpu), float(cost))
    return out

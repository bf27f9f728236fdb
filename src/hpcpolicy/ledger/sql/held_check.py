"""The open liens' running totals recomputed from the liens: migration 0010's fill and ``hpcpolicy db check``.

The liens reserved or running are grouped in the database per account path, service and slice (the
groups reach Python, not the liens); each group is added to its scopes' rows as a new lien would be
(:func:`~hpcpolicy.ledger.sql.held.contribution`). :func:`differences` compares that with the stored rows
(amounts within a relative 1e-9 as the buckets', counts exactly), :func:`rewrite` replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from hpcpolicy.ledger.counters import entry_scopes
from hpcpolicy.ledger.rules import OPEN_STATES
from hpcpolicy.ledger.sql.bucket_check import same_sums
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.held import held_row, merged
from hpcpolicy.ledger.sql.tables import held_totals, liens

#: Absolute difference allowed besides (hours, or cost units): what is left of large amounts added and taken
#: off again, a row whose liens all closed.
ABS_TOLERANCE = 1e-3
_KEY = ("user_id", "project", "team", "org", "service", "cluster", "partition", "gpu_type")
_BATCH = 5000

Sums = tuple[float, float, float, int, int]


@dataclass(frozen=True, slots=True)
class HeldDifference:
    """A row whose stored sums (None: missing) differ from the open liens' (None: should not exist)."""

    scope: str
    slice: tuple[str | None, str | None, str | None]
    stored: Sums | None
    expected: Sums | None


@dataclass(frozen=True, slots=True)
class _Path:
    """A group of liens' path, as :func:`~hpcpolicy.ledger.counters.entry_scopes` reads a lien."""

    user_id: str
    project: str | None
    team: str | None
    org: str | None
    service: str | None


def recompute(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every row the open liens call for, by id."""
    keys = [liens.c[name] for name in _KEY]
    c = liens.c
    query = (
        select(*keys, func.sum(c.cpu_hours), func.sum(c.gpu_hours), func.sum(c.cost), func.count(), func.sum(c.gpus))
        .where(c.state.in_([state.value for state in OPEN_STATES]))
        .group_by(*keys)
    )
    return merged(
        held_row(scope, (row[5], row[6], row[7]),
                 (float(row[8]), float(row[9]), float(row[10]), int(row[11]), int(row[12])))
        for row in conn.execute(query).all()
        for scope in entry_scopes(_Path(*row[:5]))
    )  # fmt: skip


def stored(conn: Connection) -> dict[str, dict[str, Any]]:
    return {row["id"]: dict(row) for row in conn.execute(select(held_totals)).mappings()}


def _sums(row: dict[str, Any] | None) -> Sums | None:
    if row is None:
        return None
    return (float(row["cpu_hours"]), float(row["gpu_hours"]), float(row["cost"]), int(row["jobs"]),
            int(row["gpus"]))  # fmt: skip


def _empty(sums: Sums) -> bool:
    """A row every lien of which closed again: zero jobs, amounts back to zero but for rounding."""
    return sums[3] == 0 and sums[4] == 0 and all(abs(x) <= ABS_TOLERANCE for x in sums[:3])


def differences(expected: dict[str, dict[str, Any]], found: dict[str, dict[str, Any]]) -> list[HeldDifference]:
    """The rows missing, extra (an emptied row is neither), or holding other sums or another key."""
    out = []
    for key in sorted(expected.keys() | found.keys()):
        want, have = expected.get(key), found.get(key)
        a, b = _sums(have), _sums(want)
        if a is not None and b is not None and same_sums(a, b, abs_tol=ABS_TOLERANCE):
            assert have is not None and want is not None
            if all(have[n] == want[n] for n in ("scope", "cluster", "partition", "gpu_type")):
                continue
        elif a is not None and b is None and _empty(a):
            continue
        row = want or have
        assert row is not None
        out.append(HeldDifference(row["scope"], (row["cluster"], row["partition"], row["gpu_type"]), a, b))
    return out


def rewrite(conn: Connection, expected: dict[str, dict[str, Any]]) -> int:
    """Replace every stored row with ``expected``, in the caller's transaction; the rows written."""
    conn.execute(delete(held_totals))
    rows = list(expected.values())
    for k in range(0, len(rows), _BATCH):
        conn.execute(insert(held_totals), rows[k : k + _BATCH])
    return len(rows)


def fill(conn: Connection) -> int:
    """Rewrite the rows from the open liens (migration 0010, benchmarks that bulk-load liens)."""
    return rewrite(conn, recompute(conn))


def check(engine: Engine, *, repair: bool = False) -> list[HeldDifference]:
    """The rows that differ from the open liens. With ``repair``, rewrite them all in one transaction no lien
    changes in meanwhile (as :func:`~hpcpolicy.ledger.sql.bucket_check.check` does for the charges')."""
    if not repair:
        with read_only(engine) as conn:
            return differences(recompute(conn), stored(conn))
    options = {"isolation_level": "SERIALIZABLE"} if engine.dialect.name in ("mysql", "mariadb") else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE liens, held_totals IN SHARE ROW EXCLUSIVE MODE"))
        expected = recompute(conn)
        found = differences(expected, stored(conn))
        if found:
            rewrite(conn, expected)
    return found

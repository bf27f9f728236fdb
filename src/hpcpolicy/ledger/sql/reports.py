"""The chargeback report's reads on the SQL ledger: two ``GROUP BY`` statements, one snapshot.

Charges are summed per (org, team, project, user, GPU type) and adjustments per (scope, kind) inside the
database; only the groups (tens of thousands for a large site's month, not its million charges) reach
Python. Both statements run in one read-only transaction: on SQLite a deferred ``BEGIN`` (a WAL snapshot
that holds no lock, so admissions go on while a report runs), on PostgreSQL and MariaDB ``REPEATABLE
READ`` (both statements see the same committed state, which READ COMMITTED would not promise).

The charges' filter is a range on ``at`` (and ``project`` when asked): without an index on ``at`` alone
it is a scan of the table (see docs/reports.md for the figures).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.model import AdjustmentKind
from hpcpolicy.ledger.reports import AdjustmentGroup, ChargeGroup, PeriodSums
from hpcpolicy.ledger.sql.connect import read_only
from hpcpolicy.ledger.sql.rows import to_db
from hpcpolicy.ledger.sql.tables import adjustments, charges

_PATH = (charges.c.org, charges.c.team, charges.c.project, charges.c.user_id, charges.c.gpu_type)
#: The same columns in the order SQLite groups them fastest: led by a column no index starts with, or its
#: planner walks ``ix_charges_org_at`` to group by org (random reads of the whole table, then a sort all
#: the same: 3.3 s instead of 1.9 s for a month of a million charges), and by users (whose keys differ
#: early, so the sort's comparisons end sooner). An index on ``at`` would still be used for the range.
_GROUPS = (charges.c.gpu_type, charges.c.user_id, charges.c.project, charges.c.team, charges.c.org)
_IN_PERIOD = (charges.c.at >= bindparam("start"), charges.c.at < bindparam("end"))
_CHARGES = select(
    *_PATH,
    func.count(),
    func.sum(func.coalesce(charges.c.raw_cpu_hours, charges.c.cpu_hours)),
    func.sum(func.coalesce(charges.c.raw_gpu_hours, charges.c.gpu_hours)),
    func.sum(charges.c.cost),
).where(*_IN_PERIOD)
CHARGES = _CHARGES.group_by(*_GROUPS)
PROJECT_CHARGES = _CHARGES.where(charges.c.project == bindparam("project")).group_by(*_GROUPS)

#: PostgreSQL's memory for this transaction's grouping: with the default 4 MB it sorts a month of a million
#: charges on disk (2.0 s); with this it groups them in a hash table (0.6 s, 23 MB for 80,000 groups). A
#: larger month spills to disk in batches, it does not fail.
_HASH_MEMORY = text("SET LOCAL work_mem = '64MB'")

_KEY = (adjustments.c.scope, adjustments.c.kind)
_ADJUSTMENTS = select(
    *_KEY,
    func.count(),
    func.sum(adjustments.c.cpu_hours),
    func.sum(adjustments.c.gpu_hours),
    func.sum(adjustments.c.cost),
).where(adjustments.c.at >= bindparam("start"), adjustments.c.at < bindparam("end"))
ADJUSTMENTS = _ADJUSTMENTS.group_by(*_KEY)


def _project_adjustments(project: str) -> Any:
    """Adjustments on ``project``, its quota ids (``project:p#q``) and its members (``project:p/user:u``):
    :func:`hpcpolicy.ledger.reports.project_scopes` as SQL (``LIKE`` with ``%`` and ``_`` escaped)."""
    scope = adjustments.c.scope
    return _ADJUSTMENTS.where(
        or_(
            scope == f"project:{project}",
            scope.startswith(f"project:{project}#", autoescape=True),
            scope.startswith(f"project:{project}/user:", autoescape=True),
        )
    ).group_by(*_KEY)


def read_period(engine: Engine, start: datetime, end: datetime, project: str | None = None) -> PeriodSums:
    """Charges and adjustments dated in ``[start, end)``, summed per group (of ``project`` only, if given).

    Raises :class:`LedgerUnavailable` when the database cannot be reached or fails.
    """
    params: dict[str, Any] = {"start": to_db(start), "end": to_db(end)}
    if project is not None:
        params["project"] = project
    try:
        with read_only(engine) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(_HASH_MEMORY)
            found = conn.execute(CHARGES if project is None else PROJECT_CHARGES, params)
            charged = [ChargeGroup(org, team, proj, user, gpu_type, int(n), float(cpu), float(gpu), float(cost))
                       for org, team, proj, user, gpu_type, n, cpu, gpu, cost in found]  # fmt: skip
            found = conn.execute(ADJUSTMENTS if project is None else _project_adjustments(project), params)
            adjusted = [AdjustmentGroup(scope, AdjustmentKind(kind), int(n), float(cpu), float(gpu), float(cost))
                        for scope, kind, n, cpu, gpu, cost in found]  # fmt: skip
    except SQLAlchemyError as exc:
        raise LedgerUnavailable(f"database error: {type(exc).__name__}: {exc}") from exc
    return PeriodSums(charged, adjusted)

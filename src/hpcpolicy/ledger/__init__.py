"""The usage ledger: the only owner of state (liens, charges, adjustments, decision records).

Two implementations share one contract and one set of balance rules (:mod:`.rules`): the SQL ledger
(SQLite by default; PostgreSQL, MariaDB/MySQL in production) and the in-memory ledger (tests, the
simulator). The contract tests in ``tests/ledger`` run against both.
"""

from hpcpolicy.ledger.model import (
    Adjustment,
    AdjustmentKind,
    Charge,
    DecisionFilter,
    DecisionRecord,
    JobUsage,
    Lien,
    LienState,
    ScopeBalance,
)

__all__ = [
    "Adjustment",
    "AdjustmentKind",
    "Charge",
    "DecisionFilter",
    "DecisionRecord",
    "JobUsage",
    "Lien",
    "LienState",
    "ScopeBalance",
]

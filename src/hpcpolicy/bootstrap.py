"""The one place that wires the service together from settings (cosmicpython's bootstrap)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.context import Context, utc_now
from hpcpolicy.settings import ServiceSettings


def build_governance(
    settings: ServiceSettings,
    *,
    migrate: bool = True,
    clock: Callable[[], datetime] = utc_now,
) -> Governance:
    """Load the policy, connect the ledger (applying migrations unless told not to), build the service.

    Raises PolicyError for a bad policy and LedgerUnavailable when the database cannot be reached.
    """
    policies = PolicyStore.from_file(settings.policy)
    engine = create_ledger_engine(settings.ledger_url(), connect_timeout=settings.db_timeout_seconds)
    ledger = SqlLedger(engine)
    ledger.ping()
    if migrate:
        upgrade(engine)
    ctx = Context(
        ledger,
        policies,
        clock=clock,
        lien_ttl=timedelta(seconds=settings.lien_ttl_seconds),
    )
    return Governance(ctx)

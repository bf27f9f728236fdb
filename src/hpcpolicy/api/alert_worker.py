"""Budget alerts in a running server: evaluate the rules every ``HPCPOLICY_ALERT_EVALUATE_SECONDS`` and send
what is due from the outbox, on the one replica holding the ``alerts`` lease.

Every replica runs this loop; only the lease holder evaluates and delivers (on SQLite, a single server, the
loop simply always holds it). The work itself is :class:`hpcpolicy.service.alerts.Alerting`'s: firing is
idempotent by the alert's key and the outbox is in the database, so a holder that dies mid-pass costs a
redelivery at worst, and the next holder carries on from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from hpcpolicy.ledger.base import LedgerUnavailable
from hpcpolicy.ledger.sql.lease import Keeper, Lease
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.service import Governance

log = logging.getLogger(__name__)

LEASE = "alerts"
LEASE_TTL = timedelta(seconds=30)
#: Due deliveries (retries, and what another holder left) are looked for this often between evaluations.
DELIVERY_POLL_SECONDS = 5.0


class AlertWorker:
    def __init__(self, governance: Governance):
        self.gov = governance
        ledger = governance.ctx.ledger
        self.keeper = Keeper(Lease(ledger, LEASE, LEASE_TTL) if isinstance(ledger, SqlLedger) else None)
        self._evaluated = -float("inf")
        self._stop = asyncio.Event()

    async def run(self) -> None:
        settings = self.gov.ctx.alerts
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.step)
            except (LedgerUnavailable, OSError) as exc:
                log.warning("alerts: pass skipped: %s", exc)
            except Exception:  # never let the loop die: the next pass starts from the database
                log.exception("alerts: pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), min(DELIVERY_POLL_SECONDS, settings.evaluate_seconds))
        await asyncio.to_thread(self.keeper.release)

    def step(self) -> None:
        """One pass (blocking): if this process holds the lease, evaluate when due, then deliver what is due."""
        if not self.keeper.hold():
            return
        if time.monotonic() - self._evaluated >= self.gov.ctx.alerts.evaluate_seconds:
            self._evaluated = time.monotonic()
            self.gov.alerts.evaluate()
        self.gov.alerts.deliver_due()

    def stop(self) -> None:
        self._stop.set()

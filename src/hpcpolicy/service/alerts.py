"""Budget alerts: evaluate the policy's rules, fire each alert once, deliver it at least once.

An evaluation reads what the conditions need — the standings of every quota, running liens old enough to be
stuck, recent denials — asks the ledger which of the candidate alerts fired already, and fires the rest
(:mod:`hpcpolicy.engine.alerts` decides which). Firing one alert is one transaction: the alert row (its key
unique), its audit event ``hpcpolicy.alert.fired`` and one outbox row per delivery (an email per contact of
the scope, a post per webhook). Two evaluators racing on the same alert write it once: the loser's insert
is a duplicate key and it moves on.

Delivery reads due outbox rows, sends each, and records the outcome: delivered, due again after a capped
exponential backoff with jitter (:class:`hpcpolicy.delivery.backoff.Backoff`), or failed after
``max_attempts`` (or at once for a permanent refusal), with the last error. The outbox lives in the
database, so a restart, or another replica taking the lease, resumes delivery where it stopped: at least
once (a crash between a send and its record sends it again).

The server runs both under a lease (:mod:`hpcpolicy.api.alert_worker`); ``hpcpolicy alerts test`` sends a
sample through the same channels without recording anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hpcpolicy.delivery.backoff import Backoff
from hpcpolicy.engine.alerts import (
    Candidate,
    Firing,
    budget_candidates,
    due,
    spike_candidates,
    stuck_candidates,
)
from hpcpolicy.engine.contacts import contacts_by_scope, recipients
from hpcpolicy.engine.standing import QuotaStanding
from hpcpolicy.ledger.alerts import EMAIL, WEBHOOK, AlertDelivery, AlertRecord, FiredAlert
from hpcpolicy.ledger.base import DuplicateKey
from hpcpolicy.ledger.rules import lien_scopes
from hpcpolicy.service.alert_channels import AlertSettings, ChannelError, Channels
from hpcpolicy.service.context import Context
from hpcpolicy.service.retry import retrying

log = logging.getLogger("hpcpolicy.alerts")

#: The standings of every quota at a moment (``Governance.standings.all``).
StandingsSource = Callable[[datetime], Sequence[QuotaStanding]]


@dataclass(frozen=True, slots=True)
class Sent:
    """One channel's answer to a sample (``hpcpolicy alerts test``): ``error`` None when it was accepted."""

    channel: str
    recipient: str
    error: str | None


class Alerting:
    def __init__(self, ctx: Context, settings: AlertSettings, channels: Channels, standings: StandingsSource):
        """``standings``: every quota's standing at a moment (``Governance.standings.all``)."""
        self.ctx, self.settings, self.channels, self.standings = ctx, settings, channels, standings

    # -- firing ------------------------------------------------------------------------------------------

    def evaluate(
        self, now: datetime | None = None, standings: Sequence[QuotaStanding] | None = None
    ) -> list[AlertRecord]:
        """Fire every alert the rules call for at ``now`` that has not fired in its window; the alerts fired."""
        now = now or self.ctx.clock()
        policy = self.ctx.policies.current.snapshot.policy
        rules = policy.alerts.rules
        if not rules:
            return []
        candidates: list[Candidate] = []
        if any(rule.used or rule.runs_dry_before_end for rule in rules):
            candidates += budget_candidates(rules, self.standings(now) if standings is None else standings)
        graces = [stuck.grace_hours for rule in rules if (stuck := rule.stuck) is not None]
        spans = [rule.denied_spike.minutes for rule in rules if rule.denied_spike is not None]
        with self.ctx.ledger.session() as tx:
            if graces:
                running = tx.running_liens(now - timedelta(hours=min(graces)))
                candidates += stuck_candidates(rules, [(lien, lien_scopes(lien)) for lien in running], now)
            if spans:
                candidates += spike_candidates(rules, tx.denials(now - timedelta(minutes=max(spans))), now)
            fired = tx.fired_keys({key for c in candidates for key in c.quiet_if}) if candidates else set()
        contacts = contacts_by_scope(policy)
        out = []
        for firing in due(candidates, fired):
            alert = self._fire(firing, now, recipients(contacts, firing.scope))
            if alert is not None:
                out.append(alert)
        return out

    def _fire(self, firing: Firing, now: datetime, contacts: tuple[str, ...]) -> AlertRecord | None:
        alert = AlertRecord(self.ctx.ids(), firing.key, firing.rule, firing.scope, firing.subject, firing.condition,
                            firing.window_start, now, firing.summary, firing.details)  # fmt: skip
        deliveries = []
        for channel in firing.channels:
            if channel == EMAIL:
                if not contacts:
                    log.warning("alert %s on %s: no contacts to mail (nor on its parents)", firing.rule, firing.scope)
                deliveries += [AlertDelivery(alert.id, EMAIL, address, now) for address in contacts]
            else:
                deliveries.append(AlertDelivery(alert.id, WEBHOOK, channel, now))

        def write() -> None:
            with self.ctx.ledger.session() as tx:
                tx.add_alert(alert, deliveries)

        try:
            retrying(write)
        except DuplicateKey:  # another evaluator fired it first
            return None
        log.info("alert fired: %s", firing.summary, extra={"alert": alert.id, "rule": alert.rule})
        return alert

    # -- delivering --------------------------------------------------------------------------------------

    def deliver_due(self, now: datetime | None = None, limit: int = 100) -> int:
        """Send every delivery due at ``now`` (up to ``limit``) and record each outcome; how many succeeded."""
        now = now or self.ctx.clock()
        with self.ctx.ledger.reading() as reader:  # a snapshot: on SQLite no write lock held
            due_now = reader.deliveries_due(now, limit)
        delivered = 0
        for delivery, alert in due_now:
            error, permanent = None, False
            try:
                self.channels.send(delivery, alert)
            except ChannelError as exc:
                error, permanent = str(exc), exc.permanent
            attempts = delivery.attempts + 1
            retry_at = None
            if error is not None and not permanent and attempts < self.settings.max_attempts:
                retry_at = now + timedelta(seconds=self.retry_delay(attempts))
            outcome = delivery.attempted(now, error, retry_at)
            if error is not None:
                again = f"again at {retry_at.isoformat()}" if retry_at else "given up"
                log.warning("alert %s: %s %s not delivered (attempt %d, %s): %s", alert.id, delivery.channel,
                            delivery.recipient, attempts, again, error)  # fmt: skip
            with self.ctx.ledger.session() as tx:
                tx.set_delivery(outcome)
            delivered += error is None
        return delivered

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failures: doubling from the first delay up to
        the cap, drawn from the upper half (replicas and deliveries that failed together spread out)."""
        backoff = Backoff(self.settings.retry_first_seconds, self.settings.retry_max_seconds, attempts - 1)
        return backoff.next()

    # -- reading and testing -----------------------------------------------------------------------------

    def fired(self, scopes: Sequence[str] | None = None, limit: int = 100) -> list[FiredAlert]:
        """The latest alerts (of ``scopes`` when given), newest first, with their delivery state."""
        with self.ctx.ledger.session() as tx:
            return tx.fired_alerts(scopes, limit)

    def sample(self, scope: str) -> list[Sent]:
        """Send a sample alert on ``scope`` to its contacts and to every webhook the policy declares, now;
        each channel's answer. Nothing is recorded."""
        policy = self.ctx.policies.current.snapshot.policy
        now = self.ctx.clock()
        summary = f"{scope}: test alert (hpcpolicy alerts test): this channel reaches the scope's contacts"
        alert = AlertRecord(self.ctx.ids(), "", "test", scope, scope, "test", now, now, summary, {"kind": "test"})
        targets = [(EMAIL, a) for a in recipients(contacts_by_scope(policy), scope)]
        targets += [(WEBHOOK, name) for name in policy.alerts.webhooks]
        out = []
        for channel, recipient in targets:
            try:
                self.channels.send(AlertDelivery(alert.id, channel, recipient, now), alert)
                out.append(Sent(channel, recipient, None))
            except ChannelError as exc:
                out.append(Sent(channel, recipient, str(exc)))
        return out

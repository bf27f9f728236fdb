"""The one place that wires the service together from settings (cosmicpython's bootstrap)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hpcpolicy.cluster import RevisionStore, start_policy_sync
from hpcpolicy.ledger.checkpoints import CheckpointPolicy, Signer
from hpcpolicy.ledger.sql.connect import create_ledger_engine
from hpcpolicy.ledger.sql.ledger import SqlLedger
from hpcpolicy.ledger.sql.migrate import upgrade
from hpcpolicy.service import Governance, PolicyStore
from hpcpolicy.service.alert_channels import AlertSettings, SmtpSettings, parse_webhooks
from hpcpolicy.service.context import Context, QueueSettings, utc_now
from hpcpolicy.settings import ServiceSettings


def checkpoint_policy(settings: ServiceSettings) -> CheckpointPolicy | None:
    """How the sealer signs checkpoints, from settings (None without a signing key).
    Raises CheckpointKeyError for a key file that cannot be read."""
    if settings.audit_signing_key_file is None:
        return None
    return CheckpointPolicy(
        Signer.from_file(settings.audit_signing_key_file),
        settings.audit_checkpoint_events,
        timedelta(seconds=settings.audit_checkpoint_seconds),
        settings.audit_checkpoint_file,
    )


def build_governance(
    settings: ServiceSettings,
    *,
    migrate: bool = True,
    distribute: bool = True,
    clock: Callable[[], datetime] = utc_now,
) -> Governance:
    """Load the policy, connect the ledger (applying migrations unless told not to), build the service.

    The policy served is the database's latest revision: the file seeds an empty database, and a policy
    file named in the settings whose content was never stored becomes the newest revision. The policy sync
    it starts is reachable as ``governance.ctx.policies.distribution`` (``status()``, ``stop()``). Without
    ``distribute`` (one-shot commands such as ``hpcpolicy usage``) nothing is stored and no thread starts:
    the latest stored revision is read once, unless a file was named.
    Raises PolicyError for a bad policy and LedgerUnavailable when the database cannot be reached.
    """
    policies = PolicyStore.from_file(settings.policy)
    engine = create_ledger_engine(
        settings.ledger_url(),
        connect_timeout=settings.db_timeout_seconds,
        statement_timeout=settings.request_timeout_seconds,
    )
    ledger = SqlLedger(engine, audit=settings.audit_log)
    ledger.checkpoints = checkpoint_policy(settings)
    ledger.ping()
    if migrate:
        upgrade(engine)
    if distribute:
        start_policy_sync(
            policies,
            ledger,
            redis_url=settings.redis_url,
            poll_seconds=settings.policy_poll_seconds,
            file_given=settings.policy is not None,
        )
    elif settings.policy is None and (latest := RevisionStore(ledger).latest()) is not None:
        policies.replace(latest.text, source=f"policy revision {latest.id}")
    ctx = Context(
        ledger,
        policies,
        clock=clock,
        lien_ttl=timedelta(seconds=settings.lien_ttl_seconds),
        walltime_grace=timedelta(seconds=settings.walltime_grace_seconds),
        queue=queue_settings(settings),
        standings_max_age=timedelta(seconds=settings.standings_max_age_seconds),
        alerts=alert_settings(settings),
    )
    return Governance(ctx)


def queue_settings(settings: ServiceSettings) -> QueueSettings:
    """The admission queue's limits from the environment (``HPCPOLICY_QUEUE_*``)."""
    prefixes = tuple(p.strip() for p in settings.queue_callback_urls.split(",") if p.strip())
    for prefix in prefixes:
        if not prefix.startswith(("https://", "http://")) or "/" not in prefix.split("://", 1)[1]:
            raise ValueError(f"HPCPOLICY_QUEUE_CALLBACK_URLS: {prefix!r} is not an http(s) URL prefix with a path")
    secret = settings.queue_callback_secret
    return QueueSettings(
        ttl=timedelta(seconds=min(settings.queue_ttl_seconds, settings.queue_max_ttl_seconds)),
        max_ttl=timedelta(seconds=settings.queue_max_ttl_seconds),
        max_per_user=settings.queue_max_per_user,
        callback_prefixes=prefixes,
        callback_secret=secret.get_secret_value().encode() if secret is not None else None,
        poll_seconds=settings.queue_poll_seconds,
        full_pass_seconds=settings.queue_full_pass_seconds,
        recalc_seconds=settings.fairshare_recalc_seconds,
        slurm_hold=settings.slurm_hold,
    )


def alert_settings(settings: ServiceSettings) -> AlertSettings:
    """How alerts are evaluated and sent (``HPCPOLICY_ALERT_*``, ``HPCPOLICY_SMTP_*``, ``HPCPOLICY_PUBLIC_URL``);
    ValueError for a webhook list that does not parse (naming the entry, never its URL)."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password is not None else None
    smtp = None
    if settings.smtp_host:
        smtp = SmtpSettings(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_user, password,
                            settings.smtp_starttls, settings.smtp_ssl, settings.smtp_timeout_seconds)  # fmt: skip
    return AlertSettings(
        webhooks=parse_webhooks(settings.alert_webhooks.get_secret_value()),
        smtp=smtp,
        public_url=settings.public_url,
        evaluate_seconds=settings.alert_evaluate_seconds,
        max_attempts=settings.alert_max_attempts,
        retry_max_seconds=settings.alert_retry_max_seconds,
        webhook_timeout=settings.alert_webhook_timeout_seconds,
    )

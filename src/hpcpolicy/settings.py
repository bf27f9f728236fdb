"""Service settings from flags and the environment (``HPCPOLICY_*``, plus ``DATABASE_URL`` and the
original service's ``MYSQL_HOST``/``MYSQL_PORT``/``MYSQL_DB``/``MYSQL_USER``/``MYSQL_PASSWORD``).

The embedded default is a SQLite file in ``./.hpcpolicy/`` and the packaged example policy.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hpcpolicy.adapters.slurm.identity import DEFAULT_NSS_CACHE_SECONDS
from hpcpolicy.delivery.urls import HttpUrl, NatsUrls
from hpcpolicy.ledger.sql.connect import sqlite_url
from hpcpolicy.policy.schema.alerts import Email


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HPCPOLICY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8003, ge=1, le=65535)
    data_dir: Path = Path(".hpcpolicy")
    policy: Path | None = None
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "HPCPOLICY_DATABASE_URL")
    )
    mysql_host: str | None = Field(default=None, validation_alias="MYSQL_HOST")
    mysql_port: int = Field(default=3306, validation_alias="MYSQL_PORT")
    mysql_db: str = Field(default="hpcpolicy", validation_alias="MYSQL_DB")
    mysql_user: str = Field(default="root", validation_alias="MYSQL_USER")
    mysql_password: str = Field(default="", validation_alias="MYSQL_PASSWORD")
    lien_ttl_seconds: int = Field(default=86400, gt=0)
    #: Record an audit event with every ledger change and seal them into a hash chain (docs/audit.md). On by
    #: default: it costs 4-9 % of reserved-decision throughput on SQLite (benchmarks/http.py --audit-cost).
    audit_log: bool = True
    #: Ed25519 private key (PEM) the sealer signs checkpoints with (``hpcpolicy audit keygen``); None: unsigned.
    audit_signing_key_file: Path | None = None
    audit_checkpoint_events: int = Field(default=1000, ge=1, le=10_000_000)  # a checkpoint at least this often...
    audit_checkpoint_seconds: float = Field(default=60.0, gt=0, le=86_400)  # ...and this often while events come
    #: Each new checkpoint is also appended here (JSON lines): put it where the database admin cannot write.
    audit_checkpoint_file: Path | None = None
    # Delivery of sealed audit events to sinks (hpcpolicy.delivery; docs/design/audit.md "Delivery"): one worker
    # per configured sink, holding the lease ``audit:delivery:<sink>`` (one replica delivers at a time).
    audit_nats_url: NatsUrls | None = None  # nats:// or tls:// (comma-separated for a cluster); None: no JetStream sink
    audit_nats_stream: str = Field(default="HPCPOLICY_EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    audit_nats_batch: int = Field(default=1000, ge=1, le=100_000)  # events in flight per round of acknowledgements
    audit_webhook_url: HttpUrl | None = None  # http:// or https://; None: no webhook sink
    audit_webhook_secret: SecretStr | None = None  # HMAC-SHA256 key for the X-Hpcpolicy-Signature header
    audit_webhook_batch: int = Field(default=100, ge=1, le=10_000)  # CloudEvents per request
    audit_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    audit_lease_seconds: float = Field(default=10.0, ge=1, le=3600)  # a dead holder's sink waits this long at most
    audit_retry_max_seconds: float = Field(default=30.0, gt=0, le=3600)  # cap of the backoff between attempts
    # The admission queue (docs/queue.md): requests refused only by concurrency caps may wait (``queue: true``).
    queue_ttl_seconds: int = Field(default=7 * 86400, ge=1, le=365 * 86400)  # a held request's wait unless it asks less
    queue_max_ttl_seconds: int = Field(default=30 * 86400, ge=1, le=365 * 86400)
    queue_max_per_user: int = Field(default=1000, ge=0, le=1_000_000)  # held requests of one user at once
    #: URL prefixes a callback may go to, comma-separated (``https://galaxy.example.org/hooks/``); none: refused.
    queue_callback_urls: str = Field(default="", max_length=8192)
    queue_callback_secret: SecretStr | None = None  # HMAC-SHA256 key of the callbacks' X-Hpcpolicy-Signature
    queue_poll_seconds: float = Field(default=0.2, ge=0.01, le=60)  # slots freed by other replicas, looked for
    queue_full_pass_seconds: float = Field(default=30.0, ge=1, le=3600)  # every waiting group tried this often
    #: Slurm jobs over a concurrency cap are accepted held and released by ``hpcpolicy slurm sync`` (docs/slurm.md);
    #: off: they are rejected, as before the queue.
    slurm_hold: bool = True
    fairshare_recalc_seconds: float = Field(default=300.0, ge=1, le=86400)  # Slurm's PriorityCalcPeriod
    #: The dashboard's overview and the alert pass read every quota at once; on a busy ledger that reading
    #: takes seconds (benchmarks/standings.py), so it is reused for this long (0: read afresh every time).
    standings_max_age_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Budget alerts (docs/alerts.md): evaluated by the replica holding the ``alerts`` lease, delivered from the outbox.
    alert_evaluate_seconds: float = Field(default=60.0, ge=1, le=86_400)
    #: ``name=url,...``: the webhooks the policy's ``alerts.webhooks`` name (Slack/Mattermost incoming webhooks).
    alert_webhooks: SecretStr = Field(default=SecretStr(""), max_length=65_536)
    alert_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    alert_max_attempts: int = Field(default=12, ge=1, le=1000)  # per delivery, then given up (the error kept)
    alert_retry_max_seconds: float = Field(default=3600.0, ge=1, le=7 * 86_400)  # cap of the backoff
    smtp_host: str | None = Field(default=None, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = Field(default=None, max_length=256)
    smtp_password: SecretStr | None = None
    smtp_from: Email = "hpcpolicy@localhost.localdomain"
    smtp_starttls: bool = False  # STARTTLS after connecting (port 587)
    smtp_ssl: bool = False  # TLS from the start (port 465)
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Where users reach this service (``https://hpc.example.org``): alerts link to ``/ui/scopes/<scope>`` there.
    public_url: HttpUrl | None = None
    walltime_grace_seconds: int = Field(default=900, ge=0, le=7 * 86400)  # a usage report may overrun this much
    db_timeout_seconds: float = Field(default=5.0, gt=0)
    request_timeout_seconds: float = Field(default=5.0, gt=0)  # a request waits this long for the ledger, then 503
    workers: int = Field(default=1, ge=1)
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "HPCPOLICY_REDIS_URL"))
    policy_poll_seconds: float = Field(default=5.0, gt=0)  # replicas look for a newer policy revision this often
    # Request limits at the HTTP edge (api/limits.py, api/protocol.py): 413 and 408, then the connection closes.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_policy_bytes: int = Field(default=8 * 1024 * 1024, gt=0)  # PUT /v1/policy
    header_timeout_seconds: float = Field(default=10.0, gt=0)  # request line and headers, from connect or first byte
    body_timeout_seconds: float = Field(default=30.0, gt=0)  # the whole body, from the end of the headers
    #: How long an answer of NSS (a Slurm submitter's user and groups) is reused, as nscd or SSSD would (0: never).
    nss_cache_seconds: float = Field(default=DEFAULT_NSS_CACHE_SECONDS, ge=0, le=86_400)
    #: The dashboard's session cookie is ``Secure`` even on plain http (TLS ends at a proxy; docs/dashboard.md).
    ui_secure_cookies: bool = False

    @field_validator("audit_signing_key_file", "audit_checkpoint_file")
    @classmethod
    def _plain_path(cls, value: Path | None) -> Path | None:
        """A file name with a NUL or control character is a mistake (or worse), not a file to open later."""
        if value is not None and any(ord(c) < 32 or c == "\x7f" for c in str(value)):
            raise ValueError("a file name may not contain NUL or control characters")
        return value

    @field_validator("smtp_user")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or c == "\x7f" for c in value):
            raise ValueError("may not contain NUL or control characters")
        return value

    def ledger_url(self) -> str:
        """``DATABASE_URL`` if set, else MariaDB from ``MYSQL_*`` if ``MYSQL_HOST`` is set, else SQLite."""
        if self.database_url:
            return self.database_url
        if self.mysql_host:
            password = f":{quote(self.mysql_password, safe='')}" if self.mysql_password else ""
            return (
                f"mysql+pymysql://{quote(self.mysql_user, safe='')}{password}@{self.mysql_host}:{self.mysql_port}"
                f"/{self.mysql_db}?charset=utf8mb4"
            )
        return sqlite_url(self.data_dir)

    @property
    def loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"}

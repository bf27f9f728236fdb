"""Table definitions, written once for every backend (migrations in ``migrations/`` create them).

Portability choices: times are naive UTC ``DATETIME`` with microseconds (MariaDB needs ``fsp=6``);
amounts are ``DOUBLE`` (MySQL's ``FLOAT`` would be single precision); indexed strings are at most 191
characters so unique indexes fit InnoDB's key limit with utf8mb4, and on MariaDB/MySQL every table uses
binary collation so identifiers compare as on PostgreSQL and SQLite (``Alice`` is not ``alice``). Each
lien and charge carries its full account path (user, project, team, org) so a scope's balance is one
indexed aggregate, and history keeps the path it was charged to even if the policy later moves a project.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

Time = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Ident = String(191)
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")  # MySQL's TEXT stops at 64 KiB
#: A scope id: ``project:`` and an identifier of 191 characters.
ScopeId = String(200)
#: A typed principal (``user:<191-character id>``, ``key:<name>``): who made a decision or an adjustment.
Principal = String(255)
#: Byte-for-byte comparison on MariaDB/MySQL, as on the other backends (migration 0003 converts old tables).
BINARY: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _path_columns() -> list[Column[str]]:
    return [
        Column("user_id", Ident, nullable=False),
        Column("project", Ident),
        Column("team", Ident),
        Column("org", Ident),
    ]


def _amount_columns() -> list[Column[float]]:
    return [
        Column("cpu_hours", Double, nullable=False),
        Column("gpu_hours", Double, nullable=False),
        Column("cost", Double, nullable=False),
    ]


liens = Table(
    "liens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("decision_id", String(36), nullable=False),
    *_path_columns(),
    Column("cluster", Ident, nullable=False),
    Column("partition", Ident, nullable=False),
    Column("cpus", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("gpu_type", String(64)),
    Column("memory_gb", Double, nullable=False),
    Column("nodes", Integer, nullable=False),
    Column("walltime_hours", Double, nullable=False),
    *_amount_columns(),
    Column("rate_cpu", Double, nullable=False),
    Column("rate_gpu", Double, nullable=False),
    Column("rate_mem", Double, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("state", String(16), nullable=False),
    Column("job_id", Ident),
    Column("started_at", Time),
    Column("ended_at", Time),
    Column("policy_version", String(64), nullable=False),
    Column("weight_cpu", Double, nullable=False, server_default="1"),
    Column("weight_gpu", Double, nullable=False, server_default="1"),
    Column("service", Ident),
    Column("closed_at", Time),
    # A scope's open liens, and (with expires_at) its reservations that lapsed and are not swept yet: what a
    # balance subtracts from its running total (held_totals) without reading the scope's other liens.
    Index("ix_liens_state_user_expires", "state", "user_id", "expires_at"),
    Index("ix_liens_state_service_expires", "state", "service", "expires_at"),
    Index("ix_liens_closed_at", "closed_at"),  # the queue's dispatcher: slots freed since it last looked
    Index("ix_liens_expires_at", "expires_at"),
    Index("ix_liens_state_project_expires", "state", "project", "expires_at"),
    Index("ix_liens_state_team_expires", "state", "team", "expires_at"),
    Index("ix_liens_state_org_expires", "state", "org", "expires_at"),
    # A scheduler's job ids are unique within its cluster only (every Slurm cluster has a job 1234).
    UniqueConstraint("cluster", "job_id", name="uq_liens_cluster_job_id"),
    **BINARY,
)

charges = Table(
    "charges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lien_id", String(36), index=True),
    Column("job_id", Ident),
    *_path_columns(),
    Column("cluster", Ident),
    Column("partition", Ident),
    *_amount_columns(),
    Column("at", Time, nullable=False),
    Column("source", String(16), nullable=False),
    Column("key", Ident, unique=True),
    Column("gpu_type", String(64)),
    Column("raw_cpu_hours", Double),
    Column("raw_gpu_hours", Double),
    Index("ix_charges_user_at", "user_id", "at"),
    Index("ix_charges_project_at", "project", "at"),
    Index("ix_charges_team_at", "team", "at"),
    Index("ix_charges_org_at", "org", "at"),
    **BINARY,
)

#: Running totals of charges per scope, grain (a UTC ``day`` or ``month``), bucket start and slice, kept in the
#: transaction of each charge (docs/design/usage-buckets.md). ``id`` is a digest of the key in full
#: (:func:`~hpcpolicy.ledger.sql.buckets.bucket_id`: a member scope of 396 characters and three slice columns
#: are longer than an InnoDB key may be), unique, what an upsert matches. The primary key leads with the scope
#: and time so a scope's rows of a window lie together (SQLite without rowid, InnoDB: the table is that index).
usage_buckets = Table(
    "usage_buckets",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("grain", String(5), primary_key=True),
    Column("bucket_start", Time, primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("cluster", Ident),
    Column("partition", Ident),
    Column("gpu_type", String(64)),
    *_amount_columns(),
    Column("charges", BigInteger, nullable=False),
    UniqueConstraint("id", name="uq_usage_buckets_id"),
    sqlite_with_rowid=False,
    **BINARY,
)

#: Running totals of the open liens (reserved or running) per scope and slice, kept with each lien's
#: changes in their transaction (:mod:`hpcpolicy.ledger.sql.held`): a balance reads these rows instead of
#: summing every open lien of an org. ``jobs`` and ``gpus`` count the liens and their GPUs. The key is
#: ``(scope, id)`` alone (``id`` digests the scope and slice): a second unique index on ``id`` would be seven
#: more B-tree pages written by every reservation.
held_totals = Table(
    "held_totals",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("cluster", Ident),
    Column("partition", Ident),
    Column("gpu_type", String(64)),
    *_amount_columns(),
    Column("jobs", BigInteger, nullable=False),
    Column("gpus", BigInteger, nullable=False),
    sqlite_with_rowid=False,
    **BINARY,
)

adjustments = Table(
    "adjustments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("scope", ScopeId, nullable=False),
    Column("kind", String(16), nullable=False),
    *_amount_columns(),
    Column("reason", Text, nullable=False),
    Column("author", Principal, nullable=False),
    Column("at", Time, nullable=False),
    Column("key", Ident, unique=True),
    Index("ix_adjustments_scope_at", "scope", "at"),
    **BINARY,
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("at", Time, nullable=False, index=True),
    Column("caller", Principal, nullable=False),
    Column("user_id", Ident, nullable=False, index=True),
    Column("allow", Boolean, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("decision", JSON, nullable=False),
    Column("lien_id", String(36)),
    Column("key", Ident, unique=True),
    **BINARY,
)

#: One row per scope, locked ``FOR UPDATE`` (sorted) by an admission on PostgreSQL and MariaDB.
scope_locks = Table("scope_locks", metadata, Column("scope", ScopeId, primary_key=True), **BINARY)

#: Every policy made active, in order (``hpcpolicy.cluster``): replicas serve the highest id. ``previous_id``
#: is unique, so two writers racing from the same head (two replicas seeding an empty table) cannot both win.
policy_revisions = Table(
    "policy_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("previous_id", Integer, nullable=False, unique=True),
    Column("version", String(64), nullable=False),
    Column("text", LongText, nullable=False),
    Column("source", Text, nullable=False),
    Column("author", Principal, nullable=False),
    Column("created_at", Time, nullable=False),
    **BINARY,
)

#: The audit log (docs/design/audit.md): one row per state change, inserted by the change's own transaction.
#: ``body`` is the event as canonical JSON and ``digest`` its SHA-256, computed once by the writer; the other
#: columns repeat what filters need. ``seq``, ``prev_hash`` and ``hash`` are set afterwards by the sealer.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),  # a UUID4: unique without an index to keep up
    Column("type", String(64), nullable=False),
    Column("subject", Ident, nullable=False),
    Column("time", Time, nullable=False),
    Column("actor", Principal),
    Column("request_id", Text),
    Column("scopes", Text, nullable=False),
    Column("body", LongText, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("seq", BigInteger, unique=True),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
    **BINARY,
)

#: Signed (seq, hash) pairs of the chain (docs/design/audit.md): the sealer signs one every N events or
#: minute with the Ed25519 key from settings; exported copies catch a chain rewritten from some point on.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("time", Time, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    **BINARY,
)

#: The last sealed event each sink acknowledged: delivery resumes after it (at least once, in order).
audit_cursors = Table(
    "audit_cursors",
    metadata,
    Column("sink", Ident, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", Time, nullable=False),
    **BINARY,
)

#: A lease per singleton job (the audit delivery worker): one replica holds it until ``expires_at`` and
#: renews it while alive; when the holder dies the lease runs out and another replica takes it.
leases = Table(
    "leases",
    metadata,
    Column("name", Ident, primary_key=True),
    Column("holder", Ident, nullable=False),
    Column("expires_at", Time, nullable=False),
    **BINARY,
)


#: The admission queue (:mod:`hpcpolicy.ledger.queue`): held requests and their outcomes. ``seq`` orders
#: arrivals (the dispatcher reads new rows past the last it saw); ``blocked_key`` groups requests held by
#: the same quotas; ``callback_due`` is set while a signed callback of the outcome waits to be delivered.
queue = Table(
    "queue",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("key", Ident, unique=True),
    Column("at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("caller", Principal, nullable=False),
    *_path_columns()[:2],
    Column("service", Ident),
    Column("job_id", Ident),
    Column("request", LongText, nullable=False),
    Column("blocked_by", Text, nullable=False),
    Column("blocked_key", String(40), nullable=False),
    Column("decision", LongText, nullable=False),
    Column("size", Double, nullable=False),
    Column("state", String(16), nullable=False),
    Column("resolved_at", Time),
    Column("callback_url", String(2048)),
    Column("callback_due", Time),
    Column("callback_attempts", Integer, nullable=False, server_default="0"),
    Index("ix_queue_state_seq", "state", "seq"),
    Index("ix_queue_state_group", "state", "blocked_key"),
    Index("ix_queue_state_user", "state", "user_id"),
    Index("ix_queue_callback_due", "callback_due"),
    **BINARY,
)

#: Which quotas each held request waits for (a row per request and quota id, by digest: ids can be longer
#: than an index allows). A new request that would take a slot of one of them waits behind them.
queue_blocks = Table(
    "queue_blocks",
    metadata,
    Column("quota_key", String(40), primary_key=True),
    Column("entry_id", String(36), primary_key=True),
    **BINARY,
)

#: Fired alerts (:mod:`hpcpolicy.ledger.alerts`): ``key`` (the identity's SHA-256) is unique, so two evaluators
#: firing the same alert write one row. ``subject`` is a quota id, a lien or a scope (not indexed: may be long).
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("rule", Ident, nullable=False),
    Column("scope", ScopeId, nullable=False),
    Column("subject", Text, nullable=False),
    Column("condition", String(64), nullable=False),
    Column("window_start", Time, nullable=False),
    Column("fired_at", Time, nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", LongText, nullable=False),
    Index("ix_alerts_scope_fired_at", "scope", "fired_at"),
    Index("ix_alerts_fired_at", "fired_at"),
    **BINARY,
)

#: The alerts' outbox: one row per channel and recipient, sent by the delivery loop when ``next_attempt_at``
#: is due (at least once, retried with backoff), until delivered or given up.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(36), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Time),
    Column("delivered_at", Time),
    Column("last_error", Text),
    Index("ix_alert_deliveries_state_due", "state", "next_attempt_at"),
    **BINARY,
)

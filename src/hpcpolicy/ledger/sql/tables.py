"""Table definitions, written once for every backend (migrations in ``migrations/`` create them).

Portability choices: times are naive UTC ``DATETIME`` with microseconds (MariaDB needs ``fsp=6``);
amounts are ``DOUBLE`` (MySQL's ``FLOAT`` would be single precision); indexed strings are at most 191
characters so unique indexes fit InnoDB's key limit with utf8mb4. Each lien and charge carries its full
account path (user, project, team, org) so a scope's balance is one indexed aggregate, and history keeps
the path it was charged to even if the policy later moves a project.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

Time = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Ident = String(191)
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")  # MySQL's TEXT stops at 64 KiB


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
    Column("job_id", Ident, unique=True),
    Column("started_at", Time),
    Column("ended_at", Time),
    Column("policy_version", String(64), nullable=False),
    Index("ix_liens_state_user", "state", "user_id"),
    Index("ix_liens_state_project", "state", "project"),
    Index("ix_liens_state_team", "state", "team"),
    Index("ix_liens_state_org", "state", "org"),
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
    Index("ix_charges_user_at", "user_id", "at"),
    Index("ix_charges_project_at", "project", "at"),
    Index("ix_charges_team_at", "team", "at"),
    Index("ix_charges_org_at", "org", "at"),
)

adjustments = Table(
    "adjustments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("scope", Ident, nullable=False),
    Column("kind", String(16), nullable=False),
    *_amount_columns(),
    Column("reason", Text, nullable=False),
    Column("author", Ident, nullable=False),
    Column("at", Time, nullable=False),
    Column("key", Ident, unique=True),
    Index("ix_adjustments_scope_at", "scope", "at"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("at", Time, nullable=False, index=True),
    Column("caller", Ident, nullable=False),
    Column("user_id", Ident, nullable=False, index=True),
    Column("allow", Boolean, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("decision", JSON, nullable=False),
    Column("lien_id", String(36)),
    Column("key", Ident, unique=True),
)

#: One row per scope, locked ``FOR UPDATE`` (sorted) by an admission on PostgreSQL and MariaDB.
scope_locks = Table("scope_locks", metadata, Column("scope", Ident, primary_key=True))

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
    Column("author", Ident, nullable=False),
    Column("created_at", Time, nullable=False),
)

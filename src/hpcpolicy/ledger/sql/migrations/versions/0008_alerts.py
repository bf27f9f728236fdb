"""budget alerts and their outbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00

``alerts`` holds every alert fired, once per identity (``key``: the SHA-256 of rule, subject, condition and
window, unique, so evaluators on several replicas cannot fire one twice); ``alert_deliveries`` is their
outbox: one row per channel and recipient, sent at least once by the delivery loop (docs/alerts.md).
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_LONG = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_BINARY: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("rule", sa.String(191), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("condition", sa.String(64), nullable=False),
        sa.Column("window_start", _TIME, nullable=False),
        sa.Column("fired_at", _TIME, nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", _LONG, nullable=False),
        **_BINARY,
    )
    op.create_index("ix_alerts_scope_fired_at", "alerts", ["scope", "fired_at"])
    op.create_index("ix_alerts_fired_at", "alerts", ["fired_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _TIME),
        sa.Column("delivered_at", _TIME),
        sa.Column("last_error", sa.Text()),
        **_BINARY,
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])
    op.create_index("ix_alert_deliveries_state_due", "alert_deliveries", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")

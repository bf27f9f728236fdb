"""admission queue and service runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:00:00

``liens.service`` names the web application or workflow that sent a request (policy ``services`` caps its
concurrent runs; indexed with the state like the account path's columns); ``liens.closed_at`` when the
service recorded a lien's end (the dispatcher's "slots freed since I last looked"). ``queue`` holds requests refused
only by transient limits until the dispatcher admits them (docs/queue.md); ``queue_blocks`` which quotas
each of them waits for.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_LONG = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_BINARY: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    with op.batch_alter_table("liens") as batch:
        batch.add_column(sa.Column("service", sa.String(191)))
        batch.add_column(sa.Column("closed_at", _TIME))
    op.create_index("ix_liens_state_service", "liens", ["state", "service"])
    op.create_index("ix_liens_closed_at", "liens", ["closed_at"])
    op.create_index("ix_liens_expires_at", "liens", ["expires_at"])
    op.create_table(
        "queue",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("key", sa.String(191), unique=True),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(191), nullable=False),
        sa.Column("project", sa.String(191)),
        sa.Column("service", sa.String(191)),
        sa.Column("job_id", sa.String(191)),
        sa.Column("request", _LONG, nullable=False),
        sa.Column("blocked_by", sa.Text(), nullable=False),
        sa.Column("blocked_key", sa.String(40), nullable=False),
        sa.Column("decision", _LONG, nullable=False),
        sa.Column("size", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolved_at", _TIME),
        sa.Column("callback_url", sa.String(2048)),
        sa.Column("callback_due", _TIME),
        sa.Column("callback_attempts", sa.Integer(), nullable=False, server_default="0"),
        **_BINARY,
    )
    op.create_index("ix_queue_state_seq", "queue", ["state", "seq"])
    op.create_index("ix_queue_state_group", "queue", ["state", "blocked_key"])
    op.create_index("ix_queue_state_user", "queue", ["state", "user_id"])
    op.create_index("ix_queue_callback_due", "queue", ["callback_due"])
    op.create_table(
        "queue_blocks",
        sa.Column("quota_key", sa.String(40), primary_key=True),
        sa.Column("entry_id", sa.String(36), primary_key=True),
        **_BINARY,
    )


def downgrade() -> None:
    op.drop_table("queue_blocks")
    op.drop_table("queue")
    op.drop_index("ix_liens_expires_at", "liens")
    op.drop_index("ix_liens_closed_at", "liens")
    op.drop_index("ix_liens_state_service", "liens")
    with op.batch_alter_table("liens") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("service")

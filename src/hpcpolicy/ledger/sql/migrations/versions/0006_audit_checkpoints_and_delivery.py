"""audit checkpoints, delivery cursors and leases

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:05:00

``audit_checkpoints`` keeps the sealer's signed (seq, hash) pairs (docs/design/audit.md);
``audit_cursors`` the last event each sink acknowledged; ``leases`` one row per singleton job (the
delivery worker) that exactly one replica may run at a time, with its holder and expiry.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_BINARY: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        **_BINARY,
    )
    op.create_table(
        "audit_cursors",
        sa.Column("sink", sa.String(191), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        **_BINARY,
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(191), primary_key=True),
        sa.Column("holder", sa.String(191), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        **_BINARY,
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("audit_cursors")
    op.drop_table("audit_checkpoints")

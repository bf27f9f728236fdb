"""audit events: one row per ledger change, chained after commit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 04:20:00

Every ledger write (decision, lien reserved or changed, charge, adjustment) inserts an event in the same
transaction; a sealer later gives each the next ``seq`` and chains it by SHA-256 (docs/design/audit.md).
Rows written before this revision have no events: the chain starts here.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_BINARY: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(191), nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("actor", sa.String(255)),
        sa.Column("request_id", sa.Text()),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("body", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), unique=True),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("hash", sa.String(64)),
        **_BINARY,
    )


def downgrade() -> None:
    op.drop_table("events")

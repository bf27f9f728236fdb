"""running totals of charges per scope, UTC day and month

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 14:00:00

``usage_buckets`` holds, for every scope a charge draws on and its slice, the sums of its charges per UTC
day and per UTC month, kept by each new charge in its own transaction; a balance then reads a few rows
instead of every charge of its window (docs/design/usage-buckets.md). The rows are filled here from the
charges already recorded, with the same code ``hpcpolicy db check --repair`` uses
(:func:`hpcpolicy.ledger.sql.bucket_check.backfill`), a UTC month at a time: charges grouped per path,
slice and day in the database, expanded to their scopes' rows in Python (the key is a digest the three
backends cannot all compute in SQL).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from hpcpolicy.ledger.sql.bucket_check import backfill

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_IDENT = sa.String(191)


def upgrade() -> None:
    op.create_table(
        "usage_buckets",
        sa.Column("scope", sa.String(400), primary_key=True),
        sa.Column("grain", sa.String(5), primary_key=True),
        sa.Column("bucket_start", _TIME, primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("cluster", _IDENT),
        sa.Column("partition", _IDENT),
        sa.Column("gpu_type", sa.String(64)),
        sa.Column("cpu_hours", sa.Double(), nullable=False),
        sa.Column("gpu_hours", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("charges", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("id", name="uq_usage_buckets_id"),
        sqlite_with_rowid=False,
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("usage_buckets")

"""running totals of the open liens per scope and slice

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:00:00

``held_totals`` holds, for every scope a lien draws on and its slice, the sums of its open liens (reserved
or running), kept with each lien's changes in their transaction: a balance reads these rows instead of
every open lien of the scope (an org's are all its members' jobs). The scope indexes of ``liens`` gain
``expires_at``, so a balance finds the reservations that lapsed and are not swept yet in one range. The rows
are filled here from the open liens, with the code ``hpcpolicy db check --repair`` uses
(:func:`hpcpolicy.ledger.sql.held_check.fill`).
"""

import sqlalchemy as sa
from alembic import op

from hpcpolicy.ledger.sql.held_check import fill

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_IDENT = sa.String(191)
#: Scope column of each index: (old name, new name).
_SCOPE_INDEXES = {
    "user_id": ("ix_liens_state_user", "ix_liens_state_user_expires"),
    "service": ("ix_liens_state_service", "ix_liens_state_service_expires"),
    "project": ("ix_liens_state_project", "ix_liens_state_project_expires"),
    "team": ("ix_liens_state_team", "ix_liens_state_team_expires"),
    "org": ("ix_liens_state_org", "ix_liens_state_org_expires"),
}


def upgrade() -> None:
    op.create_table(
        "held_totals",
        sa.Column("scope", sa.String(400), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("cluster", _IDENT),
        sa.Column("partition", _IDENT),
        sa.Column("gpu_type", sa.String(64)),
        sa.Column("cpu_hours", sa.Double(), nullable=False),
        sa.Column("gpu_hours", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.Column("gpus", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    for column, (old, new) in _SCOPE_INDEXES.items():
        op.create_index(new, "liens", ["state", column, "expires_at"])
        op.drop_index(old, "liens")
    fill(op.get_bind())


def downgrade() -> None:
    for column, (old, new) in _SCOPE_INDEXES.items():
        op.create_index(old, "liens", ["state", column])
        op.drop_index(new, "liens")
    op.drop_table("held_totals")

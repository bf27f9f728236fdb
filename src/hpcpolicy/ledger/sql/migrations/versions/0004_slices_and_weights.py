"""slices and billing weights: GPU type and raw hours on charges, hour weights on liens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 23:40:00

Policy v2 quotas may count a slice of the machine (partitions, GPU types): a charge now records the GPU
type it used, as a lien does. Partitions may weight hours against budgets (TRESBillingWeights): a lien
records the weights in force at admission (as it records rates), and a charge keeps its raw hours beside
the counted ones. Existing rows count at weight 1, which is what they were charged at.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("liens") as batch:
        batch.add_column(sa.Column("weight_cpu", sa.Double(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("weight_gpu", sa.Double(), nullable=False, server_default="1"))
    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("gpu_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("raw_cpu_hours", sa.Double(), nullable=True))
        batch.add_column(sa.Column("raw_gpu_hours", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("charges") as batch:
        batch.drop_column("raw_gpu_hours")
        batch.drop_column("raw_cpu_hours")
        batch.drop_column("gpu_type")
    with op.batch_alter_table("liens") as batch:
        batch.drop_column("weight_gpu")
        batch.drop_column("weight_cpu")

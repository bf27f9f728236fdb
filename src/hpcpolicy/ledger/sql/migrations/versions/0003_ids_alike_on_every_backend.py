"""identifiers compare alike on every backend; job ids unique per cluster; typed principals fit

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 22:40:00

- MariaDB/MySQL: the tables take the database's default collation, usually ``utf8mb4_general_ci``, under
  which ``Alice`` and ``alice`` are one user (one balance, one unique key) while PostgreSQL and SQLite
  keep them apart. Binary collation makes every backend compare identifiers byte for byte. (Trailing
  spaces, which MariaDB's PAD SPACE collations still ignore, are refused at the API.)
- A scheduler's job ids are unique only within its cluster: two Slurm clusters both have a job 1234.
  The unique key on ``liens.job_id`` becomes one on ``(cluster, job_id)``.
- Recorded callers and adjustment/policy authors are typed principals (``user:<id>``, ``key:<name>``):
  the columns grow from 191 to 255 characters so a 191-character user id still fits with its prefix;
  scope columns grow to 200 so ``project:`` and a 191-character name fit (InnoDB's DYNAMIC rows index
  3,072 bytes: 800 is well inside). Callers and authors recorded before hold bare names, which could
  equal a typed principal (a token whose subject was literally ``user:bob``): they become ``legacy:<name>``,
  which no caller ever is, so only admins and trusted keys read those records.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("liens", "charges", "adjustments", "decisions", "scope_locks", "policy_revisions")
AUTHORS = (("decisions", "caller"), ("adjustments", "author"), ("policy_revisions", "author"))
SCOPES = (("adjustments", "scope"), ("scope_locks", "scope"))
# Names the unnamed constraints of revision 0001 when SQLite's batch mode reflects and rebuilds the table.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name in ("mysql", "mariadb"):
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    job_key = _unique_on(bind, "liens", ["job_id"]) or "uq_liens_job_id"
    with op.batch_alter_table("liens", naming_convention=NAMING) as batch:
        batch.drop_constraint(job_key, type_="unique")
        batch.create_unique_constraint("uq_liens_cluster_job_id", ["cluster", "job_id"])
    for columns, width in ((AUTHORS, 255), (SCOPES, 200)):
        for table, column in columns:
            with op.batch_alter_table(table) as batch:
                batch.alter_column(column, type_=sa.String(width), existing_type=sa.String(191), existing_nullable=False)
    for table, column in AUTHORS:
        named = sa.table(table, sa.column(column, sa.String(255)))
        op.execute(named.update().values({column: sa.literal("legacy:", sa.String(255)) + named.c[column]}))


def downgrade() -> None:
    for columns, width in ((AUTHORS, 255), (SCOPES, 200)):
        for table, column in columns:
            with op.batch_alter_table(table) as batch:
                batch.alter_column(column, type_=sa.String(191), existing_type=sa.String(width), existing_nullable=False)
    with op.batch_alter_table("liens", naming_convention=NAMING) as batch:
        batch.drop_constraint("uq_liens_cluster_job_id", type_="unique")
        batch.create_unique_constraint("uq_liens_job_id", ["job_id"])


def _unique_on(bind: sa.Connection, table: str, columns: list[str]) -> str | None:
    """The name the backend gave the unique constraint on ``columns`` (None where it has none: SQLite)."""
    for constraint in sa.inspect(bind).get_unique_constraints(table):
        if constraint["column_names"] == columns:
            return constraint["name"]
    return None

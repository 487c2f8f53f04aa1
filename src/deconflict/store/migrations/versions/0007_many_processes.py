"""Several service processes on one store: `engine_changes`, the declarations whose live
version changed, in commit order, so each process keeps its in-memory engine the same as
the store; `writer_lock`, the one row every write transaction on PostgreSQL locks first, so
writes of all processes are one sequence (the record's single-writer order);
`position_queue` and `monitor_lease`, position batches accepted by any process for the one
process that monitors them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WIDE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "engine_changes",
        sa.Column("seq", WIDE, autoincrement=True, nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    lock = op.create_table(
        "writer_lock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(lock, [{"id": 1}])
    op.create_table(
        "position_queue",
        sa.Column("seq", WIDE, autoincrement=True, nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("reports", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    lease = op.create_table(
        "monitor_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("until_s", sa.Float(), nullable=False),
        sa.Column("cursor", WIDE, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(lease, [{"id": 1, "owner": None, "until_s": 0.0, "cursor": 0}])


def downgrade() -> None:
    op.drop_table("monitor_lease")
    op.drop_table("position_queue")
    op.drop_table("writer_lock")
    op.drop_table("engine_changes")

"""Monitors that partition space (service/live.py, "Partitions"): `monitor_lease` gets one
row per partition (made as needed; the existing row is partition 0), `monitor_members`
lists the processes that take part, `position_queue.parts` says which partitions a batch
has reports for (a bit per partition), and `alerts.part` which partition answers for an
alert, so a process taking a partition over continues its alerts.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WIDE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitor_members",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("until_s", sa.Float(), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )
    with op.batch_alter_table("position_queue") as batch:
        batch.add_column(sa.Column("parts", WIDE, nullable=False, server_default="1"))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("part", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("part")
    with op.batch_alter_table("position_queue") as batch:
        batch.drop_column("parts")
    op.execute("DELETE FROM monitor_lease WHERE id <> 1")
    op.drop_table("monitor_members")

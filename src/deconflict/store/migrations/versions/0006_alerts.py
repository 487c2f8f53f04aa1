"""Live alerts in the store, so every service process on it and a restarted one answer
for the same alerts: each alert's last event, the parties of the open ones, and who
acknowledged it (docs/live.md, "In the service").

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("units", sa.Text(), nullable=False),
        sa.Column("declarations", sa.Text(), nullable=False),
        sa.Column("alert_json", sa.Text(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("opened_s", sa.Float(), nullable=False),
        sa.Column("updated_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index("ix_alerts_open", "alerts", ["open", "updated_s"], unique=False)
    op.create_index("ix_alerts_units", "alerts", ["units", "type"], unique=False)
    op.create_table(
        "alert_parties",
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("party", "alert_id"),
    )
    op.create_table(
        "alert_acks",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "party"),
    )


def downgrade() -> None:
    op.drop_table("alert_acks")
    op.drop_table("alert_parties")
    op.drop_index("ix_alerts_units", table_name="alerts")
    op.drop_index("ix_alerts_open", table_name="alerts")
    op.drop_table("alerts")

"""The evidence bundles attached to incidents: each reconstruction's report.json, its
checkpoint and the log's verifier key (docs/record.md, "Incidents", step 5).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incident_evidence",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("by", sa.String(length=32), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("report", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("tree_size", INDEX, nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("log_key", sa.Text(), nullable=False),
        sa.Column("cited", sa.Integer(), nullable=False),
        sa.Column("log_index", INDEX, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "n"),
    )


def downgrade() -> None:
    op.drop_table("incident_evidence")

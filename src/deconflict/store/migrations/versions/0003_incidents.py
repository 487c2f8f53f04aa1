"""Incidents filed by one party against another: the incident, the accounts of both
sides and the attachments (docs/record.md, "Incidents").

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("filer", sa.String(length=32), nullable=False),
        sa.Column("against", sa.String(length=32), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("filed_s", sa.Float(), nullable=False),
        sa.Column("rfi_deadline_s", sa.Float(), nullable=False),
        sa.Column("answered_s", sa.Float(), nullable=True),
        sa.Column("escalated_s", sa.Float(), nullable=True),
        sa.Column("due_s", sa.Float(), nullable=True),
        sa.Column("proposed_by", sa.String(length=32), nullable=True),
        sa.Column("proposed_finding", sa.Text(), nullable=True),
        sa.Column("proposed_outcome", sa.String(length=16), nullable=True),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("found_by", sa.String(length=80), nullable=True),
        sa.Column("found_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_index("ix_incidents_filer", "incidents", ["filer"], unique=False)
    op.create_index("ix_incidents_against", "incidents", ["against"], unique=False)
    op.create_index("ix_incidents_due", "incidents", ["due_s"], unique=False)
    op.create_table(
        "incident_accounts",
        sa.Column("account_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("log_index", INDEX, nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_index(
        "ix_incident_accounts_incident_id", "incident_accounts", ["incident_id"], unique=False
    )
    op.create_table(
        "incident_attachments",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "n"),
    )


def downgrade() -> None:
    op.drop_table("incident_attachments")
    op.drop_index("ix_incident_accounts_incident_id", table_name="incident_accounts")
    op.drop_table("incident_accounts")
    op.drop_index("ix_incidents_due", table_name="incidents")
    op.drop_index("ix_incidents_against", table_name="incidents")
    op.drop_index("ix_incidents_filer", table_name="incidents")
    op.drop_table("incidents")

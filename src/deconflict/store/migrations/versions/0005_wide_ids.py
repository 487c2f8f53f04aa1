"""64-bit counters on PostgreSQL: event sequence numbers, conflict, delivery and checkpoint
ids were INTEGER, which PostgreSQL keeps in 32 bits (2,147,483,647 events is reachable by
a theatre-wide deployment feeding positions for years). SQLite's INTEGER already holds 64
bits, so there this revision changes nothing.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    # table, column, its own sequence (serial) or None
    ("events", "seq", "events_seq_seq"),
    ("conflicts", "conflict_id", "conflicts_conflict_id_seq"),
    ("deliveries", "delivery_id", "deliveries_delivery_id_seq"),
    ("deliveries", "event_seq", None),
    ("checkpoints", "checkpoint_id", "checkpoints_checkpoint_id_seq"),
    ("cosignatures", "checkpoint_id", None),
    ("incident_evidence", "checkpoint_id", None),
)


def _change(wide: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    kind = sa.BigInteger() if wide else sa.Integer()
    word = "bigint" if wide else "integer"
    for table, column, sequence in COLUMNS:
        op.alter_column(table, column, type_=kind, existing_nullable=False)
        if sequence is not None:
            op.execute(f"ALTER SEQUENCE {sequence} AS {word}")


def upgrade() -> None:
    _change(wide=True)


def downgrade() -> None:
    _change(wide=False)

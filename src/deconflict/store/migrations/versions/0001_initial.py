"""Initial schema: parties, tokens, keys, declarations, clearance, events, messages,
webhooks, idempotency.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conflicts",
        sa.Column("conflict_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("a_party", sa.String(length=32), nullable=False),
        sa.Column("a_id", sa.String(length=128), nullable=False),
        sa.Column("b_party", sa.String(length=32), nullable=False),
        sa.Column("b_id", sa.String(length=128), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("min_distance_m", sa.Float(), nullable=False),
        sa.Column("at_lon", sa.Float(), nullable=False),
        sa.Column("at_lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("conflict_id"),
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index("ix_conflicts_a", ["a_party", "a_id"], unique=False)
        batch_op.create_index("ix_conflicts_b", ["b_party", "b_id"], unique=False)

    op.create_table(
        "declarations",
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("feature", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("submitted_s", sa.Float(), nullable=False),
        sa.Column("clearance", sa.Text(), nullable=False),
        sa.Column("due_s", sa.Float(), nullable=True),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("key_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("party", "id", "version"),
    )
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.create_index("ix_declarations_due", ["due_s"], unique=False)
        batch_op.create_index("ix_declarations_live", ["live", "party"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hook_id", sa.String(length=32), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_s", sa.Float(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("updated_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_hook_id"), ["hook_id"], unique=False)
        batch_op.create_index("ix_deliveries_next", ["status", "next_s"], unique=False)

    op.create_table(
        "events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=33), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_recipient", ["recipient", "seq"], unique=False)

    op.create_table(
        "idempotency",
        sa.Column("party", sa.String(length=33), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("party", "key"),
    )
    op.create_table(
        "keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_s", sa.Float(), nullable=False),
        sa.Column("revoked_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    with op.batch_alter_table("keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_keys_party"), ["party"], unique=False)

    op.create_table(
        "messages",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=33), nullable=False),
        sa.Column("recipient", sa.String(length=33), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("refs", sa.Text(), nullable=False),
        sa.Column("sent_s", sa.Float(), nullable=False),
        sa.Column("deadline_s", sa.Float(), nullable=False),
        sa.Column("acked_s", sa.Float(), nullable=True),
        sa.Column("escalated_s", sa.Float(), nullable=True),
        sa.Column("due_s", sa.Float(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_due", ["due_s"], unique=False)
        batch_op.create_index("ix_messages_recipient", ["recipient"], unique=False)
        batch_op.create_index("ix_messages_sender", ["sender"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("notified", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.String(length=64), nullable=False),
        sa.Column("deadline_s", sa.Float(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("party", "id", "version", "notified"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_notified", ["notified", "open"], unique=False)

    op.create_table(
        "parties",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_s", sa.Float(), nullable=False),
        sa.Column("observers", sa.Text(), server_default="[]", nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("party", sa.String(length=33), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_s", sa.Float(), nullable=False),
        sa.Column("revoked_s", sa.Float(), nullable=True),
        sa.Column("label", sa.String(length=64), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("token_id"),
    )
    op.create_table(
        "webhooks",
        sa.Column("hook_id", sa.String(length=32), nullable=False),
        sa.Column("party", sa.String(length=33), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_s", sa.Float(), nullable=False),
        sa.Column("deleted_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("hook_id"),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhooks_party"), ["party"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_party"))

    op.drop_table("webhooks")
    op.drop_table("tokens")
    op.drop_table("parties")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_notified")

    op.drop_table("notifications")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_sender")
        batch_op.drop_index("ix_messages_recipient")
        batch_op.drop_index("ix_messages_due")

    op.drop_table("messages")
    with op.batch_alter_table("keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_keys_party"))

    op.drop_table("keys")
    op.drop_table("idempotency")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_recipient")

    op.drop_table("events")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_next")
        batch_op.drop_index(batch_op.f("ix_deliveries_hook_id"))

    op.drop_table("deliveries")
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.drop_index("ix_declarations_live")
        batch_op.drop_index("ix_declarations_due")

    op.drop_table("declarations")
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index("ix_conflicts_b")
        batch_op.drop_index("ix_conflicts_a")

    op.drop_table("conflicts")

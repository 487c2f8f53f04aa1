"""The record's subtree hashes in one B-tree on SQLite: `log_nodes` becomes a `WITHOUT
ROWID` table keyed by (level, idx), so reading a hash is one B-tree search instead of two
(the primary-key index, then the rowid table) and appending one is one insert instead of
two. A proof reads about 30 of them; from a cold page cache each search is a disk read
(docs/benchmarks.md, "Record"). PostgreSQL keeps its table: nothing to do there.

The table is copied in key order, in the migration's one transaction: on a store of 10
million entries (20 million hashes) that takes about a minute and, until the next WAL
checkpoint, WAL space of the table's size; the old table's pages are reused by later
writes, not given back to the file system.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "log_nodes_copy",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", INDEX, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(
        "INSERT INTO log_nodes_copy (level, idx, hash) "
        "SELECT level, idx, hash FROM log_nodes ORDER BY level, idx"
    )
    op.drop_table("log_nodes")
    op.rename_table("log_nodes_copy", "log_nodes")


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)

"""Fewer rows written per entry of the record, and the hashes one proof reads stored
together (docs/benchmarks.md, "Record"):

- the subtree hashes of levels 1 and 2 are no longer stored: they are computed from the
  leaf hashes, or for proofs from the 8 entries around the leaf (store/log.py,
  `is_stored`); an append writes about 1.25 rows of `log_nodes` per entry instead of 2;
- `log_nodes` gets a first key column, `cluster` (store/log.py, `cluster`): 0 for the
  leaves, and above them the hashes of a band of 6 levels under one subtree stored
  together, so a proof from a cold page cache reads a page or two per band instead of
  one per level;
- the index on `log_entries.at_s`, which no query used, is dropped.

On SQLite the table is copied in key order in the migration's one transaction (as 0009
did: about a minute for 10 million entries; the old pages become free pages that later
writes reuse). On PostgreSQL the column is added and filled, and the primary key rebuilt.
The downgrade computes levels 1 and 2 again from the leaves.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CHUNK = 1 << 16  # leaves read at a time by the downgrade (a multiple of 4)

# store/log.py `cluster` in SQL, for levels 0 and 3 up (bands of 6 levels from level 3).
_BAND = "((level - 3) / 6)"
_CLUSTER = (
    f"CASE WHEN level < 3 THEN 0 ELSE (CAST({_BAND} + 1 AS BIGINT) << 40) "
    f"| (idx >> (3 + ({_BAND} + 1) * 6 - level)) END"
)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    op.drop_index("ix_log_entries_at", table_name="log_entries")
    if _sqlite():
        op.create_table(
            "log_nodes_copy",
            sa.Column("cluster", INDEX, autoincrement=False, nullable=False),
            sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("idx", INDEX, autoincrement=False, nullable=False),
            sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
            sa.PrimaryKeyConstraint("cluster", "level", "idx"),
            sqlite_with_rowid=False,
        )
        op.execute(
            "INSERT INTO log_nodes_copy (cluster, level, idx, hash) "
            f"SELECT {_CLUSTER} AS c, level, idx, hash FROM log_nodes "
            "WHERE level NOT IN (1, 2) ORDER BY c, level, idx"
        )
        op.drop_table("log_nodes")
        op.rename_table("log_nodes_copy", "log_nodes")
        return
    op.execute("DELETE FROM log_nodes WHERE level IN (1, 2)")
    op.add_column("log_nodes", sa.Column("cluster", INDEX, autoincrement=False, nullable=True))
    op.execute(f"UPDATE log_nodes SET cluster = {_CLUSTER}")
    op.alter_column("log_nodes", "cluster", nullable=False)
    op.drop_constraint("log_nodes_pkey", "log_nodes", type_="primary")
    op.create_primary_key("log_nodes_pkey", "log_nodes", ["cluster", "level", "idx"])


def downgrade() -> None:
    if _sqlite():
        op.create_table(
            "log_nodes_copy",
            sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("idx", INDEX, autoincrement=False, nullable=False),
            sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
            sa.PrimaryKeyConstraint("level", "idx"),
            sqlite_with_rowid=False,
        )
        op.execute(
            "INSERT INTO log_nodes_copy (level, idx, hash) "
            "SELECT level, idx, hash FROM log_nodes ORDER BY level, idx"
        )
        op.drop_table("log_nodes")
        op.rename_table("log_nodes_copy", "log_nodes")
    else:
        op.drop_constraint("log_nodes_pkey", "log_nodes", type_="primary")
        op.drop_column("log_nodes", "cluster")
        op.create_primary_key("log_nodes_pkey", "log_nodes", ["level", "idx"])
    _store_levels_1_and_2()
    op.create_index("ix_log_entries_at", "log_entries", ["at_s"], unique=False)


def _store_levels_1_and_2() -> None:
    conn = op.get_bind()
    nodes = sa.table("log_nodes", sa.column("level"), sa.column("idx"), sa.column("hash"))
    top = conn.execute(sa.select(sa.func.max(nodes.c.idx)).where(nodes.c.level == 0)).scalar()
    for start in range(0, 0 if top is None else int(top) + 1, _CHUNK):
        rows = conn.execute(
            sa.select(nodes.c.idx, nodes.c.hash)
            .where(nodes.c.level == 0, nodes.c.idx >= start, nodes.c.idx < start + _CHUNK)
            .order_by(nodes.c.idx)
        ).all()
        level = {int(i): bytes(h) for i, h in rows}
        out = []
        for lv in (1, 2):
            level = {
                i // 2: hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
                for i in level
                if i % 2 == 0 and i + 1 in level
            }
            out += [{"level": lv, "idx": i, "hash": h} for i, h in level.items()]
        if out:
            conn.execute(sa.insert(nodes), out)

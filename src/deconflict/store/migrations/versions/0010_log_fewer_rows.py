"""Fewer rows written per entry of the record: the subtree hashes of levels 1 and 2 are no
longer stored (they are computed from the leaf hashes, or for proofs from the 8 entries
around the leaf: store/log.py, `is_stored`), and the index on `log_entries.at_s`, which no
query used, is dropped. An append wrote about 2 rows of `log_nodes` per entry and an index
entry; it now writes about 1.25 rows and no index entry (docs/benchmarks.md, "Record").

The upgrade deletes 3 rows in 8 of `log_nodes`; on SQLite their pages become free pages
that later writes reuse. The downgrade computes the deleted hashes again from the leaves.

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

_CHUNK = 1 << 16  # leaves read at a time by the downgrade (a multiple of 4)


def upgrade() -> None:
    op.execute("DELETE FROM log_nodes WHERE level IN (1, 2)")
    op.drop_index("ix_log_entries_at", table_name="log_entries")


def downgrade() -> None:
    op.create_index("ix_log_entries_at", "log_entries", ["at_s"], unique=False)
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

"""The record in the store: entries, subtree hashes, committed contents, checkpoints.

It holds the SQL side of SPEC §6; it must never update or delete a row of the log: the
tables are append-only, and an entry is written in the same transaction as the state it
describes, so both or neither are there after a crash.

Appending inside one write transaction goes through a `LogWriter`: it reopens the tree
from the head the service kept from the last commit (checked against the stored size, so
another writer is noticed), buffers rows, and writes them with one statement per table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from deconflict.errors import NotFound
from deconflict.record.canonical import JSONValue
from deconflict.record.entries import RequestSignature, build_entry
from deconflict.record.merkle import leaf_hash, node_hash
from deconflict.record.tree import MerkleTree, fold, inclusion_plan, range_keys, range_root
from deconflict.store import schema as t


@dataclass(frozen=True, slots=True)
class LogHead:
    """The tree as of a commit: its size, compact range and last leaf hash."""

    size: int
    compact: tuple[bytes, ...]
    last_leaf: bytes | None


@dataclass(frozen=True, slots=True)
class StoredEntry:
    index: int
    at_s: float
    type: str
    by: str
    entry: bytes


@dataclass(frozen=True, slots=True)
class StoredContent:
    index: int
    name: str
    salt: bytes
    content: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    checkpoint_id: int
    tree_size: int
    at_s: float
    note: str


PROOF_BLOCK_LEVELS = 3
"""Subtree hashes of levels 1 to PROOF_BLOCK_LEVELS - 1 are not stored: they are computed
from the 2**level leaf hashes below them (`SqlNodes`) or, for inclusion proofs, from the
block of 2**3 entries around the leaf (`ProofNodes`). The leaf hashes (level 0) are stored,
so the audit names an altered entry even when the next entry's link was rewritten too, and
notices the last entry removed; every level from PROOF_BLOCK_LEVELS up is stored."""


def is_stored(level: int) -> bool:
    """Whether `log_nodes` holds the subtree hashes of `level` (migration 0010)."""
    return level == 0 or level >= PROOF_BLOCK_LEVELS


BAND_LEVELS = 6
"""Stored levels from PROOF_BLOCK_LEVELS up are kept in bands of this many levels; within
a band, the hashes under one subtree of the level above the band are stored together."""


def cluster(level: int, index: int) -> int:
    """The first key of the stored hash (level, index) in `log_nodes`: 0 for the leaves;
    above them, the band's number (from 1) times 2**40 plus the index of the subtree
    just above the band that holds this one.

    A proof needs one hash per level, the sibling of its leaf's ancestor. Keyed by
    (level, idx) each lies in another part of the table: from a cold page cache, a
    disk read per level. Keyed by cluster first, the hashes of levels 3 to 8 under one
    subtree of level 9 (126 of them, 1 or 2 pages) are stored together, so are those of
    levels 9 to 14 under one of level 15, and so on: the proof reads a page or two per
    band instead of one per level, and an append writes one end of the table per band
    instead of one per level (migration 0010; bench/record.py). The same SQL expression
    is in the migration."""
    if level < PROOF_BLOCK_LEVELS:
        return 0
    band = (level - PROOF_BLOCK_LEVELS) // BAND_LEVELS
    top = PROOF_BLOCK_LEVELS + (band + 1) * BAND_LEVELS
    return ((band + 1) << 40) | (index >> (top - level))


_NODE_SQL = "SELECT hash FROM log_nodes WHERE cluster = ? AND level = ? AND idx = ?"
_LEVEL_SQL = "SELECT idx, hash FROM log_nodes WHERE %s AND level = ? AND idx >= ? AND idx < ?"
_LEAVES_SQL = (
    "SELECT idx, hash FROM log_nodes WHERE cluster = 0 AND level = 0 AND idx >= ? AND idx < ?"
)


class SqlNodes:
    """Subtree hashes read from the store, plus those appended in this transaction.

    A proof reads one row per level or so; on SQLite each read goes to the driver's
    connection (the same connection, so the same transaction), as SQLAlchemy's statement
    handling cost ten times the lookup itself (bench/record.py). A hash of a level the
    store does not keep (`is_stored`) is folded from the 2 or 4 leaf hashes below it:
    one range read instead of one search."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.pending: dict[tuple[int, int], bytes] = {}
        self._driver: Any = conn.connection.driver_connection if _is_sqlite(conn) else None

    def get(self, level: int, index: int) -> bytes:
        found = self.pending.get((level, index))
        if found is not None:
            return found
        if not is_stored(level):
            return self._from_leaves(level, index)
        if self._driver is not None:
            row = self._driver.execute(_NODE_SQL, (cluster(level, index), level, index)).fetchone()
        else:
            n = t.log_nodes.c
            row = self._conn.execute(
                select(n.hash).where(
                    n.cluster == cluster(level, index), n.level == level, n.idx == index
                )
            ).first()
        if row is None:
            raise NotFound(f"the record holds no subtree ({level}, {index}).")
        return bytes(row[0])

    def put(self, level: int, index: int, node: bytes) -> None:
        self.pending[(level, index)] = node

    def leaves(self, start: int, end: int) -> dict[int, bytes]:
        """Leaf hashes [start, end) that the store holds or this transaction appended."""
        if self._driver is not None:
            rows = self._driver.execute(_LEAVES_SQL, (start, end)).fetchall()
        else:
            n = t.log_nodes.c
            rows = self._conn.execute(
                select(n.idx, n.hash).where(
                    n.cluster == 0, n.level == 0, n.idx >= start, n.idx < end
                )
            ).all()
        found = {int(i): bytes(h) for i, h in rows}
        if self.pending:
            for i in range(start, end):
                if i not in found and (0, i) in self.pending:
                    found[i] = self.pending[(0, i)]
        return found

    def _from_leaves(self, level: int, index: int) -> bytes:
        start = index << level
        found = self.leaves(start, start + (1 << level))
        hashes = [found[i] for i in range(start, start + (1 << level)) if i in found]
        if len(hashes) != 1 << level:
            raise NotFound(f"the record holds no subtree ({level}, {index}).")
        return _fold_level(hashes, level)


def _fold_level(hashes: list[bytes], levels: int) -> bytes:
    """The root of 2**levels hashes of one level (a complete subtree)."""
    for _ in range(levels):
        hashes = [node_hash(hashes[k], hashes[k + 1]) for k in range(0, len(hashes), 2)]
    return hashes[0]


_BLOCK_SQL = "SELECT idx, entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx"
# The keys as the outer loop (CROSS JOIN fixes SQLite's join order), a search each: with
# `(level, idx) IN (VALUES ...)` SQLite scans the whole table.
_PREFETCH_SQL = (
    "SELECT n.level, n.idx, n.hash FROM (VALUES %s) AS k CROSS JOIN log_nodes AS n "
    "ON n.cluster = k.column1 AND n.level = k.column2 AND n.idx = k.column3"
)


class ProofNodes(SqlNodes):
    """Subtree hashes for inclusion proofs: the lowest levels computed from entries, the
    others read in one statement (`prefetch`).

    A proof for one leaf of a big log reads a hash at every level, each in another part of
    `log_nodes`: with the store not in the page cache, each is a disk read or two. Below
    level PROOF_BLOCK_LEVELS the hashes it needs lie inside the aligned block of
    2**PROOF_BLOCK_LEVELS entries around the leaf: adjacent rows of `log_entries`, mostly
    on the page of the entry the proof is for, which the caller reads anyway. One range
    read and 14 hashes replace three B-tree searches (bench/record.py: the cold median on
    a 10-million log fell by about a sixth; blocks of 16 or 32 entries, spanning more
    pages, did no better cold and worse warm). In an unaltered store these hashes equal
    those of the stored leaf hashes; an altered entry gives its neighbours' proofs that do
    not verify, as its own does. Not for the audit, which compares the stored hashes with
    the entries.
    """

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._computed: dict[tuple[int, int], bytes] = {}
        self._blocks: set[int] = set()

    def prefetch(self, keys: Sequence[tuple[int, int]]) -> None:
        """Read the stored hashes among `keys` (those at or above PROOF_BLOCK_LEVELS) in
        one statement, each a search of the same B-tree: on SQLite a call into the
        driver cost more than the search itself once the store is in the page cache."""
        if self._driver is None:
            return  # PostgreSQL: read one by one as asked
        wanted = sorted({k for k in keys if k[0] >= PROOF_BLOCK_LEVELS} - self._computed.keys())
        if not wanted:
            return
        sql = _PREFETCH_SQL % ",".join(["(?,?,?)"] * len(wanted))
        params = [x for lv, i in wanted for x in (cluster(lv, i), lv, i)]
        for level, index, node in self._driver.execute(sql, params):
            self._computed[(int(level), int(index))] = bytes(node)

    def get(self, level: int, index: int) -> bytes:
        found = self._computed.get((level, index))
        if found is not None:
            return found
        if level < PROOF_BLOCK_LEVELS:
            block = (index << level) >> PROOF_BLOCK_LEVELS
            if block not in self._blocks:
                self._blocks.add(block)
                self._compute(block)
                found = self._computed.get((level, index))
                if found is not None:
                    return found
        return super().get(level, index)  # a block cut short (the log's end, a gap)

    def _compute(self, block: int) -> None:
        """The complete subtrees of the block's entries, up to the first one missing."""
        first = block << PROOF_BLOCK_LEVELS
        end = first + (1 << PROOF_BLOCK_LEVELS)
        if self._driver is not None:
            rows = self._driver.execute(_BLOCK_SQL, (first, end)).fetchall()
        else:
            e = t.log_entries.c
            rows = self._conn.execute(
                select(e.idx, e.entry).where(e.idx >= first, e.idx < end).order_by(e.idx)
            ).all()
        hashes: list[bytes] = []
        for i, raw in rows:
            if int(i) != first + len(hashes):
                break
            hashes.append(leaf_hash(bytes(raw)))
        level, start = 0, first
        while hashes and level < PROOF_BLOCK_LEVELS:
            for k, h in enumerate(hashes):
                self._computed[(level, start + k)] = h
            hashes = [node_hash(hashes[k], hashes[k + 1]) for k in range(0, len(hashes) - 1, 2)]
            level, start = level + 1, start >> 1


def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def stored_size(conn: Connection) -> int:
    """Entries in the record."""
    if _is_sqlite(conn):
        driver: Any = conn.connection.driver_connection
        top = driver.execute("SELECT max(idx) FROM log_entries").fetchone()[0]
    else:
        top = conn.execute(select(func.max(t.log_entries.c.idx))).scalar()
    return 0 if top is None else int(top) + 1


def read_head(conn: Connection) -> LogHead:
    """The head of the stored tree: O(log n) reads."""
    size = stored_size(conn)
    tree = MerkleTree(SqlNodes(conn), size)
    last = tree.leaf_hash(size - 1) if size else None
    return LogHead(size, tuple(tree.compact_range), last)


class LogWriter:
    """Appends entries within one write transaction; `flush` writes them."""

    def __init__(self, conn: Connection, head: LogHead | None = None) -> None:
        self._conn = conn
        size = stored_size(conn)
        if head is None or head.size != size:
            head = read_head(conn)
        self._nodes = SqlNodes(conn)
        self._tree = MerkleTree.resume(self._nodes, head.size, list(head.compact))
        self._last = head.last_leaf
        self._entries: list[tuple[object, ...]] = []
        self._contents: list[tuple[object, ...]] = []

    @property
    def size(self) -> int:
        return self._tree.size

    def root(self) -> bytes:
        return self._tree.root()

    def append(
        self,
        at_s: float,
        type_: str,
        by: str,
        data: Mapping[str, JSONValue],
        private: Mapping[str, bytes | JSONValue] | None = None,
        signature: RequestSignature | None = None,
    ) -> int:
        """Append one entry; returns its index. Written by `flush`, in this transaction."""
        index = self._tree.size
        raw, contents = build_entry(index, self._last, at_s, type_, by, data, private, signature)
        self._tree.append(raw)
        self._last = self._nodes.pending[(0, index)]
        self._entries.append((index, at_s, type_, by, raw))
        self._contents.extend((index, c.name, c.salt, c.content) for c in contents)
        return index

    def flush(self) -> LogHead:
        """Write what was appended; returns the head to keep for the next transaction."""
        if self._entries:
            # Levels 1 and 2 are computed when read (`is_stored`): 3 rows in 4 fewer.
            nodes = [
                (cluster(lv, i), lv, i, h)
                for (lv, i), h in self._nodes.pending.items()
                if is_stored(lv)
            ]
            driver = self._nodes._driver
            if driver is not None:  # SQLite: the driver's executemany, statements ready
                driver.executemany(_INSERT_ENTRIES, self._entries)
                driver.executemany(_INSERT_NODES, nodes)
                if self._contents:
                    driver.executemany(_INSERT_CONTENTS, self._contents)
            else:
                insert_rows(self._conn, t.log_entries, self._entries)
                insert_rows(self._conn, t.log_nodes, nodes)
                if self._contents:
                    insert_rows(self._conn, t.log_contents, self._contents)
            self._entries, self._contents = [], []
            self._nodes.pending.clear()
        return LogHead(self._tree.size, tuple(self._tree.compact_range), self._last)


def _insert_sql(table: Table) -> str:
    """INSERT of a row of `table`, values in its column order, for the SQLite driver."""
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    marks = ", ".join("?" * len(table.columns))
    return f"INSERT INTO {table.name} ({columns}) VALUES ({marks})"


_INSERT_ENTRIES = _insert_sql(t.log_entries)
_INSERT_NODES = _insert_sql(t.log_nodes)
_INSERT_CONTENTS = _insert_sql(t.log_contents)


def insert_rows(conn: Connection, table: Table, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert `rows` (values in the table's column order) with one statement.

    On SQLite the driver's executemany is called directly: SQLAlchemy's per-row parameter
    processing cost more than the hashing and the insert together (bench/record.py).
    """
    names = [c.name for c in table.columns]
    if _is_sqlite(conn):
        conn.exec_driver_sql(_insert_sql(table), rows)
    else:
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])


class LogReader:
    """Reads of the record over one connection: entries, proofs, contents, checkpoints."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.nodes = SqlNodes(conn)
        self.proof_nodes = ProofNodes(conn)
        """Hashes for inclusion proofs (`ProofNodes`); `nodes` holds only stored ones."""

    def size(self) -> int:
        return stored_size(self._conn)

    def root(self, size: int) -> bytes:
        return range_root(self.nodes, 0, size)

    def inclusion(self, index: int, size: int) -> tuple[list[bytes], bytes]:
        """The inclusion proof of entry `index` in the tree of `size` entries and that
        tree's root, read with `proof_nodes`: the lowest levels from the entries around
        it, the rest in one statement."""
        # The keys worked out first and the hashes folded directly (`inclusion_plan`): the
        # recursion of `inclusion_proof_from` through `range_root` cost more than the
        # reads once the store is in the page cache.
        plan = inclusion_plan(index, size)
        top = range_keys(0, size)
        nodes = self.proof_nodes
        nodes.prefetch([key for keys in plan for key in keys] + top)
        get = nodes.get
        proof = [fold([get(*key) for key in keys]) for keys in plan]
        return proof, fold([get(*key) for key in top])

    def entry(self, index: int) -> StoredEntry:
        if self.nodes._driver is not None:  # one row by key: the driver's own call is enough
            row = self.nodes._driver.execute(
                'SELECT idx, at_s, type, "by", entry FROM log_entries WHERE idx = ?', (index,)
            ).fetchone()
            if row is None:
                raise NotFound(f"the record has no entry {index}.")
            return StoredEntry(int(row[0]), row[1], row[2], row[3], bytes(row[4]))
        row = self._conn.execute(select(t.log_entries).where(t.log_entries.c.idx == index)).first()
        if row is None:
            raise NotFound(f"the record has no entry {index}.")
        return StoredEntry(int(row.idx), row.at_s, row.type, row.by, bytes(row.entry))

    def entries(
        self, start: int = 0, end: int | None = None, batch: int = 5000
    ) -> Iterator[StoredEntry]:
        """Entries [start, end) in index order, read a batch at a time."""
        at = start
        while end is None or at < end:
            q = select(t.log_entries).where(t.log_entries.c.idx >= at)
            if end is not None:
                q = q.where(t.log_entries.c.idx < end)
            rows = self._conn.execute(q.order_by(t.log_entries.c.idx).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield StoredEntry(int(row.idx), row.at_s, row.type, row.by, bytes(row.entry))
            at = int(rows[-1].idx) + 1

    def leaves(self, start: int, end: int) -> dict[int, bytes]:
        """Stored leaf hashes of entries [start, end)."""
        return self.nodes.leaves(start, end)

    def level(self, level: int, start: int, end: int) -> dict[int, bytes]:
        """Subtree hashes (level, i) for i in [start, end), as the store gives them: those
        of a level it does not keep (`is_stored`) folded from its stored leaf hashes, for
        each i whose leaves are all there."""
        if end <= start:
            return {}
        if not is_stored(level):
            found = self.nodes.leaves(start << level, end << level)
            for _ in range(level):  # fold a level at a time, each complete pair
                found = {
                    i >> 1: node_hash(h, found[i + 1])
                    for i, h in found.items()
                    if not i & 1 and i + 1 in found
                }
            return found
        # One cluster: a search on the whole key. Several: a range of the first column,
        # the rows of those clusters read and filtered (never all the leaves, cluster 0).
        first, last = cluster(level, start), cluster(level, end - 1)
        driver = self.nodes._driver
        if driver is not None:
            rows = driver.execute(
                _LEVEL_SQL % ("cluster = ?" if first == last else "cluster BETWEEN ? AND ?"),
                ((first,) if first == last else (first, last)) + (level, start, end),
            ).fetchall()
        else:
            n = t.log_nodes.c
            rows = self._conn.execute(
                select(n.idx, n.hash).where(
                    n.cluster == first if first == last else n.cluster.between(first, last),
                    n.level == level,
                    n.idx >= start,
                    n.idx < end,
                )
            ).all()
        return {int(i): bytes(h) for i, h in rows}

    def stored_leaves(self) -> int:
        """Leaves the stored tree holds (the log's size, unless entries were removed)."""
        top = self._conn.execute(
            select(func.max(t.log_nodes.c.idx)).where(
                t.log_nodes.c.cluster == 0, t.log_nodes.c.level == 0
            )
        ).scalar()
        return 0 if top is None else int(top) + 1

    def contents(self, index: int) -> list[StoredContent]:
        rows = self._conn.execute(
            select(t.log_contents)
            .where(t.log_contents.c.idx == index)
            .order_by(t.log_contents.c.name)
        )
        return [StoredContent(int(r.idx), r.name, bytes(r.salt), bytes(r.content)) for r in rows]

    def checkpoints(self, after_id: int = 0, limit: int | None = None) -> list[StoredCheckpoint]:
        q = (
            select(t.checkpoints)
            .where(t.checkpoints.c.checkpoint_id > after_id)
            .order_by(t.checkpoints.c.checkpoint_id)
        )
        if limit is not None:
            q = q.limit(limit)
        return [
            StoredCheckpoint(int(r.checkpoint_id), int(r.tree_size), r.at_s, r.note)
            for r in self._conn.execute(q)
        ]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        r = self._conn.execute(
            select(t.checkpoints).order_by(t.checkpoints.c.checkpoint_id.desc()).limit(1)
        ).first()
        return (
            None
            if r is None
            else StoredCheckpoint(int(r.checkpoint_id), int(r.tree_size), r.at_s, r.note)
        )

    def checkpoint(self, checkpoint_id: int) -> StoredCheckpoint:
        r = self._conn.execute(
            select(t.checkpoints).where(t.checkpoints.c.checkpoint_id == checkpoint_id)
        ).first()
        if r is None:
            raise NotFound(f"there is no checkpoint {checkpoint_id}.")
        return StoredCheckpoint(int(r.checkpoint_id), int(r.tree_size), r.at_s, r.note)

    def cosignatures(self, checkpoint_id: int) -> list[tuple[str, float, str]]:
        rows = self._conn.execute(
            select(t.cosignatures)
            .where(t.cosignatures.c.checkpoint_id == checkpoint_id)
            .order_by(t.cosignatures.c.party)
        )
        return [(r.party, r.at_s, r.note) for r in rows]


def add_checkpoint(conn: Connection, tree_size: int, at_s: float, note: str) -> int:
    """Store a signed checkpoint; returns its id."""
    result = conn.execute(insert(t.checkpoints).values(tree_size=tree_size, at_s=at_s, note=note))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def add_cosignature(
    conn: Connection, checkpoint_id: int, party: str, at_s: float, note: str
) -> None:
    conn.execute(
        insert(t.cosignatures).values(
            checkpoint_id=checkpoint_id, party=party, at_s=at_s, note=note
        )
    )

"""The record in the store: entries, subtree hashes, committed contents, checkpoints.

It holds the SQL side of SPEC §6; it must never update or delete a row of the log: the
tables are append-only, and an entry is written in the same transaction as the state it
describes, so both or neither are there after a crash.

Appending inside one write transaction goes through a `LogWriter`: it reopens the tree
from the head the service kept from the last commit (checked against the stored size, so
another writer is noticed), buffers rows, and writes them with one statement per table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from deconflict.errors import NotFound
from deconflict.record.canonical import JSONValue
from deconflict.record.entries import RequestSignature, build_entry
from deconflict.record.tree import MerkleTree, range_root
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


class SqlNodes:
    """Subtree hashes read from the store, plus those appended in this transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.pending: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        found = self.pending.get((level, index))
        if found is not None:
            return found
        row = self._conn.execute(
            select(t.log_nodes.c.hash).where(
                t.log_nodes.c.level == level, t.log_nodes.c.idx == index
            )
        ).first()
        if row is None:
            raise NotFound(f"the record holds no subtree ({level}, {index}).")
        return bytes(row[0])

    def put(self, level: int, index: int, node: bytes) -> None:
        self.pending[(level, index)] = node


def stored_size(conn: Connection) -> int:
    """Entries in the record."""
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
        self._entries: list[dict[str, object]] = []
        self._contents: list[dict[str, object]] = []

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
        self._entries.append({"idx": index, "at_s": at_s, "type": type_, "by": by, "entry": raw})
        self._contents.extend(
            {"idx": index, "name": c.name, "salt": c.salt, "content": c.content} for c in contents
        )
        return index

    def flush(self) -> LogHead:
        """Write what was appended; returns the head to keep for the next transaction."""
        if self._entries:
            self._conn.execute(insert(t.log_entries), self._entries)
            self._conn.execute(
                insert(t.log_nodes),
                [{"level": lv, "idx": i, "hash": h} for (lv, i), h in self._nodes.pending.items()],
            )
            if self._contents:
                self._conn.execute(insert(t.log_contents), self._contents)
            self._entries, self._contents = [], []
            self._nodes.pending.clear()
        return LogHead(self._tree.size, tuple(self._tree.compact_range), self._last)


class LogReader:
    """Reads of the record over one connection: entries, proofs, contents, checkpoints."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.nodes = SqlNodes(conn)

    def size(self) -> int:
        return stored_size(self._conn)

    def root(self, size: int) -> bytes:
        return range_root(self.nodes, 0, size)

    def entry(self, index: int) -> StoredEntry:
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
        rows = self._conn.execute(
            select(t.log_nodes.c.idx, t.log_nodes.c.hash).where(
                t.log_nodes.c.level == 0, t.log_nodes.c.idx >= start, t.log_nodes.c.idx < end
            )
        )
        return {int(i): bytes(h) for i, h in rows}

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

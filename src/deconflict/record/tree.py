"""An append-only RFC 9162 Merkle tree whose proofs are O(log n) reads of stored subtrees.

It holds the `NodeReader`/`NodeStore` protocols a store implements, an in-memory store,
and `MerkleTree`; it must never overwrite a stored subtree hash, nor read a leaf's
content: it sees only hashes, keyed by (level, index) as in `deconflict.record.merkle`.
"""

from __future__ import annotations

from typing import Protocol

from deconflict.errors import NotFound
from deconflict.record.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    _check_index,
    _check_old_size,
    _check_size,
    leaf_hash,
    node_hash,
    path,
    subproof,
)


class NodeReader(Protocol):
    """Reads the hash of the complete subtree (level, index); raises NotFound if absent."""

    def get(self, level: int, index: int) -> bytes: ...


class NodeStore(NodeReader, Protocol):
    """A NodeReader that also records complete subtree hashes, each exactly once."""

    def put(self, level: int, index: int, node: bytes) -> None: ...


class MemoryNodeStore:
    """Complete subtree hashes in lists per level: the store for tests and small logs."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []

    def get(self, level: int, index: int) -> bytes:
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        raise NotFound(f"no complete subtree ({level}, {index}) is stored in this log.")

    def put(self, level: int, index: int, node: bytes) -> None:
        while len(self._levels) <= level:
            self._levels.append([])
        row = self._levels[level]
        if index != len(row):
            # Append-only: a second write to a subtree would be a rewrite of history.
            raise ValueError(f"subtree ({level}, {index}) is not the next one at its level.")
        row.append(node)


def range_root(nodes: NodeReader, start: int, end: int) -> bytes:
    """MTH of leaves [start, end) for a range RFC 9162's recursion produces.

    Such a range starts at a multiple of the power of two at or above its length, so it
    splits into complete subtrees of strictly falling size: one read per set bit of
    end - start, folded from the right as the RFC's left-heavy split does.
    """
    if start == end:
        return EMPTY_ROOT
    pieces: list[bytes] = []
    offset, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        pieces.append(nodes.get(level, offset >> level))
        offset += 1 << level
        remaining -= 1 << level
    root = pieces.pop()
    while pieces:
        root = node_hash(pieces.pop(), root)
    return root


def inclusion_proof_from(nodes: NodeReader, index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[0:tree_size]) in O(log n) reads; the caller vouches for tree_size."""
    _check_index(index, tree_size)
    return path(index, 0, tree_size, lambda a, b: range_root(nodes, a, b))


Key = tuple[int, int]
"""(level, index) of a complete subtree."""


def range_keys(start: int, end: int) -> list[Key]:
    """The complete subtrees, largest first, whose hashes `range_root(nodes, start, end)`
    reads and folds (see there for the ranges this holds for)."""
    keys: list[Key] = []
    offset, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        keys.append((level, offset >> level))
        offset += 1 << level
        remaining -= 1 << level
    return keys


def inclusion_plan(index: int, tree_size: int) -> list[list[Key]]:
    """For each hash of PATH(index, D[0:tree_size]), bottom-up, the complete subtrees it
    is the fold of (`fold`): what `inclusion_proof_from` reads, worked out with integer
    operations alone, so a store can fetch every key in one query and build the proof
    without a call per range. O(log n)."""
    _check_index(index, tree_size)
    plan: list[list[Key]] = []
    start, end, m = 0, tree_size, index
    while end - start > 1:  # path()'s loop, recording ranges instead of hashing them
        k = 1 << ((end - start - 1).bit_length() - 1)
        if m < k:
            plan.append(range_keys(start + k, end))
            end = start + k
        else:
            level = k.bit_length() - 1
            plan.append([(level, start >> level)])
            start, m = start + k, m - k
    plan.reverse()
    return plan


def fold(pieces: list[bytes]) -> bytes:
    """MTH of consecutive complete subtrees given largest first (as `range_keys` lists
    them): folded from the right, as RFC 9162's left-heavy split does."""
    if not pieces:
        return EMPTY_ROOT
    root = pieces[-1]
    for left in reversed(pieces[:-1]):
        root = node_hash(left, root)
    return root


def inclusion_keys(index: int, tree_size: int) -> list[Key]:
    """The (level, index) of every subtree hash `inclusion_proof_from(nodes, index,
    tree_size)` and `range_root(nodes, 0, tree_size)` read, so a store can fetch them
    in one query; O(log n), no reads."""
    keys = [key for keys in inclusion_plan(index, tree_size) for key in keys]
    return keys + range_keys(0, tree_size)


def consistency_proof_from(nodes: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) in O(log n) reads; the caller vouches for new_size."""
    _check_old_size(old_size, new_size)
    if old_size in (0, new_size):
        return []
    return subproof(old_size, 0, new_size, True, lambda a, b: range_root(nodes, a, b))


class MerkleTree:
    """An append-only log tree over a NodeStore.

    Appending writes the leaf hash and each subtree it completes (amortised 2 writes,
    at most log2 n + 1) and keeps the compact range — the complete subtrees covering
    [0, size), largest first — so the current root needs no reads. Proofs read stored
    subtrees only: O(log n) reads for any index and any earlier size.
    """

    def __init__(self, nodes: NodeStore | None = None, size: int = 0) -> None:
        """Open a tree of `size` leaves already in `nodes` (empty by default)."""
        if size < 0:
            raise ValueError("a tree size is never negative")
        self._nodes: NodeStore = nodes if nodes is not None else MemoryNodeStore()
        self._size = size
        self._compact: list[bytes] = []
        offset = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                self._compact.append(self._nodes.get(level, offset >> level))
                offset += 1 << level

    @classmethod
    def resume(cls, nodes: NodeStore, size: int, compact: list[bytes]) -> MerkleTree:
        """Reopen a tree whose compact range (as `compact_range` returned it) is known,
        without reading it back from `nodes`."""
        if len(compact) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} compact nodes")
        tree = cls.__new__(cls)
        tree._nodes, tree._size, tree._compact = nodes, size, list(compact)
        return tree

    @property
    def compact_range(self) -> list[bytes]:
        """The complete subtrees covering [0, size), largest first."""
        return list(self._compact)

    @property
    def size(self) -> int:
        """Number of leaves appended."""
        return self._size

    @property
    def nodes(self) -> NodeStore:
        """The store the subtree hashes live in."""
        return self._nodes

    def append(self, entry: bytes) -> int:
        """Append one entry (its bytes, hashed as a leaf); return its leaf index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, leaf: bytes) -> int:
        """Append an already computed leaf hash; return its leaf index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf)}")
        index = self._size
        self._nodes.put(0, index, leaf)
        node, level, i = leaf, 0, index
        while i & 1:  # this node completes its parent: merge with the left sibling
            node = node_hash(self._compact.pop(), node)
            level, i = level + 1, i >> 1
            self._nodes.put(level, i, node)
        self._compact.append(node)
        self._size = index + 1
        return index

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        _check_index(index, self._size)
        return self._nodes.get(0, index)

    def root(self, tree_size: int | None = None) -> bytes:
        """MTH of the first `tree_size` leaves (default: all); O(log n) reads if earlier."""
        if tree_size is None or tree_size == self._size:
            if not self._compact:
                return EMPTY_ROOT
            root = self._compact[-1]
            for left in reversed(self._compact[:-1]):
                root = node_hash(left, root)
            return root
        _check_size(tree_size, self._size)
        return range_root(self._nodes, 0, tree_size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf `index` in the tree of `tree_size` leaves (default all)."""
        size = self._size if tree_size is None else tree_size
        _check_size(size, self._size)
        return inclusion_proof_from(self._nodes, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from `old_size` to `new_size` leaves (default all)."""
        size = self._size if new_size is None else new_size
        _check_size(size, self._size)
        return consistency_proof_from(self._nodes, old_size, size)

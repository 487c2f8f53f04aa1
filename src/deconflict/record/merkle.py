"""RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs, and their checks.

It holds pure functions over leaf hashes and a `MerkleTree` that reads complete subtree
hashes through a `NodeReader`; it must never hash any other way than RFC 9162 says, nor
accept a proof that the RFC's verification algorithm would refuse.

Subtrees are named (level, index): the complete subtree of 2**level leaves starting at
leaf index * 2**level, so level 0 holds the leaf hashes. Every node of an RFC 9162 tree
is either such a complete subtree or lies on its right edge, which is why storing only
complete subtrees is enough to answer any proof in O(log n) reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from deconflict.errors import NotFound
from deconflict.record.errors import BadProof

HASH_SIZE = 32
"""Bytes in a SHA-256 hash, hence in every leaf, node, root and proof element."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 §2.1.1)."""

RangeHash = Callable[[int, int], bytes]
"""(start, end) -> MTH of leaves [start, end); how the proof builders read the tree."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of one log entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the given leaf hashes, in O(n): pair each level, lift an odd last node."""
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[0:tree_size]) of RFC 9162 §2.1.3.1, from the leaf hashes themselves."""
    _check_size(tree_size, len(leaf_hashes))
    _check_index(index, tree_size)
    return path(index, 0, tree_size, _list_range_hash(leaf_hashes))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1 (empty when old is 0 or new)."""
    _check_size(new_size, len(leaf_hashes))
    _check_old_size(old_size, new_size)
    if old_size in (0, new_size):
        return []
    return subproof(old_size, 0, new_size, True, _list_range_hash(leaf_hashes))


def path(m: int, start: int, end: int, range_hash: RangeHash) -> list[bytes]:
    """PATH(m, D[start:end]); `range_hash` supplies every MTH the proof needs."""
    proof: list[bytes] = []
    # The recursion of RFC 9162 unrolled from the top; the proof lists hashes bottom-up.
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            proof.append(range_hash(start + k, end))
            end = start + k
        else:
            proof.append(range_hash(start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def subproof(m: int, start: int, end: int, b: bool, range_hash: RangeHash) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1, read through `range_hash`."""
    proof: list[bytes] = []
    while True:
        n = end - start
        if m == n:
            if not b:
                proof.append(range_hash(start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(range_hash(start + k, end))
            end = start + k
        else:
            proof.append(range_hash(start, start + k))
            start, m, b = start + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof by RFC 9162 §2.1.3.2; raise BadProof if it fails."""
    _check_hashes(leaf, root, *proof)
    if not 0 <= index < tree_size:
        raise BadProof(f"leaf index {index} is not inside a tree of {tree_size} entries.")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise BadProof(f"the inclusion proof has more hashes than a tree of {tree_size} needs.")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise BadProof(f"the inclusion proof has fewer hashes than a tree of {tree_size} needs.")
    if r != root:
        raise BadProof(
            f"the inclusion proof of leaf {index} does not lead to the root of the tree of "
            f"{tree_size} entries: the entry, the proof or the root was altered."
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof by RFC 9162 §2.1.4.2; raise BadProof if it fails.

    The RFC's algorithm covers 0 < old_size < new_size; for the trivial cases the proof
    must be empty, equal sizes need equal roots, and size 0 needs the empty-tree root.
    """
    _check_hashes(old_root, new_root, *proof)
    if not 0 <= old_size <= new_size:
        raise BadProof(f"a tree of {old_size} entries cannot precede one of {new_size}.")
    if old_size in (0, new_size):
        if proof:
            raise BadProof("a consistency proof from an empty or equal tree must be empty.")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise BadProof("the root given for the empty tree is not SHA-256 of nothing.")
        if old_size == new_size and old_root != new_root:
            raise BadProof(f"two different roots are claimed for the tree of {old_size} entries.")
        return
    if not proof:
        raise BadProof(f"the consistency proof from {old_size} to {new_size} entries is empty.")
    hashes = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a complete subtree of the new one
        hashes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise BadProof("the consistency proof has more hashes than the trees need.")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise BadProof("the consistency proof has fewer hashes than the trees need.")
    if fr != old_root or sr != new_root:
        raise BadProof(
            f"the consistency proof does not join the tree of {old_size} entries to the tree "
            f"of {new_size}: the log was rewritten, or a root or the proof was altered."
        )


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _list_range_hash(leaf_hashes: Sequence[bytes]) -> RangeHash:
    return lambda start, end: root_from_leaf_hashes(leaf_hashes[start:end])


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise BadProof(f"a hash of {len(h)} bytes was given where SHA-256 has {HASH_SIZE}.")


def _check_size(tree_size: int, available: int) -> None:
    if not 0 <= tree_size <= available:
        raise NotFound(
            f"no tree of {tree_size} entries: the log holds {available}; "
            f"ask for a size from 0 to {available}."
        )


def _check_index(index: int, tree_size: int) -> None:
    if not 0 <= index < tree_size:
        raise NotFound(
            f"entry {index} is not in the tree of {tree_size} entries; "
            "ask for a smaller index or a larger tree."
        )


def _check_old_size(old_size: int, new_size: int) -> None:
    if not 0 <= old_size <= new_size:
        raise NotFound(
            f"no consistency proof from {old_size} to {new_size} entries; the old size must "
            f"be from 0 to {new_size}."
        )

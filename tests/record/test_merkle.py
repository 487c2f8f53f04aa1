"""SPEC §6: the record's tree is RFC 9162 §2.1, byte for byte, and its proofs hold.

Known answers come from transparency-dev/merkle (see vectors.py); properties cover every
index and size of random logs, and every way a proof can be forged by editing it.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconflict.errors import NotFound
from deconflict.record import (
    EMPTY_ROOT,
    BadProof,
    MemoryNodeStore,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

from .vectors import (
    CONSISTENCY_PROOFS,
    EMPTY_ROOT_HEX,
    INCLUSION_PROOFS,
    LEAF_INPUTS,
    NODE_HASHES,
    ROOTS,
)


def reference_root(entries: list[bytes]) -> bytes:
    """MTH straight from the recursive definition of RFC 9162 §2.1.1."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < len(entries):
        k *= 2
    left, right = reference_root(entries[:k]), reference_root(entries[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_of(entries: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    for entry in entries:
        tree.append(entry)
    return tree


LEAF_HASHES = [leaf_hash(e) for e in LEAF_INPUTS]

# Distinct entries, so that a proof for one leaf can never honestly fit another.
logs = st.lists(st.binary(max_size=12), max_size=20, unique=True)


# --- known answers ---------------------------------------------------------------------


def test_spec_6_hashes_are_rfc_9162() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_ROOT_HEX
    assert leaf_hash(b"") == NODE_HASHES[0][0]
    assert node_hash(NODE_HASHES[0][0], NODE_HASHES[0][1]) == NODE_HASHES[1][0]


@pytest.mark.parametrize("size", range(9))
def test_spec_6_roots_match_published_vectors(size: int) -> None:
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    assert tree_of(LEAF_INPUTS[:size]).root() == ROOTS[size]
    assert tree_of(LEAF_INPUTS).root(size) == ROOTS[size]


def test_spec_6_stored_subtrees_are_the_published_node_hashes() -> None:
    store = MemoryNodeStore()
    tree = MerkleTree(store)
    for entry in LEAF_INPUTS:
        tree.append(entry)
    for level, row in enumerate(NODE_HASHES):
        for index, expected in enumerate(row):
            assert store.get(level, index) == expected
    with pytest.raises(NotFound):
        store.get(0, 8)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_spec_6_inclusion_proofs_match_published_vectors(
    index: int, size: int, proof: list[bytes]
) -> None:
    assert inclusion_proof(LEAF_HASHES, index, size) == proof
    assert tree_of(LEAF_INPUTS).inclusion_proof(index, size) == proof
    verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size])
    for probe in _corrupt_inclusion(index, size, proof):
        with pytest.raises(BadProof):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_PROOFS)
def test_spec_6_consistency_proofs_match_published_vectors(
    old: int, new: int, proof: list[bytes]
) -> None:
    assert consistency_proof(LEAF_HASHES, old, new) == proof
    assert tree_of(LEAF_INPUTS).consistency_proof(old, new) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)
    if proof:
        for probe in _corrupt_consistency(old, new, proof):
            with pytest.raises(BadProof):
                verify_consistency(*probe)


def _corrupt_inclusion(
    index: int, size: int, proof: list[bytes]
) -> list[tuple[bytes, int, int, list[bytes], bytes]]:
    """The forgeries of transparency-dev/merkle's corruptInclusionProof, re-expressed."""
    leaf, root, other = LEAF_HASHES[index], ROOTS[size], hashlib.sha256(b"other").digest()
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (other, index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, other),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root),
        (leaf, index, size, [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((leaf, index, size, flipped, root))
    if proof:
        probes.append((leaf, index, size, proof[:-1], root))
    if len(proof) > 1:
        probes.append((leaf, index, size, [proof[0], other, *proof[1:]], root))
    return probes


def _corrupt_consistency(
    old: int, new: int, proof: list[bytes]
) -> list[tuple[int, int, bytes, bytes, list[bytes]]]:
    """The forgeries of transparency-dev/merkle's corruptConsistencyProof, re-expressed."""
    r1, r2, other = ROOTS[old], ROOTS[new], hashlib.sha256(b"other").digest()
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, other, r2, proof),
        (old, new, r1, other, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    return probes


def test_spec_6_trivial_consistency_cases() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    refused = [
        (0, 5, EMPTY_ROOT, ROOTS[5], [EMPTY_ROOT]),  # a proof where none is due
        (3, 3, ROOTS[3], ROOTS[3], [EMPTY_ROOT]),
        (3, 3, ROOTS[3], ROOTS[4], []),  # one size, two roots
        (4, 3, ROOTS[4], ROOTS[3], []),  # time travel
        # Stricter than transparency-dev/merkle, which ignores the old root at size 0:
        (0, 5, ROOTS[1], ROOTS[5], []),
    ]
    for probe in refused:
        with pytest.raises(BadProof):
            verify_consistency(*probe)


def test_inclusion_of_nothing_is_refused() -> None:
    for index, size in [(0, 0), (1, 0), (1, 1), (2, 1)]:
        with pytest.raises(BadProof):
            verify_inclusion(LEAF_HASHES[0], index, size, [], ROOTS[1])
    with pytest.raises(BadProof, match="32"):
        verify_inclusion(b"short", 0, 1, [], ROOTS[1])


def test_proofs_beyond_the_log_are_not_found() -> None:
    tree = tree_of(LEAF_INPUTS[:5])
    for call in (
        lambda: tree.inclusion_proof(5),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.consistency_proof(3, 6),
        lambda: tree.consistency_proof(4, 3),
        lambda: tree.root(6),
        lambda: tree.leaf_hash(5),
        lambda: inclusion_proof(LEAF_HASHES, 8, 8),
        lambda: consistency_proof(LEAF_HASHES, 2, 9),
    ):
        with pytest.raises(NotFound):
            call()


# --- properties ------------------------------------------------------------------------


@given(logs)
def test_spec_6_tree_root_is_the_rfc_root_at_every_size(entries: list[bytes]) -> None:
    tree = MerkleTree()
    for n, entry in enumerate(entries, start=1):
        assert tree.append(entry) == n - 1
        assert tree.root() == reference_root(entries[:n])
    hashes = [leaf_hash(e) for e in entries]
    for size in range(len(entries) + 1):
        assert tree.root(size) == reference_root(entries[:size])
        assert root_from_leaf_hashes(hashes[:size]) == reference_root(entries[:size])


@given(logs)
def test_spec_6_every_inclusion_proof_verifies(entries: list[bytes]) -> None:
    tree = tree_of(entries)
    hashes = [leaf_hash(e) for e in entries]
    for size in range(1, len(entries) + 1):
        root = tree.root(size)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == inclusion_proof(hashes, index, size)
            verify_inclusion(hashes[index], index, size, proof, root)


@given(logs)
def test_spec_6_every_consistency_proof_verifies(entries: list[bytes]) -> None:
    tree = tree_of(entries)
    hashes = [leaf_hash(e) for e in entries]
    roots = [tree.root(size) for size in range(len(entries) + 1)]
    for new in range(len(entries) + 1):
        for old in range(new + 1):
            proof = tree.consistency_proof(old, new)
            assert proof == consistency_proof(hashes, old, new)
            verify_consistency(old, new, roots[old], roots[new], proof)


@given(st.data(), st.lists(st.binary(max_size=8), min_size=2, max_size=40, unique=True))
def test_spec_6_edited_inclusion_proofs_fail(data: st.DataObject, entries: list[bytes]) -> None:
    tree = tree_of(entries)
    size = data.draw(st.integers(2, len(entries)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof, root, leaf = tree.inclusion_proof(index, size), tree.root(size), tree.leaf_hash(index)
    other_index = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
    with pytest.raises(BadProof):  # another entry's leaf
        verify_inclusion(tree.leaf_hash(other_index), index, size, proof, root)
    with pytest.raises(BadProof):  # the right leaf claimed at another index
        verify_inclusion(leaf, other_index, size, proof, root)
    with pytest.raises(BadProof):  # an entry that was never logged
        verify_inclusion(leaf_hash(b"never logged"), index, size, proof, root)
    at = data.draw(st.integers(0, len(proof) - 1), label="element")
    bit = data.draw(st.integers(0, 255), label="bit")
    edited = list(proof)
    edited[at] = _flip(edited[at], bit)
    with pytest.raises(BadProof):
        verify_inclusion(leaf, index, size, edited, root)
    with pytest.raises(BadProof):
        verify_inclusion(leaf, index, size, proof[:at] + proof[at + 1 :], root)
    with pytest.raises(BadProof):
        verify_inclusion(leaf, index, size, [*proof[:at], root, *proof[at:]], root)


@given(st.data(), st.lists(st.binary(max_size=8), min_size=2, max_size=40, unique=True))
def test_spec_6_edited_consistency_proofs_fail(data: st.DataObject, entries: list[bytes]) -> None:
    tree = tree_of(entries)
    new = data.draw(st.integers(2, len(entries)), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    proof, r1, r2 = tree.consistency_proof(old, new), tree.root(old), tree.root(new)
    other_old = data.draw(st.integers(1, new - 1).filter(lambda s: s != old), label="other")
    with pytest.raises(BadProof):  # a root that is not the old tree's
        verify_consistency(old, new, tree.root(other_old), r2, proof)
    with pytest.raises(BadProof):  # a rewritten log: the new root of different content
        rewritten = tree_of([*entries[: new - 1], b"rewritten"])
        verify_consistency(old, new, r1, rewritten.root(), proof)
    at = data.draw(st.integers(0, len(proof) - 1), label="element")
    edited = list(proof)
    edited[at] = _flip(edited[at], data.draw(st.integers(0, 255), label="bit"))
    with pytest.raises(BadProof):
        verify_consistency(old, new, r1, r2, edited)
    with pytest.raises(BadProof):
        verify_consistency(old, new, r1, r2, proof[:at] + proof[at + 1 :])


def _flip(h: bytes, bit: int) -> bytes:
    return h[: bit // 8] + bytes([h[bit // 8] ^ (1 << (bit % 8))]) + h[bit // 8 + 1 :]


# --- the store's view: O(log n) reads, append-only writes --------------------------------


class CountingStore(MemoryNodeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.writes = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return super().get(level, index)

    def put(self, level: int, index: int, node: bytes) -> None:
        self.writes += 1
        super().put(level, index, node)


def test_spec_6_proofs_are_logarithmic_reads_of_stored_subtrees() -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    n = 1000
    for i in range(n):
        tree.append(i.to_bytes(4, "big"))
    assert store.writes < 2 * n  # each leaf plus each subtree it completes, once
    bound = 2 * n.bit_length()
    for size in (1, 2, 3, 511, 512, 513, 777, 999, 1000):
        for index in {0, size // 3, size // 2, size - 1}:
            store.reads = 0
            tree.inclusion_proof(index, size)
            assert store.reads <= bound, (index, size, store.reads)
        for old in {1, size // 3, size - 1, size}:
            store.reads = 0
            tree.consistency_proof(old, size)
            assert store.reads <= bound, (old, size, store.reads)
    store.reads = 0
    tree.root()
    assert store.reads == 0  # the current root comes from the compact range


def test_a_tree_reopened_on_its_store_continues_identically() -> None:
    store = MemoryNodeStore()
    first = MerkleTree(store)
    for i in range(37):
        first.append(bytes([i]))
    again = MerkleTree(store, size=37)
    assert again.root() == first.root()
    for i in range(37, 70):
        again.append(bytes([i]))
    assert again.root() == tree_of([bytes([i]) for i in range(70)]).root()


def test_a_stored_subtree_is_never_rewritten() -> None:
    store = MemoryNodeStore()
    MerkleTree(store).append(b"a")
    with pytest.raises(ValueError):
        store.put(0, 0, leaf_hash(b"b"))


def test_inclusion_plan_folds_to_the_proof_and_names_every_key_read() -> None:
    """`inclusion_plan` (what a store fetches in one query, then folds) gives PATH for
    every index of every size to 70, and `inclusion_keys` is exactly what the recursive
    `inclusion_proof_from` and `range_root` read (in another order)."""
    from deconflict.record.tree import (
        fold,
        inclusion_keys,
        inclusion_plan,
        inclusion_proof_from,
        range_root,
    )

    tree = MerkleTree()
    leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(70)]
    for leaf in leaves:
        tree.append_leaf_hash(leaf)

    class Recorder:
        def __init__(self) -> None:
            self.keys: list[tuple[int, int]] = []

        def get(self, level: int, index: int) -> bytes:
            self.keys.append((level, index))
            return tree.nodes.get(level, index)

    for size in range(1, 71):
        for i in range(size):
            plan = inclusion_plan(i, size)
            proof = [fold([tree.nodes.get(*k) for k in keys]) for keys in plan]
            assert proof == inclusion_proof(leaves, i, size)
            seen = Recorder()
            inclusion_proof_from(seen, i, size)
            range_root(seen, 0, size)
            assert sorted(inclusion_keys(i, size)) == sorted(seen.keys)
    with pytest.raises(NotFound):
        inclusion_plan(5, 5)

"""The record in the SQLite store (SPEC §6): what `service.record.append` writes inside
`Service.write()` gives the roots and proofs of the pure tree and of the RFC 9162 reference
vectors; every proof the store serves verifies; a rolled-back transaction leaves no entry
and the next append continues the chain; and tampering with the file directly (entries,
subtree hashes, checkpoints) is named by `service.record.audit_store`."""

from __future__ import annotations

import base64
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconflict.record import (
    EMPTY_ROOT,
    BadProof,
    MerkleTree,
    NoteSigner,
    SigningKey,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    make_checkpoint,
    node_hash,
    parse_checkpoint,
    root_from_leaf_hashes,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from deconflict.record.canonical import general_canonical_json as canonical_json
from deconflict.record.entries import (
    RequestSignature,
    build_entry,
    fast_canonical,
    parse_entry,
)
from deconflict.record.errors import NotCanonical
from deconflict.service import Service, record
from deconflict.store import log as store_log
from deconflict.store.database import Database
from deconflict.store.log import LogReader
from record import vectors as v

ORIGIN = "deconflict.test/store"
SIGNER = NoteSigner(ORIGIN, SigningKey.generate())
OTHER = NoteSigner(ORIGIN, SigningKey.generate())  # same name, another key: a forger's


@contextmanager
def opened(path: Path) -> Iterator[Service]:
    svc = Service(Database(str(path)), log_signer=SIGNER)
    try:
        yield svc
    finally:
        svc.close()


def append_batch(svc: Service, n: int, *, fail: bool = False) -> list[int]:
    """Append `n` entries in one write transaction (which raises at the end if `fail`)."""
    got: list[int] = []
    with svc.write() as repo:
        for _ in range(n):
            i = repo.log.size
            got.append(
                record.append(
                    repo, 1.7e9 + i, "test", "A", {"n": i}, {"secret": {"x": i, "y": "z"}}
                )
            )
        if fail:
            raise RuntimeError("the use case failed after appending")
    return got


def stored_entries(svc: Service) -> list[bytes]:
    with svc.read() as repo:
        return [e.entry for e in LogReader(repo.conn).entries()]


def stored_nodes(svc: Service) -> dict[tuple[int, int], bytes]:
    with svc.read() as repo:
        rows = repo.conn.exec_driver_sql("SELECT level, idx, hash FROM log_nodes").all()
    return {(int(lv), int(i)): bytes(h) for lv, i, h in rows}


class DictNodes:
    """Stored subtree hashes read once, for checking many proofs quickly; those of the
    levels the store does not keep folded from the stored leaves, as `SqlNodes` does."""

    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self.nodes = nodes

    def get(self, level: int, index: int) -> bytes:
        if store_log.is_stored(level):
            return self.nodes[(level, index)]
        return node_hash(self.get(level - 1, 2 * index), self.get(level - 1, 2 * index + 1))


def b64d(items: list[str]) -> list[bytes]:
    return [base64.b64decode(x) for x in items]


def findings(svc: Service, *extra: str) -> set[tuple[str, int | None]]:
    report = record.audit_store(svc, SIGNER.verifier, extra)
    for f in report.findings:
        assert f.message.endswith(".") and "\n" not in f.message, f.message
    return {(f.kind, f.index) for f in report.findings}


# --- the store agrees with the pure tree and the reference vectors --------------------


def test_appends_across_transactions_give_the_pure_trees_roots_and_proofs(
    tmp_path: Path,
) -> None:
    with opened(tmp_path / "log.sqlite") as svc:
        sizes = []
        for n in (1, 6, 13):
            append_batch(svc, n)
            sizes.append(sum(sizes[-1:]) + n)
        raws = stored_entries(svc)
        leaves = [leaf_hash(r) for r in raws]
        pure = MerkleTree()
        for r in raws:
            pure.append(r)
        assert len(raws) == 20 and [parse_entry(r)["index"] for r in raws] == list(range(20))
        # Each entry links to the one before it.
        assert [parse_entry(r)["prev"] for r in raws] == [""] + [h.hex() for h in leaves[:-1]]
        nodes = stored_nodes(svc)
        with svc.read() as repo:
            reader = LogReader(repo.conn)
            assert reader.size() == 20
            for size in range(21):
                assert reader.root(size) == root_from_leaf_hashes(leaves[:size]) == pure.root(size)
            for size in range(1, 21):
                for i in range(size):
                    got = inclusion_proof_from(reader.nodes, i, size)
                    assert got == inclusion_proof(leaves, i, size) == pure.inclusion_proof(i, size)
            for new in range(21):
                for old in range(new + 1):
                    got = consistency_proof_from(reader.nodes, old, new)
                    assert got == consistency_proof(leaves, old, new)
                    assert consistency_proof_from(DictNodes(nodes), old, new) == got
            # Every complete subtree, stored or folded from the leaves, one by one or by
            # level, is the pure tree's.
            complete = {(lv, i): pure.nodes.get(lv, i) for lv in range(5) for i in range(20 >> lv)}
            assert {k: reader.nodes.get(*k) for k in complete} == complete
            assert {
                (lv, i): h for lv in range(6) for i, h in reader.level(lv, 0, 30).items()
            } == complete
            assert {(lv, i): h for lv in range(6) for i, h in reader.level(lv, 3, 4).items()} == {
                k: h for k, h in complete.items() if k[1] == 3
            }
        # The subtree table holds the complete subtrees of the pure tree at the levels it
        # keeps: the leaves and levels 3 and up (migration 0010), not levels 1 and 2.
        assert nodes == {k: h for k, h in complete.items() if k[0] in (0, 3, 4)}
        # The service's answers are the same, in base64.
        one = record.inclusion(svc, 7, 20)
        assert b64d(one["proof"]) == inclusion_proof(leaves, 7, 20)
        assert base64.b64decode(one["leaf_hash"]) == leaves[7]
        assert one["entry"].encode() == raws[7]
        c = record.consistency(svc, 7, 20)
        assert b64d(c["proof"]) == consistency_proof(leaves, 7, 20)
        assert base64.b64decode(c["old_root"]) == pure.root(7)
        assert base64.b64decode(c["new_root"]) == pure.root(20)
        assert findings(svc) == set()


def test_proofs_take_their_lowest_hashes_from_the_entries_around_the_leaf(
    tmp_path: Path,
) -> None:
    """`LogReader.inclusion` computes the hashes below PROOF_BLOCK_LEVELS from the block
    of entries around the leaf (fewer disk reads from a cold cache) and reads the rest in
    one statement: the same proofs and roots as the stored hashes give, for every size
    and index, blocks cut short at the log's end included."""
    path = tmp_path / "log.sqlite"
    with opened(path) as svc:
        for n in (30, 40, 7):
            append_batch(svc, n)
        leaves = [leaf_hash(r) for r in stored_entries(svc)]
        assert len(leaves) == 77
        with svc.read() as repo:
            for size in range(1, 78):
                reader = LogReader(repo.conn)
                for i in range(size):
                    proof, root = reader.inclusion(i, size)
                    assert proof == inclusion_proof(leaves, i, size)
                    assert root == root_from_leaf_hashes(leaves[:size])
            computed = LogReader(repo.conn).proof_nodes
            pure = MerkleTree()
            for leaf in leaves:
                pure.append_leaf_hash(leaf)
            assert {
                (lv, i): computed.get(lv, i)
                for lv in range(store_log.PROOF_BLOCK_LEVELS)
                for i in range(77 >> lv)
            } == {
                (lv, i): pure.nodes.get(lv, i)
                for lv in range(store_log.PROOF_BLOCK_LEVELS)
                for i in range(77 >> lv)
            }
        # The stored hashes are read by key, never by scanning the table (20 million rows
        # in a log of 10 million entries).
        with svc.read() as repo:
            plan = repo.conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + store_log._PREFETCH_SQL % "(?,?,?),(?,?,?)",
                (1, 5, 1, 1, 6, 0),
            ).all()
        assert [row[-1] for row in plan if "log_nodes" in row[-1] or " n " in row[-1]] == [
            "SEARCH n USING PRIMARY KEY (cluster=? AND level=? AND idx=?)"
        ]
        with svc.read() as repo:
            # The audit reads a level a window at a time: the leaves (all in cluster 0) by
            # a search on the whole key, not a scan of every leaf for each window.
            plan = repo.conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + store_log._LEVEL_SQL % "cluster = ?", (0, 0, 5, 9)
            ).all()
        assert [row[-1] for row in plan] == [
            "SEARCH log_nodes USING PRIMARY KEY (cluster=? AND level=? AND idx>? AND idx<?)"
        ]
    # An entry altered in the file: the proof of its neighbour, computed from it, no
    # longer verifies against the root signed before (nor does the altered entry's own).
    root = root_from_leaf_hashes(leaves)
    sql(path, "UPDATE log_entries SET entry = ? WHERE idx = 5", entry_bytes(path, 6))
    with opened(path) as svc:
        neighbour = record.inclusion(svc, 4, 77)
        with pytest.raises(BadProof):
            verify_inclusion(leaves[4], 4, 77, b64d(neighbour["proof"]), root)


def test_the_store_path_reproduces_the_rfc_9162_reference_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectors' leaves are arbitrary bytes, not entries: the LogWriter is made to
    append them as they are (the one thing swapped), across two transactions."""

    def raw_leaf(
        index: int,
        prev: bytes | None,
        at_s: float,
        type_: str,
        by: str,
        data: Any,
        private: Any = None,
        signature: Any = None,
    ) -> tuple[bytes, list[Any]]:
        return v.LEAF_INPUTS[index], []

    monkeypatch.setattr(store_log, "build_entry", raw_leaf)
    with opened(tmp_path / "vectors.sqlite") as svc:
        for batch in ((0, 1, 2), (3, 4, 5, 6, 7)):
            with svc.write() as repo:
                for _ in batch:
                    record.append(repo, 0.0, "vector", "A", {})
        with svc.read() as repo:
            reader = LogReader(repo.conn)
            assert [e.entry for e in reader.entries()] == v.LEAF_INPUTS
            for size, root in enumerate(v.ROOTS):
                assert reader.root(size) == root
            for index, size, proof in v.INCLUSION_PROOFS:
                assert inclusion_proof_from(reader.nodes, index, size) == proof
                verify_inclusion(reader.nodes.get(0, index), index, size, proof, v.ROOTS[size])
            for old, new, proof in v.CONSISTENCY_PROOFS:
                assert consistency_proof_from(reader.nodes, old, new) == proof
                verify_consistency(old, new, v.ROOTS[old], v.ROOTS[new], proof)
        assert stored_nodes(svc) == {
            (lv, i): h
            for lv, row in enumerate(v.NODE_HASHES)
            for i, h in enumerate(row)
            if store_log.is_stored(lv)
        }
        with svc.read() as repo:
            reader = LogReader(repo.conn)
            for lv, row in enumerate(v.NODE_HASHES):  # levels 1 and 2 folded from leaves
                assert [reader.nodes.get(lv, i) for i in range(len(row))] == row
        for index, size, proof in v.INCLUSION_PROOFS:
            got = record.inclusion(svc, index, size)
            assert b64d(got["proof"]) == proof
            assert base64.b64decode(got["root_hash"]) == v.ROOTS[size]
        for old, new, proof in v.CONSISTENCY_PROOFS:
            assert b64d(record.consistency(svc, old, new)["proof"]) == proof


# --- the fast encoder of entries is canonical JSON, byte for byte ---------------------

_text = st.text(max_size=6) | st.sampled_from(["", "é", "\U0001f600", "\ufb01", "\ud800", "a\nb"])
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.integers(-1000, 1000)
    | st.floats()
    | st.floats(-1e20, 1e20)
    | st.sampled_from([0.0, -0.0, 1e-4, 9.9e-5, 1e16, 1e21, 5.0, 42.123456, 1e-7, 2.5e15])
    | _text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=_json)
def test_the_fast_entry_encoder_is_canonical_json(value: Any) -> None:
    try:
        expected: bytes | str = canonical_json(value)
    except NotCanonical as exc:
        expected = str(exc)
    try:
        got: bytes | str = fast_canonical(value)
    except NotCanonical as exc:
        got = str(exc)
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(
    index=st.integers(1, 2**40),
    by=_text,
    type_=_text,
    data=st.dictionaries(_text, _json, max_size=4),
    private=st.dictionaries(_text, _json, max_size=3),
    signed=st.booleans(),
)
def test_an_entry_is_the_canonical_json_of_its_members(
    index: int, by: str, type_: str, data: Any, private: Any, signed: bool
) -> None:
    sig = RequestSignature(by, b"\x01" * 64) if signed else None
    try:
        raw, contents = build_entry(index, b"\x02" * 32, 1.7e9, type_, by, data, private, sig)
    except NotCanonical:
        # Refused only if the members really are not canonical JSON.
        with pytest.raises(NotCanonical):
            canonical_json({"by": by, "type": type_, "data": data, "private": private})
        return
    entry = {
        "v": 1,
        "index": index,
        "prev": "02" * 32,
        "at": "2023-11-14T22:13:20.000Z",
        "type": type_,
        "by": by,
        "data": data,
        "commit": {c.name: c.commitment_hex for c in contents},
    }
    if sig is not None:
        entry["sig"] = sig.to_json()
    assert raw == canonical_json(entry)
    for c in contents:
        assert c.content == canonical_json(private[c.name])


def test_the_fast_entry_encoder_refuses_what_canonical_json_refuses() -> None:
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    for bad in (float("nan"), 2**53, {"k": float("inf")}, {1: 2}, deep, object(), "\udc00"):
        with pytest.raises(NotCanonical):
            canonical_json(bad)
        with pytest.raises(NotCanonical):
            fast_canonical(bad)


# --- property: random batches, failed transactions, every proof verifies --------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.tuples(st.integers(1, 9), st.booleans()), min_size=1, max_size=6).filter(
        lambda bs: any(not fail for _, fail in bs)
    ),
    data=st.data(),
)
def test_random_batches_every_proof_verifies_and_a_wrong_leaf_fails(
    batches: list[tuple[int, bool]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d, opened(Path(d) / "p.sqlite") as svc:
        sizes = [0]
        for n, fail in batches:
            if fail:
                with pytest.raises(RuntimeError):
                    append_batch(svc, n, fail=True)
            else:
                assert append_batch(svc, n) == list(range(sizes[-1], sizes[-1] + n))
                sizes.append(sizes[-1] + n)
                record.checkpoint_now(svc, SIGNER)
        size = sizes[-1]
        raws = stored_entries(svc)
        assert len(raws) == size
        leaves = [leaf_hash(r) for r in raws]
        roots = [root_from_leaf_hashes(leaves[:s]) for s in range(size + 1)]
        # Every signed checkpoint holds the root of the entries up to its size.
        with svc.read() as repo:
            heads = LogReader(repo.conn).checkpoints()
        assert [c.tree_size for c in heads] == sizes[1:]
        for c in heads:
            head = verify_checkpoint(c.note, SIGNER.verifier, origin=ORIGIN).checkpoint
            assert head.root_hash == roots[c.tree_size]
        nodes = DictNodes(stored_nodes(svc))
        for s in range(1, size + 1):
            for i in range(s):
                proof = inclusion_proof_from(nodes, i, s)
                verify_inclusion(leaves[i], i, s, proof, roots[s])
                if s == size:  # a wrong leaf: another entry's, or this one edited
                    for wrong in {leaves[(i + 1) % size], leaf_hash(raws[i] + b" ")} - {leaves[i]}:
                        with pytest.raises(BadProof):
                            verify_inclusion(wrong, i, s, proof, roots[s])
        for new in range(size + 1):
            for old in range(new + 1):
                proof = consistency_proof_from(nodes, old, new)
                verify_consistency(old, new, roots[old], roots[new], proof)
                if 0 < old < new:
                    with pytest.raises(BadProof):
                        verify_consistency(
                            old, new, roots[old - 1] if old > 1 else EMPTY_ROOT, roots[new], proof
                        )
        # Through the service, against the checkpoints actually signed.
        for c in heads:
            i = data.draw(st.integers(0, c.tree_size - 1), "index")
            got = record.inclusion(svc, i, c.tree_size)
            verify_inclusion(leaves[i], i, c.tree_size, b64d(got["proof"]), roots[c.tree_size])
        for a, b in zip(heads, heads[1:], strict=False):
            got = record.consistency(svc, a.tree_size, b.tree_size)
            verify_consistency(
                a.tree_size, b.tree_size, roots[a.tree_size], roots[b.tree_size], b64d(got["proof"])
            )
        assert findings(svc) == set()


# --- rollback and the cached head -----------------------------------------------------


def test_a_transaction_that_raises_after_appending_leaves_no_entry(tmp_path: Path) -> None:
    with opened(tmp_path / "rb.sqlite") as svc:
        append_batch(svc, 3)
        head = svc._log_head
        assert head is not None and head.size == 3
        with pytest.raises(RuntimeError):
            append_batch(svc, 4, fail=True)
        assert svc._log_head == head  # the cached head is the committed one
        with svc.read() as repo:
            reader = LogReader(repo.conn)
            assert reader.size() == 3
            assert reader.leaves(0, 100).keys() == {0, 1, 2}
            assert reader.contents(3) == []
            n_nodes = repo.conn.exec_driver_sql("SELECT count(*) FROM log_nodes").scalar()
        assert n_nodes == 3  # leaves 0..2; (1, 0) is folded from leaves 0 and 1 when read
        assert append_batch(svc, 2) == [3, 4]
        raws = stored_entries(svc)
        assert parse_entry(raws[3])["prev"] == leaf_hash(raws[2]).hex()
        assert findings(svc) == set()
        # A failure on the very first write of a fresh service (no head cached) too.
    with opened(tmp_path / "rb.sqlite") as svc:
        assert svc._log_head is None
        with pytest.raises(RuntimeError):
            append_batch(svc, 1, fail=True)
        assert append_batch(svc, 1) == [5]
        record.checkpoint_now(svc, SIGNER)
        assert findings(svc) == set()
        raws = stored_entries(svc)
        leaves = [leaf_hash(r) for r in raws]
        got = record.inclusion(svc, 4)
        assert got["tree_size"] == 6
        verify_inclusion(leaves[4], 4, 6, b64d(got["proof"]), root_from_leaf_hashes(leaves))


def test_another_writer_on_the_same_file_is_noticed(tmp_path: Path) -> None:
    """Two services (a server and a CLI command) on one store: the cached head of the
    first is stale after the second appended, and its next append reads the head back."""
    path = tmp_path / "two.sqlite"
    with opened(path) as one, opened(path) as two:
        append_batch(one, 3)
        append_batch(two, 2)
        assert append_batch(one, 2) == [5, 6]
        assert append_batch(two, 1) == [7]
        raws = stored_entries(one)
        assert [parse_entry(r)["index"] for r in raws] == list(range(8))
        record.checkpoint_now(two, SIGNER)
        assert findings(one) == set()


def test_committed_contents_are_kept_beside_the_log_and_open(tmp_path: Path) -> None:
    from deconflict.record import verify_commitment

    with opened(tmp_path / "c.sqlite") as svc:
        append_batch(svc, 2)
        raws = stored_entries(svc)
        with svc.read() as repo:
            [c] = LogReader(repo.conn).contents(1)
        commitment = parse_entry(raws[1])["commit"]["secret"]
        verify_commitment(commitment, c.salt, c.content)
        assert b'"y":"z"' not in raws[1] and b'"y":"z"' in c.content


def test_the_checkpointer_signs_when_the_log_grew_only(tmp_path: Path) -> None:
    with opened(tmp_path / "cp.sqlite") as svc:
        append_batch(svc, 2)
        worker = record.Checkpointer(svc, SIGNER, 0.05)
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with svc.read() as repo:
                    heads = LogReader(repo.conn).checkpoints()
                if heads:
                    break
                time.sleep(0.02)
            time.sleep(0.2)  # several more periods: the log did not grow
            with svc.read() as repo:
                heads = LogReader(repo.conn).checkpoints()
            assert [c.tree_size for c in heads] == [2]
            append_batch(svc, 1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(heads) < 2:
                time.sleep(0.02)
                with svc.read() as repo:
                    heads = LogReader(repo.conn).checkpoints()
        finally:
            worker.stop()
        assert [c.tree_size for c in heads] == [2, 3]
        head = parse_checkpoint(heads[1].note)[0]
        assert head.origin == ORIGIN and head.time is not None


# --- tampering with the file directly -------------------------------------------------


@pytest.fixture
def tampered(tmp_path: Path) -> Path:
    """A store of 20 entries in 3 transactions, checkpoints at 10 and 20, closed."""
    path = tmp_path / "t.sqlite"
    with opened(path) as svc:
        append_batch(svc, 4)
        append_batch(svc, 6)
        record.checkpoint_now(svc, SIGNER)
        append_batch(svc, 10)
        record.checkpoint_now(svc, SIGNER)
        assert findings(svc) == set()
    return path


def sql(path: Path, statement: str, *args: Any) -> list[Any]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement, args).fetchall()


def entry_bytes(path: Path, index: int) -> bytes:
    [(raw,)] = sql(path, "SELECT entry FROM log_entries WHERE idx = ?", index)
    return bytes(raw)


def audit_file(path: Path, *extra: str) -> set[tuple[str, int | None]]:
    with opened(path) as svc:
        return findings(svc, *extra)


def test_tamper_changed_entry_bytes_are_named(tampered: Path) -> None:
    raw = entry_bytes(tampered, 5).replace(b'"n":5', b'"n":6')
    sql(tampered, "UPDATE log_entries SET entry = ? WHERE idx = 5", raw)
    assert audit_file(tampered) == {("altered", 5), ("bad_checkpoint", None)}


def test_tamper_changed_entry_with_its_successors_link_rewritten_is_named(
    tampered: Path,
) -> None:
    """The tamperer also fixes entry 13's `prev`: the stored leaf hashes still tell."""
    raw = entry_bytes(tampered, 12).replace(b'"n":12', b'"n":99')
    nxt = entry_bytes(tampered, 13).replace(
        leaf_hash(entry_bytes(tampered, 12)).hex().encode(), leaf_hash(raw).hex().encode()
    )
    sql(tampered, "UPDATE log_entries SET entry = ? WHERE idx = 12", raw)
    sql(tampered, "UPDATE log_entries SET entry = ? WHERE idx = 13", nxt)
    assert audit_file(tampered) == {("altered", 12), ("altered", 13), ("bad_checkpoint", None)}


def test_tamper_deleted_entry_row_is_named(tampered: Path) -> None:
    sql(tampered, "DELETE FROM log_entries WHERE idx = 5")
    # Named once: not as every later entry altered, nor as removed from the end.
    assert audit_file(tampered) == {("removed", 5), ("bad_checkpoint", None)}


def test_tamper_deleted_last_entry_is_named_even_without_a_checkpoint(
    tampered: Path,
) -> None:
    with opened(tampered) as svc:
        append_batch(svc, 2)  # entries 20, 21: no checkpoint covers them
    sql(tampered, "DELETE FROM log_entries WHERE idx = 21")
    assert audit_file(tampered) == {("removed", 21)}


def test_tamper_inserted_copy_of_an_entry_is_named(tampered: Path) -> None:
    sql(
        tampered,
        "INSERT INTO log_entries (idx, at_s, type, by, entry) VALUES (20, 0, 'test', 'A', ?)",
        entry_bytes(tampered, 4),
    )
    assert audit_file(tampered) == {("inserted", 20)}


def test_tamper_inserted_well_formed_entry_is_named(tampered: Path) -> None:
    """A forged entry that looks like the next one (right index and link) is not in the
    tree the store holds."""
    raw, _ = build_entry(20, leaf_hash(entry_bytes(tampered, 19)), 1.8e9, "test", "A", {})
    sql(
        tampered,
        "INSERT INTO log_entries (idx, at_s, type, by, entry) VALUES (20, 0, 'test', 'A', ?)",
        raw,
    )
    assert audit_file(tampered) == {("inserted", 20)}


def test_tamper_swapped_entries_are_named(tampered: Path) -> None:
    three, twelve = entry_bytes(tampered, 3), entry_bytes(tampered, 12)
    sql(tampered, "UPDATE log_entries SET entry = ? WHERE idx = 3", twelve)
    sql(tampered, "UPDATE log_entries SET entry = ? WHERE idx = 12", three)
    assert audit_file(tampered) == {
        ("reordered", 3),
        ("reordered", 12),
        ("bad_checkpoint", None),
    }


# Levels 1 and 2 are not stored (migration 0010): the lowest stored level above the
# leaves is 3.
@pytest.mark.parametrize(("level", "index", "entry"), [(0, 7, 7), (3, 1, None), (4, 0, None)])
def test_tamper_changed_stored_subtree_hash_is_named(
    tampered: Path, level: int, index: int, entry: int | None
) -> None:
    sql(
        tampered,
        "UPDATE log_nodes SET hash = ? WHERE level = ? AND idx = ?",
        b"\x07" * 32,
        level,
        index,
    )
    with opened(tampered) as svc:
        report = record.audit_store(svc, SIGNER.verifier)
    assert {(f.kind, f.index) for f in report.findings} == {("altered", entry)}
    if entry is None:
        [f] = report.findings
        assert f"level {level}" in f.message and f"index {index}" in f.message


def test_tamper_changed_kept_content_is_named(tampered: Path) -> None:
    """Content kept beside the log must still open the entry's commitment."""
    sql(tampered, "UPDATE log_contents SET content = ? WHERE idx = 9", b'{"x":0,"y":"z"}')
    assert audit_file(tampered) == {("altered", 9)}


def test_tamper_is_found_past_the_first_window_of_stored_hashes(tmp_path: Path) -> None:
    """The audit reads stored hashes a window at a time: a change anywhere is seen."""
    path = tmp_path / "big.sqlite"
    with opened(path) as svc:
        append_batch(svc, 9000)
    for index in (10, 4500, 8999):
        sql(path, "UPDATE log_nodes SET hash = ? WHERE level = 0 AND idx = ?", b"\0" * 32, index)
    sql(path, "UPDATE log_nodes SET hash = ? WHERE level = 3 AND idx = 900", b"\0" * 32)
    with opened(path) as svc:
        report = record.audit_store(svc, SIGNER.verifier)
    assert {(f.kind, f.index) for f in report.findings} == {
        ("altered", 10),
        ("altered", 4500),
        ("altered", 8999),
        ("altered", None),
    }
    assert any("level 3, index 900" in f.message for f in report.findings)


def test_tamper_checkpoint_signed_by_another_key_is_named(tampered: Path) -> None:
    with opened(tampered) as svc, svc.read() as repo:
        root = LogReader(repo.conn).root(15)
    forged = sign_checkpoint(make_checkpoint(ORIGIN, 15, root), OTHER)
    sql(tampered, "INSERT INTO checkpoints (tree_size, at_s, note) VALUES (15, 0, ?)", forged)
    assert audit_file(tampered) == {("bad_signature", None)}


def test_tamper_second_checkpoint_of_a_size_with_another_root_is_a_fork(
    tampered: Path,
) -> None:
    forged = sign_checkpoint(make_checkpoint(ORIGIN, 10, b"\x01" * 32), SIGNER)
    sql(tampered, "INSERT INTO checkpoints (tree_size, at_s, note) VALUES (10, 0, ?)", forged)
    assert audit_file(tampered) == {("fork", None)}


def test_tamper_edited_checkpoint_note_is_a_bad_signature(tampered: Path) -> None:
    [(cid, note)] = sql(tampered, "SELECT checkpoint_id, note FROM checkpoints LIMIT 1")
    head = parse_checkpoint(note)[0]
    edited = note.replace(
        base64.b64encode(head.root_hash).decode(), base64.b64encode(b"\x02" * 32).decode()
    )
    sql(tampered, "UPDATE checkpoints SET note = ? WHERE checkpoint_id = ?", edited, cid)
    assert audit_file(tampered) == {("bad_signature", None)}


def test_a_rewrite_the_store_hides_is_caught_by_a_checkpoint_kept_elsewhere(
    tampered: Path,
) -> None:
    """The operator truncates the log to 15 entries and drops the checkpoint of 20; a
    party that kept that checkpoint proves the removal."""
    [(kept,)] = sql(tampered, "SELECT note FROM checkpoints WHERE tree_size = 20")
    sql(tampered, "DELETE FROM log_entries WHERE idx >= 15")
    sql(tampered, "DELETE FROM log_nodes WHERE (idx + 1) << level > 15")
    sql(tampered, "DELETE FROM checkpoints WHERE tree_size = 20")
    assert audit_file(tampered) == set()  # consistent on its own
    assert audit_file(tampered, kept) == {("removed", 15)}

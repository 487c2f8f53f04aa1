"""Auditing a log from its entries: every kind of tampering is caught and located."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.record import (
    MerkleTree,
    NoteSigner,
    SigningKey,
    leaf_hash,
    make_checkpoint,
    sign_checkpoint,
    verify_commitment,
)
from deconflict.record.audit import audit
from deconflict.record.entries import (
    Content,
    RequestSignature,
    build_entry,
    format_at,
    parse_entry,
)
from deconflict.record.errors import NotCanonical

SIGNER = NoteSigner("deconflict.test/log", SigningKey.generate())
ORIGIN = "deconflict.test/log"


def make_log(n: int) -> tuple[list[bytes], MerkleTree]:
    raws: list[bytes] = []
    prev: bytes | None = None
    tree = MerkleTree()
    for i in range(n):
        raw, _ = build_entry(i, prev, 1.7e9 + i, "test", "A", {"n": i}, {"secret": {"x": i}})
        raws.append(raw)
        prev = leaf_hash(raw)
        tree.append(raw)
    return raws, tree


def heads(tree: MerkleTree, *sizes: int, signer: NoteSigner = SIGNER) -> list[str]:
    return [sign_checkpoint(make_checkpoint(ORIGIN, s, tree.root(s)), signer) for s in sizes]


def findings(entries: list[bytes], notes: list[str]) -> set[tuple[str, int | None]]:
    report = audit(entries, notes, SIGNER.verifier, origin=ORIGIN)
    for f in report.findings:
        assert f.message.endswith(".") and "\n" not in f.message
    return {(f.kind, f.index) for f in report.findings}


RAWS, TREE = make_log(20)
NOTES = heads(TREE, 10, 20)


def test_an_untouched_log_verifies_against_every_checkpoint() -> None:
    report = audit(RAWS, NOTES, SIGNER.verifier, origin=ORIGIN)
    assert report.ok and report.checkpoints == 2 and report.size == 20
    assert report.root == TREE.root()


def test_an_altered_entry_is_named() -> None:
    entries = list(RAWS)
    entries[5] = entries[5].replace(b'"n":5', b'"n":6')
    found = findings(entries, NOTES)
    assert ("altered", 5) in found
    assert ("bad_checkpoint", None) in found


def test_an_altered_entry_with_its_link_rewritten_is_named_from_stored_leaves() -> None:
    entries = list(RAWS)
    entries[5] = entries[5].replace(b'"n":5', b'"n":6')
    six = json.loads(entries[6])
    six["prev"] = leaf_hash(entries[5]).hex()
    entries[6] = json.dumps(six, separators=(",", ":"), sort_keys=True).encode()
    stored = {i: leaf_hash(r) for i, r in enumerate(RAWS)}
    report = audit(entries, NOTES, SIGNER.verifier, stored_leaves=stored)
    found = {(f.kind, f.index) for f in report.findings}
    assert ("altered", 5) in found and ("altered", 6) in found


def test_a_removed_entry_is_named() -> None:
    entries = RAWS[:7] + RAWS[8:]
    found = findings(entries, NOTES)
    assert ("removed", 7) in found


def test_entries_removed_from_the_end_are_caught_by_the_checkpoint() -> None:
    found = findings(RAWS[:15], NOTES)
    assert found == {("removed", 15)}


def test_a_swap_names_the_two_entries_only() -> None:
    entries = list(RAWS)
    entries[3], entries[12] = entries[12], entries[3]
    found = findings(entries, NOTES)
    assert {f for f in found if f[0] == "reordered"} == {("reordered", 3), ("reordered", 12)}


def test_an_inserted_copy_is_named() -> None:
    entries = RAWS[:8] + [RAWS[4]] + RAWS[8:]
    assert ("inserted", 8) in findings(entries, NOTES)


def test_a_fork_is_two_checkpoints_of_one_size_with_different_roots() -> None:
    forked = heads(TREE, 10) + [
        sign_checkpoint(make_checkpoint(ORIGIN, 10, TREE.root(9)), SIGNER)
    ]
    assert ("fork", None) in findings(RAWS, forked)


def test_a_checkpoint_signed_by_another_key_is_a_bad_signature() -> None:
    other = NoteSigner("deconflict.test/log", SigningKey.generate())
    found = findings(RAWS, heads(TREE, 10, signer=other))
    assert found == {("bad_signature", None)}


def test_a_forged_root_under_the_log_key_is_a_bad_checkpoint() -> None:
    forged = [sign_checkpoint(make_checkpoint(ORIGIN, 10, TREE.root(11)), SIGNER)]
    assert findings(RAWS, forged) == {("bad_checkpoint", None)}


def test_an_unreadable_entry_is_named() -> None:
    entries = list(RAWS)
    entries[2] = b"not json"
    assert ("unreadable", 2) in findings(entries, NOTES)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    data=st.data(),
)
def test_any_single_change_is_caught(n: int, data: st.DataObject) -> None:
    raws, tree = make_log(n)
    notes = heads(tree, n)
    assert audit(raws, notes, SIGNER.verifier).ok
    action = data.draw(st.sampled_from(["alter", "remove", "swap", "insert"]))
    i = data.draw(st.integers(0, n - 1))
    entries = list(raws)
    if action == "alter":
        entries[i] = entries[i].replace(f'"n":{i}'.encode(), f'"n":{i + 1}'.encode())
    elif action == "remove":
        del entries[i]
    elif action == "swap":
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        entries[i], entries[j] = entries[j], entries[i]
    else:
        entries.insert(i, raws[data.draw(st.integers(0, n - 1))])
    report = audit(entries, notes, SIGNER.verifier)
    assert not report.ok
    if action == "alter":
        assert ("altered", i) in {(f.kind, f.index) for f in report.findings} or i == n - 1


def test_entry_layout_and_commitments_open() -> None:
    sig = RequestSignature("key-1", b"\x01" * 64)
    raw, contents = build_entry(
        3, b"\x00" * 32, 1.7e9, "declaration", "US-CJTF", {"id": "p1"},
        {"feature": {"coordinates": [42.1, 37.2]}}, sig,
    )
    entry = parse_entry(raw)
    assert entry["index"] == 3 and entry["prev"] == "00" * 32
    assert entry["at"] == format_at(1.7e9) == "2023-11-14T22:13:20.000Z"
    assert entry["sig"]["key_id"] == "key-1"
    assert b"42.1" not in raw  # the coordinates are committed, not written
    [c] = contents
    assert isinstance(c, Content) and c.name == "feature"
    verify_commitment(entry["commit"]["feature"], c.salt, c.content)


def test_the_first_entry_alone_has_no_previous_hash() -> None:
    with pytest.raises(ValueError):
        build_entry(0, b"\x00" * 32, 0.0, "t", "A", {})
    with pytest.raises(ValueError):
        build_entry(1, None, 0.0, "t", "A", {})


@pytest.mark.parametrize("raw", [b"[]", b"{}", b'{"v":1}', b"\xff", b"x" * (2 << 20)])
def test_unreadable_entries_are_refused_with_one_sentence(raw: bytes) -> None:
    with pytest.raises(NotCanonical) as err:
        parse_entry(raw)
    assert str(err.value).endswith(".")

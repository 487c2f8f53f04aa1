"""SPEC §6: signed checkpoints (tree size, root hash, time; Ed25519) in the C2SP form, and
a party checking, without trusting the operator, that the log only grew."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from deconflict.record import (
    BadSignature,
    Checkpoint,
    MalformedNote,
    MerkleTree,
    NoteSigner,
    NoteVerifier,
    SigningKey,
    canonical_json,
    cosign_checkpoint,
    leaf_hash,
    make_checkpoint,
    parse_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

from .vectors import ROOTS, SUMDB_CHECKPOINT, SUMDB_VERIFIER_KEY

ORIGIN = "deconflict.example/theatre-1"
WHEN = datetime(2020, 8, 25, 9, 30, 0, tzinfo=UTC)
LOG = NoteSigner(ORIGIN, SigningKey.generate())
WITNESS_A = NoteSigner("witness.example/a", SigningKey.generate())
WITNESS_B = NoteSigner("witness.example/b", SigningKey.generate())


def _signed(size: int = 8) -> str:
    return sign_checkpoint(make_checkpoint(ORIGIN, size, ROOTS[size], WHEN), LOG)


def test_spec_6_checkpoint_body_is_the_c2sp_form_with_a_time_line() -> None:
    body = make_checkpoint(ORIGIN, 8, ROOTS[8], WHEN).body()
    assert body == (
        f"{ORIGIN}\n8\n{base64.b64encode(ROOTS[8]).decode()}\ntime 2020-08-25T09:30:00Z\n"
    )
    note = _signed()
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    # A standard verifier reads the first three lines and ignores the rest.
    origin, size, root = note.split("\n")[:3]
    assert (origin, int(size), base64.b64decode(root)) == (ORIGIN, 8, ROOTS[8])


def test_spec_6_sign_and_verify_round_trip() -> None:
    verified = verify_checkpoint(_signed(), LOG.verifier, origin=ORIGIN)
    assert verified.checkpoint == Checkpoint(ORIGIN, 8, ROOTS[8], WHEN)
    assert verified.witnesses == ()


def test_spec_6_witness_cosignatures_are_kept_and_counted() -> None:
    note = cosign_checkpoint(cosign_checkpoint(_signed(), WITNESS_A), WITNESS_B)
    assert note.startswith(_signed())  # Ed25519 is deterministic: the log's line is intact
    witnesses = [WITNESS_A.verifier, WITNESS_B.verifier]
    verified = verify_checkpoint(note, LOG.verifier, witnesses, quorum=2)
    assert verified.witnesses == (WITNESS_A.verifier, WITNESS_B.verifier)
    with pytest.raises(BadSignature, match="1 trusted witness cosignatures; 2 are required"):
        once = cosign_checkpoint(_signed(), WITNESS_A)
        verify_checkpoint(once, LOG.verifier, witnesses, quorum=2)
    # The log key cannot stand in for a witness.
    with pytest.raises(BadSignature, match="0 trusted witness"):
        verify_checkpoint(_signed(), LOG.verifier, [LOG.verifier], quorum=1)


def test_spec_6_a_tampered_checkpoint_is_refused() -> None:
    note = _signed(8)
    with pytest.raises(BadSignature, match="altered"):
        verify_checkpoint(note.replace(f"{ORIGIN}\n8\n", f"{ORIGIN}\n7\n"), LOG.verifier)
    root7 = base64.b64encode(ROOTS[7]).decode()
    root8 = base64.b64encode(ROOTS[8]).decode()
    with pytest.raises(BadSignature):
        verify_checkpoint(note.replace(root8, root7), LOG.verifier)
    with pytest.raises(BadSignature):
        verify_checkpoint(note.replace("09:30:00Z", "09:31:00Z"), LOG.verifier)


def test_spec_6_a_checkpoint_by_another_key_is_refused() -> None:
    impostor = NoteSigner(ORIGIN, SigningKey.generate())
    forged = sign_checkpoint(make_checkpoint(ORIGIN, 8, ROOTS[8], WHEN), impostor)
    with pytest.raises(BadSignature, match="not signed by the log key"):
        verify_checkpoint(forged, LOG.verifier)
    with pytest.raises(BadSignature, match="not signed by the log key"):
        verify_checkpoint(cosign_checkpoint(_signed(), WITNESS_A), WITNESS_B.verifier)
    with pytest.raises(BadSignature, match="for the log"):
        verify_checkpoint(_signed(), LOG.verifier, origin="deconflict.example/other")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda n: n.replace("\n\n", "\n"), "no blank line"),
        (lambda n: n.replace(base64.b64encode(ROOTS[8]).decode(), "not*base64"), "third line"),
        (lambda n: n.replace(base64.b64encode(ROOTS[8]).decode(), "AAAA"), "32-byte"),
        (lambda n: n.replace("\n8\n", "\n08\n"), "second line"),
        (lambda n: n.replace("\n8\n", "\n-8\n"), "second line"),
        (lambda n: n.replace("time 2020-08-25T09:30:00Z", "time yesterday"), "time line"),
        (lambda n: n.replace("2020-08-25T09:30:00Z\n", "2020-08-25T09:30:00Z\n\n"), "line"),
        (lambda n: n[: n.rindex(" ") + 1] + "@@@@\n", "base64"),
        (lambda n: n.replace(ORIGIN + "\n", "\n", 1), "origin"),
    ],
)
def test_spec_6_malformed_checkpoints_are_refused_with_one_sentence(
    edit: Callable[[str], str], words: str
) -> None:
    with pytest.raises(MalformedNote, match=words) as caught:
        verify_checkpoint(edit(_signed()), LOG.verifier)
    assert caught.value.message.endswith(".")


def test_spec_6_a_published_sum_golang_org_checkpoint_verifies() -> None:
    go = NoteVerifier.parse(SUMDB_VERIFIER_KEY)
    verified = verify_checkpoint(SUMDB_CHECKPOINT, go)
    assert verified.checkpoint.origin == "go.sum database tree"
    assert verified.checkpoint.tree_size == 30055305
    assert verified.checkpoint.time is None  # not ours: no time line
    with pytest.raises(BadSignature):
        verify_checkpoint(SUMDB_CHECKPOINT.replace("30055305", "30055306"), go)


def test_extension_lines_survive_and_time_is_normalised() -> None:
    body = f"{ORIGIN}\n0\n{base64.b64encode(ROOTS[0]).decode()}\ntime 2020-08-25T09:30:00Z\nx y\n"
    checkpoint = parse_checkpoint_body(body)
    assert checkpoint.extensions == ("x y",) and checkpoint.body() == body
    local = datetime(2020, 8, 25, 12, 30, 0, 999, tzinfo=timezone(timedelta(hours=3)))
    assert make_checkpoint(ORIGIN, 0, ROOTS[0], local).time == WHEN
    assert make_checkpoint(ORIGIN, 0, ROOTS[0]).time is not None
    with pytest.raises(MalformedNote):
        Checkpoint(ORIGIN, 0, ROOTS[0], local)
    with pytest.raises(MalformedNote):
        Checkpoint(ORIGIN, 0, ROOTS[0], extensions=("time 2020-08-25T09:30:00Z",))
    with pytest.raises(MalformedNote, match="second time line"):
        parse_checkpoint_body(body.replace("x y", "time 2020-08-25T09:30:00Z"))
    with pytest.raises(MalformedNote):
        cosign_checkpoint("not a checkpoint\n\n" + _signed().split("\n\n")[1], WITNESS_A)


def test_spec_6_a_party_checks_its_entry_and_that_the_log_only_grew() -> None:
    """The whole SPEC §6 promise, offline, from what the service publishes."""
    tree = MerkleTree()
    entries = [canonical_json({"seq": i, "kind": "declaration", "party": "p"}) for i in range(5)]
    for entry in entries:
        tree.append(entry)
    first = sign_checkpoint(make_checkpoint(ORIGIN, tree.size, tree.root(), WHEN), LOG)
    mine = 3
    proof = tree.inclusion_proof(mine)
    for i in range(5, 13):
        tree.append(canonical_json({"seq": i}))
    second = sign_checkpoint(make_checkpoint(ORIGIN, tree.size, tree.root(), WHEN), LOG)

    # The party, holding only the log's verifier key and what it was given:
    old = verify_checkpoint(first, LOG.verifier).checkpoint
    new = verify_checkpoint(second, LOG.verifier).checkpoint
    verify_inclusion(leaf_hash(entries[mine]), mine, old.tree_size, proof, old.root_hash)
    verify_consistency(
        old.tree_size,
        new.tree_size,
        old.root_hash,
        new.root_hash,
        tree.consistency_proof(old.tree_size, new.tree_size),
    )
    # ... and its entry is still in the larger tree.
    verify_inclusion(
        leaf_hash(entries[mine]), mine, new.tree_size, tree.inclusion_proof(mine), new.root_hash
    )
    parsed, note = parse_checkpoint(second)
    assert parsed == new and len(note.signatures) == 1

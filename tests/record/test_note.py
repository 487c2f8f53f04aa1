"""SPEC §6 / DESIGN: signed notes in the C2SP text form, so existing verifiers read them.

Known answers: golang.org/x/mod sumdb/note/note_test.go (see vectors.py).
"""

from __future__ import annotations

import pytest

from deconflict.record import (
    BadKey,
    BadSignature,
    MalformedNote,
    NoteSigner,
    NoteVerifier,
    SigningKey,
    cosign_note,
    parse_note,
    sign_note,
    verify_note,
)

from .vectors import (
    GO_ENOCH_SIG,
    GO_ENOCH_VERIFIER_KEY,
    GO_PETER_SIG,
    GO_SIGNER_KEY,
    GO_TEXT,
    GO_VERIFIER_KEY,
)

PETER = NoteVerifier.parse(GO_VERIFIER_KEY)
ENOCH = NoteVerifier.parse(GO_ENOCH_VERIFIER_KEY)


def test_spec_6_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    signer = NoteSigner.parse(GO_SIGNER_KEY)
    assert signer.verifier.key_hash == 0xC74F20A3
    assert str(signer.verifier) == GO_VERIFIER_KEY
    assert signer.secret_string() == GO_SIGNER_KEY
    assert sign_note(GO_TEXT, signer) == GO_TEXT + "\n" + GO_PETER_SIG


def test_spec_6_go_reference_notes_verify_and_unknown_keys_are_ignored() -> None:
    note = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    only_peter = verify_note(note, [PETER])
    assert only_peter.text == GO_TEXT
    assert only_peter.signed_by == (PETER,)
    assert [s.name for s in only_peter.unverified] == ["EnochRoot"]
    both = verify_note(note, [PETER, ENOCH])
    assert both.signed_by == (PETER, ENOCH) and both.unverified == ()
    with pytest.raises(BadSignature, match="no signature from a trusted key"):
        verify_note(note, [])
    # A repeated signature counts once.
    assert verify_note(GO_TEXT + "\n" + GO_PETER_SIG * 2, [PETER]).signed_by == (PETER,)


def test_spec_6_an_altered_note_is_refused() -> None:
    with pytest.raises(BadSignature, match="PeterNeumann"):
        verify_note(GO_TEXT.replace("cryptography", "cryptographY") + "\n" + GO_PETER_SIG, [PETER])
    broken = GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    with pytest.raises(BadSignature):
        verify_note(GO_TEXT + "\n" + broken, [PETER])


@pytest.mark.parametrize(
    ("note", "words"),
    [
        # The malformed notes of note_test.go's TestOpen:
        (GO_TEXT, "no blank line"),
        (GO_TEXT + "\n", "no signature line"),
        (GO_TEXT + "\n" + GO_PETER_SIG[:-1], "does not end with a newline"),
        ("\x01" + GO_TEXT + "\n" + GO_PETER_SIG, "control character"),
        (b"\xff" + (GO_TEXT + "\n" + GO_PETER_SIG).encode(), "UTF-8"),
        (GO_TEXT + "\n" + GO_PETER_SIG.replace("PeterNeumann", "Bad Name"), "line 1"),
        (GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n", "line 2 does not start"),
        (GO_TEXT + "\n" + GO_PETER_SIG * 101, "more than 100"),
        # and ours:
        (GO_TEXT + "\n" + GO_PETER_SIG.replace("=\n", "\n"), "base64"),
        (GO_TEXT + "\n" + GO_PETER_SIG.replace("x08go", "x08g!"), "base64"),
        (GO_TEXT + "\n\u2014 PeterNeumann AAAA\n", "too short"),
        (GO_TEXT + "\n- PeterNeumann AAAAAAA=\n", "em dash"),
        (GO_TEXT + "\n\u2014 a+b AAAAAAA=\n", "invalid key name"),
        (GO_TEXT + "\n" + GO_PETER_SIG.replace(" x08", "  x08"), "line 1"),
    ],
)
def test_malformed_notes_are_refused_with_one_sentence(note: str | bytes, words: str) -> None:
    with pytest.raises(MalformedNote, match=words) as caught:
        parse_note(note)
    assert caught.value.message.endswith(".") and "\n" not in caught.value.message


def test_bad_key_strings_are_refused() -> None:
    mangled = [
        GO_VERIFIER_KEY[:-1],
        GO_VERIFIER_KEY[1:],
        GO_VERIFIER_KEY.replace("c74f20a3", "c74f20a4"),
        GO_VERIFIER_KEY.replace("c74f20a3", "C74F20A3"),
        GO_VERIFIER_KEY.replace("+ARpc", "+ZRpc"),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann",
    ]
    for vkey in mangled:
        with pytest.raises(BadKey):
            NoteVerifier.parse(vkey)
    for skey in [GO_SIGNER_KEY[:-1], GO_SIGNER_KEY.removeprefix("PRIVATE+"), GO_VERIFIER_KEY]:
        with pytest.raises(BadKey):
            NoteSigner.parse(skey)


def test_spec_6_cosigning_keeps_every_line_and_adds_one() -> None:
    log = NoteSigner("deconflict.example/log", SigningKey.generate())
    witness = NoteSigner("witness.example/w1", SigningKey.generate())
    note = sign_note("hello\n", log)
    cosigned = cosign_note(note + GO_ENOCH_SIG, witness)
    assert cosigned.startswith(note + GO_ENOCH_SIG)
    assert cosigned.count("\u2014 ") == 3
    assert verify_note(cosigned, [log.verifier, witness.verifier]).signed_by == (
        log.verifier,
        witness.verifier,
    )
    # Cosigning again replaces the witness's own line, not anyone else's.
    assert cosign_note(cosigned, witness).count("\u2014 ") == 3


def test_trusting_two_keys_with_one_identity_is_refused() -> None:
    # Two keys sharing name and key hash cannot be arranged by chance; fake the hash.
    a = NoteVerifier("same", SigningKey.generate().public_key)
    note = sign_note("x\n", NoteSigner("same", SigningKey.generate()))
    with pytest.raises(BadKey, match="share"):
        verify_note(note, [a, _with_same_identity(a)])


def _with_same_identity(verifier: NoteVerifier) -> NoteVerifier:
    class Twin(NoteVerifier):
        @property
        def key_hash(self) -> int:
            return verifier.key_hash

    return Twin(verifier.name, SigningKey.generate().public_key)


def test_texts_that_cannot_be_signed_are_refused() -> None:
    signer = NoteSigner("k", SigningKey.generate())
    for text in ["no newline", "tab\there\n", "\ud800\n"]:
        with pytest.raises(MalformedNote):
            sign_note(text, signer)
    with pytest.raises(MalformedNote):
        NoteSigner("has space", SigningKey.generate())

"""SPEC §6: Ed25519 keys for the log and for parties — load, save, sign, verify."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deconflict.record import BadKey, BadSignature, SigningKey, VerifyKey, sign, verify

from .vectors import RFC8032_PUBLIC, RFC8032_SECRET, RFC8032_SIGNATURE


def test_spec_6_ed25519_matches_rfc_8032() -> None:
    key = SigningKey.from_raw(RFC8032_SECRET)
    assert key.public_key.to_raw() == RFC8032_PUBLIC
    assert sign(key, b"") == RFC8032_SIGNATURE
    verify(VerifyKey.from_raw(RFC8032_PUBLIC), b"", RFC8032_SIGNATURE)


def test_spec_6_a_changed_message_or_signature_is_refused() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"declaration")
    key.public_key.verify(b"declaration", signature)
    with pytest.raises(BadSignature, match=key.public_key.key_id):
        key.public_key.verify(b"declaratioN", signature)
    with pytest.raises(BadSignature):
        key.public_key.verify(b"declaration", bytes([signature[0] ^ 1]) + signature[1:])
    with pytest.raises(BadSignature, match="64 bytes"):
        key.public_key.verify(b"declaration", signature[:-1])
    with pytest.raises(BadSignature):
        SigningKey.generate().public_key.verify(b"declaration", signature)


def test_keys_round_trip_through_raw_and_pem() -> None:
    key = SigningKey.generate()
    assert SigningKey.from_raw(key.to_raw()).to_raw() == key.to_raw()
    assert SigningKey.from_pem(key.to_pem()).to_raw() == key.to_raw()
    locked = key.to_pem(password=b"correct horse")
    assert b"ENCRYPTED" in locked
    assert SigningKey.from_pem(locked, password=b"correct horse").to_raw() == key.to_raw()
    public = key.public_key
    assert VerifyKey.from_pem(public.to_pem()) == public
    assert VerifyKey.from_raw(public.to_raw()) == public
    assert len(public.key_id) == 32 and int(public.key_id, 16) >= 0


def test_unreadable_keys_are_refused_with_a_reason() -> None:
    key = SigningKey.generate()
    locked = key.to_pem(password=b"pw")
    with pytest.raises(BadKey, match="password"):
        SigningKey.from_pem(locked)
    with pytest.raises(BadKey, match="password is wrong"):
        SigningKey.from_pem(locked, password=b"nope")
    with pytest.raises(BadKey, match="32 bytes"):
        SigningKey.from_raw(b"\x00" * 31)
    with pytest.raises(BadKey, match="32 bytes"):
        VerifyKey.from_raw(b"\x00" * 33)
    with pytest.raises(BadKey):
        VerifyKey.from_pem(b"not a key")
    other = ec.generate_private_key(ec.SECP256R1())
    other_pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(BadKey, match="not an Ed25519"):
        SigningKey.from_pem(other_pem)
    other_public = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(BadKey, match="not an Ed25519"):
        VerifyKey.from_pem(other_public)


def test_a_private_key_never_shows_in_its_repr() -> None:
    key = SigningKey.from_raw(RFC8032_SECRET)
    assert RFC8032_SECRET.hex() not in repr(key)
    assert key.public_key.key_id in repr(key)

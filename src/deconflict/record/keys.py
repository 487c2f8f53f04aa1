"""Ed25519 keys for the record: generate, load and save them, sign and verify bytes.

It holds thin typed wrappers over `cryptography`; it must never log, print or put into an
error message any private key material, and never accept a key of another algorithm.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from deconflict.record.errors import BadKey, BadSignature

KEY_SIZE = 32
"""Bytes in a raw Ed25519 public key and in a raw private key (its seed)."""

SIGNATURE_SIZE = 64
"""Bytes in an Ed25519 signature."""


class VerifyKey:
    """An Ed25519 public key: checks signatures, has a stable id."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def from_raw(cls, raw: bytes) -> VerifyKey:
        """From the 32 raw bytes of RFC 8032."""
        if len(raw) != KEY_SIZE:
            raise BadKey(f"an Ed25519 public key has {KEY_SIZE} bytes, not {len(raw)}.")
        try:
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError:
            raise BadKey("those 32 bytes are not an Ed25519 public key.") from None

    @classmethod
    def from_pem(cls, pem: bytes) -> VerifyKey:
        """From a PEM SubjectPublicKeyInfo block."""
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise BadKey("the text is not a PEM public key; expected 'BEGIN PUBLIC KEY'.") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadKey("the PEM public key is not an Ed25519 key; the record uses Ed25519.")
        return cls(key)

    def to_raw(self) -> bytes:
        """The 32 raw bytes."""
        return self._raw

    def to_pem(self) -> bytes:
        """A PEM SubjectPublicKeyInfo block."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """Lower-case hex of the first 16 bytes of SHA-256(raw public key).

        A name for the key in records and messages, not a secret and not a proof:
        signatures are always checked against the full key.
        """
        return hashlib.sha256(self._raw).digest()[:16].hex()

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise BadSignature unless `signature` is this key's signature of `message`."""
        if len(signature) != SIGNATURE_SIZE:
            raise BadSignature(
                f"an Ed25519 signature has {SIGNATURE_SIZE} bytes, not {len(signature)}."
            )
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise BadSignature(
                f"the signature is not by key {self.key_id} over these bytes: "
                "the signed content or the signature was altered."
            ) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self.key_id})"


class SigningKey:
    """An Ed25519 private key. Its repr shows only the public key id."""

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = VerifyKey(key.public_key())
        """The matching public key."""

    @classmethod
    def generate(cls) -> SigningKey:
        """A new key from the operating system's random source."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, seed: bytes) -> SigningKey:
        """From the 32-byte seed of RFC 8032."""
        if len(seed) != KEY_SIZE:
            raise BadKey(f"an Ed25519 private key has {KEY_SIZE} bytes, not {len(seed)}.")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> SigningKey:
        """From a PEM PKCS #8 block, encrypted with `password` if one is given."""
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except TypeError:
            raise BadKey(
                "the PEM private key is encrypted and no password was given, or a password "
                "was given for a key that is not encrypted."
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise BadKey(
                "the text is not a readable PEM private key, or the password is wrong."
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise BadKey("the PEM private key is not an Ed25519 key; the record uses Ed25519.")
        return cls(key)

    def to_raw(self) -> bytes:
        """The 32-byte seed. Handle with care."""
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def to_pem(self, password: bytes | None = None) -> bytes:
        """A PEM PKCS #8 block, encrypted with `password` when one is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message` (deterministic, RFC 8032)."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(public {self.public_key.key_id})"


def sign(key: SigningKey, message: bytes) -> bytes:
    """The Ed25519 signature of `message` by `key`."""
    return key.sign(message)


def verify(key: VerifyKey, message: bytes, signature: bytes) -> None:
    """Raise BadSignature unless `signature` by `key` covers `message`."""
    key.verify(message, signature)

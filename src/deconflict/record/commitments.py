"""Salted hash commitments: how the record proves content it does not reveal (SPEC §6).

It holds commit and open (verify); it must never put content or salt into the log or an
error message — only the commitment goes in the log, the content and salt stay beside it.

    commitment = SHA-256(b"deconflict-commitment-v1\\x00" || salt || content bytes)

- salt: 32 bytes from the operating system's random source, one per commitment, so equal
  content (two identical routes) gives unrelated commitments and a short content (a site's
  coordinates) cannot be found by guessing and hashing candidates;
- content bytes: `bytes` are committed as given; any other value is committed as its
  canonical JSON (`deconflict.record.canonical`), so the value, not its spelling, counts;
- the domain prefix keeps these hashes apart from Merkle leaf/node hashes and any other
  SHA-256 use; the salt has a fixed length, so salt and content cannot be re-split.

Disclosing means handing (content, salt) to a party SPEC §4 allows; that party recomputes
the hash and compares it with the commitment inside a log entry it has an inclusion
proof for.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import NamedTuple

from deconflict.record.canonical import JSONValue, canonical_json
from deconflict.record.errors import BadCommitment

DOMAIN = b"deconflict-commitment-v1\x00"
"""Prefix of every commitment preimage; a new scheme gets a new version."""

SALT_SIZE = 32
"""Bytes of salt per commitment."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


class Commitment(NamedTuple):
    """A commitment and the salt that opens it."""

    commitment_hex: str
    """Lower-case hex SHA-256: what the log records."""
    salt: bytes
    """The 32-byte salt: kept beside the content, disclosed only with it."""


def content_bytes(content: bytes | JSONValue) -> bytes:
    """The bytes a commitment covers: `bytes` as given, else canonical JSON."""
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    return canonical_json(content)


def commitment_of(content: bytes | JSONValue, salt: bytes) -> str:
    """The commitment hex for `content` under `salt` (deterministic; no randomness)."""
    if len(salt) != SALT_SIZE:
        raise BadCommitment(f"a commitment salt has {SALT_SIZE} bytes, not {len(salt)}.")
    return commitment_hex(salt, content_bytes(content))


def commitment_hex(salt: bytes, raw: bytes) -> str:
    """The commitment hex of content bytes `raw` under a salt of SALT_SIZE bytes (the
    callers' duty: this runs once per log entry and checks nothing)."""
    h = hashlib.sha256(DOMAIN)
    h.update(salt)
    h.update(raw)
    return h.hexdigest()


def fresh_salt() -> bytes:
    """A new salt from the operating system's random source."""
    return secrets.token_bytes(SALT_SIZE)


def commit(content: bytes | JSONValue) -> Commitment:
    """Commit to `content` with a fresh random salt."""
    salt = fresh_salt()
    return Commitment(commitment_of(content, salt), salt)


def verify_commitment(commitment_hex: str, salt: bytes, content: bytes | JSONValue) -> None:
    """Raise BadCommitment unless (`content`, `salt`) opens `commitment_hex`."""
    if not _HEX64.fullmatch(commitment_hex):
        raise BadCommitment("a commitment is 64 lower-case hex digits.")
    if not hmac.compare_digest(commitment_of(content, salt), commitment_hex):
        raise BadCommitment(
            "the disclosed content and salt do not match the commitment in the record: "
            "the content, the salt or the commitment was altered."
        )

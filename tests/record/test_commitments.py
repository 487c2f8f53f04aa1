"""SPEC §6: the log proves without revealing — salted commitments to hidden content."""

from __future__ import annotations

import hashlib

import pytest

from deconflict.record import BadCommitment, canonical_json, commit, verify_commitment
from deconflict.record.canonical import JSONValue
from deconflict.record.commitments import DOMAIN, commitment_of

SITE: JSONValue = {"type": "Point", "coordinates": [36.2021, 37.1343]}


def test_spec_6_commitment_is_the_documented_hash() -> None:
    salt = bytes(range(32))
    expected = hashlib.sha256(
        b"deconflict-commitment-v1\x00" + salt + b'{"coordinates":[36.2021,37.1343],"type":"Point"}'
    ).hexdigest()
    assert DOMAIN == b"deconflict-commitment-v1\x00"
    assert commitment_of(SITE, salt) == expected
    assert commitment_of(canonical_json(SITE), salt) == expected  # bytes are taken as given


def test_spec_6_disclosed_content_opens_its_commitment() -> None:
    commitment, salt = commit(SITE)
    assert len(salt) == 32 and len(commitment) == 64
    verify_commitment(commitment, salt, SITE)
    verify_commitment(commitment, salt, {"coordinates": [36.2021, 37.1343], "type": "Point"})
    raw_commitment, raw_salt = commit(b"\x00route bytes")
    verify_commitment(raw_commitment, raw_salt, b"\x00route bytes")


def test_spec_6_wrong_content_salt_or_commitment_fails() -> None:
    commitment, salt = commit(SITE)
    moved: JSONValue = {"type": "Point", "coordinates": [36.2021, 37.1344]}
    with pytest.raises(BadCommitment) as caught:
        verify_commitment(commitment, salt, moved)
    assert "36.2021" not in caught.value.message  # never echo hidden content
    with pytest.raises(BadCommitment):
        verify_commitment(commitment, bytes(32), SITE)
    with pytest.raises(BadCommitment):
        verify_commitment(commitment, salt[:-1] + bytes([salt[-1] ^ 1]), SITE)
    with pytest.raises(BadCommitment, match="32 bytes"):
        verify_commitment(commitment, salt[:16], SITE)
    other = ("1" if commitment[0] == "0" else "0") + commitment[1:]
    with pytest.raises(BadCommitment):
        verify_commitment(other, salt, SITE)
    with pytest.raises(BadCommitment, match="hex"):
        verify_commitment(commitment.upper(), salt, SITE)


def test_spec_6_equal_content_gives_unrelated_commitments() -> None:
    first, second = commit(SITE), commit(SITE)
    assert first.salt != second.salt
    assert first.commitment_hex != second.commitment_hex

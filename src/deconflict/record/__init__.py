"""The record (SPEC §6): canonical JSON, the RFC 9162 Merkle log, Ed25519 keys, C2SP
signed-note checkpoints and salted commitments, as a pure library.

It must never import the store, the API or the CLI, nor do I/O beyond the OS random source.
"""

from deconflict.record.canonical import (
    JSONValue,
    canonical_json,
    format_number,
    parse_canonical,
)
from deconflict.record.checkpoint import (
    Checkpoint,
    VerifiedCheckpoint,
    cosign_checkpoint,
    make_checkpoint,
    parse_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
    verify_checkpoint,
)
from deconflict.record.commitments import (
    Commitment,
    commit,
    commitment_of,
    verify_commitment,
)
from deconflict.record.errors import (
    BadCommitment,
    BadKey,
    BadProof,
    BadSignature,
    MalformedNote,
    NotCanonical,
)
from deconflict.record.keys import SigningKey, VerifyKey, sign, verify
from deconflict.record.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from deconflict.record.note import (
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    cosign_note,
    parse_note,
    sign_note,
    verify_note,
)
from deconflict.record.tree import (
    MemoryNodeStore,
    MerkleTree,
    NodeReader,
    NodeStore,
    consistency_proof_from,
    inclusion_proof_from,
    range_root,
)

__all__ = [
    "EMPTY_ROOT",
    "BadCommitment",
    "BadKey",
    "BadProof",
    "BadSignature",
    "Checkpoint",
    "Commitment",
    "JSONValue",
    "MalformedNote",
    "MemoryNodeStore",
    "MerkleTree",
    "NodeReader",
    "NodeStore",
    "NotCanonical",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "SigningKey",
    "VerifiedCheckpoint",
    "VerifiedNote",
    "VerifyKey",
    "canonical_json",
    "commit",
    "commitment_of",
    "consistency_proof",
    "consistency_proof_from",
    "cosign_checkpoint",
    "cosign_note",
    "format_number",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "make_checkpoint",
    "node_hash",
    "parse_canonical",
    "parse_checkpoint",
    "parse_checkpoint_body",
    "parse_note",
    "range_root",
    "root_from_leaf_hashes",
    "sign",
    "sign_checkpoint",
    "sign_note",
    "verify",
    "verify_checkpoint",
    "verify_commitment",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
]

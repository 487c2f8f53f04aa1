"""The errors the record library raises: a proof, signature, commitment or note that fails.

A failed check means tampering (CLI exit 1); an input that cannot be read at all means
unreadable input (exit 2). Messages name what failed and never quote hidden content.
"""

from __future__ import annotations

from deconflict.errors import DeconflictError


class BadProof(DeconflictError):
    """A Merkle inclusion or consistency proof does not lead to the root it claims."""

    code = "bad_proof"
    http_status = 422
    exit_code = 1


class BadSignature(DeconflictError):
    """A signature does not verify, or no signature from a trusted key is present."""

    code = "bad_signature"
    http_status = 422
    exit_code = 1


class BadCommitment(DeconflictError):
    """Disclosed content and salt do not open the commitment recorded in the log."""

    code = "bad_commitment"
    http_status = 422
    exit_code = 1


class BadKey(DeconflictError):
    """A key (raw, PEM or note key string) cannot be read."""

    code = "bad_key"
    http_status = 400
    exit_code = 2


class MalformedNote(DeconflictError):
    """A signed note or checkpoint breaks the C2SP text format."""

    code = "malformed_note"
    http_status = 400
    exit_code = 2


class NotCanonical(DeconflictError):
    """A value cannot be written as canonical JSON, or bytes are not canonical JSON."""

    code = "not_canonical"
    http_status = 422
    exit_code = 2

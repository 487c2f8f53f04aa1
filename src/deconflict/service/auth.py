"""Who is calling: bearer tokens (kept only as SHA-256 hashes) and Ed25519 request
signatures. Tokens are random 256-bit secrets, so one SHA-256 is as good as a slow hash
and keeps authentication cheap on every request. Never log a token or a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from deconflict.errors import BadRequestSignature, Unauthorized
from deconflict.model.clearance import OPERATOR
from deconflict.record import BadKey, BadSignature, VerifyKey, canonical_json
from deconflict.record.canonical import JSONValue
from deconflict.store.repository import Repository, TokenRow

TOKEN_PREFIX = "dcf"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    party: str
    """The party's name, or `OPERATOR` for the neutral operator."""
    token_id: str
    """Which of its tokens it used (public, shown in logs instead of the token)."""

    @property
    def is_operator(self) -> bool:
        return self.party == OPERATOR


OPERATOR_PRINCIPAL = Principal(OPERATOR, "local")
"""The operator acting from the command line on the database itself."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `token` is shown once and never stored."""

    token_id: str
    token: str


def issue_token(repo: Repository, party: str, now_s: float, label: str = "") -> IssuedToken:
    """Create a token for `party` (or the operator) and store only its hash."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    repo.add_token(TokenRow(token_id, party, digest, now_s, None, label[:64]))
    return IssuedToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}")


NO_TOKEN = "This call needs a valid API token in the header 'Authorization: Bearer <token>'."


def authenticate(repo: Repository, authorization: str | None) -> Principal:
    """The principal of an `Authorization: Bearer …` header; Unauthorized otherwise, with
    one message for every failure so a caller cannot probe which tokens exist."""
    if not authorization:
        raise Unauthorized(NO_TOKEN)
    scheme, _, token = authorization.strip().partition(" ")
    parts = token.strip().split("_", 2)
    if scheme.lower() != "bearer" or len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise Unauthorized(NO_TOKEN)
    row = repo.token(parts[1])
    digest = hashlib.sha256(parts[2].encode()).hexdigest()
    if row is None or row.revoked_s is not None:
        raise Unauthorized(NO_TOKEN)
    if not hmac.compare_digest(row.secret_sha256, digest):
        raise Unauthorized(NO_TOKEN)
    return Principal(row.party, row.token_id)


SIGNATURE_HELP = (
    "send 'Deconflict-Signature: keyid=<key id>, sig=<base64 Ed25519 signature>' over the "
    'canonical JSON of {"method", "path", "body"} (see docs/api.md)'
)


@dataclass(frozen=True, slots=True)
class RequestSignature:
    """A verified signature, kept with what it signed."""

    key_id: str
    signature: bytes


def signed_message(method: str, path: str, body: JSONValue) -> bytes:
    """What a party signs: the RFC 8785 canonical JSON of method, path and body, so a
    signature cannot be replayed on another endpoint or declaration."""
    return canonical_json({"method": method.upper(), "path": path, "body": body})


def verify_request(
    repo: Repository, party: str, header: str | None, message: bytes
) -> RequestSignature | None:
    """Check an optional `Deconflict-Signature` header against `party`'s registered keys.
    None when absent; BadRequestSignature (nothing stored) when it does not verify."""
    if header is None:
        return None
    fields = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields[name.strip().lower()] = value.strip()
    key_id, sig_text = fields.get("keyid"), fields.get("sig")
    if not key_id or not sig_text:
        raise BadRequestSignature(
            f"The Deconflict-Signature header cannot be read; {SIGNATURE_HELP}."
        )
    found = repo.key(key_id)
    if found is None or found[0] != party or found[2] is not None:
        raise BadRequestSignature(
            f"Key {key_id[:64]!r} is not a current key of party {party!r}; register it first "
            "or sign with a current key."
        )
    try:
        signature = base64.b64decode(sig_text + "=" * (-len(sig_text) % 4), altchars=b"-_")
        VerifyKey.from_raw(found[1]).verify(message, signature)
    except (BadSignature, BadKey, binascii.Error, ValueError):
        raise BadRequestSignature(
            f"The signature by key {key_id} does not verify over this request; {SIGNATURE_HELP}."
        ) from None
    return RequestSignature(key_id, signature)

"""Parties: the organisations that declare, are notified and answer (SPEC section 1).

A party is a name, a kind and its public keys; this module only checks the name rule and
never holds a private key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from deconflict.errors import DeconflictError

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""SPEC section 1: 1 to 32 ASCII letters, digits, `_` or `-`."""

ED25519_PUBLIC_KEY_BYTES = 32


class PartyKind(StrEnum):
    """What a party is; it decides who is notified of what (SPEC section 4)."""

    FORCE = "force"
    """A military or armed force."""
    HUMANITARIAN = "humanitarian"
    """A humanitarian agency; every force is notified of its declarations."""
    OBSERVER = "observer"
    """A mediator or observer; notified only of declarations that conflict with its own,
    and sees in whole what an owner names it for."""


class InvalidParty(DeconflictError):
    """A party's name, kind or keys break the rules of SPEC section 1."""

    code = "invalid_party"
    http_status = 422
    exit_code = 2


def check_party_name(name: object) -> str:
    """Return `name` if it follows the SPEC name rule, else raise InvalidParty."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        shown = repr(name)[:40]
        raise InvalidParty(
            f"Party name {shown} is not allowed; use 1 to 32 letters, digits, '_' or '-'."
        )
    return name


@dataclass(frozen=True, slots=True)
class Party:
    """An organisation that declares and is notified: a force, an agency, an observer."""

    name: str
    """Unique name, `[A-Za-z0-9_-]{1,32}`."""
    kind: PartyKind
    """force, humanitarian or observer."""
    public_keys: tuple[bytes, ...] = ()
    """Raw Ed25519 public keys (32 bytes each) that may sign for the party; several while
    a key is being rotated."""

    def __post_init__(self) -> None:
        check_party_name(self.name)
        try:
            kind = PartyKind(self.kind)
        except ValueError:
            raise InvalidParty(
                f"Party {self.name!r} has kind {str(self.kind)[:40]!r}; use one of "
                + ", ".join(k.value for k in PartyKind)
                + "."
            ) from None
        object.__setattr__(self, "kind", kind)
        for key in self.public_keys:
            if not isinstance(key, bytes) or len(key) != ED25519_PUBLIC_KEY_BYTES:
                raise InvalidParty(
                    f"Party {self.name!r} has a public key that is not 32 raw bytes; "
                    "give Ed25519 public keys in raw form."
                )

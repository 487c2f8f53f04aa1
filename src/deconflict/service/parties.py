"""Administering parties: the operator registers parties and issues, rotates and revokes
their tokens; a party (or the operator) registers its Ed25519 public keys and names the
observers that see its declarations whole. Tokens are shown once and stored as hashes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from deconflict.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from deconflict.model.clearance import OPERATOR
from deconflict.model.parties import Party, PartyKind
from deconflict.record import BadKey, VerifyKey
from deconflict.service.auth import OPERATOR_PRINCIPAL, IssuedToken, Principal, issue_token
from deconflict.service.core import Service
from deconflict.service.record import append as record
from deconflict.service.views import when
from deconflict.store.repository import Repository


def _operator_only(who: Principal, what: str) -> None:
    if not who.is_operator:
        raise Forbidden(f"Only the operator may {what}.")


def _self_or_operator(who: Principal, party: str, what: str) -> None:
    if not (who.is_operator or who.party == party):
        raise Forbidden(f"Only party {party!r} or the operator may {what}.")


def add_party(svc: Service, who: Principal, name: str, kind: str) -> tuple[Party, IssuedToken]:
    """Register a party and issue its first token."""
    _operator_only(who, "register parties")
    party = Party(name, PartyKind(kind) if kind in PartyKind._value2member_map_ else kind)  # type: ignore[arg-type]
    with svc.db.lock, svc.write() as repo:
        if repo.party(party.name) is not None:
            raise AlreadyExists(f"Party {party.name!r} is already registered.")
        now = svc.now()
        repo.add_party(party, now)
        token = issue_token(repo, party.name, now, "first")
        record(
            repo, now, "party.registered", who.party, {"party": party.name, "kind": str(party.kind)}
        )
        _token_entry(repo, now, who, party.name, token, "first")
    return party, token


def operator_token(svc: Service, label: str = "operator") -> IssuedToken:
    """Issue a token for the operator (from the command line only)."""
    with svc.db.lock, svc.write() as repo:
        now = svc.now()
        token = issue_token(repo, OPERATOR, now, label)
        _token_entry(repo, now, OPERATOR_PRINCIPAL, OPERATOR, token, label)
        return token


def _token_entry(
    repo: Repository, now: float, who: Principal, party: str, token: IssuedToken, label: str
) -> None:
    """A token's issue goes in the record by id; its secret never does."""
    record(
        repo,
        now,
        "token.issued",
        who.party,
        {"party": party, "token_id": token.token_id, "label": label},
    )


def rotate_token(
    svc: Service, who: Principal, party: str, revoke_others: bool = True
) -> IssuedToken:
    """A new token for `party`; by default every other token of it stops working."""
    _self_or_operator(who, party, "rotate its tokens")
    with svc.db.lock, svc.write() as repo:
        if party != OPERATOR and repo.party(party) is None:
            raise NotFound(f"No party is named {party!r}.")
        now = svc.now()
        token = issue_token(repo, party, now, "rotated")
        _token_entry(repo, now, who, party, token, "rotated")
        if revoke_others:
            repo.revoke_tokens_of(party, now, keep=token.token_id)
            record(
                repo,
                now,
                "token.revoked",
                who.party,
                {"party": party, "all_but": token.token_id},
            )
    return token


def revoke_token(svc: Service, who: Principal, token_id: str) -> None:
    with svc.db.lock, svc.write() as repo:
        row = repo.token(token_id)
        if row is None or not (who.is_operator or row.party == who.party):
            raise NotFound("No token of yours has that id.")
        now = svc.now()
        repo.revoke_token(token_id, now)
        record(repo, now, "token.revoked", who.party, {"party": row.party, "token_id": token_id})


def tokens(svc: Service, who: Principal, party: str) -> list[dict[str, Any]]:
    _self_or_operator(who, party, "list its tokens")
    with svc.read() as repo:
        return [
            {
                "token_id": t.token_id,
                "created_at": when(t.created_s),
                "revoked_at": when(t.revoked_s),
                "label": t.label,
            }
            for t in repo.tokens_of(party)
        ]


def add_key(svc: Service, who: Principal, party: str, public_key: str) -> dict[str, Any]:
    """Register an Ed25519 public key (raw 32 bytes, base64) that signs for `party`."""
    _self_or_operator(who, party, "add its keys")
    try:
        raw = base64.b64decode(public_key, validate=True)
        key = VerifyKey.from_raw(raw)
    except (binascii.Error, ValueError, BadKey):
        raise InvalidRequest(
            "public_key must be the 32 raw bytes of an Ed25519 public key, base64-encoded."
        ) from None
    with svc.db.lock, svc.write() as repo:
        if repo.party(party) is None:
            raise NotFound(f"No party is named {party!r}.")
        found = repo.key(key.key_id)
        if found is not None:
            raise AlreadyExists(f"Key {key.key_id} is already registered.")
        now = svc.now()
        repo.add_key(key.key_id, party, raw, now)
        record(
            repo,
            now,
            "key.registered",
            who.party,
            {"party": party, "key_id": key.key_id, "public_key": public_key},
        )
    return {"key_id": key.key_id, "party": party}


def revoke_key(svc: Service, who: Principal, key_id: str) -> None:
    with svc.db.lock, svc.write() as repo:
        found = repo.key(key_id)
        if found is None or not (who.is_operator or found[0] == who.party):
            raise NotFound("No key of yours has that id.")
        now = svc.now()
        repo.revoke_key(key_id, now)
        record(repo, now, "key.revoked", who.party, {"party": found[0], "key_id": key_id})


def keys(svc: Service, party: str) -> list[dict[str, str]]:
    """A party's current public keys: public, so anyone can check its signatures."""
    with svc.read() as repo:
        if repo.party(party) is None:
            raise NotFound(f"No party is named {party!r}.")
        return [
            {"key_id": k, "public_key": base64.b64encode(raw).decode()}
            for k, raw in repo.keys_of(party).items()
        ]


def parties(svc: Service) -> list[dict[str, str]]:
    """Every registered party's name and kind (public within the deployment)."""
    with svc.read() as repo:
        return [{"name": p.name, "kind": str(p.kind)} for p in repo.parties()]


def set_observers(svc: Service, who: Principal, observers: list[str]) -> dict[str, Any]:
    """Name the observer parties that see all of `who`'s declarations whole."""
    if who.is_operator:
        raise Forbidden("The operator declares nothing to share.")
    if len(observers) > 50:
        raise InvalidRequest("Name at most 50 observers.")
    with svc.db.lock, svc.write() as repo:
        for name in observers:
            p = repo.party(name) if isinstance(name, str) else None
            if p is None or p.kind is not PartyKind.OBSERVER:
                raise InvalidRequest(
                    f"{str(name)[:40]!r} is not a registered party of kind observer."
                )
        repo.set_observers(who.party, observers)
        record(
            repo,
            svc.now(),
            "observers.set",
            who.party,
            {"party": who.party, "observers": sorted(set(observers))},
        )
    return {"party": who.party, "observers": sorted(set(observers))}


def me(svc: Service, who: Principal) -> dict[str, Any]:
    with svc.read() as repo:
        if who.is_operator:
            return {"party": OPERATOR, "kind": "operator", "token_id": who.token_id}
        p = repo.party(who.party)
        if p is None:
            raise NotFound("Your party is no longer registered.")
        return {
            "party": p.name,
            "kind": str(p.kind),
            "token_id": who.token_id,
            "observers": repo.observers(p.name),
            "keys": list(repo.keys_of(p.name)),
        }

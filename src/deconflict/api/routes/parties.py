"""/v1/parties, /v1/me, tokens and keys: the operator administers parties; a party reads
itself, manages its keys and observers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from deconflict.api.deps import call, caller, service
from deconflict.model.parties import PartyKind
from deconflict.service import Principal, Service
from deconflict.service import parties as p

router = APIRouter(prefix="/v1", tags=["parties"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]


class NewParty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="The party's name.")
    kind: PartyKind = Field(description="force, humanitarian or observer.")


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(max_length=100, description="Raw 32-byte Ed25519 public key, base64.")


class Observers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observers: list[Annotated[str, Field(max_length=32)]] = Field(
        max_length=50, description="Observer parties that see all your declarations whole."
    )


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revoke_others: bool = Field(True, description="Revoke every other token of the party.")


@router.get("/me", summary="Who you are")
async def me(svc: Svc, who: Who) -> dict[str, Any]:
    return await call(p.me, svc, who)


@router.put("/me/observers", summary="Name the observers that see your declarations whole")
async def observers(svc: Svc, who: Who, body: Observers) -> dict[str, Any]:
    return await call(p.set_observers, svc, who, body.observers)


@router.get("/parties", summary="Registered parties (names and kinds)")
async def parties(svc: Svc, who: Who) -> list[dict[str, str]]:
    return await call(p.parties, svc)


@router.post("/parties", status_code=201, summary="Register a party (operator)")
async def add(svc: Svc, who: Who, body: NewParty) -> dict[str, Any]:
    party, token = await call(p.add_party, svc, who, body.name, body.kind.value)
    return {
        "party": party.name,
        "kind": str(party.kind),
        "token_id": token.token_id,
        "token": token.token,
        "note": "The token is shown once; store it safely.",
    }


@router.post(
    "/parties/{party}/tokens",
    status_code=201,
    summary="Issue a new token for a party (operator or the party itself)",
)
async def rotate(party: str, svc: Svc, who: Who, body: Rotation) -> dict[str, Any]:
    token = await call(p.rotate_token, svc, who, party, body.revoke_others)
    return {
        "party": party,
        "token_id": token.token_id,
        "token": token.token,
        "note": "The token is shown once; store it safely.",
    }


@router.get("/parties/{party}/tokens", summary="A party's tokens (ids and dates only)")
async def tokens(party: str, svc: Svc, who: Who) -> list[dict[str, Any]]:
    return await call(p.tokens, svc, who, party)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
async def revoke(token_id: str, svc: Svc, who: Who) -> Response:
    await call(p.revoke_token, svc, who, token_id)
    return Response(status_code=204)


@router.post(
    "/parties/{party}/keys",
    status_code=201,
    summary="Register an Ed25519 public key that signs for a party",
)
async def add_key(party: str, svc: Svc, who: Who, body: NewKey) -> dict[str, Any]:
    return await call(p.add_key, svc, who, party, body.public_key)


@router.get("/parties/{party}/keys", summary="A party's current public keys")
async def keys(party: str, svc: Svc, who: Who) -> list[dict[str, str]]:
    return await call(p.keys, svc, party)


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke a public key")
async def revoke_key(key_id: str, svc: Svc, who: Who) -> Response:
    await call(p.revoke_key, svc, who, key_id)
    return Response(status_code=204)

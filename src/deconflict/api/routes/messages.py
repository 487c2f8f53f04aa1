"""/v1/messages: the hotline between parties and the operator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from deconflict.api.deps import JSON_BODY, SIGNATURE_HEADER, body, call, caller, service
from deconflict.service import Principal, Service
from deconflict.service import messages as m
from deconflict.service.declarations import read_json

router = APIRouter(prefix="/v1", tags=["messages"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]


@router.post(
    "/messages",
    status_code=201,
    openapi_extra=JSON_BODY,
    summary='Send a message: {"to", "text", "refs", "ack_within_s"}',
)
async def send(
    svc: Svc,
    who: Who,
    raw: Annotated[bytes, Depends(body)],
    signature: str | None = SIGNATURE_HEADER,
) -> dict[str, Any]:
    doc = read_json(svc, raw, "message")
    out: dict[str, Any] = await call(m.send, svc, who, doc, signature=signature)
    return out


@router.get("/messages", summary="Messages you sent or received")
async def listing(
    svc: Svc,
    who: Who,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    return await call(m.listing, svc, who, after, limit)


@router.post("/messages/{message_id}/acknowledge", summary="Acknowledge a message to you")
async def acknowledge(message_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await call(m.acknowledge, svc, who, message_id)

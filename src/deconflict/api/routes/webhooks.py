"""/v1/webhooks: register, list and delete your webhooks; read their delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from deconflict.api.deps import call, caller, service
from deconflict.errors import Forbidden
from deconflict.service import Principal, Service
from deconflict.service import webhooks as w

router = APIRouter(prefix="/v1", tags=["webhooks"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, description="http(s) URL that receives your events.")


@router.post(
    "/webhooks",
    status_code=201,
    summary="Register a webhook; the answer holds its secret, shown once",
)
async def register(svc: Svc, who: Who, body: NewWebhook) -> dict[str, Any]:
    if who.is_operator:  # it could not list nor see the deliveries of one it registered
        raise Forbidden("The operator has no webhooks; parties register their own.")
    return await call(w.register, svc, who, body.url)


@router.get("/webhooks", summary="Your webhooks")
async def listing(svc: Svc, who: Who) -> list[dict[str, Any]]:
    return await call(w.listing, svc, who)


@router.delete("/webhooks/{hook_id}", status_code=204, summary="Delete a webhook")
async def delete(hook_id: str, svc: Svc, who: Who) -> Response:
    await call(w.delete, svc, who, hook_id)
    return Response(status_code=204)


@router.get("/webhooks/{hook_id}/deliveries", summary="The delivery log of a webhook")
async def deliveries(hook_id: str, svc: Svc, who: Who) -> list[dict[str, Any]]:
    return await call(w.deliveries, svc, who, hook_id)

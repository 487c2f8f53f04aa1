"""/v1/events: a party's own events, as a JSON page (for polling over bad links), as
Server-Sent Events, or over a WebSocket. Each event has a sequence number; a client that
reconnects with `Last-Event-ID` (or `after`) gets what it missed, nothing twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import StreamingResponse

from deconflict.api.deps import MAX_INT, call, caller, service
from deconflict.errors import DeconflictError, InvalidRequest
from deconflict.service import Principal, Service
from deconflict.service.auth import authenticate
from deconflict.store.repository import EventRow

router = APIRouter(prefix="/v1", tags=["events"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]

BATCH = 500
KEEPALIVE_S = 15.0


def end_streams(app: FastAPI) -> None:
    """End every open stream now: the server is stopping. Call it in the event loop when a
    stop begins, before the server waits for connections to close; otherwise a stream,
    kept open by its keep-alives, would hold the stop forever. Clients reconnect with
    Last-Event-ID to the next server and miss nothing."""
    app.state.closing.set()
    svc: Service = app.state.service
    svc.hub.publish()


def _events(svc: Service, party: str, after: int, limit: int) -> list[EventRow]:
    with svc.read() as repo:
        return repo.events_after(party, after, limit)


def _still_valid(svc: Service, authorization: str | None, party: str) -> bool:
    try:
        with svc.read() as repo:
            return authenticate(repo, authorization).party == party
    except DeconflictError:
        return False


def _start(after: int | None, last_event_id: str | None) -> int:
    if last_event_id is not None:
        text = last_event_id.strip()
        if not (text.isascii() and text.isdigit() and int(text) <= MAX_INT):
            raise InvalidRequest("Last-Event-ID must be the number of the last event received.")
        return int(text)
    return after or 0


def _last_id(value: object) -> int:
    """A WebSocket client's `last_event_id`: a whole number the store can hold."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ValueError("last_event_id is not a sequence number")
    return value


@router.get("/events", summary="Your events after a sequence number, as one JSON page")
async def page(
    svc: Svc,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=BATCH)] = 100,
) -> dict[str, Any]:
    rows = await call(_events, svc, who.party, after, limit)
    return {
        "events": [{"id": r.seq, **json.loads(r.payload)} for r in rows],
        "last": rows[-1].seq if rows else after,
    }


@router.get(
    "/events/stream",
    summary="Your events as Server-Sent Events (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    svc: Svc,
    who: Who,
    after: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    start = _start(after, last_event_id)
    authorization = request.headers.get("authorization")

    async def gen() -> AsyncIterator[str]:
        sub = svc.hub.subscribe()
        last = start
        try:
            yield "retry: 2000\n\n"
            while not request.app.state.closing.is_set():
                rows = await call(_events, svc, who.party, last, BATCH)
                for r in rows:
                    yield f"id: {r.seq}\nevent: {r.type}\ndata: {r.payload}\n\n"
                    last = r.seq
                if len(rows) == BATCH:
                    continue
                if not await sub.wait(KEEPALIVE_S):
                    if not await call(_still_valid, svc, authorization, who.party):
                        break
                    yield ": keep-alive\n\n"
        finally:
            sub.close()

    return StreamingResponse(
        gen(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.websocket("/events/ws")
async def websocket(ws: WebSocket) -> None:
    """Send `{"token": ..., "last_event_id": N}` first (or authenticate with the
    Authorization header); then receive `{"id", "type", ...}` objects."""
    svc: Service = ws.app.state.service
    await ws.accept()
    authorization = ws.headers.get("authorization")
    last = 0
    try:
        if authorization is None:
            first = json.loads(await asyncio.wait_for(ws.receive_text(), 10))
            if not isinstance(first, dict):
                raise InvalidRequest("Send a JSON object first.")
            token = first.get("token")
            authorization = f"Bearer {token}" if isinstance(token, str) else None
            last = _last_id(first.get("last_event_id"))
        elif "last_event_id" in ws.query_params:
            last = _last_id(ws.query_params["last_event_id"])
        with svc.read() as repo:
            who = authenticate(repo, authorization)
    except (DeconflictError, ValueError, TimeoutError, WebSocketDisconnect) as exc:
        message = (
            exc.message
            if isinstance(exc, DeconflictError)
            else ('Send {"token": ..., "last_event_id": N} as the first message.')
        )
        try:
            await ws.send_json(
                {"error": {"code": "unauthorized", "message": message, "details": None}}
            )
            await ws.close(code=1008)
        except Exception:
            pass
        return
    sub = svc.hub.subscribe()
    try:
        while not ws.app.state.closing.is_set():
            rows = await call(_events, svc, who.party, last, BATCH)
            for r in rows:
                await ws.send_text(json.dumps({"id": r.seq, **json.loads(r.payload)}))
                last = r.seq
            if len(rows) == BATCH:
                continue
            if not await sub.wait(KEEPALIVE_S):
                if not await call(_still_valid, svc, authorization, who.party):
                    await ws.close(code=1008)
                    return
                await ws.send_text('{"type":"keep-alive"}')
        await ws.close(code=1012)  # service restart: reconnect with last_event_id
    except WebSocketDisconnect:
        pass
    finally:
        sub.close()

"""/v1/declarations: submit, check a draft, read, amend, withdraw, activate, complete, share; answer
(acknowledge or object); conflicts of a declaration; the inbox."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from deconflict.api.deps import (
    AUTHORIZATION_HEADER,
    GEOJSON_BODY,
    IDEMPOTENCY_HEADER,
    IF_MATCH_HEADER,
    JSON_BODY,
    MAX_VERSION,
    SIGNATURE_HEADER,
    _service,
    body,
    call,
    caller,
    fast_caller,
    service,
)
from deconflict.service import Principal, Service, preview
from deconflict.service import declarations as d

router = APIRouter(prefix="/v1", tags=["declarations"])
Who = Annotated[Principal, Depends(caller)]
Svc = Annotated[Service, Depends(service)]
Body = Annotated[bytes, Depends(body)]


class Sharing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shared: bool = Field(description="True: every party sees this declaration whole.")


@router.post(
    "/declarations",
    status_code=201,
    openapi_extra=GEOJSON_BODY,
    summary="Submit declarations (a Feature or FeatureCollection), all or nothing",
)
async def submit(
    svc: Svc,
    who: Who,
    raw: Body,
    response: Response,
    signature: str | None = SIGNATURE_HEADER,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
) -> dict[str, Any]:
    status, out = await call(
        d.submit, svc, who, raw, signature=signature, idempotency_key=idempotency_key
    )
    response.status_code = status
    return out


@router.post(
    "/declarations/check",
    openapi_extra=GEOJSON_BODY,
    summary="Check a draft (Feature or FeatureCollection) before submitting it: its "
    "conflicts with the plans you may already see; nothing is stored",
)
async def check(svc: Svc, who: Who, raw: Body) -> dict[str, Any]:
    return await call(preview.check, svc, who, raw)


@router.get("/declarations", summary="List your declarations, or others' you may see")
async def listing(
    svc: Svc,
    who: Who,
    scope: Literal["own", "visible"] = "own",
    after: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    return await call(d.listing, svc, who, scope=scope, after=after, limit=limit)


@router.get("/inbox", summary="What awaits your answer: notifications and messages")
async def inbox(svc: Svc, who: Who) -> dict[str, Any]:
    return await call(d.inbox, svc, who)


# Action routes come before the catch-all read route: ids may hold '/'.
def _action(name: str, summary: str) -> None:
    async def act(
        party: str,
        decl_id: str,
        svc: Svc,
        who: Who,
        raw: Body,
        if_match: str | None = IF_MATCH_HEADER,
        signature: str | None = SIGNATURE_HEADER,
        idempotency_key: str | None = IDEMPOTENCY_HEADER,
    ) -> dict[str, Any]:
        status, out = await call(
            d.owner_action,
            svc,
            who,
            party,
            decl_id,
            name,
            raw,
            if_match=if_match,
            signature=signature,
            idempotency_key=idempotency_key,
        )
        return out

    act.__name__ = name
    router.post(
        f"/declarations/{{party}}/{{decl_id:path}}/{name}", summary=summary, openapi_extra=JSON_BODY
    )(act)


def _answer(name: str, summary: str) -> None:
    async def answer(
        party: str,
        decl_id: str,
        svc: Svc,
        who: Who,
        raw: Body,
        signature: str | None = SIGNATURE_HEADER,
        idempotency_key: str | None = IDEMPOTENCY_HEADER,
    ) -> dict[str, Any]:
        status, out = await call(
            d.respond,
            svc,
            who,
            party,
            decl_id,
            name,
            raw,
            signature=signature,
            idempotency_key=idempotency_key,
        )
        return out

    answer.__name__ = name
    router.post(
        f"/declarations/{{party}}/{{decl_id:path}}/{name}", summary=summary, openapi_extra=JSON_BODY
    )(answer)


_action("withdraw", "Withdraw your declaration (If-Match required)")
_action("activate", "Say your declaration is under way (If-Match required)")
_action("complete", "Say your declaration is over (If-Match required)")
_answer(
    "acknowledge",
    "Acknowledge a declaration you were notified of: receipt confirmed, no objection. "
    "Never a permission or a safety guarantee.",
)
_answer("object", "Object to a declaration you were notified of, with a reason")


@router.post(
    "/declarations/{party}/{decl_id:path}/share",
    summary="Share your declaration whole with every party, or stop",
)
async def share(party: str, decl_id: str, svc: Svc, who: Who, sharing: Sharing) -> dict[str, Any]:
    status, out = await call(d.share, svc, who, party, decl_id, sharing.shared)
    return out


@router.get(
    "/declarations/{party}/{decl_id:path}/conflicts",
    summary="Conflicts of a declaration that you may know of",
)
async def conflicts(party: str, decl_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    return await call(d.conflicts_of, svc, who, party, decl_id)


@router.get(
    "/declarations/{party}/{decl_id:path}/versions/{version}",
    summary="One earlier version of your declaration",
)
async def version(
    party: str,
    decl_id: str,
    version: Annotated[int, Path(ge=1, le=MAX_VERSION)],
    svc: Svc,
    who: Who,
) -> dict[str, Any]:
    out, _ = await call(d.read, svc, who, party, decl_id, version)
    return out


@router.get(
    "/declarations/{party}/{decl_id:path}", summary="A declaration, as much of it as you may see"
)
async def read(
    party: str,
    decl_id: str,
    svc: Svc,
    request: Request,
    authorization: str | None = AUTHORIZATION_HEADER,
) -> Response:
    return await _read(svc, request, party, decl_id, authorization)


async def _read(
    svc: Service, request: Request, party: str, decl_id: str, authorization: str | None
) -> Response:
    # The hot read path: the caller is authenticated on the same read snapshot as the read
    # (not by the `caller` dependency, a thread-pool hop of its own), and the answer comes
    # as the JSON bytes to send, without FastAPI's validation and encoding.
    if svc.db.sqlite:
        # On SQLite, on the event loop itself: a read in WAL mode never waits for the
        # writer and takes ~0.2 ms, less than the hop to a thread and back costs.
        who, answer, etag = d.read_answer(svc, authorization, party, decl_id)
    else:
        who, answer, etag = await call(d.read_answer, svc, authorization, party, decl_id)
    request.state.party = who.party  # for the access log, as `caller` does
    return Response(answer, media_type="application/json", headers={"ETag": etag} if etag else None)


fast = APIRouter(prefix="/v1", include_in_schema=False)
"""Included before every other router: GET /v1/declarations/{party}/{id} for an id without
'/' (no other route has a path of that shape), found at the first try instead of after
the ~30 routes FastAPI tries before `read` (~0.1 ms a request), and without the
per-parameter validation of FastAPI's dependency solving. Ids holding '/' go to `read`."""


@fast.post("/declarations")
async def submit_fast(request: Request) -> Response:
    """POST /v1/declarations (documented by `submit`): found at the first try, without
    per-parameter dependency solving, and on SQLite with the caller authenticated on the
    event loop (a WAL read, ~0.2 ms, less than a thread-pool hop): one hop per submission
    instead of two. The same checks in the same order (token, body limit, then the
    submission) and the same answer bytes (tests/api/test_submit_route.py)."""
    svc, who = await fast_caller(request)
    headers = request.headers
    raw = await body(request)
    status, out = await call(
        d.submit,
        svc,
        who,
        raw,
        signature=headers.get("deconflict-signature"),
        idempotency_key=headers.get("idempotency-key"),
    )
    return JSONResponse(out, status_code=status)


@fast.get("/declarations/{party}/{decl_id}")
async def read_fast(request: Request) -> Response:
    params = request.path_params
    return await _read(
        _service(request),
        request,
        params["party"],
        params["decl_id"],
        request.headers.get("authorization"),
    )


@router.put(
    "/declarations/{party}/{decl_id:path}",
    openapi_extra=GEOJSON_BODY,
    summary="Amend your declaration: a new version, cleared afresh (If-Match required)",
)
async def amend(
    party: str,
    decl_id: str,
    svc: Svc,
    who: Who,
    raw: Body,
    response: Response,
    if_match: str | None = IF_MATCH_HEADER,
    signature: str | None = SIGNATURE_HEADER,
    idempotency_key: str | None = IDEMPOTENCY_HEADER,
) -> dict[str, Any]:
    status, out = await call(
        d.amend,
        svc,
        who,
        party,
        decl_id,
        raw,
        if_match=if_match,
        signature=signature,
        idempotency_key=idempotency_key,
    )
    response.headers["ETag"] = out["etag"]
    return out

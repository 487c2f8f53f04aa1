"""What every route needs: the service, the authenticated caller, the raw body within
its limit, and the service call run off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Header, Request
from starlette.concurrency import run_in_threadpool

from deconflict.errors import LimitExceeded
from deconflict.service import Principal, Service
from deconflict.service.auth import authenticate

T = TypeVar("T")

MAX_INT = 2**63 - 1
"""The largest whole number the store holds (SQLite INTEGER): version and sequence numbers
a caller sends are bounded by it, so a larger one is refused instead of overflowing."""
MAX_VERSION = 2**31 - 1
"""The largest declaration version number (a 32-bit INTEGER in every store)."""


def _service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


async def service(request: Request) -> Service:
    # async: FastAPI runs a plain function dependency in the thread pool, a hop (~0.1-0.2
    # ms, more under load) for what is an attribute lookup.
    return _service(request)


AUTHORIZATION_HEADER = Header(
    None, description="`Bearer <token>`: the party's (or operator's) API token."
)


def caller(request: Request, authorization: str | None = AUTHORIZATION_HEADER) -> Principal:
    svc = _service(request)
    with svc.read() as repo:
        who = authenticate(repo, authorization)
    request.state.party = who.party  # for the access log; never the token
    return who


def authenticated(svc: Service, authorization: str | None) -> Principal:
    """The caller of `authorization` (a read of the store)."""
    with svc.read() as repo:
        return authenticate(repo, authorization)


async def fast_caller(request: Request) -> tuple[Service, Principal]:
    """The service and the caller, for the routes found before every other (`fast`): on
    SQLite authenticated on the event loop (a WAL read, ~0.2 ms, less than a thread-pool
    hop), elsewhere in the thread pool."""
    svc = _service(request)
    authorization = request.headers.get("authorization")
    if svc.db.sqlite:
        who = authenticated(svc, authorization)
    else:
        who = await call(authenticated, svc, authorization)
    request.state.party = who.party  # for the access log, as `caller` does
    return svc, who


async def body(request: Request) -> bytes:
    """The request body, refused as soon as it passes max_body_bytes."""
    limit = _service(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    too_big = LimitExceeded(
        f"The request body is over the limit max_body_bytes = {limit:,} bytes; send less at a time."
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking service call in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
"""OpenAPI for routes that read a raw JSON object body themselves."""

GEOJSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A GeoJSON Feature or FeatureCollection of declarations (SPEC section 2).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Feature", "FeatureCollection"]},
                    },
                }
            },
            "application/geo+json": {"schema": {"type": "object"}},
        },
    }
}

SIGNATURE_HEADER = Header(
    None,
    alias="Deconflict-Signature",
    description="Optional: `keyid=<key id>, sig=<base64 Ed25519 signature>` over the canonical "
    "JSON of {method, path, body} (docs/api.md).",
)
IDEMPOTENCY_HEADER = Header(
    None,
    alias="Idempotency-Key",
    description="Optional: a retry with the same key and body returns the first answer.",
)
IF_MATCH_HEADER = Header(
    None, alias="If-Match", description="The ETag of the version this change replaces."
)

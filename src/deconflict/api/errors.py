"""One JSON shape for every refusal, `{"error": {"code", "message", "details"}}`, with
the status the error class carries. Unexpected failures say so in one sentence and keep
the traceback in the server log, never in the answer."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from deconflict.errors import DeconflictError

log = logging.getLogger("deconflict.api")

HTTP_WORDS = {
    400: ("bad_request", "The request cannot be read; check its form."),
    401: ("unauthorized", "This call needs a valid API token."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "Nothing is at this address; check the path against /openapi.json."),
    405: ("method_not_allowed", "This address does not take that method; see /openapi.json."),
    406: ("not_acceptable", "This address cannot answer in the format asked for."),
    413: ("limit_exceeded", "The request body is too large."),
    415: ("unsupported_media_type", "Send JSON (Content-Type: application/json)."),
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def sentence(message: str) -> str:
    """`message` as one sentence: one line, ending with a full stop. Some messages are
    built from rules written as CLI lines (an invalid declaration's problems), which end
    without one."""
    one = " ".join(message.split())
    return one if one.endswith(".") else one + "."


def _field(loc: Any) -> str:
    # A name the caller sent (an unknown body key) is echoed cut short: it is not ours.
    parts = [str(p)[:40] for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "the request"


def install(app: FastAPI) -> None:
    @app.exception_handler(DeconflictError)
    async def _ours(_: Request, exc: DeconflictError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, sentence(exc.message), exc.details), exc.http_status
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "is not valid"}
        where = _field(first.get("loc", ()))
        msg = str(first.get("msg", "is not valid")).rstrip(".")
        details = [
            {"field": _field(e.get("loc", ())), "problem": str(e.get("msg"))} for e in errors[:20]
        ]
        return JSONResponse(
            error_body("invalid_request", sentence(f"{where}: {msg}; see /openapi.json."), details),
            422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = HTTP_WORDS.get(exc.status_code, ("error", "The request was refused."))
        if isinstance(exc.detail, str) and exc.detail and exc.status_code not in HTTP_WORDS:
            message = sentence(exc.detail)
        return JSONResponse(
            error_body(code, message), exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _store_gone(request: Request, exc: Exception) -> JSONResponse:
        # The database went away (a restart, the network) or stayed locked too long: the
        # transaction was rolled back, so the caller may simply try again.
        log.warning(
            "store unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(getattr(exc, "orig", exc)).__name__,
        )
        return JSONResponse(
            error_body(
                "store_unavailable",
                "The store cannot be reached right now and nothing was changed; try again "
                "in a few seconds.",
            ),
            503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body(
                "internal_error",
                "The service failed on this request and changed nothing; the operator "
                "can find the cause in the service log.",
            ),
            500,
        )

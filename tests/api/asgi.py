"""One HTTP request through an ASGI app in process, without a server: which route the app
picked, and its answer. For tests that compare two apps byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI


def ask(
    app: FastAPI, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[str, int, list[tuple[bytes, bytes]], bytes]:
    """The name of the route `app` picks for the request ("" when something answered
    before routing), and its answer: status, headers (sorted) and body."""
    raw_headers = [(b"host", b"test"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    route = str(getattr(scope.get("route"), "name", ""))
    return route, start["status"], sorted(start["headers"]), answer

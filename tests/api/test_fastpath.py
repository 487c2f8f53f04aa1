"""GET /v1/declarations/{party}/{id} answered before FastAPI (api/fastpath.py): the same
status, headers and bytes as the app gives without it, for every kind of caller and path;
what it does not answer plainly (refusals, other paths, other methods) is left to the app."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from api.asgi import ask
from deconflict.api import app as app_module
from deconflict.api.app import create_app
from deconflict.export.times import format_time
from deconflict.service import OPERATOR_PRINCIPAL, Service
from deconflict.service import declarations as decl_service
from deconflict.service import parties as party_service
from deconflict.service.auth import Principal
from deconflict.store.database import Database


def call(
    app: FastAPI, path: str, token: str | None, method: str = "GET"
) -> tuple[int, list[tuple[bytes, bytes]], bytes, str]:
    """Status, headers, body and the route the app picked ("" when none did)."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    route, status, sent, body = ask(app, method, path, headers=headers)
    return status, sent, body, route


def movement(party: str, decl_id: str, lat: float) -> bytes:
    start_s = time.time() + 3 * 86400.0
    return json.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[40.0, lat], [40.05, lat]]},
            "properties": {
                "id": decl_id,
                "party": party,
                "kind": "movement",
                "times": [format_time(start_s), format_time(start_s + 1800)],
            },
        }
    ).encode()


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A store where beta's b1 conflicts with alpha's m1 (alpha was notified and
    acknowledged), alpha's m2 with nobody; the app, and the app without the fast path."""
    svc = Service(Database(str(tmp_path / "f.sqlite")))
    tokens: dict[str, str] = {"operator": party_service.operator_token(svc).token}
    who: dict[str, Principal] = {}
    for name in ("alpha", "beta", "gamma"):
        _, issued = party_service.add_party(svc, OPERATOR_PRINCIPAL, name, "force")
        tokens[name] = issued.token
        who[name] = Principal(name, issued.token_id)
    decl_service.submit(svc, who["alpha"], movement("alpha", "m1", 36.0))
    decl_service.submit(svc, who["alpha"], movement("alpha", "m2", 30.0))
    decl_service.submit(svc, who["beta"], movement("beta", "b1", 36.0))
    decl_service.respond(svc, who["alpha"], "beta", "b1", "acknowledge", b"{}")
    fast = create_app(svc, workers=False)
    monkeypatch.setattr(app_module, "FastReads", lambda app, svc: app)
    plain = create_app(svc, workers=False)
    try:
        yield fast, plain, tokens
    finally:
        svc.close()


PATHS = [
    "/v1/declarations/alpha/m1",
    "/v1/declarations/alpha/m2",
    "/v1/declarations/beta/b1",
    "/v1/declarations/alpha/nope",
    "/v1/declarations/alpha/m%201",
    "/v1/declarations/nobody/m1",
    "/v1/declarations/alpha/conflicts",
    "/v1/declarations/alpha/m1/conflicts",
    "/v1/declarations/alpha/m1/versions/1",
    "/v1/declarations/alpha/m1/",
    "/v1/declarations",
]


def test_every_caller_gets_what_the_app_would_give(apps: Any) -> None:
    fast, plain, tokens = apps
    callers = [*tokens.values(), None, "not-a-token"]
    answered_here = 0
    for path in PATHS:
        for token in callers:
            status, headers, body, route = call(fast, path, token)
            assert (status, headers, body) == call(plain, path, token)[:3], (path, token)
            answered_here += route == ""
            if route == "":  # answered before the app: a plain successful read only
                assert status == 200 and path.count("/") == 4, (path, token)
    # alpha's own two, beta's b1 by beta, m1 by beta (notified), the operator's reads
    assert answered_here >= 5


def test_a_read_is_answered_before_the_app_with_its_etag(apps: Any) -> None:
    fast, _, tokens = apps
    status, headers, body, route = call(fast, "/v1/declarations/beta/b1", tokens["beta"])
    assert status == 200 and route == ""
    doc = json.loads(body)
    assert dict(headers)[b"etag"].decode() == doc["etag"]
    assert dict(headers)[b"content-length"] == str(len(body)).encode()
    assert doc["conflicts"] and doc["clearance"]["responses"][0]["party"] == "alpha"


def test_refusals_and_other_methods_are_left_to_the_app(apps: Any) -> None:
    fast, _, tokens = apps
    status, _, body, route = call(fast, "/v1/declarations/alpha/m1", None)
    assert status == 401 and route == "read_fast"
    assert json.loads(body)["error"]["code"] == "unauthorized"
    status, _, _, route = call(fast, "/v1/declarations/alpha/nope", tokens["alpha"])
    assert status == 404 and route == "read_fast"
    status, _, _, route = call(fast, "/v1/declarations/alpha/m1", tokens["alpha"], "HEAD")
    assert route != ""
    status, _, _, route = call(fast, "/v1/declarations/alpha/m1", tokens["alpha"], "DELETE")
    assert route != ""

"""The hot read, GET /v1/declarations/{party}/{id}: found by its own route before every
other for ids without '/', by the documented route for the others, with the same answers,
errors and ETag either way."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI

from api.asgi import ask
from api.server import Server
from deconflict.api.app import create_app
from deconflict.api.routes import declarations as routes
from deconflict.export.times import format_time
from deconflict.service import Service
from deconflict.store.database import Database


def route_of(app: FastAPI, path: str) -> str:
    """The name of the route `app` picks for GET `path` (the request is then answered, here
    refused for want of a token)."""
    return ask(app, "GET", path)[0]


SHAPE = [
    "/v1/declarations/alpha/m1",
    "/v1/declarations/alpha/conflicts",
    "/v1/declarations/alpha/versions",
    "/v1/declarations/check/x",
    "/v1/declarations/alpha/withdraw",
    "/v1/declarations/alpha/m%201",
]
"""Paths of the fast route's shape, some of them close to other routes'."""
OTHERS = {
    "/v1/declarations/alpha/m1/conflicts": "conflicts",
    "/v1/declarations/alpha/a/b": "read",
    "/v1/declarations/alpha/m1/versions/1": "version",
    "/v1/declarations/alpha/m1/": "read",
    "/v1/declarations": "listing",
}


def test_the_fast_route_takes_only_what_read_would_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast route may come first only because no other route answers a GET of its
    shape: with it, those paths go to it; without it, to `read`; the rest as before."""
    svc = Service(Database(str(tmp_path / "r.sqlite")))
    try:
        app = create_app(svc, workers=False)
        monkeypatch.setattr(routes, "fast", APIRouter())
        without = create_app(svc, workers=False)
        for path in SHAPE:
            assert route_of(app, path) == "read_fast", path
            assert route_of(without, path) == "read", path
        for path, name in OTHERS.items():
            assert route_of(app, path) == name, path
            assert route_of(without, path) == name, path
    finally:
        svc.close()


def feature(party: str, decl_id: str) -> dict[str, object]:
    start_s = time.time() + 3 * 86400.0
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[40.0, 36.0], [40.05, 36.0]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [format_time(start_s), format_time(start_s + 1800)],
        },
    }


def test_reads_with_and_without_slash_in_the_id_answer_alike(server: Server) -> None:
    alpha = server.add_party("alpha", "force")
    beta = server.add_party("beta", "force")
    for decl_id in ("m1", "north/m1"):
        r = alpha.post("/v1/declarations", json=feature("alpha", decl_id))
        assert r.status_code == 201, r.text
    answers = {}
    for decl_id in ("m1", "north/m1"):
        r = alpha.get(f"/v1/declarations/alpha/{decl_id}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        doc = r.json()
        assert r.headers["etag"] == doc["etag"]
        assert doc["declaration"] == {"party": "alpha", "id": decl_id, "version": 1}
        assert doc["features"][0]["properties"]["id"] == decl_id
        answers[decl_id] = doc
        refused = beta.get(f"/v1/declarations/alpha/{decl_id}")
        assert refused.status_code == 404 and "etag" not in refused.headers
        assert set(refused.json()) == {"error"}
        anonymous = server.client(None).get(f"/v1/declarations/alpha/{decl_id}")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
    assert {k for k in answers["m1"]} == {k for k in answers["north/m1"]}
    conflicts = alpha.get("/v1/declarations/alpha/north/m1/conflicts")
    assert conflicts.status_code == 200 and conflicts.json()["declaration"]["id"] == "north/m1"

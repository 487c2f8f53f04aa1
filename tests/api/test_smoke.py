"""The server starts, serves its schema and refuses calls without a token."""

from __future__ import annotations

import httpx

from api.server import Server


def test_openapi_is_served_and_versioned(server: Server) -> None:
    r = httpx.get(server.url + "/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/v1/declarations" in paths
    assert all(p.startswith("/v1/") or p == "/health" for p in paths)


def test_call_without_token_is_refused_with_one_sentence(server: Server) -> None:
    r = httpx.get(server.url + "/v1/me")
    assert r.status_code == 401
    body = r.json()
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"].endswith(".")


def test_party_registered_by_operator_can_call(server: Server) -> None:
    us = server.add_party("US-CJTF", "force")
    me = us.get("/v1/me").json()
    assert me["party"] == "US-CJTF" and me["kind"] == "force"

"""POST /v1/declarations through its fast route (api/routes/declarations.py, `fast`): found
before every other route, and answering exactly as the documented route `submit` does,
byte for byte, for submissions, retries, bad bodies, bad signatures and refused callers."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from api.asgi import ask
from deconflict.api.app import create_app
from deconflict.api.routes import declarations as routes
from deconflict.export.times import format_time
from deconflict.record import SigningKey
from deconflict.service import Service
from deconflict.service import parties as party_service
from deconflict.service.auth import OPERATOR_PRINCIPAL, Principal, signed_message
from deconflict.store.database import Database

T0 = 1_800_000_000.0
START = T0 + 3 * 86400.0
SEED = bytes(range(32))


class Side:
    """One store and app: with the fast route or without it."""

    def __init__(self, path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.svc = Service(Database(str(path)), clock=lambda: T0)
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(routes, "fast", APIRouter())
            self.app = create_app(self.svc, workers=False)
        operator = party_service.operator_token(self.svc, "tests")
        self.tokens = {"operator": operator.token}
        for name, kind in (("alpha", "force"), ("beta", "force"), ("hope", "humanitarian")):
            _, issued = party_service.add_party(self.svc, OPERATOR_PRINCIPAL, name, kind)
            self.tokens[name] = issued.token
        raw = SigningKey.from_raw(SEED).public_key.to_raw()
        self.key_id = str(
            party_service.add_key(
                self.svc, Principal("alpha", "t"), "alpha", base64.b64encode(raw).decode()
            )["key_id"]
        )

    def post(self, who: str | None, body: bytes, extra: dict[str, str] | None = None) -> Any:
        headers = {"content-type": "application/geo+json", **(extra or {})}
        if who is not None:
            headers["authorization"] = f"Bearer {self.tokens.get(who, who)}"
        return ask(self.app, "POST", "/v1/declarations", body, headers)


def movement(party: str, decl_id: str, lon: float, start_s: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon, 36.0], [lon + 0.05, 36.0]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [format_time(start_s), format_time(start_s + 1800)],
        },
    }


def signature(key_id: str, doc: Any) -> str:
    sig = SigningKey.from_raw(SEED).sign(signed_message("POST", "/v1/declarations", doc))
    return f"keyid={key_id}, sig={base64.urlsafe_b64encode(sig).decode().rstrip('=')}"


def requests(key_id: str) -> list[tuple[str | None, bytes, dict[str, str]]]:
    signed = movement("alpha", "signed", 40.02, START)
    out: list[tuple[str | None, bytes, dict[str, str]]] = [
        ("alpha", json.dumps(movement("alpha", "patrol", 40.0, START)).encode(), {}),
        ("beta", json.dumps(movement("beta", "convoy", 40.0, START + 60)).encode(), {}),
        ("hope", json.dumps(movement("hope", "relief", 40.01, START)).encode(), {}),
        ("alpha", json.dumps(signed).encode(), {"deconflict-signature": signature(key_id, signed)}),
        (
            "alpha",
            json.dumps(movement("alpha", "bad-sig", 40.0, START)).encode(),
            {"deconflict-signature": signature(key_id, signed)},
        ),
        (
            "beta",
            json.dumps(movement("beta", "k1", 41.0, START)).encode(),
            {"idempotency-key": "k"},
        ),
        (
            "beta",
            json.dumps(movement("beta", "k1", 41.0, START)).encode(),
            {"idempotency-key": "k"},
        ),
        (
            "beta",
            json.dumps(movement("beta", "k2", 41.0, START)).encode(),
            {"idempotency-key": "k"},
        ),
        ("alpha", json.dumps(movement("alpha", "patrol", 40.0, START)).encode(), {}),
        ("alpha", json.dumps(movement("beta", "not-mine", 40.0, START)).encode(), {}),
        ("alpha", b"{", {}),
        ("alpha", b"[]", {}),
        ("alpha", json.dumps(movement("alpha", "late", 40.0, T0 + 60)).encode(), {}),
        (None, json.dumps(movement("alpha", "x", 40.0, START)).encode(), {}),
        ("not-a-token", json.dumps(movement("alpha", "x", 40.0, START)).encode(), {}),
        ("operator", json.dumps(movement("alpha", "x", 40.0, START)).encode(), {}),
        ("alpha", b"{" + b" " * 10, {"content-length": str(10**9)}),
        (None, b"{" + b" " * 10, {"content-length": str(10**9)}),
    ]
    return out


def test_the_fast_route_answers_as_the_documented_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = Side(tmp_path / "fast.sqlite", True, monkeypatch)
    slow = Side(tmp_path / "slow.sqlite", False, monkeypatch)
    try:
        assert fast.key_id == slow.key_id
        statuses = set()
        for who, body, extra in requests(fast.key_id):
            a = fast.post(who, body, extra)
            b = slow.post(who, body, extra)
            assert a[0] == "submit_fast" and b[0] == "submit"
            assert a[1:] == b[1:], (who, body[:80], a[1:], b[1:])
            statuses.add(a[1])
        assert {201, 401, 403, 409, 422} <= statuses
        for path, method in (("/v1/declarations", "GET"), ("/v1/declarations/", "POST")):
            assert ask(fast.app, method, path)[1:] == ask(slow.app, method, path)[1:]
        assert ask(fast.app, "POST", "/v1/declarations/check")[0] == "check"
    finally:
        fast.svc.close()
        slow.svc.close()


def test_the_documented_route_stays_in_the_schema(tmp_path: Path) -> None:
    svc = Service(Database(str(tmp_path / "s.sqlite")))
    try:
        schema = create_app(svc, workers=False).openapi()
        assert "requestBody" in schema["paths"]["/v1/declarations"]["post"]
    finally:
        svc.close()

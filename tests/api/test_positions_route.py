"""POST /v1/positions through its fast route (api/routes/positions.py, `fast`): found
before every other route, and answering exactly as the documented route `positions` does,
byte for byte, for good batches, bad ones and refused callers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from api.asgi import ask
from deconflict.api.app import create_app
from deconflict.api.routes import positions as routes
from deconflict.service import Service
from deconflict.service import parties as party_service
from deconflict.service.auth import OPERATOR_PRINCIPAL
from deconflict.store.database import Database


class Side:
    """One store and app: with the fast route or without it."""

    def __init__(self, path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.svc = Service(Database(str(path)))
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(routes, "fast", APIRouter())
            self.app = create_app(self.svc, workers=False)
        operator = party_service.operator_token(self.svc, "tests")
        self.tokens = {"operator": operator.token}
        for name in ("alpha", "beta"):
            _, issued = party_service.add_party(self.svc, OPERATOR_PRINCIPAL, name, "force")
            self.tokens[name] = issued.token

    def post(self, who: str | None, body: bytes, extra: dict[str, str] | None = None) -> Any:
        headers = {"content-type": "application/json", **(extra or {})}
        if who is not None:
            headers["authorization"] = f"Bearer {self.tokens.get(who, who)}"
        return ask(self.app, "POST", "/v1/positions", body, headers)


def batches(t0: float) -> list[tuple[str | None, bytes, dict[str, str]]]:
    """Good batches (two parties' units closing on each other: alerts) and bad requests."""

    def reports(unit: str, lat: float, speed: float | None, k: int, **more: Any) -> bytes:
        doc = [
            {
                "unit": unit,
                "time": t0 + 20 * k + 5 * i + 0.25,
                "lat": lat,
                "lon": 20.0 + 0.0001 * (5 * i + k),
                **({} if speed is None else {"speed_mps": speed, "course_deg": 90}),
                **more,
            }
            for i in range(4)
        ]
        return json.dumps(doc).encode()

    out: list[tuple[str | None, bytes, dict[str, str]]] = []
    for k in range(3):
        out.append(("alpha", reports("a1", 45.0, 2.0, k), {}))
        out.append(("beta", reports("b1", 45.0005, None, k, movement="m 1"), {}))
    out += [
        ("alpha", b"[", {}),
        ("alpha", b'{"unit": "a1"}', {}),
        ("alpha", b'[{"unit": "a1", "time": 1, "lat": 95, "lon": 0}]', {}),
        ("alpha", b'[{"unit": "a1", "time": "2026-01-01T00:00:00Z", "lat": 1, "lon": 0}]', {}),
        ("alpha", reports("a2", 45.0, 3.0, 0, party="beta"), {}),
        ("alpha", b"[]", {}),
        (None, reports("a3", 45.0, 3.0, 0), {}),
        ("not-a-token", reports("a3", 45.0, 3.0, 0), {}),
        ("operator", reports("a3", 45.0, 3.0, 0), {}),
        ("alpha", b"[" + b" " * 10, {"content-length": str(10**9)}),
        (None, b"[" + b" " * 10, {"content-length": str(10**9)}),
    ]
    return out


def test_the_fast_route_answers_as_the_documented_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = Side(tmp_path / "fast.sqlite", True, monkeypatch)
    slow = Side(tmp_path / "slow.sqlite", False, monkeypatch)
    try:
        t0 = float(int(time.time()) - 120)
        alerts = 0
        for who, body, extra in batches(t0):
            a = fast.post(who, body, extra)
            b = slow.post(who, body, extra)
            assert a[0] == "positions_fast" and b[0] == "positions"
            assert a[1:] == b[1:], (who, body[:80])
            if a[1] == 200:
                alerts += len(json.loads(a[3])["alerts"])
        assert alerts > 0  # the batches raised alerts, answered alike
        for path, method in (("/v1/positions", "GET"), ("/v1/positions/", "POST")):
            assert ask(fast.app, method, path)[1:] == ask(slow.app, method, path)[1:]
        assert ask(fast.app, "POST", "/v1/owntracks")[0] == "owntracks"
    finally:
        fast.svc.close()
        slow.svc.close()


def test_the_documented_route_stays_in_the_schema(tmp_path: Path) -> None:
    svc = Service(Database(str(tmp_path / "s.sqlite")))
    try:
        schema = create_app(svc, workers=False).openapi()
        assert "requestBody" in schema["paths"]["/v1/positions"]["post"]
    finally:
        svc.close()

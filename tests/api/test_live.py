"""The live path through a real server (SPEC section 5, docs/live.md): positions over HTTP
(batch, OwnTracks, OsmAnd), alerts to every party involved and to no one else, sealed in the
record, hostile inputs refused whole with one sentence and nothing logged."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.server import Party, Server

LAT0, LON0 = 35.0, 36.0
"""Where alpha's eastbound and beta's northbound routes cross."""
M_LAT = 111_000.0
M_LON = 111_320.0 * math.cos(math.radians(LAT0))
SPEED = 20.0
HALF_M = 1500.0
"""Each unit starts this far from the crossing, SPEED m/s towards it."""


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.text}"
    return r.json()


def refused(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    message = err["message"]
    assert isinstance(message, str) and message.endswith(".") and "\n" not in message, err
    assert "Traceback" not in message
    return str(message)


def movement(party: str, decl_id: str, a: tuple[float, float], b: tuple[float, float], t0: float):  # type: ignore[no-untyped-def]
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(a), list(b)]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [iso(t0), iso(t0 + 2 * HALF_M / SPEED)],
        },
    }


def alpha_at(t: float, t0: float) -> dict[str, Any]:
    x = -HALF_M + SPEED * (t - t0)
    return {
        "unit": "tank-1",
        "time": t,
        "lat": LAT0,
        "lon": LON0 + x / M_LON,
        "speed_mps": SPEED,
        "course_deg": 90.0,
        "movement": "alpha-east",
    }


def beta_at(t: float, t0: float) -> dict[str, Any]:
    y = -HALF_M + SPEED * (t - t0)
    return {
        "unit": "patrol-7",
        "time": t,
        "lat": LAT0 + y / M_LAT,
        "lon": LON0,
        "speed_mps": SPEED,
        "course_deg": 0.0,
        "movement": "beta-north",
    }


@dataclass
class World:
    server: Server
    alpha: Party
    beta: Party
    gamma: Party
    t0: float


@pytest.fixture(scope="module")
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    s = Server(tmp_path_factory.mktemp("live") / "deconflict.sqlite", store=store).start()
    try:
        alpha, beta, gamma = (s.add_party(n, "force") for n in ("alpha", "beta", "gamma"))
        # The plans start 60 s ago, so reports until now sit on them.
        t0 = math.floor(time.time()) - 60
        west = (LON0 - HALF_M / M_LON, LAT0)
        east = (LON0 + HALF_M / M_LON, LAT0)
        south = (LON0, LAT0 - HALF_M / M_LAT)
        north = (LON0, LAT0 + HALF_M / M_LAT)
        ok(
            alpha.post("/v1/declarations", json=movement("alpha", "alpha-east", west, east, t0)),
            201,
        )
        sub = ok(
            beta.post("/v1/declarations", json=movement("beta", "beta-north", south, north, t0)),
            201,
        )["declarations"][0]
        if sub["clearance"]["state"] != "cleared":  # they cross: alpha is asked
            ok(alpha.post("/v1/declarations/beta/beta-north/acknowledge", json={}))
        for p, d in ((alpha, "alpha/alpha-east"), (beta, "beta/beta-north")):
            assert ok(p.get(f"/v1/declarations/{d}"))["clearance"]["state"] == "cleared"
        yield World(s, alpha, beta, gamma, t0)
    finally:
        s.close()


def events_of(p: Party, kind: str = "alert") -> list[dict[str, Any]]:
    page = ok(p.get("/v1/events", params={"limit": 500}))
    return [e for e in page["events"] if e["type"] == kind]


def log_size(w: World) -> int:
    return int(ok(w.alpha.get("/v1/log/entries", params={"limit": 1}))["size"])


def wait_for(p: Party, pred: Any, timeout_s: float = 8.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = events_of(p)
        if pred(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_crossing_units_raise_predicted_proximity_then_proximity_for_both(world: World) -> None:
    w = world
    answers = []
    for k in range(0, 30):  # 2 s apart: 40 m closer to the crossing each
        t = w.t0 + 2 * k
        answers.append(ok(w.alpha.post("/v1/positions", json=[alpha_at(t, w.t0)])))
        answers.append(ok(w.beta.post("/v1/positions", json=[beta_at(t, w.t0)])))
    assert all(a["accepted"] == 1 for a in answers)
    counters = answers[-1]["counters"]
    assert counters["accepted"] >= 60 and counters["invalid"] == 0, counters

    def both_kinds(evs: list[dict[str, Any]]) -> bool:
        return {"predicted_proximity", "proximity"} <= {e["alert"]["type"] for e in evs}

    for p in (w.alpha, w.beta):
        got = wait_for(p, both_kinds)
        kinds = [(e["alert"]["type"], e["alert"]["event"]) for e in got]
        assert ("predicted_proximity", "open") in kinds and ("proximity", "open") in kinds, kinds
        first = [e["alert"]["type"] for e in got if e["alert"]["event"] == "open"]
        assert first.index("predicted_proximity") < first.index("proximity")
        prox = next(e["alert"] for e in got if e["alert"]["type"] == "proximity")
        assert set(prox) == {
            "alert",
            "event",
            "type",
            "time",
            "units",
            "parties",
            "distance_m",
            "cpa_time",
            "cpa_distance_m",
            "declarations",
        }
        assert prox["parties"] == ["alpha", "beta"]
        assert prox["units"] == ["alpha/tank-1", "beta/patrol-7"]
        assert prox["distance_m"] < 1000
        pred = next(e["alert"] for e in got if e["alert"]["type"] == "predicted_proximity")
        assert pred["cpa_time"] is not None and pred["cpa_distance_m"] is not None
    assert events_of(w.gamma) == []  # a third party sees none
    assert ok(w.gamma.get("/v1/alerts")) == {"alerts": []}

    # Open alerts, and each involved party acknowledges; others cannot.
    mine = ok(w.alpha.get("/v1/alerts"))["alerts"]
    prox_id = next(a["alert"] for a in mine if a["type"] == "proximity")
    assert ok(w.beta.get("/v1/alerts"))["alerts"]
    refused(w.gamma.post(f"/v1/alerts/{prox_id}/acknowledge"), 404)
    refused(w.gamma.post("/v1/alerts/nothing/acknowledge"), 404)
    ok(w.alpha.post(f"/v1/alerts/{prox_id}/acknowledge"))
    doc = ok(w.beta.post(f"/v1/alerts/{prox_id}/acknowledge"))
    assert set(doc["acknowledged_by"]) == {"alpha", "beta"}
    assert [e for e in events_of(w.alpha, "alert.acknowledged") if e["by"] == "beta"]

    # The record is sealed: the public log names neither units nor alerts.
    text = w.gamma.get("/v1/log/entries", params={"limit": 5000}).text
    for secret in ("tank-1", "patrol-7", prox_id, "proximity", '"positions"'):
        assert secret not in text, secret


def test_a_party_cannot_report_for_another(world: World) -> None:
    w = world
    before = log_size(w)
    item = {**alpha_at(w.t0 + 100, w.t0), "party": "beta"}
    msg = refused(w.alpha.post("/v1/positions", json=[alpha_at(w.t0 + 100, w.t0), item]), 422)
    assert "report 1" in msg and "party" in msg
    # Naming its own party is fine; the party always comes from the token.
    fine = {**alpha_at(w.t0 + 101, w.t0), "party": "alpha", "unit": "scout"}
    assert ok(w.alpha.post("/v1/positions", json=[fine]))["accepted"] == 1
    assert log_size(w) == before + 1


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b'{"unit": "a"}', 422, "array"),
        (b"[1]", 422, "report 0"),
        (b'[{"unit": "a", "time": 1700000000, "lat": "35", "lon": 36}]', 422, "lat"),
        (b'[{"unit": "a", "time": 1700000000, "lat": NaN, "lon": 36}]', 422, "lat"),
        (b'[{"unit": "a", "time": 1700000000, "lat": 35, "lon": 36, "x": 1}]', 422, "'x'"),
        (b'[{"unit": "a", "time": 1700000000, "lat": 95, "lon": 36}]', 422, "lat"),
        (b'[{"unit": true, "time": 1700000000, "lat": 35, "lon": 36}]', 422, "unit"),
        (b"[{", 422, "JSON"),
    ],
)
def test_malformed_batches_are_refused_whole(
    world: World, body: bytes, status: int, words: str
) -> None:
    before = log_size(world)
    r = world.alpha.post(
        "/v1/positions", content=body, headers={"content-type": "application/json"}
    )
    assert words in refused(r, status)
    assert log_size(world) == before


def test_oversized_batches_are_refused(world: World) -> None:
    w = world
    before = log_size(w)
    one = alpha_at(w.t0, w.t0)
    many = json.dumps([{**one, "time": w.t0 + i * 0.001} for i in range(10_001)])
    assert "max_batch_reports" in refused(
        w.alpha.post("/v1/positions", content=many, headers={"content-type": "application/json"}),
        413,
    )
    big = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    r = w.alpha.post("/v1/positions", content=big, headers={"content-type": "application/json"})
    assert "max_body_bytes" in refused(r, 413)
    assert log_size(w) == before


def test_osmand_query_with_the_token_as_a_parameter(world: World) -> None:
    w = world
    query = {
        "id": "phone-3",
        "lat": "35.3",
        "lon": "36.3",
        "timestamp": str(int(time.time()) - 5),
        "speed": "3",
        "token": w.gamma.token,
    }
    anon = httpx.Client(base_url=w.server.url, timeout=10)
    with anon:
        assert ok(anon.get("/v1/osmand", params=query)) == {"accepted": 1}
        assert ok(anon.post("/v1/osmand", params={**query, "timestamp": str(int(time.time()))}))
        bad = {**query, "token": "dcf_x_y"}
        assert refused(anon.get("/v1/osmand", params=bad), 401)
        no_lat = {k: v for k, v in query.items() if k != "lat"}
        assert "lat" in refused(anon.get("/v1/osmand", params=no_lat), 422)
    assert w.gamma.token not in w.server.log()  # never logged


def test_owntracks_http_mode(world: World) -> None:
    w = world
    msg = {"_type": "location", "lat": 35.4, "lon": 36.4, "tst": int(time.time()), "tid": "jd"}
    headers = {"X-Limit-U": "jane", "X-Limit-D": "phone"}
    assert ok(w.gamma.post("/v1/owntracks", json=msg, headers=headers)) == []
    assert ok(w.gamma.post("/v1/owntracks", json={"_type": "transition"})) == []
    r = w.gamma.post("/v1/owntracks", json={**msg, "lat": "x"})
    assert "lat" in refused(r, 422)


def test_the_record_stays_auditable(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Last in the module: stops the server and verifies its store."""
    w = world
    ok(w.alpha.post("/v1/positions", json=[alpha_at(w.t0 + 120, w.t0)]))
    w.server.stop()
    w.server.verify_record()
    from deconflict.service import Service
    from deconflict.service.record import read_entries
    from deconflict.store.database import Database

    svc = Service(Database(w.server.db_arg))
    try:
        kinds = [e["type"] for e in read_entries(svc)]
    finally:
        svc.close()
    assert "positions" in kinds and "alert" in kinds and "alert.acknowledged" in kinds

"""Live alerts live in the store (docs/live.md, "In the service"), through real servers on
SQLite and PostgreSQL: an open alert and its acknowledgements survive a restart, the
restarted monitor continues the alert it finds again under its id and closes the one
whose units separated; two service processes on one store answer for the same alerts."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.server import Party, Server

LAT0, LON0 = 35.0, 36.0
M_LAT = 111_000.0
GAP_M = 300.0
"""Each alpha unit stands this far south of its beta partner: in proximity (H 1 km)."""
PAIRS = {1: (LAT0, LON0), 2: (LAT0 + 0.5, LON0)}
"""Pair k: alpha/a<k> and beta/b<k>, 55 km from the other pair."""


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.text}"
    return r.json()


def at(unit: str, t: float, lat: float, lon: float) -> dict[str, Any]:
    return {"unit": unit, "time": t, "lat": lat, "lon": lon}


def close_pair(k: int, party: str, t: float) -> dict[str, Any]:
    lat, lon = PAIRS[k]
    if party == "alpha":
        return at(f"a{k}", t, lat, lon)
    return at(f"b{k}", t, lat + GAP_M / M_LAT, lon)


def units_of(k: int) -> list[str]:
    return [f"alpha/a{k}", f"beta/b{k}"]


@dataclass
class World:
    server: Server
    alpha: Party
    beta: Party


@pytest.fixture
def world(store: str, tmp_path: Path) -> Iterator[World]:
    s = Server(tmp_path / "deconflict.sqlite", store=store).start()
    try:
        yield World(s, s.add_party("alpha", "force"), s.add_party("beta", "force"))
    finally:
        s.close()


def report_pairs(w: World, t: float, pairs: dict[int, str]) -> None:
    """Both parties report the units of each pair, `close` or `apart` (alpha's unit 5 km
    south of where it stood), at t and t + 1 (the second completes the first tick)."""
    for dt in (0.0, 1.0):
        for p in (w.alpha, w.beta):
            batch = []
            for k, how in pairs.items():
                r = close_pair(k, p.name, t + dt)
                if how == "apart" and p.name == "alpha":
                    r["lat"] -= 5000.0 / M_LAT
                batch.append(r)
            ok(p.post("/v1/positions", json=batch))


def open_alerts(p: Party) -> list[dict[str, Any]]:
    return list(ok(p.get("/v1/alerts"))["alerts"])


def alert_events(p: Party) -> list[dict[str, Any]]:
    page = ok(p.get("/v1/events", params={"limit": 500}))
    return [e["alert"] for e in page["events"] if e["type"] == "alert"]


def until(what: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = what()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def raise_two_proximity_alerts(w: World) -> tuple[float, dict[int, str]]:
    """Both pairs close now: one proximity alert each, open. (report time, pair -> id)"""
    t = float(math.floor(time.time()))
    report_pairs(w, t, {1: "close", 2: "close"})

    def both() -> list[dict[str, Any]]:
        found = [a for a in open_alerts(w.alpha) if a["type"] == "proximity"]
        return found if len(found) == 2 else []

    found = until(both)
    assert found, open_alerts(w.alpha)
    ids = {k: next(a["alert"] for a in found if a["units"] == units_of(k)) for k in PAIRS}
    return t, ids


def test_open_alerts_and_acknowledgements_survive_a_restart(world: World) -> None:
    w = world
    t, ids = raise_two_proximity_alerts(w)
    ok(w.alpha.post(f"/v1/alerts/{ids[1]}/acknowledge"))

    w.server.stop()  # SIGTERM
    w.server.start()
    mine = {a["alert"]: a for a in open_alerts(w.alpha)}
    assert set(mine) == set(ids.values())
    assert all(a["open"] for a in mine.values())
    assert set(mine[ids[1]]["acknowledged_by"]) == {"alpha"}
    assert mine[ids[2]]["acknowledged_by"] == {}
    assert {a["alert"] for a in open_alerts(w.beta)} == set(ids.values())

    # Acknowledging after the restart: idempotent, only the parties of the alert.
    doc = ok(w.beta.post(f"/v1/alerts/{ids[1]}/acknowledge"))
    assert set(doc["acknowledged_by"]) == {"alpha", "beta"} and doc["open"] is True
    again = ok(w.beta.post(f"/v1/alerts/{ids[1]}/acknowledge"))
    assert again["acknowledged_by"] == doc["acknowledged_by"]
    gamma = w.server.add_party("gamma", "force")
    r = gamma.post(f"/v1/alerts/{ids[1]}/acknowledge")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        "No alert involving you has that id; see GET /v1/alerts."
    )
    by_beta = [
        e
        for e in ok(w.alpha.get("/v1/events", params={"limit": 500}))["events"]
        if e["type"] == "alert.acknowledged"
    ]
    assert [(e["alert"], e["by"]) for e in by_beta] == [(ids[1], "beta")]
    before = len(alert_events(w.alpha))

    # Reports after the restart, past the hysteresis of the last event: pair 1 still
    # close, pair 2 apart. The first alert continues under its id; the second closes.
    time.sleep(max(0.0, t + 31.5 - time.time()))
    t2 = float(math.floor(time.time()))
    report_pairs(w, t2, {1: "close", 2: "apart"})

    def settled() -> list[dict[str, Any]]:
        new = alert_events(w.alpha)[before:]
        done = any(e["alert"] == ids[2] and e["event"] == "close" for e in new)
        return new if done and any(e["alert"] == ids[1] for e in new) else []

    new = until(settled)
    assert new, alert_events(w.alpha)[before:]
    pair_1 = [e for e in new if e["units"] == units_of(1)]
    assert {e["alert"] for e in pair_1} == {ids[1]}  # no second alert for the pair
    assert [e["event"] for e in pair_1][0] == "update"
    pair_2 = [e for e in new if e["units"] == units_of(2)]
    assert [(e["alert"], e["event"]) for e in pair_2] == [(ids[2], "close")]
    still = open_alerts(w.alpha)
    assert [a["alert"] for a in still] == [ids[1]]
    assert set(still[0]["acknowledged_by"]) == {"alpha", "beta"}


def test_two_service_processes_on_one_store_answer_for_the_same_alerts(world: World) -> None:
    w = world
    _, ids = raise_two_proximity_alerts(w)
    first = w.server
    second = first.beside(".b").start()
    try:
        alpha2 = Party("alpha", w.alpha.token, second.client(w.alpha.token))
        beta2 = Party("beta", w.beta.token, second.client(w.beta.token))
        assert open_alerts(alpha2) == open_alerts(w.alpha)
        assert {a["alert"] for a in open_alerts(beta2)} == set(ids.values())

        # An alert raised through the first process, acknowledged through the second.
        doc = ok(beta2.post(f"/v1/alerts/{ids[2]}/acknowledge"))
        assert set(doc["acknowledged_by"]) == {"beta"}
        seen = {a["alert"]: a for a in open_alerts(w.alpha)}
        assert set(seen[ids[2]]["acknowledged_by"]) == {"beta"}
        # And the other way round.
        ok(w.alpha.post(f"/v1/alerts/{ids[2]}/acknowledge"))
        seen = {a["alert"]: a for a in open_alerts(beta2)}
        assert set(seen[ids[2]]["acknowledged_by"]) == {"alpha", "beta"}
        assert seen[ids[1]]["acknowledged_by"] == {}
    finally:
        second.close()

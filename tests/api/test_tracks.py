"""GET /v1/tracks through a real server, on both stores (SPEC section 4 need-to-know applied
to SPEC section 5 positions): a party sees its own units' recent reports, and another
party's unit only while an open alert that involves it names the unit, from the alert's
opening on; a unit in no alert of the caller's, the operator and observers see nothing.

Report times are in the past (T, 200 s ago) so that a whole alert, opened, held and closed
after the hysteresis, runs in report time without waiting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from api.server import Party, Server

LAT, LON = 30.0, 30.0
NEAR = 0.0027
"""b1 starts 300 m north of a1: in proximity (H = 1 km)."""
FAR_B2 = (31.23456, 31.65432)
"""b2: b's unit in no alert; its digits must never reach a."""
FAR_C1 = (29.13579, 29.97531)
"""c1: the third party's unit; in no alert."""


@dataclass
class World:
    server: Server
    a: Party
    b: Party
    c: Party
    obs: Party
    operator: Party
    t0: float


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def report(unit: str, t: float, lat: float, lon: float, **kw: Any) -> dict[str, Any]:
    return {"unit": unit, "time": t, "lat": lat, "lon": lon, **kw}


def units(p: Party, **params: Any) -> dict[str, list[dict[str, Any]]]:
    doc = ok(p.get("/v1/tracks", params=params))
    assert set(doc) == {"tracks", "since", "until", "truncated"}, doc
    return {f"{t['party']}/{t['unit']}": t["reports"] for t in doc["tracks"]}


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def open_alerts(p: Party) -> list[dict[str, Any]]:
    return list(ok(p.get("/v1/alerts"))["alerts"])


def wait_for(check: Any, what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    path = tmp_path_factory.mktemp("tracks") / "deconflict.sqlite"
    s = Server(path, store=store).start()
    try:
        parties = {n: s.add_party(n, k) for n, k in (("a", "force"), ("b", "force"))}
        parties["c"] = s.add_party("c", "humanitarian")
        parties["obs"] = s.add_party("obs", "observer")
        ok(parties["b"].put("/v1/me/observers", json={"observers": ["obs"]}))
        yield World(s, **parties, operator=s.operator, t0=time.time() - 200)
    finally:
        s.close()


def test_spec_4_tracks_show_another_partys_unit_only_while_an_alert_names_it(
    world: World,
) -> None:
    a, b, c, t0 = world.a, world.b, world.c, world.t0
    # Before any alert: each party sees its own units only.
    ok(a.post("/v1/positions", json=[report("a1", t0 - 10, LAT, LON, movement=None)]))
    ok(b.post("/v1/positions", json=[report("b2", t0 - 10, *FAR_B2)]))
    ok(c.post("/v1/positions", json=[report("c1", t0 - 10, *FAR_C1)]))
    assert set(units(a)) == {"a/a1"}
    assert set(units(b)) == {"b/b2"}
    assert set(units(c)) == {"c/c1"}
    for nobody in (world.obs, world.operator):  # an observer b named sees no unit of b's
        assert units(nobody) == {}

    # a1 and b1 300 m apart, once a second: a proximity alert of a and b.
    for k in range(5):
        ok(a.post("/v1/positions", json=[report("a1", t0 + k, LAT, LON)]))
        ok(b.post("/v1/positions", json=[report("b1", t0 + k, LAT + NEAR, LON)]))
    alert = wait_for(
        lambda: [x for x in open_alerts(a) if x["type"] == "proximity"], "the proximity alert"
    )[0]
    assert set(alert["units"]) == {"a/a1", "b/b1"}

    seen_by_a = units(a)
    assert set(seen_by_a) == {"a/a1", "b/b1"}, seen_by_a  # never b2
    assert set(units(b)) == {"b/b1", "b/b2", "a/a1"}
    assert set(units(c)) == {"c/c1"}  # in no alert: sees neither
    for nobody in (world.obs, world.operator):
        assert units(nobody) == {}
    # Own reports are all there; of b1 only from the alert's opening on (at least its
    # position when the alert opened), never a movement id of b's.
    assert len(seen_by_a["a/a1"]) == 6
    theirs = seen_by_a["b/b1"]
    assert 1 <= len(theirs) <= 5 and all(r["movement"] is None for r in theirs)
    assert theirs[-1]["lat"] == pytest.approx(LAT + NEAR)
    assert when(theirs[-1]["time"]) == pytest.approx(t0 + 4, abs=1e-3)
    assert set(theirs[0]) == {"time", "lat", "lon", "alt_m", "speed_mps", "course_deg", "movement"}
    text = repr(ok(a.get("/v1/tracks")))
    assert "31.23456" not in text and "29.13579" not in text

    # b1 drives off north at 40 m/s; once out of proximity for the hysteresis, the alert
    # closes and a sees b1 no more (nor b a1).
    for k in range(5, 80, 5):
        lat = LAT + NEAR + 0.00036 * (k - 4)
        ok(a.post("/v1/positions", json=[report("a1", t0 + k, LAT, LON)]))
        ok(b.post("/v1/positions", json=[report("b1", t0 + k, lat, LON)]))
    wait_for(lambda: not open_alerts(a), "the alerts to close")
    assert set(units(a)) == {"a/a1"}
    assert set(units(b)) == {"b/b1", "b/b2"}


def test_since_bounds_and_refusals(world: World) -> None:
    # A party of its own: the other test sees exactly the units it expects, whichever
    # runs first.
    a, t0 = world.server.add_party("d", "force"), world.t0
    many = [report("a9", t0 - 300 + k, 28.0, 28.0 + k * 1e-4) for k in range(150)]
    ok(a.post("/v1/positions", json=many))
    reports = units(a)["d/a9"]
    assert len(reports) == 120  # the unit's latest 120
    assert when(reports[0]["time"]) == pytest.approx(t0 - 300 + 30, abs=1e-3)
    assert when(reports[-1]["time"]) == pytest.approx(t0 - 300 + 149, abs=1e-3)
    times = [when(r["time"]) for r in reports]
    assert times == sorted(times)
    # Accepted before `since`: not shown; a `since` earlier than the store keeps is moved up.
    assert units(a, since=time.time() + 60) == {}
    assert "d/a9" in units(a, since=str(time.time() - 120))
    doc = ok(a.get("/v1/tracks", params={"since": "2000-01-01T00:00:00Z"}))
    assert when(doc["since"]) >= time.time() - 601 and when(doc["until"]) <= time.time() + 1
    for bad in ("yesterday", "nan", "2026-01-01T00:00:00"):
        r = a.get("/v1/tracks", params={"since": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_request", r.text
    assert world.server.client(None).get("/v1/tracks").status_code == 401
    assert "d/a9" not in units(world.a)

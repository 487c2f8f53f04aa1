"""The live monitor's plans (service/live.py `_sync_plans`): kept up to date from the
store's declaration changes, they always equal what reading every live declaration gives;
with no unit reported, declaration changes do not rebuild the monitor once built, and the
first batch is checked against the plans of that moment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from deconflict.export.times import format_time
from deconflict.model.positions import PositionReport
from deconflict.service import OPERATOR_PRINCIPAL, Service
from deconflict.service import declarations as decl_service
from deconflict.service import parties as party_service
from deconflict.service.auth import Principal
from deconflict.service.live import CLEARED_STATES, LiveMonitor, live
from deconflict.store.database import Database

START_S = time.time() + 3 * 86400.0


def movement(party: str, decl_id: str, lat: float, lon: float = 40.0) -> bytes:
    return json.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.05, lat]]},
            "properties": {
                "id": decl_id,
                "party": party,
                "kind": "movement",
                "times": [format_time(START_S), format_time(START_S + 1800)],
            },
        }
    ).encode()


def site(party: str, decl_id: str, lat: float) -> bytes:
    return json.dumps(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [41.0, lat]},
            "properties": {"id": decl_id, "party": party, "kind": "site", "radius_m": 200},
        }
    ).encode()


def by_full_read(svc: Service) -> dict[tuple[str, str], tuple[int, str]]:
    with svc.read() as repo:
        return {
            (r.party, r.id): (r.version, r.state)
            for r in repo.live()
            if r.kind != "movement" or r.state in CLEARED_STATES
        }


def plans(monitor: LiveMonitor) -> dict[tuple[str, str], tuple[int, str]]:
    return {k: (r.version, r.state) for k, r in monitor._plans.items()}


def etag(svc: Service, who: Principal, party: str, decl_id: str) -> Any:
    return decl_service.read(svc, who, party, decl_id)[1]


def test_plans_follow_every_change_and_the_monitor_waits_for_reports(tmp_path: Path) -> None:
    clock = [START_S - 3 * 86400.0]
    svc = Service(Database(str(tmp_path / "p.sqlite")), clock=lambda: clock[0])
    try:
        who = {}
        for name in ("alpha", "beta"):
            _, issued = party_service.add_party(svc, OPERATOR_PRINCIPAL, name, "force")
            who[name] = Principal(name, issued.token_id)
        monitor = live(svc)
        assert isinstance(monitor, LiveMonitor)
        a, b = who["alpha"], who["beta"]
        steps: list[Any] = [
            lambda: decl_service.submit(svc, a, movement("alpha", "m1", 36.0)),  # cleared
            lambda: decl_service.submit(svc, b, movement("beta", "b1", 36.0)),  # notifies
            lambda: decl_service.submit(svc, a, site("alpha", "s1", 30.0)),
            lambda: decl_service.respond(svc, a, "beta", "b1", "acknowledge", b"{}"),
            lambda: decl_service.amend(
                svc,
                a,
                "alpha",
                "m1",
                movement("alpha", "m1", 20.0),
                if_match=etag(svc, a, "alpha", "m1"),
            ),
            lambda: decl_service.owner_action(
                svc, a, "alpha", "s1", "withdraw", b"{}", if_match=etag(svc, a, "alpha", "s1")
            ),
            lambda: decl_service.submit(svc, b, movement("beta", "b2", 10.0)),
        ]
        seen = []
        built = None
        for step in steps:
            step()
            monitor.advance()
            assert plans(monitor) == by_full_read(svc)
            seen.append(dict(plans(monitor)))
            # Built once (the first time), then not rebuilt with no unit to watch.
            assert monitor._monitor is not None
            assert built is None or monitor._monitor is built, "rebuilt with no unit to watch"
            built = monitor._monitor
        # What the steps did, so the comparison above compared something.
        assert ("alpha", "m1") in seen[0] and ("beta", "b1") not in seen[1]
        assert ("beta", "b1") in seen[3] and seen[4][("alpha", "m1")][0] == 2
        assert ("alpha", "s1") in seen[4] and ("alpha", "s1") not in seen[5]

        # The first batch builds the monitor on the plans of that moment: a unit of alpha
        # reporting under m1 where version 2 runs is no deviation, and one far from it is.
        at = START_S + 600
        clock[0] = at + 61
        near = PositionReport("u1", "alpha", at, 40.02, 20.0, movement="m1")
        monitor.ingest(a, [near])
        assert monitor._monitor is not None and monitor._monitor is not built
        watched = {(d.party, d.id) for d in monitor._monitor.declarations}
        assert watched == set(by_full_read(svc))
        away = PositionReport("u1", "alpha", at + 60, 40.02, 21.0, movement="m1")
        answer = monitor.ingest(a, [away])
        kinds = {x["type"] for x in answer["alerts"]}
        assert "deviation" in kinds, answer

        # A change while units are watched rebuilds at once.
        decl_service.submit(svc, a, movement("alpha", "m3", 5.0))
        monitor.advance()
        assert plans(monitor) == by_full_read(svc)
        assert ("alpha", "m3") in {(d.party, d.id) for d in monitor._monitor.declarations}
    finally:
        svc.close()

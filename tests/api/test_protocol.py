"""The clearance protocol end to end over real HTTP (SPEC section 4, docs/api.md).

The parties of the bundled Al-Malikiyah (two forces) and Aleppo (forces and humanitarian
agencies) scenarios, registered with the kinds their files give, submit their plans to one
real `deconflict serve`; the conflicts the service finds are checked against the engine run
directly on the same declarations in the same order (the known answer), then the parties
acknowledge, object, amend, withdraw, sign, retry and talk on the hotline. A second server
with second-scale deadlines lets the scheduler escalate and expire things while we wait.
One race the scheduler would always win over HTTP is played in process, on a hand clock.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.server import Party, Server, scenario_plans
from deconflict.engine import Engine
from deconflict.export.conflicts import conflict_to_wire
from deconflict.export.times import format_time
from deconflict.ingest import parse_declarations
from deconflict.model.declarations import Declaration, DeclarationKey
from deconflict.service import Principal, Service, declarations
from deconflict.service.auth import OPERATOR_PRINCIPAL, signed_message
from deconflict.service.parties import add_party
from deconflict.store.database import Database

T = TypeVar("T")

SCENARIOS = ("al-malikiyah-2020", "aleppo-2016")
ORDER = {
    # Who submits first matters: a declaration's conflicts are found against what is
    # already declared, and only its own clearance notifies anyone.
    "al-malikiyah-2020": ("US-CJTF", "RU-FORCES"),
    "aleppo-2016": ("SAA", "SY-RU-AIR", "OPP", "OCHA-HNS", "SARC-UN", "UN-ESCORT"),
}
DAY_S = 86400.0


# -- helpers ---------------------------------------------------------------------------


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def refused(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    err: dict[str, Any] = r.json()["error"]
    if code is not None:
        assert err["code"] == code, err
    assert err["message"].endswith("."), err
    return err


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 10.0) -> T:
    """Poll `probe` until it returns something truthy, at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.2)


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def wire(conflicts: Any) -> list[str]:
    """Conflicts (engine objects or wire dicts) as sorted canonical strings."""
    out = [c if isinstance(c, dict) else conflict_to_wire(c) for c in conflicts]
    return sorted(json.dumps(c, sort_keys=True) for c in out)


def assert_same_conflicts(got: list[str], want: list[str]) -> None:
    """The same conflicts, times within 2 ms, distances within 1 cm, places within 1e-6°."""

    def norm(items: list[str]) -> list[dict[str, Any]]:
        out = [json.loads(c) for c in items]
        return sorted(out, key=lambda c: (c["party_a"], c["a"], c["party_b"], c["b"], c["start"]))

    g, w = norm(got), norm(want)
    assert [(c["a"], c["b"]) for c in g] == [(c["a"], c["b"]) for c in w]
    for x, y in zip(g, w, strict=True):
        assert abs(epoch(x["start"]) - epoch(y["start"])) <= 0.002, (x, y)
        assert abs(epoch(x["end"]) - epoch(y["end"])) <= 0.002, (x, y)
        assert abs(x["min_distance_m"] - y["min_distance_m"]) <= 0.01, (x, y)
        assert all(abs(u - v) <= 1e-6 for u, v in zip(x["at"], y["at"], strict=True)), (x, y)


def events(p: Party, kind: str | None = None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = ok(p.get("/v1/events", params={"limit": 500}))["events"]
    return [e for e in got if kind is None or e["type"] == kind]


def inbox_keys(p: Party) -> set[tuple[str, str, int]]:
    items = ok(p.get("/v1/inbox"))["clearance"]
    return {
        (i["declaration"]["party"], i["declaration"]["id"], i["declaration"]["version"])
        for i in items
    }


def path_of(party: str, decl_id: str) -> str:
    return f"/v1/declarations/{party}/{decl_id}"


def movement(
    party: str,
    decl_id: str,
    lon: float,
    lat: float,
    start_s: float,
    duration_s: float = 1800.0,
    **props: Any,
) -> dict[str, Any]:
    """A short ground movement eastwards from (lon, lat): ~4.5 km in `duration_s`."""
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.05, lat]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [format_time(start_s), format_time(start_s + duration_s)],
            **props,
        },
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def ack_means_no_permission(text: str) -> None:
    """The API's own words: acknowledgement is receipt without objection, not approval."""
    low = text.lower()
    assert "receipt" in low and "no objection" in low, text
    assert "never grants permission" in low and "safety" in low, text


# -- the scenario world ------------------------------------------------------------------


@dataclass
class World:
    """One server on which both scenarios were submitted, and what was seen right after."""

    server: Server
    parties: dict[str, Party]
    kinds: dict[str, str]
    start_s: float
    decls: dict[DeclarationKey, Declaration] = field(default_factory=dict)
    scenario_of: dict[DeclarationKey, str] = field(default_factory=dict)
    answers: dict[DeclarationKey, dict[str, Any]] = field(default_factory=dict)
    """The POST /v1/declarations answer for each declaration."""
    expected_at_submit: dict[DeclarationKey, list[str]] = field(default_factory=dict)
    """The engine's conflicts for each declaration against what was declared before it."""
    expected_notified: dict[DeclarationKey, dict[str, set[str]]] = field(default_factory=dict)
    """Who must be notified of each declaration, and why."""
    engine: Engine = field(default_factory=Engine)
    """Every scenario declaration, as the engine sees them (the known answer)."""
    owner_views: dict[DeclarationKey, dict[str, Any]] = field(default_factory=dict)
    """GET by the owner of each declaration once everything was submitted."""
    inboxes: dict[str, set[tuple[str, str, int]]] = field(default_factory=dict)
    """Each party's inbox once everything was submitted."""
    inbox_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def party(self, name: str) -> Party:
        return self.parties[name]

    @property
    def forces(self) -> set[str]:
        return {p for p, k in self.kinds.items() if k == "force"}


def build_world(srv: Server) -> World:
    start_s = (math.floor(time.time() / 3600) * 3600) + 5 * DAY_S
    kinds: dict[str, str] = {}
    plans: dict[str, dict[str, dict[str, Any]]] = {}
    for name in SCENARIOS:
        k, p = scenario_plans(name, start_s)
        assert set(p) == set(ORDER[name]), (name, sorted(p))
        kinds.update(k)
        plans[name] = p
    # Two forces and at least one humanitarian agency take part, as the brief wants.
    assert sum(k == "force" for k in kinds.values()) >= 2
    assert "humanitarian" in kinds.values()
    parties = {name: srv.add_party(name, kind) for name, kind in kinds.items()}
    w = World(srv, parties, kinds, start_s)
    for scenario in SCENARIOS:
        for name in ORDER[scenario]:
            fc = plans[scenario][name]
            decls = parse_declarations(fc, source=name).declarations
            for d in decls:
                w.decls[d.key] = d
                w.scenario_of[d.key] = scenario
                found = w.engine.conflicts_of(d)
                w.expected_at_submit[d.key] = wire(found)
                why: dict[str, set[str]] = {}
                for c in found:
                    other = c.party_b if (c.party_a, c.a) == (d.party, d.id) else c.party_a
                    why.setdefault(other, set()).add("conflict")
                if kinds[name] == "humanitarian":
                    for f in w.forces - {name}:
                        why.setdefault(f, set()).add("humanitarian-to-force")
                w.expected_notified[d.key] = why
            w.engine.add_many(decls)
            out = ok(parties[name].post("/v1/declarations", json=fc), 201)["declarations"]
            assert [v["declaration"]["id"] for v in out] == [d.id for d in decls]
            for d, view in zip(decls, out, strict=True):
                w.answers[d.key] = view
    for key in w.decls:
        r = parties[key.party].get(path_of(key.party, key.id))
        w.owner_views[key] = ok(r)
        assert r.headers["ETag"] == w.owner_views[key]["etag"]
    for name, party in parties.items():
        items = ok(party.get("/v1/inbox"))["clearance"]
        w.inbox_items[name] = items
        w.inboxes[name] = {
            (i["declaration"]["party"], i["declaration"]["id"], i["declaration"]["version"])
            for i in items
        }
    return w


@pytest.fixture(scope="module")
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = Server(tmp_path_factory.mktemp("protocol") / "deconflict.sqlite", store=store)
    try:
        srv.start()
        yield build_world(srv)
    finally:
        srv.close()


SHORT = """
message_ack_min_s = 1

[notice]
movement_notice_s = 60
emergency_notice_s = 30
site_notice_s = 60
zone_notice_s = 60
response_window_s = 3
response_lead_s = 0
response_floor_s = 1
active_grace_s = 2
"""
"""Second-scale deadlines, so the scheduler acts while a test waits."""


@pytest.fixture(scope="module")
def fast(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("protocol-fast") / "deconflict.sqlite", store=store, config=SHORT
    )
    try:
        yield srv.start()
    finally:
        srv.close()


# -- submission, conflicts, notifications --------------------------------------------------


def test_conflicts_found_at_submission_are_the_engines(world: World) -> None:
    for key, view in world.answers.items():
        assert wire(view["conflicts"]) == world.expected_at_submit[key], key
        assert view["declaration"]["version"] == 1
    # Once all are in, each declaration's conflicts (found from either side) are the
    # engine's, and all of them together are exactly each scenario's own conflicts.
    seen: set[str] = set()
    for key, view in world.owner_views.items():
        assert wire(view["conflicts"]) == wire(world.engine.conflicts_of(key)), key
        seen.update(wire(view["conflicts"]))
    # The all-pairs join finds interval ends by another route than the one-declaration
    # query the service uses, so it is compared to the millisecond, not to the digit.
    assert_same_conflicts(sorted(seen), wire(world.engine.all_conflicts()))
    per_scenario: list[str] = []
    for scenario in SCENARIOS:
        alone = Engine()
        alone.add_many(d for k, d in world.decls.items() if world.scenario_of[k] == scenario)
        per_scenario += wire(alone.all_conflicts())
    assert_same_conflicts(sorted(seen), sorted(per_scenario))
    # The scenarios are chosen for their conflicts: both have some.
    assert {c["party_a"] for c in map(json.loads, seen)} & {"RU-FORCES", "US-CJTF"}
    assert any(json.loads(c)["party_b"] == "SARC-UN" for c in seen)


def test_notified_parties_and_initial_states(world: World) -> None:
    for key, view in world.answers.items():
        c = view["clearance"]
        why = world.expected_notified[key]
        got = {n["party"]: set(n["reasons"]) for n in c["notified"]}
        assert got == why, key
        assert c["state"] == ("notified" if why else "cleared"), key
        history = [(h["from"], h["to"], h["by"]) for h in c["history"]]
        assert history[0] == (None, "submitted", key.party)
        assert history[1] == ("submitted", c["state"], key.party)
        assert not c["late"], key  # five days ahead: more than any minimum notice
        if why:
            ack_means_no_permission(c["acknowledgement_means"])
    # The owner is never notified of its own declarations.
    assert all(key.party not in world.expected_notified[key] for key in world.answers)


def test_notifications_reach_exactly_the_right_inboxes(world: World) -> None:
    for name in world.parties:
        expected = {(k.party, k.id, 1) for k, why in world.expected_notified.items() if name in why}
        assert world.inboxes[name] == expected, name
        for item in world.inbox_items[name]:
            key = DeclarationKey(item["declaration"]["party"], item["declaration"]["id"])
            assert set(item["reasons"]) == world.expected_notified[key][name]
            assert item["late"] is False
            assert item["deadline_s"] > time.time() + 20 * 3600  # the 24 h window
            ack_means_no_permission(item["acknowledgement_means"])
    # A humanitarian declaration reaches every force, in the other scenario too.
    hum = [k for k in world.decls if world.kinds[k.party] == "humanitarian"]
    assert hum
    for f in world.forces:
        assert {(k.party, k.id, 1) for k in hum} <= world.inboxes[f]
    for name, kind in world.kinds.items():
        if kind == "humanitarian":
            assert world.inboxes[name] == set(), name  # nobody conflicts with them first


def test_notification_events_say_what_acknowledging_means(world: World) -> None:
    us = world.party("US-CJTF")
    notes = [
        e
        for e in events(us, "notification")
        if e["declaration"]["version"] == 1
        and DeclarationKey(e["declaration"]["party"], e["declaration"]["id"]) in world.decls
    ]
    got = {(e["declaration"]["party"], e["declaration"]["id"]) for e in notes}
    assert got == {(p, i) for p, i, _ in world.inboxes["US-CJTF"]}
    for e in notes:
        ack_means_no_permission(e["acknowledgement_means"])
    mp = next(e for e in notes if e["declaration"]["id"] == "mp-patrol-0825")
    assert mp["reasons"] == ["conflict"]
    assert mp["your_conflicting_declarations"] == [
        "matv-block-0825",
        "matv-follow-0825",
        "security-zone-rmelan",
    ]
    # The owner is told of its own submission, not notified of it.
    ru = world.party("RU-FORCES")
    assert {e["declaration"]["id"] for e in events(ru, "declaration.submitted")} >= {
        "mp-patrol-0825",
        "heli-escort-0825",
        "qamishli-base",
    }
    # The OpenAPI schema says it too.
    spec = httpx.get(world.server.url + "/openapi.json").json()
    ack = spec["paths"]["/v1/declarations/{party}/{decl_id}/acknowledge"]["post"]["summary"]
    assert "never a permission" in ack.lower()


def test_notified_party_sees_the_conflicts_with_its_own(world: World) -> None:
    us = world.party("US-CJTF")
    seen = ok(us.get(path_of("RU-FORCES", "mp-patrol-0825")))
    assert seen["declaration"]["version"] == 1
    assert wire(seen["conflicts"]) == wire(
        world.engine.conflicts_of(DeclarationKey("RU-FORCES", "mp-patrol-0825"))
    )
    assert seen["clearance"]["state"] == "notified" or seen["clearance"]["state"] == "cleared"
    visible = ok(us.get("/v1/declarations", params={"scope": "visible"}))["items"]
    assert ("RU-FORCES", "mp-patrol-0825") in {
        (i["declaration"]["party"], i["declaration"]["id"]) for i in visible
    }
    # A party with no conflict and no notification learns nothing, not even existence.
    sarc = world.party("SARC-UN")
    refused(sarc.get(path_of("RU-FORCES", "mp-patrol-0825")), 404, "not_found")
    refused(sarc.get(path_of("RU-FORCES", "no-such-thing")), 404, "not_found")


# -- answers -------------------------------------------------------------------------------


def test_acknowledgement_clears_and_is_not_approval(world: World) -> None:
    ru, us = world.party("RU-FORCES"), world.party("US-CJTF")
    path = path_of("RU-FORCES", "mp-patrol-0825")
    # Only a notified party answers: the owner cannot, a stranger gets "nothing here".
    refused(ru.post(path + "/acknowledge", json={}), 403, "forbidden")
    refused(world.party("SAA").post(path + "/acknowledge", json={}), 404, "not_found")

    view = ok(us.post(path + "/acknowledge", json={"reason": "received"}))
    assert view["state"] == "cleared"
    ack_means_no_permission(view["acknowledgement_means"])
    assert view["your_answer"]["answer"] == "acknowledge"
    assert "notified" not in view and "history" not in view  # not the owner's whole view

    owner = ok(ru.get(path))["clearance"]
    assert owner["state"] == "cleared"
    assert [(r["party"], r["answer"]) for r in owner["responses"]] == [("US-CJTF", "acknowledge")]
    last = owner["history"][-1]
    assert (last["from"], last["to"], last["by"]) == ("notified", "cleared", "US-CJTF")
    assert "not a permission" in last["reason"]
    assert "acknowledgement_means" not in owner  # nothing more awaits an answer
    assert ("RU-FORCES", "mp-patrol-0825", 1) not in inbox_keys(us)
    state = [
        e for e in events(ru, "declaration.state") if e["declaration"]["id"] == "mp-patrol-0825"
    ]
    assert [(e["from"], e["to"], e["by"]) for e in state] == [("notified", "cleared", "US-CJTF")]
    # Each party answers once.
    refused(us.post(path + "/acknowledge", json={}), 409, "invalid_transition")


def test_every_notified_force_must_acknowledge_a_humanitarian_convoy(world: World) -> None:
    key = DeclarationKey("SARC-UN", "aid-convoy-1020")
    path = path_of(*key)
    notified = sorted(world.expected_notified[key])
    assert set(notified) == world.forces and len(notified) >= 3
    assert world.expected_notified[key]["SAA"] == {"conflict", "humanitarian-to-force"}
    sarc = world.party("SARC-UN")
    for i, name in enumerate(notified):
        view = ok(world.party(name).post(path + "/acknowledge", json={}))
        last = i == len(notified) - 1
        assert view["state"] == ("cleared" if last else "notified"), name
        owner = ok(sarc.get(path))["clearance"]
        answered = {n["party"] for n in owner["notified"] if n["answer"] == "acknowledge"}
        assert answered == set(notified[: i + 1])
    history = ok(sarc.get(path))["clearance"]["history"]
    assert [h["to"] for h in history] == ["submitted", "notified", "cleared"]
    assert history[-1]["by"] == notified[-1]


def test_objection_needs_a_reason_and_the_owner_sees_it(world: World) -> None:
    ru, us = world.party("RU-FORCES"), world.party("US-CJTF")
    path = path_of("RU-FORCES", "heli-escort-0825")
    refused(us.post(path + "/object", json={}), 422, "reason_required")
    refused(us.post(path + "/object", json={"reason": "   "}), 422, "reason_required")
    assert ok(ru.get(path))["clearance"]["state"] == "notified"  # a refusal writes nothing

    reason = "Escort passes over the Rmelan security zone during our block; route north."
    view = ok(us.post(path + "/object", json={"reason": reason}))
    assert view["state"] == "objected"
    assert view["your_answer"] == {
        "answer": "object",
        "reason": reason,
        "at": view["your_answer"]["at"],
    }
    owner = ok(ru.get(path))["clearance"]
    assert owner["state"] == "objected"
    assert owner["responses"][0]["party"] == "US-CJTF"
    assert owner["responses"][0]["reason"] == reason
    assert owner["history"][-1]["to"] == "objected"
    assert owner["history"][-1]["by"] == "US-CJTF"
    assert reason in owner["history"][-1]["reason"]
    said = [e for e in events(ru, "response") if e["declaration"]["id"] == "heli-escort-0825"]
    assert [(e["by"], e["answer"], e["reason"]) for e in said] == [("US-CJTF", "object", reason)]
    # An objection is on the record, not a veto: the owner may go ahead, but must say why.
    etag = ok(ru.get(path))["etag"]
    refused(ru.post(path + "/activate", json={}, headers={"If-Match": etag}), 422)
    went = ok(
        ru.post(
            path + "/activate",
            json={"reason": "rerouted north of the zone"},
            headers={"If-Match": etag},
        )
    )
    assert went["clearance"]["state"] == "active"
    done = ok(ru.post(path + "/complete", json={}, headers={"If-Match": etag}))
    assert done["clearance"]["state"] == "completed"
    # Completed is final: an amendment is refused; a new plan is a new declaration.
    refused(ru.put(path, json=ok(ru.get(path))["features"][0], headers={"If-Match": etag}), 409)


# -- amendments and withdrawal ----------------------------------------------------------------


def test_amendment_is_version_2_cleared_afresh(world: World) -> None:
    key = DeclarationKey("UN-ESCORT", "evac-castello-1020")
    un, opp = world.party("UN-ESCORT"), world.party("OPP")
    path = path_of(*key)
    r1 = un.get(path)
    v1 = ok(r1)
    etag1 = r1.headers["ETag"]
    assert v1["clearance"]["state"] == "notified"
    assert (*key, 1) in inbox_keys(opp)
    # OPP acknowledges version 1 before the amendment.
    ok(opp.post(path + "/acknowledge", json={"version": 1}))
    v1 = ok(un.get(path))

    feature = dict(v1["features"][0])
    feature["properties"] = {**feature["properties"], "time_uncertainty_s": 600}
    refused(un.put(path, json=feature), 428, "precondition_required")
    refused(
        un.put(path, json=feature, headers={"If-Match": '"1-0000000000000000"'}),
        412,
        "stale_version",
    )
    assert ok(un.get(path)) == v1  # refusals changed nothing

    once = {"If-Match": etag1, "Idempotency-Key": "amend-evac-1"}
    r2 = un.put(path, json=feature, headers=once)
    v2 = ok(r2)
    # A retry of the same amendment (say, after a timeout) is not a third version.
    retry = un.put(path, json=feature, headers=once)
    assert (retry.status_code, retry.json(), retry.headers["ETag"]) == (200, v2, v2["etag"])
    assert v2["declaration"]["version"] == 2
    assert r2.headers["ETag"] == v2["etag"] != etag1
    # Cleared afresh: new conflicts from the engine, every party notified again, nobody's
    # earlier answer carried over.
    amended = parse_declarations(feature, source="amendment").declarations[0]
    engine = Engine()
    engine.add_many(d for k, d in world.decls.items() if k != key)
    assert wire(v2["conflicts"]) == wire(engine.conflicts_of(amended))
    assert v2["conflicts"]  # still crossing the fighters' route
    c2 = v2["clearance"]
    assert c2["state"] == "notified"
    assert {n["party"]: set(n["reasons"]) for n in c2["notified"]} == world.expected_notified[key]
    assert c2["responses"] == []
    assert [h["to"] for h in c2["history"]] == ["submitted", "notified"]
    # Version 1 stays in the record, superseded.
    old = ok(un.get(path + "/versions/1"))
    assert old["declaration"]["version"] == 1
    assert old["clearance"]["state"] == "withdrawn"
    assert "superseded by version 2" in old["clearance"]["history"][-1]["reason"]
    assert [r["party"] for r in old["clearance"]["responses"]] == ["OPP"]
    assert ok(un.get(path))["versions"] == [1, 2]
    # ... and so do the observers the owner named (docs/api.md), whole; nobody else.
    observer = world.server.add_party("UN-OBSERVER", "observer")
    ok(un.put("/v1/me/observers", json={"observers": ["UN-OBSERVER"]}))
    watched = ok(observer.get(path + "/versions/1"))
    assert (watched["access"], watched["whole"]) == ("observer", True)
    assert watched["declaration"]["version"] == 1
    assert watched["clearance"]["state"] == "withdrawn"
    assert watched["features"] == v1["features"]  # the plan as it was, not the amendment
    assert ok(observer.get(path))["declaration"]["version"] == 2
    refused(opp.get(path + "/versions/1"), 404, "not_found")
    refused(observer.get(path_of("SAA", "withdraw-castello-1020") + "/versions/1"), 404)
    # The notified parties' inboxes now hold version 2 only.
    for name in world.expected_notified[key]:
        keys = inbox_keys(world.party(name))
        assert (*key, 2) in keys and (*key, 1) not in keys, name
    # An answer meant for version 1 is refused; version 2 takes answers.
    refused(opp.post(path + "/acknowledge", json={"version": 1}), 412, "stale_version")
    assert ok(opp.post(path + "/acknowledge", json={"version": 2}))["state"] == "notified"

    # A stale If-Match (version 1's ETag) now gets 412 and changes nothing.
    again = dict(feature)
    again["properties"] = {**feature["properties"], "time_uncertainty_s": 900}
    refused(un.put(path, json=again, headers={"If-Match": etag1}), 412, "stale_version")
    refused(un.post(path + "/withdraw", json={}, headers={"If-Match": etag1}), 412)
    now = un.get(path)
    assert now.headers["ETag"] == v2["etag"]
    assert now.json()["declaration"]["version"] == 2
    assert now.json()["features"][0]["properties"]["time_uncertainty_s"] == 600
    assert now.json()["versions"] == [1, 2]
    assert now.json()["clearance"]["state"] == "notified"


def test_withdraw_takes_the_conflict_away_from_the_other_party(world: World) -> None:
    saa, air = world.party("SAA"), world.party("SY-RU-AIR")
    path = path_of("SAA", "handarat-military-area")
    recon = path_of("SY-RU-AIR", "recon-orbit-1020")
    before = ok(air.get(recon + "/conflicts"))["conflicts"]
    assert any(
        c["b"] == "handarat-military-area" or c["a"] == "handarat-military-area" for c in before
    )
    r = saa.get(path)
    etag = r.headers["ETag"]
    refused(saa.post(path + "/withdraw", json={}), 428, "precondition_required")
    refused(saa.post(path + "/withdraw", json={}, headers={"If-Match": '"1-ffff"'}), 412)
    refused(air.post(path + "/withdraw", json={}, headers={"If-Match": etag}), 403)
    assert ok(saa.get(path))["clearance"]["state"] == "cleared"
    # While they conflict, the other party sees the zone (the part it needs).
    assert ok(air.get(path))["access"] == "conflict"

    once = {"If-Match": etag, "Idempotency-Key": "withdraw-handarat"}
    body = {"reason": "area handed over"}
    out = ok(saa.post(path + "/withdraw", json=body, headers=once))
    assert ok(saa.post(path + "/withdraw", json=body, headers=once)) == out  # a retry
    assert out["clearance"]["state"] == "withdrawn"
    assert out["clearance"]["history"][-1]["by"] == "SAA"
    assert out["clearance"]["history"][-1]["reason"] == "area handed over"
    assert out["conflicts"] == []
    after = ok(air.get(recon + "/conflicts"))["conflicts"]
    assert after == [c for c in before if "handarat-military-area" not in (c["a"], c["b"])]
    rest = [
        d for k, d in world.decls.items() if k != DeclarationKey("SAA", "handarat-military-area")
    ]
    engine = Engine()
    engine.add_many(rest)
    assert wire(after) == wire(engine.conflicts_of(DeclarationKey("SY-RU-AIR", "recon-orbit-1020")))
    assert ok(air.get(recon))["conflicts"] == after
    # With the conflict gone, so is the other party's need to know.
    refused(air.get(path), 404, "not_found")
    state = [
        e
        for e in events(saa, "declaration.state")
        if e["declaration"]["id"] == "handarat-military-area"
    ]
    assert [(e["from"], e["to"], e["by"]) for e in state] == [("cleared", "withdrawn", "SAA")]
    # Withdrawn is final.
    refused(
        saa.post(path + "/withdraw", json={}, headers={"If-Match": etag}), 409, "invalid_transition"
    )


# -- late, idempotent, signed --------------------------------------------------------------


def test_late_submission_is_accepted_and_flagged(world: World) -> None:
    sarc = world.party("SARC-UN")
    soon = time.time() + 2 * 3600  # two hours: under the 48 h movement notice
    plan = movement("SARC-UN", "late-run", 38.0, 33.0, soon)
    view = ok(sarc.post("/v1/declarations", json=plan), 201)["declarations"][0]
    c = view["clearance"]
    assert c["late"] is True
    assert c["notice_required_s"] == 48 * 3600
    assert "late" in c["history"][0]["reason"]
    assert c["state"] == "notified"  # a humanitarian plan still goes to every force
    # The deadline is shortened to the lead before the start, never under the floor.
    deadlines = {epoch(n["deadline"]) for n in c["notified"]}
    assert len(deadlines) == 1
    assert abs(deadlines.pop() - (soon - 3600)) < 60  # response_lead_s before the start
    own = ok(sarc.get("/v1/declarations"))["items"]
    assert next(i for i in own if i["declaration"]["id"] == "late-run")["late"] is True
    saa = world.party("SAA")
    item = next(
        i for i in ok(saa.get("/v1/inbox"))["clearance"] if i["declaration"]["id"] == "late-run"
    )
    assert item["late"] is True
    note = next(e for e in events(saa, "notification") if e["declaration"]["id"] == "late-run")
    assert note["late"] is True
    # Marked as an emergency, 30 h ahead is within the 24 h emergency notice; unmarked, late.
    ahead = time.time() + 30 * 3600
    both = collection(
        movement("SARC-UN", "emergency-run", 38.0, 33.1, ahead, emergency=True),
        movement("SARC-UN", "routine-run", 38.0, 33.2, ahead),
    )
    got = ok(sarc.post("/v1/declarations", json=both), 201)["declarations"]
    assert [(v["declaration"]["id"], v["clearance"]["late"]) for v in got] == [
        ("emergency-run", False),
        ("routine-run", True),
    ]


def test_idempotency_key_replays_the_first_answer(world: World) -> None:
    ocha = world.party("OCHA-HNS")
    start = world.start_s + DAY_S
    plan = movement("OCHA-HNS", "idem-1", 38.2, 33.0, start)
    headers = {"Idempotency-Key": "submit-idem-1"}
    first = ocha.post("/v1/declarations", json=plan, headers=headers)
    body1 = ok(first, 201)
    again = ocha.post("/v1/declarations", json=plan, headers=headers)
    assert again.status_code == 201 and again.json() == body1
    # Without the key, the same plan is a second submission, refused as a duplicate.
    refused(ocha.post("/v1/declarations", json=plan), 409, "already_exists")
    view = ok(ocha.get(path_of("OCHA-HNS", "idem-1")))
    assert view["versions"] == [1]
    own = [i["declaration"]["id"] for i in ok(ocha.get("/v1/declarations"))["items"]]
    assert own.count("idem-1") == 1
    # The same key with another body is refused, and the other body is not stored.
    other = movement("OCHA-HNS", "idem-2", 38.2, 33.1, start)
    refused(ocha.post("/v1/declarations", json=other, headers=headers), 422, "invalid_request")
    refused(ocha.get(path_of("OCHA-HNS", "idem-2")), 404)
    # The forces were notified once, not twice.
    saa = world.party("SAA")
    assert [i["declaration"]["id"] for i in ok(saa.get("/v1/inbox"))["clearance"]].count(
        "idem-1"
    ) == 1
    assert [e["declaration"]["id"] for e in events(saa, "notification")].count("idem-1") == 1
    # An answer retried with its key gets the first answer, not "already answered".
    ack = {"Idempotency-Key": "ack-idem-1"}
    a1 = ok(saa.post(path_of("OCHA-HNS", "idem-1") + "/acknowledge", json={}, headers=ack))
    a2 = ok(saa.post(path_of("OCHA-HNS", "idem-1") + "/acknowledge", json={}, headers=ack))
    assert a1 == a2
    # Keys are per party: another party's identical key is its own.
    opp = world.party("OPP")
    assert ok(opp.post(path_of("OCHA-HNS", "idem-1") + "/acknowledge", json={}, headers=ack))


def _key_for(p: Party) -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    out = ok(
        p.post(f"/v1/parties/{p.name}/keys", json={"public_key": base64.b64encode(raw).decode()}),
        201,
    )
    assert out["party"] == p.name
    return private, out["key_id"]


def _signature(private: Ed25519PrivateKey, key_id: str, method: str, path: str, body: Any) -> str:
    sig = private.sign(signed_message(method, path, body))
    return f"keyid={key_id}, sig={base64.b64encode(sig).decode()}"


def test_signed_requests_are_kept_and_bad_signatures_refused(world: World) -> None:
    us, ru = world.party("US-CJTF"), world.party("RU-FORCES")
    private, key_id = _key_for(us)
    assert key_id in {k["key_id"] for k in ok(ru.get("/v1/parties/US-CJTF/keys"))}
    start = world.start_s + 2 * DAY_S
    plan = collection(movement("US-CJTF", "signed-run", 38.4, 33.0, start))
    good = {"Deconflict-Signature": _signature(private, key_id, "POST", "/v1/declarations", plan)}
    view = ok(us.post("/v1/declarations", json=plan, headers=good), 201)["declarations"][0]
    # Every transition the signed submission caused is signed by it (SPEC section 4).
    steps = [(h["to"], h["by"], h["signed"]) for h in view["clearance"]["history"]]
    assert steps == [("submitted", "US-CJTF", True), ("cleared", "US-CJTF", True)]
    kept = ok(us.get(path_of("US-CJTF", "signed-run")))
    assert kept["clearance"]["history"] == view["clearance"]["history"]

    before = ok(us.get("/v1/declarations"))["items"]
    forged = collection(movement("US-CJTF", "forged-run", 38.4, 33.1, start))
    # A signature over another body, a wrong path, garbage, another party's key: refused.
    bad_headers = [
        _signature(private, key_id, "POST", "/v1/declarations", plan),
        _signature(private, key_id, "POST", "/v1/declarations/US-CJTF/forged-run", forged),
        f"keyid={key_id}, sig={base64.b64encode(b'x' * 64).decode()}",
        f"keyid={key_id}",
    ]
    for header in bad_headers:
        r = us.post("/v1/declarations", json=forged, headers={"Deconflict-Signature": header})
        refused(r, 422, "bad_signature")
    ru_private, ru_key = _key_for(ru)
    r = us.post(
        "/v1/declarations",
        json=forged,
        headers={
            "Deconflict-Signature": _signature(
                ru_private, ru_key, "POST", "/v1/declarations", forged
            )
        },
    )
    refused(r, 422, "bad_signature")
    refused(us.get(path_of("US-CJTF", "forged-run")), 404)
    assert ok(us.get("/v1/declarations"))["items"] == before

    # A signed answer is kept with the answer and shown to the owner as signed.
    elsewhere = path_of("RU-FORCES", "qamishli-base")
    alongside = movement("RU-FORCES", "signed-patrol", 38.4, 33.0, start)
    out = ok(ru.post("/v1/declarations", json=alongside), 201)["declarations"][0]
    assert [n["party"] for n in out["clearance"]["notified"]] == ["US-CJTF"]
    target = path_of("RU-FORCES", "signed-patrol")
    body = {"reason": "received; no objection"}
    refused(
        us.post(
            target + "/acknowledge",
            json=body,
            headers={
                "Deconflict-Signature": _signature(
                    private, key_id, "POST", elsewhere + "/acknowledge", body
                )
            },
        ),
        422,
        "bad_signature",
    )
    assert ok(ru.get(target))["clearance"]["responses"] == []
    sig = _signature(private, key_id, "POST", target + "/acknowledge", body)
    ok(us.post(target + "/acknowledge", json=body, headers={"Deconflict-Signature": sig}))
    owner = ok(ru.get(target))["clearance"]
    assert [(r["party"], r["signed"]) for r in owner["responses"]] == [("US-CJTF", True)]
    assert owner["history"][-1]["signed"] is True
    # A revoked key signs no more.
    assert us.delete(f"/v1/keys/{key_id}").status_code == 204
    again = collection(movement("US-CJTF", "after-revoke", 38.4, 33.2, start))
    r = us.post(
        "/v1/declarations",
        json=again,
        headers={
            "Deconflict-Signature": _signature(private, key_id, "POST", "/v1/declarations", again)
        },
    )
    refused(r, 422, "bad_signature")


# -- hotline -------------------------------------------------------------------------------


def test_hotline_message_with_refs_is_acknowledged(world: World) -> None:
    us, ru = world.party("US-CJTF"), world.party("RU-FORCES")
    refs = [{"party": "RU-FORCES", "id": "mp-patrol-0825"}, {"incident": "blocking-0825"}]
    sent = ok(
        us.post(
            "/v1/messages",
            json={
                "to": "RU-FORCES",
                "text": "Hold at the junction.",
                "refs": refs,
                "ack_within_s": 900,
            },
        ),
        201,
    )
    assert sent["from"] == "US-CJTF" and sent["to"] == "RU-FORCES"
    assert sent["refs"] == refs
    assert sent["acknowledged_at"] is None and sent["escalated_at"] is None
    waiting = ok(ru.get("/v1/inbox"))["messages"]
    assert [m["message"] for m in waiting] == [sent["message"]]
    assert [e["message"]["message"] for e in events(ru, "message")] == [sent["message"]]
    # Only the recipient acknowledges.
    refused(us.post(f"/v1/messages/{sent['message']}/acknowledge"), 404)
    acked = ok(ru.post(f"/v1/messages/{sent['message']}/acknowledge"))
    assert acked["acknowledged_at"] is not None
    assert ok(ru.get("/v1/inbox"))["messages"] == []
    told = events(us, "message.acknowledged")
    assert [(e["message"], e["by"]) for e in told] == [(sent["message"], "RU-FORCES")]
    listed = ok(us.get("/v1/messages"))["items"]
    assert next(m for m in listed if m["message"] == sent["message"])["acknowledged_at"]
    # A signed message is kept as signed.
    private, key_id = _key_for(ru)
    doc = {"to": "US-CJTF", "text": "Holding.", "refs": [{"incident": "blocking-0825"}]}
    header = _signature(private, key_id, "POST", "/v1/messages", doc)
    signed = ok(ru.post("/v1/messages", json=doc, headers={"Deconflict-Signature": header}), 201)
    assert signed["signed"] is True
    forged = {**doc, "text": "Proceeding."}
    refused(
        ru.post("/v1/messages", json=forged, headers={"Deconflict-Signature": header}),
        422,
        "bad_signature",
    )
    assert [m["text"] for m in ok(us.get("/v1/inbox"))["messages"]] == ["Holding."]
    # A reference to a declaration the sender may not see is refused as not found.
    hidden = [{"party": "SAA", "id": "withdraw-castello-1020"}]
    refused(us.post("/v1/messages", json={"to": "RU-FORCES", "text": "?", "refs": hidden}), 404)
    # The default window is above this server's one-minute floor; a shorter one is refused.
    refused(us.post("/v1/messages", json={"to": "RU-FORCES", "text": "x", "ack_within_s": 1}), 422)


# -- deadlines, driven by the scheduler ------------------------------------------------------


def test_unanswered_notification_escalates_then_the_plan_expires(fast: Server) -> None:
    hum = fast.add_party("HUM", "humanitarian")
    quick = fast.add_party("F-QUICK", "force")
    slow = fast.add_party("F-SLOW", "force")
    now = time.time()
    # Starts in 6 s: notified now, answers due in 3 s (response_window_s), expires at start.
    plan = movement("HUM", "convoy", 36.0, 34.0, now + 6, duration_s=6)
    own = movement("F-QUICK", "own-run", 36.0, 34.5, now + 2, duration_s=3)
    view = ok(hum.post("/v1/declarations", json=plan), 201)["declarations"][0]
    path = path_of("HUM", "convoy")
    assert ok(quick.post(path + "/acknowledge", json={}))["state"] == "notified"
    c = view["clearance"]
    assert c["state"] == "notified" and c["late"] is True
    assert {n["party"] for n in c["notified"]} == {"F-QUICK", "F-SLOW"}
    for n in c["notified"]:
        assert abs(epoch(n["deadline"]) - epoch(c["submitted_at"]) - 3) < 0.01
    solo = ok(quick.post("/v1/declarations", json=own), 201)["declarations"][0]
    assert solo["clearance"]["state"] == "cleared"  # nobody to notify: cleared at once
    assert ("HUM", "convoy", 1) in inbox_keys(slow)

    operator = fast.operator

    def escalated() -> list[dict[str, Any]]:
        return [e for e in events(operator, "escalation") if e["party"] == "F-SLOW"]

    esc = wait_for("escalation to the operator", escalated)
    assert esc[0]["declaration"] == {"party": "HUM", "id": "convoy", "version": 1}
    assert esc[0]["deadline_s"] <= esc[0]["at_s"]
    for p in (hum, slow):
        assert [e["party"] for e in events(p, "escalation")] == ["F-SLOW"], p.name
    assert events(quick, "escalation") == []  # it answered in time
    owner = ok(hum.get(path))["clearance"]
    flags = {n["party"]: (n["answer"], n["escalated"]) for n in owner["notified"]}
    assert flags == {"F-QUICK": ("acknowledge", False), "F-SLOW": (None, True)}
    # Silence is neither acknowledgement nor objection; the silent party's turn is over.
    assert inbox_keys(slow) == set()
    refused(slow.post(path + "/acknowledge", json={}), 409, "invalid_transition")
    assert ok(slow.get(path))["clearance"]["your_notification"]["escalated"] is True

    def state_of(p: Party, where: str) -> str:
        return str(ok(p.get(where))["clearance"]["state"])

    wait_for("expiry at the planned start", lambda: state_of(hum, path) == "expired")
    last = ok(hum.get(path))["clearance"]["history"][-1]
    assert (last["from"], last["to"], last["by"]) == ("notified", "expired", "@operator")
    for p in (hum, quick, slow):
        got = [
            (e["to"], e["by"])
            for e in events(p, "declaration.state")
            if e["declaration"]["id"] == "convoy"
        ]
        assert got == [("expired", "@operator")], p.name
    # A cleared plan never activated expires after its planned end.
    mine = path_of("F-QUICK", "own-run")
    wait_for("expiry after the planned end", lambda: state_of(quick, mine) == "expired")
    assert ok(quick.get(mine))["clearance"]["history"][-1]["by"] == "@operator"


def test_unacknowledged_message_escalates_to_the_operator(fast: Server) -> None:
    a = fast.add_party("MSG-A", "force")
    b = fast.add_party("MSG-B", "humanitarian")
    late = ok(
        a.post("/v1/messages", json={"to": "MSG-B", "text": "Confirm route.", "ack_within_s": 1}),
        201,
    )
    kept = ok(
        a.post("/v1/messages", json={"to": "MSG-B", "text": "Second.", "ack_within_s": 60}), 201
    )
    ok(b.post(f"/v1/messages/{kept['message']}/acknowledge"))
    operator = fast.operator

    def escalated() -> list[dict[str, Any]]:
        return [e for e in events(operator, "message.escalated") if e["message"] == late["message"]]

    esc = wait_for("message escalation", escalated)[0]
    assert (esc["from"], esc["to"]) == ("MSG-A", "MSG-B")
    for p in (a, b):
        assert [e["message"] for e in events(p, "message.escalated")] == [late["message"]]
    listed = {m["message"]: m for m in ok(a.get("/v1/messages"))["items"]}
    assert listed[late["message"]]["escalated_at"] is not None
    assert listed[kept["message"]]["escalated_at"] is None
    # Escalated, still awaiting the recipient, who may still acknowledge it.
    assert [m["message"] for m in ok(b.get("/v1/inbox"))["messages"]] == [late["message"]]
    done = ok(b.post(f"/v1/messages/{late['message']}/acknowledge"))
    assert done["acknowledged_at"] is not None and done["escalated_at"] is not None


def test_amendment_after_a_missed_deadline_still_reports_the_escalation(
    tmp_path: Path,
) -> None:
    """In process, with a hand-moved clock and no scheduler: the only way to amend, every
    time, between an answer deadline and the scheduler's next tick. The amendment applies
    the escalation on the superseded version; the operator must still hear of it."""
    clock = [1_800_000_000.0]
    svc = Service(Database(str(tmp_path / "clock.sqlite")), clock=lambda: clock[0])
    try:
        add_party(svc, OPERATOR_PRINCIPAL, "HUM", "humanitarian")
        add_party(svc, OPERATOR_PRINCIPAL, "FOR", "force")
        hum = Principal("HUM", "test")
        plan = movement("HUM", "convoy", 36.0, 34.0, clock[0] + 3 * DAY_S)
        _, first = declarations.submit(svc, hum, json.dumps(plan).encode())
        assert first["declarations"][0]["clearance"]["state"] == "notified"
        clock[0] += 25 * 3600  # past the 24 h answer window; no scheduler runs here
        plan["properties"]["buffer_m"] = 50
        _, v2 = declarations.amend(
            svc,
            hum,
            "HUM",
            "convoy",
            json.dumps(plan).encode(),
            if_match=first["declarations"][0]["etag"],
        )
        assert v2["declaration"]["version"] == 2
        with svc.read() as repo:
            for who in ("@operator", "HUM", "FOR"):
                said = [
                    json.loads(e.payload)
                    for e in repo.events_after(who, 0, 100)
                    if e.type == "escalation"
                ]
                assert [(s["party"], s["declaration"]["version"]) for s in said] == [("FOR", 1)], (
                    who
                )
    finally:
        svc.close()

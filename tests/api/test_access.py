"""Access control at the HTTP edge (SPEC section 4, need-to-know), endpoint by endpoint.

TABLE maps every operation of the server's /openapi.json to a well-formed request and to
what another party gets from it; a test fails when the schema and the table differ, so a
new endpoint cannot ship without its case. For every endpoint: no token, a wrong token and
a revoked token get 401 in the one error shape; a party other than the owner is refused
without learning whether the thing exists, or sees only its share: the conflicting portion
of a route, never the rest.

The world: alpha (force) declares a long movement, alpha-route, and a site, alpha-clinic.
beta's site beta-post sits on alpha-route's second leg and delta's delta-patrol crosses its
fourth, so beta and delta each see a few minutes of alpha-route around their own conflict,
and nothing else. gamma (force) and obs (observer) conflict with nothing of alpha's and see
nothing of it; watch is the observer alpha named and sees it whole. Every answer to beta,
delta, gamma and obs passes a guard that fails the test when it holds anything they must
not see (alpha-route's waypoints and their times, alpha-clinic, alpha's webhook, message
and callsign...).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pyproj import Geod
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.server import Party, Server
from deconflict.record.keys import SigningKey
from deconflict.record.note import NoteSigner, cosign_note

GEOD = Geod(ellps="WGS84")
T0 = (int(time.time()) // 3600 + 4 * 24) * 3600.0
"""alpha-route sets out four days ahead, on the hour: well past the minimum notice."""
LEG_S = 2700.0
ROUTE = [
    (36.01234, 35.51234),
    (36.25678, 35.52345),
    (36.51357, 35.50864),
    (36.74321, 35.53456),
    (36.98765, 35.54321),
]
"""alpha-route's waypoints, one every LEG_S seconds from T0: digits no other answer holds."""
SITE = (36.91357, 35.86429)
"""alpha-clinic: 35 km from everything of the other parties."""
CALLSIGN = "ALPHA-SECRET-CALLSIGN"
INCIDENT = {
    "against": "beta",
    "place": [36.44444, 35.77777],
    "radius_m": 50,
    "category": "near_miss",
    "description": "INCIDENT-SECRET-DESCRIPTION of a near miss.",
    "attachments": [
        {
            "name": "INCIDENT-PHOTO.jpg",
            "media_type": "image/jpeg",
            "content_base64": base64.b64encode(b"INCIDENT-PHOTO-BYTES").decode(),
        }
    ],
}
"""alpha's incident against beta: only they and the operator may see any of it."""
INCIDENT_SECRETS = {"INCIDENT-SECRET", "INCIDENT-PHOTO", "36.44444", "35.77777"}
ALPHA_TEXT = "MSG-ALPHA-TO-BETA radio check."
PORTION_KM = 3.0
"""How far from its own conflict point a party may see alpha-route: 1 km of separation, 60 s of
margin either side (about 0.5 km at alpha-route's speed), with room to spare."""
BAD_KEY = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw="
"""RFC 8032 test vector 2's public key: what others try to register for alpha."""
ALPHA_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
"""RFC 8032 test vector 1's public key, alpha's signing key..."""
ALPHA_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
"""...and its private seed: alpha witnesses checkpoints with it."""


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def midpoint(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    az, _, dist = GEOD.inv(a[0], a[1], b[0], b[1])
    lon, lat, _ = GEOD.fwd(a[0], a[1], az, dist / 2)
    return float(lon), float(lat)


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2]) / 1000


M12 = midpoint(ROUTE[1], ROUTE[2])
"""Where beta's site sits, on alpha-route's second leg; alpha-route passes it at T0 + 1.5 legs."""
M34 = midpoint(ROUTE[3], ROUTE[4])
"""Where delta's movement crosses alpha-route's fourth leg, at T0 + 3.5 legs."""


def feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def a1() -> dict[str, Any]:
    return feature(
        {"type": "LineString", "coordinates": [list(p) for p in ROUTE]},
        id="alpha-route",
        party="alpha",
        kind="movement",
        times=[iso(T0 + k * LEG_S) for k in range(len(ROUTE))],
        callsign=CALLSIGN,
    )


def point_site(party: str, decl_id: str, where: tuple[float, float]) -> dict[str, Any]:
    return feature(
        {"type": "Point", "coordinates": list(where)},
        id=decl_id,
        party=party,
        kind="site",
        valid_from=iso(T0 + 600),
        valid_to=iso(T0 + 4 * LEG_S + 600),
    )


def northbound(party: str, decl_id: str, where: tuple[float, float], at_s: float) -> dict:
    """A 10-minute movement along the meridian through `where`, passing it at `at_s`."""
    lon, lat = where
    return feature(
        {"type": "LineString", "coordinates": [[lon, lat - 0.05], [lon, lat + 0.05]]},
        id=decl_id,
        party=party,
        kind="movement",
        times=[iso(at_s - 300), iso(at_s + 300)],
    )


# --- the world -------------------------------------------------------------------------


@dataclass
class World:
    server: Server
    operator: Party
    alpha: Party
    beta: Party
    delta: Party
    gamma: Party
    obs: Party
    watch: Party
    hum: Party
    anonymous: httpx.Client
    """A client with no token."""
    ids: dict[str, str] = field(default_factory=dict)
    """alpha's objects by name: token, revoked, key, hook, message, etag; and the
    operator's checkpoint and its note."""
    hidden: dict[str, set[str]] = field(default_factory=dict)
    """Party -> strings no answer to it may hold."""
    refs: dict[str, set[str]] = field(default_factory=dict)
    """Party -> the names among `hidden` (ids of others' declarations, messages and
    incidents), which the record seals like everything else (SPEC 4)."""
    answers: dict[str, int] = field(default_factory=dict)
    """Party -> answers the guard read (so a test can tell it looked)."""

    def others(self) -> list[Party]:
        """The parties that see nothing of alpha's, or only a portion."""
        return [self.beta, self.delta, self.gamma, self.obs]


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


def guard(world: World, party: Party) -> None:
    """Check every answer `party` gets against what it must never see."""

    def check(response: httpx.Response) -> None:
        response.read()
        text = response.text
        hidden = world.hidden[party.name]
        leaked = sorted(s for s in hidden if s in text)
        assert not leaked, (
            f"{party.name} was shown {leaked} by {response.request.method} "
            f"{response.request.url.path}: {text[:400]}"
        )
        world.answers[party.name] = world.answers.get(party.name, 0) + 1

    party.client.event_hooks = {"request": [], "response": [check]}


def alpha_secrets(world: World) -> set[str]:
    """What only alpha and the observer it named may see of alpha's."""
    out = {f"{c:.5f}".rstrip("0") for p in ROUTE for c in p}  # every waypoint coordinate
    out |= {iso(T0 + k * LEG_S) for k in range(len(ROUTE))}  # and its time
    out |= {f"{c:.5f}" for c in SITE} | {"alpha-clinic", CALLSIGN, "alpha-hook"}
    out.add(world.ids["hook"])  # (token ids are public: the record lists them)
    return out


@pytest.fixture(scope="module")
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Checkpoints on demand only, so every party reads the same latest one.
    config = "checkpoint_interval_s = 86400\n"
    path = tmp_path_factory.mktemp("access") / "deconflict.sqlite"
    s = Server(path, store=store, config=config).start()
    try:
        kinds = {
            "alpha": "force",
            "beta": "force",
            "delta": "force",
            "gamma": "force",
            "obs": "observer",
            "watch": "observer",
            "hum": "humanitarian",
        }
        parties = {name: s.add_party(name, kind) for name, kind in kinds.items()}
        w = World(s, s.operator, **parties, anonymous=s.client(None))
        # The others declare first, so alpha-route's submission notifies beta and delta.
        ok(w.beta.post("/v1/declarations", json=point_site("beta", "beta-post", M12)), 201)
        d1 = northbound("delta", "delta-patrol", M34, T0 + 3.5 * LEG_S)
        ok(w.delta.post("/v1/declarations", json=d1), 201)
        g1 = northbound("gamma", "gamma-convoy", (38.5, 36.5), T0 + LEG_S)
        ok(w.gamma.post("/v1/declarations", json=g1), 201)
        both = {
            "type": "FeatureCollection",
            "features": [a1(), point_site("alpha", "alpha-clinic", SITE)],
        }
        submitted = ok(w.alpha.post("/v1/declarations", json=both), 201)["declarations"]
        assert submitted[0]["clearance"]["state"] == "notified"
        assert {n["party"] for n in submitted[0]["clearance"]["notified"]} == {"beta", "delta"}
        assert submitted[1]["clearance"]["state"] == "cleared"  # alpha-clinic: nobody to tell
        h1 = northbound("hum", "hum-convoy", (39.5, 36.0), T0 + LEG_S)
        ok(w.hum.post("/v1/declarations", json=h1), 201)
        ok(w.alpha.put("/v1/me/observers", json={"observers": ["watch"]}))
        w.ids["etag"] = submitted[0]["etag"]
        w.ids["token"] = ok(w.alpha.get("/v1/me"))["token_id"]
        spare = ok(w.alpha.post("/v1/parties/alpha/tokens", json={"revoke_others": False}), 201)
        ok(w.alpha.delete(f"/v1/tokens/{spare['token_id']}"), 204)
        w.ids["revoked_token"], w.ids["revoked"] = spare["token_id"], spare["token"]
        w.ids["key"] = ok(
            w.alpha.post("/v1/parties/alpha/keys", json={"public_key": ALPHA_KEY}), 201
        )["key_id"]
        w.ids["hook"] = ok(
            w.alpha.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/alpha-hook"}), 201
        )["webhook"]
        message = {"to": "beta", "text": ALPHA_TEXT}
        w.ids["message"] = ok(w.alpha.post("/v1/messages", json=message), 201)["message"]
        incident = {**INCIDENT, "at": iso(time.time() - 3600)}
        w.ids["incident"] = ok(w.alpha.post("/v1/incidents", json=incident), 201)["incident"]
        checkpoint = ok(w.operator.post("/v1/log/checkpoint"), 201)
        w.ids["checkpoint"], w.ids["note"] = str(checkpoint["id"]), checkpoint["note"]

        secrets = alpha_secrets(w)
        # References (declaration ids, message ids, incidents) no other party may learn.
        w.refs = {
            "beta": {"alpha-clinic", "delta-patrol"},
            "delta": {"alpha-clinic", "beta-post", w.ids["message"]},
        }
        w.refs["delta"].add(w.ids["incident"])
        w.refs["gamma"] = w.refs["obs"] = w.refs["delta"] | {"alpha-route", "delta-patrol"}
        w.hidden = {name: secrets | refs for name, refs in w.refs.items()}
        for name in ("delta", "gamma", "obs"):
            w.hidden[name] |= {ALPHA_TEXT} | INCIDENT_SECRETS  # alpha's to beta
        for p in w.others():
            guard(w, p)
        yield w
    finally:
        s.close()


# --- helpers ---------------------------------------------------------------------------


def error(r: httpx.Response) -> dict[str, Any]:
    """The error of a refusal, checked to be the one shape with a one-sentence message."""
    assert r.headers["content-type"].startswith("application/json"), r.text
    doc = r.json()
    assert set(doc) == {"error"} and {"code", "message", "details"} <= set(doc["error"]), doc
    message = doc["error"]["message"]
    assert isinstance(message, str) and message.endswith(".") and "\n" not in message, doc
    assert "Traceback" not in message and 'File "' not in message, doc
    return dict(doc["error"])


def refused_alike(
    real: httpx.Response, made_up: httpx.Response, *, swap: tuple[str, str] | None = None
) -> int:
    """`real` (about something that exists) and `made_up` (about nothing) are refused with
    the same status and the same words, so the refusal tells nothing. `swap` names the
    part of the request echoed back (a party name the caller sent)."""
    assert real.status_code in (403, 404), (real.status_code, real.text)
    assert real.status_code == made_up.status_code, (real.text, made_up.text)
    a, b = error(real), error(made_up)
    if swap is not None:
        b = json.loads(json.dumps(b).replace(swap[1], swap[0]))
    assert a == b
    return real.status_code


def state_of(world: World, decl_id: str = "alpha-route") -> tuple[int, str, bool, int]:
    """(version, state, shared, answers) of alpha's declaration, as alpha sees it."""
    doc = ok(world.alpha.get(f"/v1/declarations/alpha/{decl_id}"))
    c = doc["clearance"]
    return doc["declaration"]["version"], c["state"], doc["shared"], len(c["responses"])


def decl_refs(doc: Any) -> set[tuple[str, str]]:
    """Every {"party", "id"} reference anywhere in a JSON document."""
    found: set[tuple[str, str]] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if isinstance(x.get("party"), str) and isinstance(x.get("id"), str):
                found.add((x["party"], x["id"]))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return found


# --- what others get, endpoint by endpoint ----------------------------------------------


def me(w: World) -> None:
    for p in w.others():
        doc = ok(p.get("/v1/me"))
        assert doc["party"] == p.name and w.ids["key"] not in doc["keys"]
        assert doc["token_id"] != w.ids["token"]


def set_observers(w: World) -> None:
    # One's own list only: naming observers never touches alpha's.
    assert ok(w.gamma.put("/v1/me/observers", json={"observers": ["obs"]})) == {
        "party": "gamma",
        "observers": ["obs"],
    }
    assert ok(w.alpha.get("/v1/me"))["observers"] == ["watch"]
    assert error(w.operator.put("/v1/me/observers", json={"observers": []}))["code"] == "forbidden"
    assert w.obs.get("/v1/declarations/alpha/alpha-route").status_code == 404
    assert ok(w.watch.get("/v1/declarations/alpha/alpha-route"))["whole"] is True


def parties(w: World) -> None:
    for p in w.others():
        listed = ok(p.get("/v1/parties"))
        assert all(set(item) == {"name", "kind"} for item in listed)
        assert {"name": "alpha", "kind": "force"} in listed


def register_party(w: World) -> None:
    for p in w.others() + [w.alpha, w.watch]:
        r = p.post("/v1/parties", json={"name": "rogue", "kind": "force"})
        assert r.status_code == 403 and error(r)["code"] == "forbidden"
    assert "rogue" not in {item["name"] for item in ok(w.operator.get("/v1/parties"))}


def issue_token(w: World) -> None:
    before = ok(w.operator.get("/v1/parties/alpha/tokens"))
    for p in w.others():
        real = p.post("/v1/parties/alpha/tokens", json={"revoke_others": True})
        made_up = p.post("/v1/parties/nobody/tokens", json={"revoke_others": True})
        assert refused_alike(real, made_up, swap=("alpha", "nobody")) == 403
    assert ok(w.operator.get("/v1/parties/alpha/tokens")) == before
    ok(w.alpha.get("/v1/me"))


def list_tokens(w: World) -> None:
    for p in w.others():
        real, made_up = p.get("/v1/parties/alpha/tokens"), p.get("/v1/parties/nobody/tokens")
        assert refused_alike(real, made_up, swap=("alpha", "nobody")) == 403


def revoke_token(w: World) -> None:
    for p in w.others():
        real = p.delete(f"/v1/tokens/{w.ids['token']}")
        assert refused_alike(real, p.delete("/v1/tokens/000000000000")) == 404
    assert ok(w.alpha.get("/v1/me"))["token_id"] == w.ids["token"]


def add_key(w: World) -> None:
    for p in w.others():
        real = p.post("/v1/parties/alpha/keys", json={"public_key": BAD_KEY})
        made_up = p.post("/v1/parties/nobody/keys", json={"public_key": BAD_KEY})
        assert refused_alike(real, made_up, swap=("alpha", "nobody")) == 403
    assert [k["key_id"] for k in ok(w.alpha.get("/v1/parties/alpha/keys"))] == [w.ids["key"]]


def read_keys(w: World) -> None:
    # Public keys are public on purpose (SPEC section 6: anyone checks alpha's signatures
    # without trusting the operator): key ids and public keys, nothing else.
    for p in w.others():
        assert ok(p.get("/v1/parties/alpha/keys")) == [
            {"key_id": w.ids["key"], "public_key": ALPHA_KEY}
        ]


def revoke_key(w: World) -> None:
    for p in w.others():
        real = p.delete(f"/v1/keys/{w.ids['key']}")
        assert refused_alike(real, p.delete("/v1/keys/" + "0" * 32)) == 404
    assert [k["key_id"] for k in ok(w.alpha.get("/v1/parties/alpha/keys"))] == [w.ids["key"]]


def submit(w: World) -> None:
    forged = point_site("alpha", "alpha-forged", (37.5, 36.5))
    for p in w.others():
        r = p.post("/v1/declarations", json=forged)
        assert r.status_code == 403 and error(r)["code"] == "forbidden"
    assert w.alpha.get("/v1/declarations/alpha/alpha-forged").status_code == 404


def listing(w: World) -> None:
    for p in w.others():
        own = ok(p.get("/v1/declarations"))["items"]
        assert {i["declaration"]["party"] for i in own} <= {p.name}
    seen = {
        p.name: {
            (i["declaration"]["party"], i["declaration"]["id"]): i["access"]
            for i in ok(p.get("/v1/declarations", params={"scope": "visible"}))["items"]
        }
        for p in w.others() + [w.watch]
    }
    assert seen["beta"].get(("alpha", "alpha-route")) == "conflict"
    assert seen["delta"].get(("alpha", "alpha-route")) == "conflict"
    for name in ("beta", "delta", "gamma", "obs"):
        assert ("alpha", "alpha-clinic") not in seen[name]
    for name in ("gamma", "obs"):
        assert not {k for k in seen[name] if k[0] == "alpha"}, seen[name]
    assert (
        seen["watch"][("alpha", "alpha-route")]
        == seen["watch"][("alpha", "alpha-clinic")]
        == "observer"
    )


def inbox(w: World) -> None:
    for p in w.others():
        doc = ok(p.get("/v1/inbox"))
        refs = decl_refs(doc["clearance"])
        expected = {("alpha", "alpha-route")} if p.name in ("beta", "delta") else set()
        assert {r for r in refs if r[0] == "alpha"} == expected, (p.name, refs)
        assert all(m["to"] == p.name for m in doc["messages"])


def owner_action(action: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        before = state_of(w)
        for p in w.others():
            headers = {"If-Match": w.ids["etag"]}
            real = p.post(f"/v1/declarations/alpha/alpha-route/{action}", json={}, headers=headers)
            made_up = p.post(
                f"/v1/declarations/alpha/alpha-none/{action}", json={}, headers=headers
            )
            assert refused_alike(real, made_up) == 403
        assert state_of(w) == before

    return check


def answer(kind: str) -> Callable[[World], None]:
    def check(w: World) -> None:
        before = state_of(w)
        body = {"reason": "Our patrol is there."}
        path = f"/v1/declarations/alpha/{{}}/{kind}"
        # Not notified of alpha-route: as for a declaration that does not exist.
        for p in (w.gamma, w.obs):
            real, made_up = (
                p.post(path.format("alpha-route"), json=body),
                p.post(path.format("alpha-none"), json=body),
            )
            assert refused_alike(real, made_up) == 404
        # Notified of alpha-route, not of alpha-clinic: alpha-clinic is as good as missing.
        for p in (w.beta, w.delta):
            real = p.post(path.format("alpha-clinic"), json=body)
            assert refused_alike(real, p.post(path.format("alpha-none"), json=body)) == 404
            # No way to answer in another's name: the body holds no party.
            r = p.post(path.format("alpha-route"), json={**body, "party": "gamma"})
            assert r.status_code == 422 and error(r)["code"] == "invalid_request"
        # Nor does the owner answer its own.
        assert w.alpha.post(path.format("alpha-route"), json=body).status_code == 403
        assert state_of(w) == before

    return check


def share(w: World) -> None:
    for p in w.others():
        real = p.post("/v1/declarations/alpha/alpha-route/share", json={"shared": True})
        made_up = p.post("/v1/declarations/alpha/alpha-none/share", json={"shared": True})
        assert refused_alike(real, made_up) == 403
    assert state_of(w)[2] is False
    assert w.gamma.get("/v1/declarations/alpha/alpha-route").status_code == 404


def conflicts(w: World) -> None:
    for p, own in ((w.beta, "beta-post"), (w.delta, "delta-patrol")):
        found = ok(p.get("/v1/declarations/alpha/alpha-route/conflicts"))["conflicts"]
        assert found and all({c["a"], c["b"]} == {"alpha-route", own} for c in found), found
        real = p.get("/v1/declarations/alpha/alpha-clinic/conflicts")
        assert refused_alike(real, p.get("/v1/declarations/alpha/alpha-none/conflicts")) == 404
    for p in (w.gamma, w.obs):
        real = p.get("/v1/declarations/alpha/alpha-route/conflicts")
        assert refused_alike(real, p.get("/v1/declarations/alpha/alpha-none/conflicts")) == 404
    assert len(ok(w.alpha.get("/v1/declarations/alpha/alpha-route/conflicts"))["conflicts"]) == 2


def version(w: World) -> None:
    for p in w.others():
        real = p.get("/v1/declarations/alpha/alpha-route/versions/1")
        assert refused_alike(real, p.get("/v1/declarations/alpha/alpha-none/versions/1")) == 404


def read(w: World) -> None:
    for p, own, near in ((w.beta, "beta-post", M12), (w.delta, "delta-patrol", M34)):
        doc = ok(p.get("/v1/declarations/alpha/alpha-route"))
        assert doc["access"] == "conflict" and doc["whole"] is False
        assert {(c["a"], c["b"]) for c in doc["conflicts"]} == {("alpha-route", own)}
        start = min(parse_time(c["start"]) for c in doc["conflicts"])
        end = max(parse_time(c["end"]) for c in doc["conflicts"])
        assert doc["features"], doc
        for f in doc["features"]:
            assert f["geometry"]["type"] == "LineString"
            assert "callsign" not in f["properties"]
            for lon_lat in f["geometry"]["coordinates"]:
                assert km(near, (lon_lat[0], lon_lat[1])) < PORTION_KM, (p.name, lon_lat)
            for t in f["properties"]["times"]:
                assert start - 61 <= parse_time(t) <= end + 61, (p.name, t)
        clearance = doc["clearance"]
        assert "notified" not in clearance and "history" not in clearance
        assert "plan_start" not in clearance and "plan_end" not in clearance
        assert clearance["your_notification"]["your_conflicting_declarations"] == [own]
        real = p.get("/v1/declarations/alpha/alpha-clinic")
        assert refused_alike(real, p.get("/v1/declarations/alpha/alpha-none")) == 404
    for p in (w.gamma, w.obs):
        for decl_id in ("alpha-route", "alpha-clinic"):
            real = p.get(f"/v1/declarations/alpha/{decl_id}")
            assert refused_alike(real, p.get("/v1/declarations/alpha/alpha-none")) == 404
    whole = ok(w.watch.get("/v1/declarations/alpha/alpha-route"))
    assert whole["access"] == "observer" and whole["features"][0]["properties"]["callsign"]


def amend(w: World) -> None:
    before = state_of(w)
    headers = {"If-Match": w.ids["etag"]}
    for p in w.others():
        real = p.put("/v1/declarations/alpha/alpha-route", json=a1(), headers=headers)
        made_up = p.put("/v1/declarations/alpha/alpha-none", json=a1(), headers=headers)
        assert refused_alike(real, made_up) == 403
    assert state_of(w) == before


def send_message(w: World) -> None:
    def refs(decl_id: str) -> dict[str, Any]:
        return {"to": "alpha", "text": "About that.", "refs": [{"party": "alpha", "id": decl_id}]}

    for p in w.others():
        hidden = "alpha-route" if p.name in ("gamma", "obs") else "alpha-clinic"
        real = p.post("/v1/messages", json=refs(hidden))
        assert refused_alike(real, p.post("/v1/messages", json=refs("alpha-none"))) == 404
        r = p.post("/v1/messages", json={"to": "alpha", "text": "Hello.", "from": "beta"})
        assert r.status_code == 422
    sent = ok(
        w.beta.post("/v1/messages", json=refs("alpha-route")), 201
    )  # beta may point at alpha-route
    assert sent["from"] == "beta" and sent["refs"] == [{"party": "alpha", "id": "alpha-route"}]


def list_messages(w: World) -> None:
    for p in w.others():
        items = ok(p.get("/v1/messages"))["items"]
        assert all(p.name in (m["from"], m["to"]) for m in items), items
    assert w.ids["message"] in {m["message"] for m in ok(w.beta.get("/v1/messages"))["items"]}


def ack_message(w: World) -> None:
    for p in (w.gamma, w.delta, w.obs, w.alpha):  # alpha sent it: not its to acknowledge
        real = p.post(f"/v1/messages/{w.ids['message']}/acknowledge")
        assert refused_alike(real, p.post("/v1/messages/m0/acknowledge")) == 404
    mine = {m["message"]: m for m in ok(w.alpha.get("/v1/messages"))["items"]}
    assert mine[w.ids["message"]]["acknowledged_at"] is None


def events(w: World) -> None:
    pages = {p.name: ok(p.get("/v1/events", params={"limit": 500})) for p in w.others()}
    alphas = {e["id"] for e in ok(w.alpha.get("/v1/events", params={"limit": 500}))["events"]}
    for name, page in pages.items():
        assert not {e["id"] for e in page["events"]} & alphas  # nobody reads alpha's events
        refs = {r for r in decl_refs(page["events"]) if r[0] == "alpha"}
        assert refs <= ({("alpha", "alpha-route")} if name in ("beta", "delta") else set()), refs
    notes = [e for e in pages["beta"]["events"] if e["type"] == "notification"]
    assert [n["declaration"]["id"] for n in notes if n["declaration"]["party"] == "alpha"] == [
        "alpha-route"
    ]


def sse_lines(client: httpx.Client, after: int, *, until: str | None, wait_s: float) -> str:
    """What the event stream sends after `after`: until a line holding `until` comes, or
    nothing has come for `wait_s` seconds."""
    seen: list[str] = []
    timeout = httpx.Timeout(10, read=wait_s)
    with client.stream("GET", "/v1/events/stream", params={"after": after}, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        try:
            for line in r.iter_lines():
                seen.append(line)
                if until is not None and until in line:
                    break
        except httpx.ReadTimeout:
            pass
    return "\n".join(seen)


def stream(w: World) -> None:
    mark = ok(w.alpha.get("/v1/events", params={"limit": 500}))["last"]
    sent = ok(w.delta.post("/v1/messages", json={"to": "alpha", "text": "SSE-PROBE."}), 201)
    # Raw clients (no guard hook reading the body): the stream is checked here.
    alpha = w.server.client(w.alpha.token)
    mine = sse_lines(alpha, mark, until=sent["message"], wait_s=10)
    assert sent["message"] in mine and "event: message" in mine
    for p in (w.gamma, w.obs, w.beta):  # everything they were ever sent, and no more
        text = sse_lines(w.server.client(p.token), 0, until=None, wait_s=1.0)
        assert text.startswith("retry:"), text
        leaked = sorted(s for s in w.hidden[p.name] if s in text)
        assert not leaked, (p.name, leaked)
        assert sent["message"] not in text and "SSE-PROBE" not in text, text


def register_webhook(w: World) -> None:
    hook = ok(w.beta.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/beta-hook"}), 201)
    assert hook["webhook"] not in {h["webhook"] for h in ok(w.alpha.get("/v1/webhooks"))}
    ok(w.beta.delete(f"/v1/webhooks/{hook['webhook']}"), 204)
    r = w.operator.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/op-hook"})
    assert r.status_code == 403 and error(r)["code"] == "forbidden"


def list_webhooks(w: World) -> None:
    for p in w.others():
        for h in ok(p.get("/v1/webhooks")):
            assert set(h) == {"webhook", "url", "created_at"}  # never the secret
    assert error(w.operator.get("/v1/webhooks"))["code"] == "forbidden"


def delete_webhook(w: World) -> None:
    for p in w.others() + [w.operator]:
        real = p.delete(f"/v1/webhooks/{w.ids['hook']}")
        assert refused_alike(real, p.delete("/v1/webhooks/wh_0000000000000000")) == 404
    assert w.ids["hook"] in {h["webhook"] for h in ok(w.alpha.get("/v1/webhooks"))}


def deliveries(w: World) -> None:
    for p in w.others() + [w.operator]:
        real = p.get(f"/v1/webhooks/{w.ids['hook']}/deliveries")
        made_up = p.get("/v1/webhooks/wh_0000000000000000/deliveries")
        assert refused_alike(real, made_up) == 404
    ok(w.alpha.get(f"/v1/webhooks/{w.ids['hook']}/deliveries"))


def same_for_all(w: World, path: str) -> None:
    """What every party (and the operator) is shown alike: the record is public."""
    seen = {p.name: p.get(path) for p in w.others() + [w.alpha, w.operator]}
    first = seen["alpha"]
    assert first.status_code == 200, first.text
    for name, got in seen.items():
        assert (got.status_code, got.json()) == (first.status_code, first.json()), name


def log_key(w: World) -> None:
    same_for_all(w, "/v1/log/key")


def log_checkpoint(w: World) -> None:
    same_for_all(w, "/v1/log/checkpoint")


def sign_checkpoint(w: World) -> None:
    for p in w.others() + [w.alpha, w.watch]:
        r = p.post("/v1/log/checkpoint")
        assert r.status_code == 403 and error(r)["code"] == "forbidden", r.text
    ok(w.operator.post("/v1/log/checkpoint"), 201)


def log_checkpoints(w: World) -> None:
    same_for_all(w, "/v1/log/checkpoints")


def cosign(w: World) -> None:
    alphas = cosign_note(
        w.ids["note"], NoteSigner("alpha", SigningKey.from_raw(bytes.fromhex(ALPHA_SEED)))
    )
    path = f"/v1/log/checkpoints/{w.ids['checkpoint']}/cosign"
    # A witness signs for itself only: alpha's cosignature sent by another is refused.
    for p in w.others():
        r = p.post(path, json={"note": alphas})
        assert r.status_code == 422 and error(r)["code"] == "invalid_request", r.text
    r = w.operator.post(path, json={"note": alphas})
    assert r.status_code == 403 and error(r)["code"] == "forbidden"
    ok(w.alpha.post(path, json={"note": alphas}), 201)
    listed = ok(w.beta.get("/v1/log/checkpoints"))["checkpoints"]
    assert [c["cosigned_by"] for c in listed if str(c["id"]) == w.ids["checkpoint"]] == [["alpha"]]


def log_entries(w: World) -> None:
    same_for_all(w, "/v1/log/entries")


def log_entry(w: World) -> None:
    """Entries are public, committed contents are not: a party opens only what SPEC 4
    lets it see, and nothing of alpha's it may not (contents are base64: decoded here,
    where the guard cannot read them)."""
    size = ok(w.alpha.get("/v1/log/entries"))["size"]
    for p in w.others():
        for index in range(size):
            doc = ok(p.get(f"/v1/log/entries/{index}"))
            opened = " ".join(
                base64.b64decode(c["content"]).decode(errors="replace") for c in doc["contents"]
            )
            leaked = sorted(s for s in w.hidden[p.name] if s in opened)
            assert not leaked, (p.name, index, leaked)
            if doc["contents"]:  # only what concerns it: its own name is in what it opened
                assert p.name in opened, (p.name, doc)
        assert p.get(f"/v1/log/entries/{size + 1000}").status_code == 404


def log_proof(w: World) -> None:
    same_for_all(w, "/v1/log/entries/1/proof?tree_size=2")


def log_consistency(w: World) -> None:
    same_for_all(w, "/v1/log/consistency?old_size=1&new_size=2")


MADE_UP_INCIDENT = "i0000000000000deadbeef"


def file_incident(w: World) -> None:
    # Filed in one's own name only: the body names no filer.
    r = w.gamma.post("/v1/incidents", json={**INCIDENT, "at": iso(time.time()), "filer": "alpha"})
    assert r.status_code == 422 and error(r)["code"] == "invalid_request"
    r = w.operator.post("/v1/incidents", json={**INCIDENT, "at": iso(time.time())})
    assert r.status_code == 403 and error(r)["code"] == "forbidden"


def list_incidents(w: World) -> None:
    for p in w.others():
        items = ok(p.get("/v1/incidents"))["items"]
        assert all(p.name in (i["filer"], i["against"]) for i in items), items
    assert w.ids["incident"] in {i["incident"] for i in ok(w.beta.get("/v1/incidents"))["items"]}


def read_incident(w: World) -> None:
    path = "/v1/incidents/{}"
    for p in (w.delta, w.gamma, w.obs):
        real = p.get(path.format(w.ids["incident"]))
        assert refused_alike(real, p.get(path.format(MADE_UP_INCIDENT))) == 404
    assert ok(w.beta.get(path.format(w.ids["incident"])))["description"].startswith("INCIDENT")


def incident_attachment(w: World) -> None:
    path = "/v1/incidents/{}/attachments/0"
    for p in (w.delta, w.gamma, w.obs):
        real = p.get(path.format(w.ids["incident"]))
        assert refused_alike(real, p.get(path.format(MADE_UP_INCIDENT))) == 404
    assert w.beta.get(path.format(w.ids["incident"])).content == b"INCIDENT-PHOTO-BYTES"


def incident_account(w: World) -> None:
    path = "/v1/incidents/{}/accounts"
    before = ok(w.alpha.get(f"/v1/incidents/{w.ids['incident']}"))["accounts"]
    for p in (w.delta, w.gamma, w.obs):
        body = {"text": "We saw it all."}
        real = p.post(path.format(w.ids["incident"]), json=body)
        assert refused_alike(real, p.post(path.format(MADE_UP_INCIDENT), json=body)) == 404
    assert ok(w.alpha.get(f"/v1/incidents/{w.ids['incident']}"))["accounts"] == before


def incident_finding(w: World) -> None:
    path = "/v1/incidents/{}/finding"
    body = {"finding": "Nothing happened.", "outcome": "agreed"}
    for p in (w.delta, w.gamma, w.obs):
        real = p.post(path.format(w.ids["incident"]), json=body)
        assert refused_alike(real, p.post(path.format(MADE_UP_INCIDENT), json=body)) == 404
    doc = ok(w.alpha.get(f"/v1/incidents/{w.ids['incident']}"))
    assert doc["finding"] is None and doc["proposal"] is None


def incident_evidence(w: World) -> None:
    path = "/v1/incidents/{}/evidence"
    sent = ok(w.alpha.post(path.format(w.ids["incident"])), 201)
    for p in (w.delta, w.gamma, w.obs):
        real = p.get(path.format(w.ids["incident"]))
        assert refused_alike(real, p.get(path.format(MADE_UP_INCIDENT))) == 404
    got = w.beta.get(path.format(w.ids["incident"]))
    assert ok(got)["format"] == "deconflict-incident-report/1"
    assert got.headers["Digest-SHA256"] == sent["sha256"]


def attach_incident_evidence(w: World) -> None:
    path = "/v1/incidents/{}/evidence"
    for p in (w.delta, w.gamma, w.obs):
        real = p.post(path.format(w.ids["incident"]))
        assert refused_alike(real, p.post(path.format(MADE_UP_INCIDENT))) == 404
    got = ok(w.beta.post(path.format(w.ids["incident"])), 201)
    assert got["by"] == "beta" and got["incident"] == w.ids["incident"]


def health(w: World) -> None:
    for p in w.others():
        assert ok(p.get("/health")) == {"status": "ok"}


def live_report(p: Party, unit: str = "u1") -> dict[str, Any]:
    return {"unit": unit, "time": time.time() - 5, "lat": 30.0, "lon": 30.0}


def post_positions(w: World) -> None:
    for p in w.others():
        forged = {**live_report(p), "party": "alpha"}
        r = p.post("/v1/positions", json=[forged])
        assert r.status_code == 422 and "party" in error(r)["message"]
        assert ok(p.post("/v1/positions", json=[live_report(p)]))["accepted"] == 1
    for p in w.others():  # alpha's units are alpha's only
        assert all(p.name in a["parties"] for a in ok(p.get("/v1/alerts"))["alerts"])


def owntracks(w: World) -> None:
    msg = {"_type": "location", "lat": 30.0, "lon": 30.1, "tst": int(time.time()), "tid": "ot"}
    for p in w.others():
        assert ok(p.post("/v1/owntracks", json={**msg, "party": "alpha"})) == []


def osmand(w: World) -> None:
    q = {"id": "phone", "lat": "30.0", "lon": "30.2", "timestamp": str(int(time.time()))}
    for p in w.others():
        assert ok(p.get("/v1/osmand", params=q)) == {"accepted": 1}
        assert ok(p.post("/v1/osmand", params=q)) == {"accepted": 1}
        # alpha's revoked token in the query never reports for alpha, header or not.
        r = p.get("/v1/osmand", params={**q, "token": w.ids["revoked"]})
        assert r.status_code == 200  # the header's token (p's own) is the one used
    r = w.anonymous.get("/v1/osmand", params={**q, "token": w.ids["revoked"]})
    assert r.status_code == 401 and error(r)["code"] == "unauthorized"


def list_alerts(w: World) -> None:
    for p in w.others():
        assert all(p.name in a["parties"] for a in ok(p.get("/v1/alerts"))["alerts"])


def ack_alert(w: World) -> None:
    for p in w.others():
        real = p.post("/v1/alerts/a0/acknowledge")
        assert refused_alike(real, p.post("/v1/alerts/nothing/acknowledge")) == 404


ALPHA_UNIT = {"unit": "ALPHA-UNIT-SECRET", "lat": 30.98765, "lon": 30.56789}
"""A unit of alpha's, 100 km from every other unit: in no alert of anyone's."""


def read_tracks(w: World) -> None:
    """Tracks: a party's own units, and another's only while an open alert involving it
    names the unit; alpha's unit, in no alert, reaches nobody else (nor the observer
    alpha named, nor the operator)."""
    ok(w.alpha.post("/v1/positions", json=[{**ALPHA_UNIT, "time": time.time() - 5}]))
    mine = ok(w.alpha.get("/v1/tracks"))["tracks"]
    assert any(t["unit"] == "ALPHA-UNIT-SECRET" for t in mine), mine
    for p in w.others() + [w.watch, w.operator]:
        doc = ok(p.get("/v1/tracks"))
        text = json.dumps(doc)
        assert "ALPHA-UNIT-SECRET" not in text and "30.98765" not in text, (p.name, text[:400])
        named = {u for a in ok(p.get("/v1/alerts"))["alerts"] for u in a["units"]}
        for t in doc["tracks"]:
            assert t["party"] == p.name or f"{t['party']}/{t['unit']}" in named, (p.name, t)
    assert ok(w.operator.get("/v1/tracks"))["tracks"] == []


M01 = midpoint(ROUTE[0], ROUTE[1])
"""On alpha-route's first leg, passed at T0 + 0.5 legs: far from what beta and delta see."""


def check_draft(w: World) -> None:
    """A draft is checked only against what its party already sees: crossing alpha-route
    where nobody else sees it gives no conflict (no probing others' plans with drafts);
    crossing the portion beta sees gives beta that conflict. Nothing is written."""
    size = ok(w.alpha.get("/v1/log/entries"))["size"]
    for p in w.others():
        draft = northbound(p.name, f"{p.name}-draft", M01, T0 + 0.5 * LEG_S)
        doc = ok(p.post("/v1/declarations/check", json=draft))
        assert doc["complete"] is False and "only on submission" in doc["note"], doc
        assert [d["conflicts"] for d in doc["declarations"]] == [[]], (p.name, doc)
        forged = p.post("/v1/declarations/check", json=northbound("alpha", "x", M01, T0))
        assert forged.status_code == 403 and error(forged)["code"] == "forbidden"
    seen = northbound("beta", "beta-draft", M12, T0 + 1.5 * LEG_S)
    doc = ok(w.beta.post("/v1/declarations/check", json=seen))
    found = doc["declarations"][0]["conflicts"]
    assert {(c["party_a"], c["a"], c["party_b"], c["b"]) for c in found} == {
        ("alpha", "alpha-route", "beta", "beta-draft")
    }, found
    assert doc["declarations"][0]["would_notify"] == ["alpha"]
    assert ok(w.alpha.get("/v1/log/entries"))["size"] == size
    for p in w.others():
        r = p.get(f"/v1/declarations/{p.name}/{p.name}-draft")
        assert r.status_code == 404, "a checked draft was stored"


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    request: Callable[[World], Req]
    """A well-formed call as the owner (alpha, or the operator where only it may) makes it."""
    others: Callable[[World], None]
    """What parties other than the owner get from it."""
    public: bool = False
    """Answers without a token (and says nothing)."""


def r(method: str, path: str, body: Any = None, **headers: str) -> Callable[[World], Req]:
    """A request template; {hook} and the like are filled from World.ids, and header
    names are written with '_' for '-'."""

    def make(w: World) -> Req:
        filled = {k.replace("_", "-"): v.format(**w.ids) for k, v in headers.items()}
        return Req(method, path.format(**w.ids), body, filled)

    return make


DECL = "/v1/declarations/alpha/alpha-route"
TABLE: dict[tuple[str, str], Endpoint] = {
    ("GET", "/health"): Endpoint(r("GET", "/health"), health, public=True),
    ("GET", "/v1/me"): Endpoint(r("GET", "/v1/me"), me),
    ("PUT", "/v1/me/observers"): Endpoint(
        r("PUT", "/v1/me/observers", {"observers": ["watch"]}), set_observers
    ),
    ("GET", "/v1/parties"): Endpoint(r("GET", "/v1/parties"), parties),
    ("POST", "/v1/parties"): Endpoint(
        r("POST", "/v1/parties", {"name": "rogue", "kind": "force"}), register_party
    ),
    ("POST", "/v1/parties/{party}/tokens"): Endpoint(
        r("POST", "/v1/parties/alpha/tokens", {"revoke_others": True}), issue_token
    ),
    ("GET", "/v1/parties/{party}/tokens"): Endpoint(
        r("GET", "/v1/parties/alpha/tokens"), list_tokens
    ),
    ("DELETE", "/v1/tokens/{token_id}"): Endpoint(r("DELETE", "/v1/tokens/{token}"), revoke_token),
    ("POST", "/v1/parties/{party}/keys"): Endpoint(
        r("POST", "/v1/parties/alpha/keys", {"public_key": BAD_KEY}), add_key
    ),
    ("GET", "/v1/parties/{party}/keys"): Endpoint(r("GET", "/v1/parties/alpha/keys"), read_keys),
    ("DELETE", "/v1/keys/{key_id}"): Endpoint(r("DELETE", "/v1/keys/{key}"), revoke_key),
    ("POST", "/v1/declarations"): Endpoint(
        r("POST", "/v1/declarations", point_site("alpha", "alpha-new", (37.5, 36.5))), submit
    ),
    ("GET", "/v1/declarations"): Endpoint(r("GET", "/v1/declarations"), listing),
    ("POST", "/v1/declarations/check"): Endpoint(
        r("POST", "/v1/declarations/check", northbound("alpha", "alpha-draft", M01, T0)),
        check_draft,
    ),
    ("GET", "/v1/inbox"): Endpoint(r("GET", "/v1/inbox"), inbox),
    ("POST", "/v1/declarations/{party}/{decl_id}/withdraw"): Endpoint(
        r("POST", DECL + "/withdraw", {}, If_Match="{etag}"), owner_action("withdraw")
    ),
    ("POST", "/v1/declarations/{party}/{decl_id}/activate"): Endpoint(
        r("POST", DECL + "/activate", {}, If_Match="{etag}"), owner_action("activate")
    ),
    ("POST", "/v1/declarations/{party}/{decl_id}/complete"): Endpoint(
        r("POST", DECL + "/complete", {}, If_Match="{etag}"), owner_action("complete")
    ),
    ("POST", "/v1/declarations/{party}/{decl_id}/acknowledge"): Endpoint(
        r("POST", DECL + "/acknowledge", {}), answer("acknowledge")
    ),
    ("POST", "/v1/declarations/{party}/{decl_id}/object"): Endpoint(
        r("POST", DECL + "/object", {"reason": "No."}), answer("object")
    ),
    ("POST", "/v1/declarations/{party}/{decl_id}/share"): Endpoint(
        r("POST", DECL + "/share", {"shared": True}), share
    ),
    ("GET", "/v1/declarations/{party}/{decl_id}/conflicts"): Endpoint(
        r("GET", DECL + "/conflicts"), conflicts
    ),
    ("GET", "/v1/declarations/{party}/{decl_id}/versions/{version}"): Endpoint(
        r("GET", DECL + "/versions/1"), version
    ),
    ("GET", "/v1/declarations/{party}/{decl_id}"): Endpoint(r("GET", DECL), read),
    ("PUT", "/v1/declarations/{party}/{decl_id}"): Endpoint(
        r("PUT", DECL, a1(), If_Match="{etag}"), amend
    ),
    ("POST", "/v1/messages"): Endpoint(
        r("POST", "/v1/messages", {"to": "beta", "text": "Hello."}), send_message
    ),
    ("GET", "/v1/messages"): Endpoint(r("GET", "/v1/messages"), list_messages),
    ("POST", "/v1/messages/{message_id}/acknowledge"): Endpoint(
        r("POST", "/v1/messages/{message}/acknowledge"), ack_message
    ),
    ("GET", "/v1/events"): Endpoint(r("GET", "/v1/events"), events),
    ("GET", "/v1/events/stream"): Endpoint(r("GET", "/v1/events/stream"), stream),
    ("POST", "/v1/webhooks"): Endpoint(
        r("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/x"}), register_webhook
    ),
    ("GET", "/v1/webhooks"): Endpoint(r("GET", "/v1/webhooks"), list_webhooks),
    ("DELETE", "/v1/webhooks/{hook_id}"): Endpoint(
        r("DELETE", "/v1/webhooks/{hook}"), delete_webhook
    ),
    ("GET", "/v1/webhooks/{hook_id}/deliveries"): Endpoint(
        r("GET", "/v1/webhooks/{hook}/deliveries"), deliveries
    ),
    ("GET", "/v1/log/key"): Endpoint(r("GET", "/v1/log/key"), log_key),
    ("GET", "/v1/log/checkpoint"): Endpoint(r("GET", "/v1/log/checkpoint"), log_checkpoint),
    ("POST", "/v1/log/checkpoint"): Endpoint(r("POST", "/v1/log/checkpoint"), sign_checkpoint),
    ("GET", "/v1/log/checkpoints"): Endpoint(r("GET", "/v1/log/checkpoints"), log_checkpoints),
    ("POST", "/v1/log/checkpoints/{checkpoint_id}/cosign"): Endpoint(
        r("POST", "/v1/log/checkpoints/{checkpoint}/cosign", {"note": "x"}), cosign
    ),
    ("GET", "/v1/log/entries"): Endpoint(r("GET", "/v1/log/entries"), log_entries),
    ("GET", "/v1/log/entries/{index}"): Endpoint(r("GET", "/v1/log/entries/1"), log_entry),
    ("GET", "/v1/log/entries/{index}/proof"): Endpoint(
        r("GET", "/v1/log/entries/1/proof"), log_proof
    ),
    ("GET", "/v1/log/consistency"): Endpoint(
        r("GET", "/v1/log/consistency?old_size=1"), log_consistency
    ),
    ("POST", "/v1/incidents"): Endpoint(
        r("POST", "/v1/incidents", {**INCIDENT, "at": "2020-01-01T00:00:00Z"}), file_incident
    ),
    ("GET", "/v1/incidents"): Endpoint(r("GET", "/v1/incidents"), list_incidents),
    ("GET", "/v1/incidents/{incident_id}"): Endpoint(
        r("GET", "/v1/incidents/{incident}"), read_incident
    ),
    ("GET", "/v1/incidents/{incident_id}/attachments/{n}"): Endpoint(
        r("GET", "/v1/incidents/{incident}/attachments/0"), incident_attachment
    ),
    ("POST", "/v1/incidents/{incident_id}/accounts"): Endpoint(
        r("POST", "/v1/incidents/{incident}/accounts", {"text": "It was them."}),
        incident_account,
    ),
    ("POST", "/v1/incidents/{incident_id}/finding"): Endpoint(
        r("POST", "/v1/incidents/{incident}/finding", {"finding": "x", "outcome": "agreed"}),
        incident_finding,
    ),
    ("GET", "/v1/incidents/{incident_id}/evidence"): Endpoint(
        r("GET", "/v1/incidents/{incident}/evidence"), incident_evidence
    ),
    ("POST", "/v1/incidents/{incident_id}/evidence"): Endpoint(
        r("POST", "/v1/incidents/{incident}/evidence"), attach_incident_evidence
    ),
    ("POST", "/v1/positions"): Endpoint(
        r("POST", "/v1/positions", [{"unit": "u", "time": 1.7e9, "lat": 30.0, "lon": 30.0}]),
        post_positions,
    ),
    ("POST", "/v1/owntracks"): Endpoint(
        r("POST", "/v1/owntracks", {"_type": "location", "lat": 30, "lon": 30, "tst": 1.7e9}),
        owntracks,
    ),
    ("GET", "/v1/osmand"): Endpoint(r("GET", "/v1/osmand?id=u&lat=30&lon=30"), osmand),
    ("POST", "/v1/osmand"): Endpoint(r("POST", "/v1/osmand?id=u&lat=30&lon=30"), osmand),
    ("GET", "/v1/tracks"): Endpoint(r("GET", "/v1/tracks"), read_tracks),
    ("GET", "/v1/alerts"): Endpoint(r("GET", "/v1/alerts"), list_alerts),
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): Endpoint(
        r("POST", "/v1/alerts/a0/acknowledge"), ack_alert
    ),
}
ENDPOINTS = sorted(TABLE, key=lambda k: (k[1], k[0]))
IDS = [f"{m} {p}" for m, p in ENDPOINTS]


def test_table_covers_every_endpoint_of_the_schema(world: World) -> None:
    doc = ok(httpx.get(world.server.url + "/openapi.json"))
    served = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served - set(TABLE) == set(), "endpoints without an access case"
    assert set(TABLE) - served == set(), "cases for endpoints the server no longer has"


# --- 401 -------------------------------------------------------------------------------


def credentials(w: World) -> dict[str, str | None]:
    real_id = w.ids["token"]
    return {
        "no token": None,
        "not a token": "Bearer not-a-token",
        "wrong secret": f"Bearer dcf_{real_id}_{'x' * 43}",
        "other scheme": f"Basic {w.alpha.token}",
        "revoked token": f"Bearer {w.ids['revoked']}",
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_spec_4_no_token_bad_token_or_revoked_token_gets_401(
    world: World, endpoint: tuple[str, str]
) -> None:
    case = TABLE[endpoint]
    req = case.request(world)
    messages = set()
    for what, authorization in credentials(world).items():
        headers = dict(req.headers)
        if authorization is not None:
            headers["Authorization"] = authorization
        resp = world.anonymous.request(req.method, req.path, json=req.json, headers=headers)
        if case.public:
            assert resp.status_code == 200 and resp.json() == {"status": "ok"}, what
            continue
        assert resp.status_code == 401, (what, resp.status_code, resp.text)
        err = error(resp)
        assert err["code"] == "unauthorized", (what, err)
        messages.add(err["message"])
    assert len(messages) <= 1, f"refusals tell the failures apart: {messages}"
    ok(world.alpha.get("/v1/me"))  # nothing above touched alpha's own token


# --- others ----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_spec_4_other_parties_are_refused_or_see_only_their_share(
    world: World, endpoint: tuple[str, str]
) -> None:
    before = sum(world.answers.values())
    TABLE[endpoint].others(world)
    assert sum(world.answers.values()) > before, "the leak guard read no answer"


def test_spec_4_forces_see_a_humanitarian_declaration_observers_do_not(world: World) -> None:
    for p in (world.alpha, world.beta, world.gamma):
        doc = ok(p.get("/v1/declarations/hum/hum-convoy"))
        assert doc["access"] == "notified" and doc["whole"] is True
    assert world.obs.get("/v1/declarations/hum/hum-convoy").status_code == 404


def test_spec_4_the_record_names_nothing_a_party_may_not_see(world: World) -> None:
    """The public record is sealed: no party reads in it whose declarations, disclosures,
    messages or incidents an entry is about."""
    for p in (world.gamma, world.beta, world.delta, world.obs):
        text = p.get("/v1/log/entries", params={"limit": 5000}).text
        assert not sorted(s for s in world.refs[p.name] if s in text), p.name


# --- the WebSocket (not in the schema) -------------------------------------------------


def ws_url(world: World) -> str:
    return world.server.url.replace("http://", "ws://") + "/v1/events/ws"


def ws_read(ws: Any, *, until: str | None, wait_s: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            got.append(json.loads(ws.recv(timeout=wait_s)))
        except TimeoutError:
            break
        if until is not None and until in json.dumps(got[-1]):
            break
    return got


@pytest.mark.parametrize("how", ["no token", "revoked token", "wrong secret"])
def test_spec_4_websocket_without_a_valid_token_is_refused(world: World, how: str) -> None:
    first = {
        "no token": {"last_event_id": 0},
        "revoked token": {"token": world.ids["revoked"]},
        "wrong secret": {"token": f"dcf_{world.ids['token']}_{'x' * 43}"},
    }[how]
    with connect(ws_url(world), open_timeout=5, close_timeout=2, proxy=None) as ws:
        ws.send(json.dumps(first))
        answer = json.loads(ws.recv(timeout=5))
        assert answer["error"]["code"] == "unauthorized"
        assert answer["error"]["message"].endswith(".")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1008


def test_spec_4_websocket_delivers_only_the_callers_events(world: World) -> None:
    marks = {p.name: ok(p.get("/v1/events"))["last"] for p in (world.alpha, world.gamma)}
    sent = ok(world.delta.post("/v1/messages", json={"to": "alpha", "text": "WS-PROBE."}), 201)
    header = {"Authorization": f"Bearer {world.alpha.token}"}
    url = ws_url(world) + f"?last_event_id={marks['alpha']}"
    with connect(url, additional_headers=header, open_timeout=5, proxy=None) as ws:
        got = ws_read(ws, until=sent["message"], wait_s=10)
    assert any(e.get("message", {}).get("message") == sent["message"] for e in got), got
    for p in (world.gamma, world.obs, world.beta):
        with connect(ws_url(world), open_timeout=5, proxy=None) as ws:
            ws.send(json.dumps({"token": p.token, "last_event_id": 0}))
            text = json.dumps(ws_read(ws, until=None, wait_s=1.0))
        leaked = sorted(s for s in world.hidden[p.name] if s in text)
        assert not leaked and sent["message"] not in text and "WS-PROBE" not in text, leaked


def test_websocket_refuses_a_sequence_number_it_cannot_hold(world: World) -> None:
    """A last_event_id past the store's integers is refused, not a crash mid-stream."""
    with connect(ws_url(world), open_timeout=5, close_timeout=2, proxy=None) as ws:
        ws.send(json.dumps({"token": world.gamma.token, "last_event_id": 10**30}))
        assert "error" in json.loads(ws.recv(timeout=5))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    r = world.gamma.get("/v1/events/stream", headers={"Last-Event-ID": "9" * 20})
    assert r.status_code == 422 and error(r)["code"] == "invalid_request"


def test_guard_hides_what_alpha_itself_is_shown(world: World) -> None:
    """The leak guard is not vacuous: the strings it keeps from beta are in alpha's view,
    written as the service writes them."""
    whole = json.dumps(ok(world.alpha.get(DECL))) + json.dumps(ok(world.alpha.get("/v1/webhooks")))
    for s in ("36.01234", "35.54321", iso(T0), iso(T0 + 2 * LEG_S), CALLSIGN, "alpha-hook"):
        assert s in whole and s in world.hidden["beta"], s


def test_spec_4_a_draft_probes_nothing_its_submission_finds(world: World) -> None:
    """The preview of a draft crossing alpha-route where the checking party sees none of it
    reports no conflict; submitting the same draft finds the conflict and notifies alpha.
    (A party of its own, so the other tests' parties keep seeing nothing of alpha's.)"""
    probe = world.server.add_party("probe", "force")
    draft = northbound("probe", "probe-crossing", M01, T0 + 0.5 * LEG_S)
    preview = ok(probe.post("/v1/declarations/check", json=draft))["declarations"][0]
    assert preview["conflicts"] == [] and preview["would_notify"] == []
    try:
        submitted = ok(probe.post("/v1/declarations", json=draft), 201)["declarations"][0]
        assert {(c["a"], c["b"]) for c in submitted["conflicts"]} == {
            ("alpha-route", "probe-crossing")
        }
        assert [n["party"] for n in submitted["clearance"]["notified"]] == ["alpha"]
        # Now probe sees that portion of alpha-route, and its next draft there conflicts.
        again = northbound("probe", "probe-again", M01, T0 + 0.5 * LEG_S)
        found = ok(probe.post("/v1/declarations/check", json=again))["declarations"][0]
        assert {(c["a"], c["b"]) for c in found["conflicts"]} == {("alpha-route", "probe-again")}
    finally:
        etag = ok(probe.get("/v1/declarations/probe/probe-crossing"))["etag"]
        ok(
            probe.post(
                "/v1/declarations/probe/probe-crossing/withdraw",
                json={},
                headers={"If-Match": etag},
            )
        )

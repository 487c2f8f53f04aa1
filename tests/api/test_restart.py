"""A real server killed mid-burst (SIGKILL: no shutdown code runs) and restarted on the same
SQLite file: every request answered 2xx is there exactly once, nothing is half-written
(checked through the API and straight in the file, right after the kill and at the end),
retrying the unanswered requests with their Idempotency-Key creates no duplicate, the
engine is rebuilt from the store, and a deadline set before the kill falls due after it.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.server import Party, Server
from deconflict.engine import Engine
from deconflict.ingest import parse_declarations
from deconflict.model.clearance import FINAL_STATES
from deconflict.service.declarations import due_of
from deconflict.store.codec import clearance_from_json

WAIT_S = 15.0
WINDOW_S = 10.0
"""Answer deadline after a notification on this server (plans start days later)."""
CONFIG = f"""
[notice]
response_window_s = {WINDOW_S}
response_floor_s = 1
"""
THREADS = 4
PLACES = 4
"""The burst's movements go through this many places; at each, every party's conflict."""
KILL_AFTER = 24
"""SIGKILL once this many burst requests have been answered."""
T0 = (int(time.time() // 3600) + 96) * 3600.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def movement(party: str, decl_id: str, place: int, note: str = "") -> dict[str, Any]:
    lon, lat = 38.0 + place * 0.5, 36.0
    props: dict[str, Any] = {
        "id": decl_id,
        "party": party,
        "kind": "movement",
        "times": [_iso(T0 + 3600), _iso(T0 + 3 * 3600)],
    }
    if note:
        props["notes"] = note
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon - 0.05, lat], [lon + 0.05, lat]]},
        "properties": props,
    }


def site(party: str, decl_id: str, lon: float, lat: float) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "site",
            "buffer_m": 300,
            "valid_from": _iso(T0),
            "valid_to": _iso(T0 + 86400),
        },
    }


# --- the burst ------------------------------------------------------------------------------


@dataclass
class Call:
    """One request of the burst and what became of it."""

    party: str
    method: str
    path: str
    key: str
    body: bytes
    headers: dict[str, str]
    decl_id: str
    version: int
    """The version it makes: 1 for a submission, 2 for an amendment."""
    status: int | None = None
    """None: no answer (the server died first)."""
    answer: Any = None


def send(client: httpx.Client, call: Call) -> httpx.Response:
    headers = {**call.headers, "Content-Type": "application/json"}
    return client.request(call.method, call.path, content=call.body, headers=headers)


@dataclass
class Burst:
    server: Server
    tokens: dict[str, str]
    calls: list[Call] = field(default_factory=list)
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)

    def run(self, party: str) -> None:
        """Submit movements, amending every third one's predecessor, until the server dies."""
        headers = {"Authorization": f"Bearer {self.tokens[party]}"}
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=WAIT_S) as client:
            etags: dict[str, str] = {}
            for i in range(200):
                decl_id = f"m{i}"
                doc = movement(party, decl_id, i % PLACES)
                calls = [self.call(party, "POST", "/v1/declarations", f"{party}-s{i}", doc)]
                prev = f"m{i - 1}"
                if i % 3 == 2 and prev in etags:
                    doc = movement(party, prev, (i - 1) % PLACES, note="amended")
                    path = f"/v1/declarations/{party}/{prev}"
                    key = f"{party}-a{i - 1}"
                    calls.append(self.call(party, "PUT", path, key, doc, etags[prev]))
                for call in calls:
                    try:
                        r = send(client, call)
                    except httpx.TransportError:
                        return  # the server is gone: this call has no answer
                    call.status, call.answer = r.status_code, r.json()
                    if call.version == 1 and r.status_code == 201:
                        etags[decl_id] = call.answer["declarations"][0]["etag"]
                    with self.lock:
                        self.answered += 1
                        if self.answered >= KILL_AFTER:
                            self.enough.set()

    def call(
        self, party: str, method: str, path: str, key: str, doc: dict[str, Any], etag: str = ""
    ) -> Call:
        """A request to make (an amendment when `etag` names the version it replaces)."""
        headers = {"Idempotency-Key": key}
        if etag:
            headers["If-Match"] = etag
        body = json.dumps(doc).encode()
        decl_id = doc["properties"]["id"]
        call = Call(party, method, path, key, body, headers, decl_id, 2 if etag else 1)
        with self.lock:
            self.calls.append(call)
        return call


# --- the store, read straight from the file -------------------------------------------------


def check_store(server: Server) -> dict[tuple[str, str], list[int]]:
    """Assert the store is whole and consistent; returns (party, id) -> its versions."""
    db = server.query
    rows = db("SELECT party, id, version, current, live, state, clearance, due_s FROM declarations")
    notes = db("SELECT party, id, version, notified, deadline_s FROM notifications")
    pairs = db("SELECT a_party, a_id, b_party, b_id FROM conflicts")
    features = db("SELECT feature FROM declarations WHERE current AND live")
    events = db("SELECT recipient, type, payload FROM events")
    remembered = db("SELECT party, key, status, body FROM idempotency")
    versions: dict[tuple[str, str], list[int]] = {}
    current: dict[tuple[str, str], int] = {}
    wanted_notes = set()
    for party, decl_id, version, is_current, live, state, clearance, due_s in rows:
        c = clearance_from_json(clearance)
        assert (c.key.party, c.key.id, c.version) == (party, decl_id, version)
        assert str(c.state) == state and bool(live) == (c.state not in FINAL_STATES)
        assert due_s == due_of(c)
        versions.setdefault((party, decl_id), []).append(version)
        if is_current:
            assert (party, decl_id) not in current, f"two current versions of {decl_id}"
            current[(party, decl_id)] = version
        wanted_notes |= {(party, decl_id, version, n.party, n.deadline_s) for n in c.notifications}
    for key, found in versions.items():
        assert sorted(found) == list(range(1, len(found) + 1)), (key, found)
        assert current[key] == len(found), key
    # Every notification of every version is in the notifications table, and nothing else.
    assert set(notes) == wanted_notes and len(notes) == len(wanted_notes)
    # The conflicts table is exactly what the engine finds among the live declarations now.
    engine = Engine()
    engine.add_many(parse_declarations(f[0], source="store").declarations[0] for f in features)
    expected = Counter(
        frozenset({(c.party_a, c.a), (c.party_b, c.b)}) for c in engine.all_conflicts()
    )
    stored = Counter(frozenset({(a, ai), (b, bi)}) for a, ai, b, bi in pairs)
    assert stored == expected
    # Each version announced once to its owner, each notification once to its party.
    told = Counter(
        (recipient, kind, json.dumps(json.loads(p)["declaration"], sort_keys=True))
        for recipient, kind, p in events
        if kind in ("declaration.submitted", "notification")
    )
    for party, decl_id, version, *_ in rows:
        ref = json.dumps({"id": decl_id, "party": party, "version": version}, sort_keys=True)
        assert told[(party, "declaration.submitted", ref)] == 1, (party, decl_id, version)
    for party, decl_id, version, notified, _ in wanted_notes:
        ref = json.dumps({"id": decl_id, "party": party, "version": version}, sort_keys=True)
        assert told[(notified, "notification", ref)] == 1, (party, decl_id, version, notified)
    assert sum(told.values()) == len(rows) + len(wanted_notes)
    # Every remembered answer names versions that exist.
    for party, _key, status, body in remembered:
        doc = json.loads(body)
        refs = (
            [d["declaration"] for d in doc["declarations"]]
            if status == 201
            else [doc["declaration"]]
        )
        for ref in refs:
            assert ref["party"] == party and ref["version"] in versions[(party, ref["id"])]
    return versions


def _raw_request(call: Call, token: str) -> bytes:
    head = (
        f"{call.method} {call.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {call.key}\r\nContent-Length: {len(call.body)}\r\n\r\n"
    )
    return head.encode() + call.body


def _wait_for_row(server: Server, party: str, decl_id: str) -> None:
    give_up = time.monotonic() + WAIT_S
    while time.monotonic() < give_up:
        sql = "SELECT 1 FROM declarations WHERE party = :p AND id = :i"
        if server.query(sql, p=party, i=decl_id):
            return
        time.sleep(0.01)
    raise AssertionError(f"{party}/{decl_id} was never committed")


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
def server(store: str, tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "deconflict.sqlite", store=store, config=CONFIG).start()
    try:
        yield s
    finally:
        s.close()


def _party(server: Server, name: str, token: str) -> Party:
    return Party(name, token, server.client(token))


def test_kill_mid_burst_then_restart(server: Server) -> None:
    names = [f"P{i}" for i in range(THREADS)]
    tokens = {n: server.add_party(n, "force").token for n in names}
    # A deadline that falls due while the server is down or just after it is back.
    watcher, crosser = server.add_party("D", "force"), server.add_party("E", "force")
    r = watcher.post("/v1/declarations", json=site("D", "camp", 45.0, 36.0))
    assert r.status_code == 201, r.text
    r = crosser.post("/v1/declarations", json=movement("E", "convoy", 14))  # through D's camp
    assert r.status_code == 201, r.text
    assert r.json()["declarations"][0]["clearance"]["state"] == "notified"
    (note,) = [e for e in watcher.get("/v1/events").json()["events"] if e["type"] == "notification"]
    deadline_s = note["deadline_s"]
    assert deadline_s <= time.time() + WINDOW_S

    burst = Burst(server, tokens)
    threads = [threading.Thread(target=burst.run, args=(n,)) for n in names]
    for t in threads:
        t.start()
    try:
        assert burst.enough.wait(WAIT_S), "the burst did not get going"
        # One request whose answer is lost: committed, but the server dies before the
        # client reads a byte of the answer.
        lost = burst.call("P0", "POST", "/v1/declarations", "P0-lost", movement("P0", "lost", 1))
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S) as raw:
            raw.sendall(_raw_request(lost, tokens["P0"]))
            _wait_for_row(server, "P0", "lost")
            server.stop(signal.SIGKILL)
            killed_at = time.time()
    finally:
        for t in threads:
            t.join(WAIT_S)
    assert not any(t.is_alive() for t in threads)
    assert killed_at < deadline_s, "too slow to test a deadline across the restart"

    answered = [c for c in burst.calls if c.status is not None]
    unanswered = [c for c in burst.calls if c.status is None]
    assert len(answered) >= KILL_AFTER and unanswered
    assert {c.status for c in answered} <= {200, 201}

    # Right after the kill, before anything reopens the file: whole and consistent.
    versions = check_store(server)
    for c in answered:
        assert c.version in versions[(c.party, c.decl_id)], c.key
    early = server.query("SELECT count(*) FROM events WHERE type = 'escalation'")
    assert early == [(0,)]

    server.start()
    clients = {n: _party(server, n, tokens[n]) for n in names}

    # The lost answer: the retry gets the answer the first try was given, not a 409.
    r = send(clients["P0"].client, lost)
    assert r.status_code == 201, r.text
    assert r.json()["declarations"][0]["declaration"] == {"party": "P0", "id": "lost", "version": 1}

    # Every answered request is there exactly once, as answered.
    for c in answered:
        p = clients[c.party]
        r = p.get(f"/v1/declarations/{c.party}/{c.decl_id}")
        assert r.status_code == 200, r.text
        got = r.json()
        assert c.version in got["versions"] and len(got["versions"]) == len(set(got["versions"]))
        # The same request again is answered from memory: same status, same body.
        again = send(p.client, c)
        assert (again.status_code, again.json()) == (c.status, c.answer), c.key

    # The unanswered ones, retried with the same key, are done at most once.
    before = check_store(server)
    for c in sorted(unanswered, key=lambda c: c.version):
        p = clients[c.party]
        r = send(p.client, c)
        assert r.status_code == (201 if c.version == 1 else 200), (c.key, r.text)
        twice = send(p.client, c)
        assert (twice.status_code, twice.json()) == (r.status_code, r.json())
    after = check_store(server)
    for c in unanswered + answered:
        assert c.version in after[(c.party, c.decl_id)]  # done...
    assert len(after) == len(before) + sum(  # ...and once: only new submissions are new
        1 for c in unanswered if c.version == 1 and (c.party, c.decl_id) not in before
    )
    for key, found_versions in after.items():
        amends = {c.decl_id for c in burst.calls if c.version == 2 and c.party == key[0]}
        assert found_versions == ([1, 2] if key[1] in amends else [1]), key

    # The engine was rebuilt from the store: a newcomer conflicts with all that is there.
    newcomer = server.add_party("N", "force")
    r = newcomer.post("/v1/declarations", json=movement("N", "probe", 0))
    assert r.status_code == 201, r.text
    found = {(x["party_a"], x["a"]) for x in r.json()["declarations"][0]["conflicts"]}
    found |= {(x["party_b"], x["b"]) for x in r.json()["declarations"][0]["conflicts"]}
    expected = {k for k in after if k[1].startswith("m") and int(k[1][1:]) % PLACES == 0}
    assert found - {("N", "probe")} == expected

    # The deadline set before the kill falls due after the restart, exactly once.
    d = _party(server, "D", watcher.token)
    give_up = time.monotonic() + WAIT_S
    while True:
        events = d.get("/v1/events").json()["events"]
        escalations = [e for e in events if e["type"] == "escalation"]
        if escalations or time.monotonic() > give_up:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # a second tick must not escalate it again
    events = d.get("/v1/events").json()["events"]
    escalations = [e for e in events if e["type"] == "escalation"]
    assert len(escalations) == 1, events
    (esc,) = escalations
    assert esc["declaration"] == {"party": "E", "id": "convoy", "version": 1}
    assert esc["party"] == "D" and esc["deadline_s"] == deadline_s
    assert esc["at_s"] > killed_at and esc["at_s"] >= deadline_s
    view = _party(server, "E", crosser.token).get("/v1/declarations/E/convoy").json()
    assert view["clearance"]["notified"][0]["escalated"] is True
    assert "Traceback" not in server.log()
    check_store(server)

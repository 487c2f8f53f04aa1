"""Events through a real server: Server-Sent Events and the WebSocket deliver a party's
own events live; a client that drops and reconnects with `Last-Event-ID` (or
`last_event_id`) gets exactly what it missed, in order, nothing twice; no party ever
receives another's events; a graceful stop ends open streams instead of waiting on them.
Webhooks end to end: a real loopback receiver gets signed deliveries, a failing receiver
gets the retry, and the delivery log shows the attempts.

Every wait is bounded (about 15 s at most) so a lost event fails a test, never hangs it.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.server import Party, Server
from deconflict.api.webhooks import (
    HEADER_DELIVERY,
    HEADER_EVENT_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    BadWebhookSignature,
    verify,
)
from deconflict.errors import InvalidRequest
from deconflict.service.config import load_settings

WAIT_S = 15.0
"""Longest wait for anything expected."""
QUIET_S = 10.0
"""Read timeout of a stream: below the server's 15 s keep-alive, so silence fails fast."""
BACKOFF_S = 0.5
"""webhook_backoff_base_s of the module's server: the first retry comes ~0.5 s later."""
CONFIG = f"webhook_backoff_base_s = {BACKOFF_S}\n"
DAY_S = 86400.0
T0 = (int(time.time() // 3600) + 96) * 3600.0
"""Plans start four days from now: more than every minimum notice."""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
            "valid_to": _iso(T0 + DAY_S),
        },
    }


def movement(party: str, decl_id: str, lon: float, lat: float) -> dict[str, Any]:
    """A 2 h movement straight across (lon, lat), so it conflicts with a site there."""
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[lon - 0.05, lat], [lon + 0.05, lat]]},
        "properties": {
            "id": decl_id,
            "party": party,
            "kind": "movement",
            "times": [_iso(T0 + 3600), _iso(T0 + 3 * 3600)],
        },
    }


def submit(p: Party, feature: dict[str, Any]) -> dict[str, Any]:
    r = p.post("/v1/declarations", json=feature)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()["declarations"][0]
    return out


def message(sender: Party, to: str, text: str) -> str:
    r = sender.post("/v1/messages", json={"to": to, "text": text})
    assert r.status_code == 201, r.text
    return str(r.json()["message"])


def page(p: Party, after: int = 0) -> list[dict[str, Any]]:
    """Every event of `p` after `after`, by the JSON page (the reference the streams must
    agree with)."""
    out: list[dict[str, Any]] = []
    while True:
        r = p.get("/v1/events", params={"after": after, "limit": 500})
        assert r.status_code == 200, r.text
        batch = r.json()["events"]
        out += batch
        if len(batch) < 500:
            return out
        after = batch[-1]["id"]


def recipients(server: Server, ids: list[int]) -> set[str]:
    """Who the store says each event was for, read straight from the store."""
    rows = server.query("SELECT recipient FROM events WHERE seq IN :ids", ids=ids)
    assert len(rows) == len(ids)
    return {r[0] for r in rows}


# --- stream clients ---------------------------------------------------------------------


class SSE:
    """A Server-Sent Events reader over one httpx streaming response."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.retry: int | None = None
        self.comments = 0

    def next(self) -> dict[str, Any]:
        """The next event as {"id", **data}; checks the SSE framing on the way."""
        deadline = time.monotonic() + WAIT_S
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "data" in fields:
                    data = json.loads(fields["data"])
                    assert fields["event"] == data["type"]
                    return {"id": int(fields["id"]), **data}
                fields = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "retry":
                    self.retry = int(value)
                else:
                    assert name in ("id", "event", "data") and name not in fields, line
                    fields[name] = value
            assert time.monotonic() < deadline, "no event within the wait"
        raise AssertionError("the stream ended")

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]


@contextmanager
def sse(server: Server, p: Party, last_event_id: int | None = None) -> Iterator[SSE]:
    headers = {"Authorization": f"Bearer {p.token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    with (
        httpx.Client(base_url=server.url, timeout=httpx.Timeout(WAIT_S, read=QUIET_S)) as client,
        client.stream("GET", "/v1/events/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SSE(response.iter_lines())


class WS:
    """A WebSocket reader that skips keep-alives."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    def next(self) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            got: dict[str, Any] = json.loads(self.conn.recv(timeout=QUIET_S))
            assert "error" not in got, got
            if got.get("type") != "keep-alive":
                return got
            assert time.monotonic() < deadline, "no event within the wait"

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]


@contextmanager
def ws(server: Server, first: dict[str, Any]) -> Iterator[WS]:
    url = server.url.replace("http://", "ws://") + "/v1/events/ws"
    with connect(url, open_timeout=WAIT_S, close_timeout=5) as conn:
        conn.send(json.dumps(first))
        yield WS(conn)


# --- the module's server and its parties --------------------------------------------------


@pytest.fixture(scope="module")
def srv(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(
        tmp_path_factory.mktemp("streams") / "deconflict.sqlite", store=store, config=CONFIG
    ).start()
    try:
        yield s
    finally:
        s.close()
        log = s.log()
        assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


_n = iter(range(1, 1000))


@dataclass
class World:
    """Two forces whose plans cross (A's site at `at`, where B's movements go) and a
    third party far away that takes part in nothing of theirs."""

    server: Server
    a: Party
    b: Party
    c: Party
    at: tuple[float, float]
    count: Iterator[int] = field(default_factory=lambda: iter(range(1, 1000)))

    def notify_a(self) -> str:
        """B declares a movement across A's site: A gets a `notification`."""
        out = submit(self.b, movement(self.b.name, f"mb-{next(self.count)}", *self.at))
        assert out["clearance"]["state"] == "notified"
        return str(out["declaration"]["id"])

    def message_a(self, text: str = "") -> str:
        return message(self.b, self.a.name, text or f"hotline {next(self.count)}")


@pytest.fixture
def world(srv: Server) -> World:
    n = next(_n)
    at = (36.0 + n * 0.5, 34.0)
    w = World(
        srv,
        srv.add_party(f"A{n}", "force"),
        srv.add_party(f"B{n}", "force"),
        srv.add_party(f"C{n}", "force"),
        at,
    )
    submit(w.a, site(w.a.name, "sa", *at))
    submit(w.c, site(w.c.name, "sc", at[0], at[1] + 5.0))
    return w


def _fresh(p: Party) -> int:
    """The last event id `p` has so far."""
    events = page(p)
    return int(events[-1]["id"]) if events else 0


# --- live delivery ------------------------------------------------------------------------


def test_sse_delivers_every_kind_of_event_live_in_order(srv: Server, world: World) -> None:
    a, b = world.a, world.b
    start = _fresh(a)
    with sse(srv, a, last_event_id=start) as stream:
        # A's own movement across a site of B: A is told it was submitted and whom it
        # notified; B acknowledges, so A gets the response and the change of state.
        submit(b, site(b.name, "sb", world.at[0] + 0.2, world.at[1]))
        mine = submit(a, movement(a.name, "ma", world.at[0] + 0.2, world.at[1]))
        assert mine["clearance"]["state"] == "notified"
        ev = stream.next()
        assert ev["type"] == "declaration.submitted"
        assert ev["declaration"]["id"] == "ma" and ev["conflicts"] >= 1
        assert b.name in ev["notified"]
        r = b.post(f"/v1/declarations/{a.name}/ma/acknowledge", json={"reason": "seen"})
        assert r.status_code == 200, r.text
        response, state = stream.take(2)
        assert response["type"] == "response"
        assert (response["by"], response["answer"]) == (b.name, "acknowledge")
        assert state["type"] == "declaration.state"
        assert (state["from"], state["to"], state["by"]) == ("notified", "cleared", b.name)
        # B's movement across A's site: a notification, with its deadline.
        crossing = world.notify_a()
        note = stream.next()
        assert note["type"] == "notification"
        assert note["declaration"]["party"] == b.name and note["declaration"]["id"] == crossing
        assert note["your_conflicting_declarations"] == ["sa"]
        assert note["deadline_s"] > time.time()
        # A objects: the clearance moves, and A (notified) is told so.
        r = a.post(f"/v1/declarations/{b.name}/{crossing}/object", json={"reason": "our site"})
        assert r.status_code == 200, r.text
        moved = stream.next()
        assert moved["type"] == "declaration.state" and moved["to"] == "objected"
        # The hotline, both ways.
        sent = world.message_a("convoy delayed")
        got = stream.next()
        assert got["type"] == "message"
        assert got["message"]["message"] == sent and got["message"]["text"] == "convoy delayed"
        mine_to_b = message(a, b.name, "noted")
        r = b.post(f"/v1/messages/{mine_to_b}/acknowledge")
        assert r.status_code == 200, r.text
        ack = stream.next()
        assert ack["type"] == "message.acknowledged" and ack["message"] == mine_to_b
        received = [ev, response, state, note, moved, got, ack]
        assert stream.retry == 2000
    # What the stream said is exactly the JSON page, event for event.
    assert received == page(a, start)
    ids = [e["id"] for e in received]
    assert ids == sorted(set(ids))
    assert recipients(srv, ids) == {a.name}


def test_websocket_delivers_live_and_from_history(srv: Server, world: World) -> None:
    a = world.a
    history = page(a)
    with ws(srv, {"token": a.token, "last_event_id": 0}) as stream:
        assert stream.take(len(history)) == history  # from the beginning
        world.notify_a()
        world.message_a("by websocket")
        live = stream.take(2)
    assert [e["type"] for e in live] == ["notification", "message"]
    assert live == page(a, history[-1]["id"])


# --- reconnecting -------------------------------------------------------------------------


def test_sse_reconnect_with_last_event_id_gets_exactly_what_was_missed(
    srv: Server, world: World
) -> None:
    a = world.a
    start = _fresh(a)
    with sse(srv, a, last_event_id=start) as stream:
        for i in range(5):
            world.message_a(f"burst {i}")
        world.notify_a()
        # The client handles two events, then drops; the server may have sent more.
        handled = stream.take(2)
    last = handled[-1]["id"]
    # Events while it is away.
    world.notify_a()
    for i in range(3):
        world.message_a(f"while away {i}")
    missed = page(a, last)
    assert len(missed) == 4 + 1 + 3
    with sse(srv, a, last_event_id=last) as stream:
        again = stream.take(len(missed))
        assert again == missed
        # Nothing more was owed: the next event is the one caused now.
        sentinel = world.message_a("sentinel")
        after = stream.next()
        assert after["type"] == "message" and after["message"]["message"] == sentinel
    seen = handled + again + [after]
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids)), "an event came twice or out of order"
    assert seen == page(a, start)


def test_sse_reconnect_with_after_query_and_bad_last_event_id(srv: Server, world: World) -> None:
    a = world.a
    events = page(a)
    with (
        httpx.Client(base_url=srv.url, timeout=httpx.Timeout(WAIT_S, read=QUIET_S)) as client,
        client.stream(
            "GET",
            "/v1/events/stream",
            params={"after": events[0]["id"]},
            headers={"Authorization": f"Bearer {a.token}"},
        ) as response,
    ):
        assert response.status_code == 200
        assert SSE(response.iter_lines()).take(len(events) - 1) == events[1:]
    r = a.get("/v1/events/stream", headers={"Last-Event-ID": "seven"})
    assert r.status_code == 422 and r.json()["error"]["message"].endswith(".")


def test_websocket_reconnect_with_last_event_id_gets_exactly_what_was_missed(
    srv: Server, world: World
) -> None:
    a = world.a
    start = _fresh(a)
    with ws(srv, {"token": a.token, "last_event_id": start}) as stream:
        for i in range(4):
            world.message_a(f"burst {i}")
        handled = stream.take(3)
    last = handled[-1]["id"]
    world.notify_a()
    world.message_a("while away")
    missed = page(a, last)
    assert len(missed) == 1 + 2
    with ws(srv, {"token": a.token, "last_event_id": last}) as stream:
        again = stream.take(len(missed))
        assert again == missed
        sentinel = world.message_a("sentinel")
        after = stream.next()
        assert after["type"] == "message" and after["message"]["message"] == sentinel
    seen = handled + again + [after]
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids)), "an event came twice or out of order"
    assert seen == page(a, start)


def test_websocket_refuses_a_bad_first_message(srv: Server, world: World) -> None:
    for first in ({"token": "not-a-token", "last_event_id": 0}, {"last_event_id": 0}, [1]):
        with ws(srv, first) as stream:  # type: ignore[arg-type]
            got = json.loads(stream.conn.recv(timeout=WAIT_S))
            assert got["error"]["code"] == "unauthorized"
            with pytest.raises(ConnectionClosed) as closed:
                stream.conn.recv(timeout=WAIT_S)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# --- need to know ---------------------------------------------------------------------------


def test_a_party_never_receives_another_partys_events(srv: Server, world: World) -> None:
    a, b, c = world.a, world.b, world.c
    starts = {p.name: _fresh(p) for p in (a, b, c)}
    with (
        sse(srv, c, last_event_id=starts[c.name]) as c_sse,
        ws(srv, {"token": c.token, "last_event_id": starts[c.name]}) as c_ws,
        sse(srv, b, last_event_id=starts[b.name]) as b_sse,
    ):
        # A and B busy with each other: notifications, answers, messages.
        crossing = world.notify_a()
        r = a.post(f"/v1/declarations/{b.name}/{crossing}/acknowledge", json={})
        assert r.status_code == 200, r.text
        world.message_a("between A and B only")
        b_events = b_sse.take(len(page(b, starts[b.name])))
        # C's own event is the first, and only, thing C hears.
        submit(c, site(c.name, "sc2", world.at[0], world.at[1] + 6.0))
        for stream in (c_sse, c_ws):
            own = stream.next()
            assert own["type"] == "declaration.submitted" and own["declaration"]["id"] == "sc2"
    assert [e["type"] for e in b_events] == [
        "declaration.submitted",
        "response",
        "declaration.state",
    ]
    for p in (a, b, c):
        mine = page(p, starts[p.name])
        assert mine, p.name
        assert recipients(srv, [e["id"] for e in mine]) == {p.name}
    assert [e["id"] for e in page(c, starts[c.name])] == [own["id"]]
    assert b_events == page(b, starts[b.name])


# --- webhooks end to end ----------------------------------------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int
    arrived_at: float
    """time.monotonic() when the request came in..."""
    answered_at: float
    """...and when it was answered."""


@dataclass
class Receiver:
    """A loopback HTTP receiver; `script` says how to answer each request in turn (then
    200); request number `hold` (0-based) waits for `release` before it is answered."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    hold: int | None = None
    arrivals: int = 0
    entered: threading.Event = field(default_factory=threading.Event)
    """Set when the held request has arrived."""
    release: threading.Event = field(default_factory=threading.Event)
    got: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, check: Callable[[list[Delivery]], bool], what: str) -> list[Delivery]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: check(self.got), WAIT_S), what
            return list(self.got)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_POST(self) -> None:
        rx = self.server.receiver
        arrived_at = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with rx.arrived:
            held = rx.arrivals == rx.hold
            rx.arrivals += 1
        if held:
            rx.entered.set()
            rx.release.wait(WAIT_S)
        status = rx.script.pop(0) if rx.script else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with rx.arrived:
            headers = {k.lower(): v for k, v in self.headers.items()}
            rx.got.append(Delivery(headers, body, status, arrived_at, time.monotonic()))
            rx.arrived.notify_all()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    httpd.receiver = Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}/hooks/in")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd.receiver
    finally:
        httpd.receiver.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _register(p: Party, url: str) -> tuple[str, str]:
    r = p.post("/v1/webhooks", json={"url": url})
    assert r.status_code == 201, r.text
    return str(r.json()["webhook"]), str(r.json()["secret"])


def _check(secret: str, d: Delivery) -> None:
    verify(
        secret,
        d.headers[HEADER_SIGNATURE.lower()],
        int(d.headers[HEADER_TIMESTAMP.lower()]),
        d.headers[HEADER_EVENT_ID.lower()],
        d.body,
        now_s=time.time(),
    )


def _log(p: Party, hook: str) -> dict[int, dict[str, Any]]:
    r = p.get(f"/v1/webhooks/{hook}/deliveries")
    assert r.status_code == 200, r.text
    return {d["event"]: d for d in r.json()}


def _settled(p: Party, hook: str, n: int) -> dict[int, dict[str, Any]]:
    """The delivery log once it holds `n` deliveries, none pending (the deliverer writes
    an outcome just after the receiver has answered)."""
    give_up = time.monotonic() + WAIT_S
    while True:
        log = _log(p, hook)
        if len(log) >= n and all(d["status"] != "pending" for d in log.values()):
            return log
        assert time.monotonic() < give_up, log
        time.sleep(0.05)


def test_webhook_delivery_is_signed_and_only_the_owners(
    srv: Server, world: World, receiver: Receiver
) -> None:
    a = world.a
    hook, secret = _register(a, receiver.url)
    start = _fresh(a)
    crossing = world.notify_a()
    (event,) = page(a, start)
    (d,) = receiver.wait_for(lambda got: len(got) >= 1, "no delivery arrived")
    _check(secret, d)
    with pytest.raises(BadWebhookSignature):
        _check("whsec_" + "x" * 43, d)  # another secret: refused
    assert d.headers[HEADER_EVENT_ID.lower()] == f"evt_{event['id']}"
    assert d.headers[HEADER_DELIVERY.lower()] == "1"
    assert d.headers["content-type"] == "application/json"
    body = json.loads(d.body)
    assert {"id": event["id"], **body} == event
    assert body["type"] == "notification" and body["declaration"]["id"] == crossing
    # B's and C's events never reach A's webhook.
    message(a, world.b.name, "to B")
    submit(world.c, site(world.c.name, "sc3", world.at[0], world.at[1] + 7.0))
    world.message_a("last")
    got = receiver.wait_for(lambda got: len(got) >= 2, "the second delivery did not arrive")
    time.sleep(1.0)  # a stray delivery of someone else's event would come in this time
    ids = [int(x.headers[HEADER_EVENT_ID.lower()].removeprefix("evt_")) for x in receiver.got]
    assert ids == [e["id"] for e in page(a, start)]
    assert recipients(srv, ids) == {a.name}
    for x in got:
        _check(secret, x)
    log = _settled(a, hook, len(ids))
    assert set(log) == set(ids)
    assert all(x["status"] == "delivered" and x["attempts"] == 1 for x in log.values())
    assert all(x["last_status"] == 200 for x in log.values())


def test_webhook_failure_is_retried_with_backoff_and_logged(
    srv: Server, world: World, receiver: Receiver
) -> None:
    a = world.a
    receiver.script = [500, 503]
    receiver.hold = 1  # the first retry waits in the receiver while the log is read
    hook, secret = _register(a, receiver.url)
    start = _fresh(a)
    world.message_a("retry me")
    (event,) = page(a, start)
    assert receiver.entered.wait(WAIT_S), "the first retry never came"
    first = receiver.got[0]
    assert first.answered == 500
    pending = _log(a, hook)[event["id"]]
    assert (pending["status"], pending["attempts"], pending["last_status"]) == ("pending", 1, 500)
    assert pending["next_attempt_at"] is not None and pending["last_error"] is None
    receiver.release.set()
    got = receiver.wait_for(lambda got: len(got) >= 3, "the retries did not arrive")
    assert [x.answered for x in got] == [500, 503, 200]
    assert [x.headers[HEADER_DELIVERY.lower()] for x in got] == ["1", "2", "3"]
    assert {x.headers[HEADER_EVENT_ID.lower()] for x in got} == {f"evt_{event['id']}"}
    assert len({x.body for x in got}) == 1
    for x in got:
        _check(secret, x)  # every attempt is signed afresh
    # Backoff: ~0.5 s then ~1 s (±10 %), plus the deliverer's polling; the default would
    # wait at least 4.5 s.
    gaps = [got[1].arrived_at - got[0].answered_at, got[2].arrived_at - got[1].answered_at]
    assert 0.9 * BACKOFF_S <= gaps[0] < 4.0, gaps
    assert 0.9 * 2 * BACKOFF_S <= gaps[1] < 4.5, gaps
    done = _settled(a, hook, 1)[event["id"]]
    assert (done["status"], done["attempts"], done["last_status"]) == ("delivered", 3, 200)
    assert done["next_attempt_at"] is None and done["last_error"] is None


def test_deleted_webhook_gets_no_more_retries(
    srv: Server, world: World, receiver: Receiver
) -> None:
    """A webhook deleted while an attempt is in flight is not retried after that attempt
    fails: its pending delivery stays cancelled."""
    a = world.a
    receiver.script = [500]
    receiver.hold = 0
    hook, _ = _register(a, receiver.url)
    world.message_a("in flight")
    assert receiver.entered.wait(WAIT_S), "the deliverer never sent the event"
    r = a.delete(f"/v1/webhooks/{hook}")
    assert r.status_code == 204, r.text
    receiver.release.set()
    receiver.wait_for(lambda got: len(got) >= 1, "the held attempt never completed")
    time.sleep(BACKOFF_S * 1.1 + 2.0)  # when a retry would have come
    assert len(receiver.got) == 1
    rows = srv.query("SELECT status FROM deliveries WHERE hook_id = :h", h=hook)
    assert rows == [("cancelled",)]


# --- stopping the server -------------------------------------------------------------------


def test_graceful_stop_ends_open_streams(store: str, tmp_path: Path) -> None:
    """SIGTERM with streams open: the streams end and the process exits promptly, rather
    than waiting for clients that keep-alives keep connected forever."""
    server = Server(tmp_path / "deconflict.sqlite", store=store).start()
    try:
        a = server.add_party("A", "force")
        with (
            sse(server, a) as stream,
            ws(server, {"token": a.token, "last_event_id": 0}) as sock,
        ):
            submit(a, site("A", "s1", 36.0, 34.0))
            assert stream.next()["type"] == "declaration.submitted"
            assert sock.next()["type"] == "declaration.submitted"
            assert server.proc is not None
            t0 = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            with pytest.raises((AssertionError, httpx.RemoteProtocolError)) as ended:
                stream.next()
            assert "ended" in str(ended.value) or isinstance(ended.value, httpx.RemoteProtocolError)
            with pytest.raises(ConnectionClosed):
                sock.next()
            server.proc.wait(WAIT_S)
            assert time.monotonic() - t0 < 10.0
    finally:
        server.close()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "true", '"5"'])
def test_webhook_backoff_setting_must_be_a_positive_number(tmp_path: Path, value: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f"webhook_backoff_base_s = {value}\n")
    with pytest.raises(InvalidRequest, match="webhook_backoff_base_s"):
        load_settings(path)
    path.write_text("webhook_backoff_base_s = 0.25\n")
    assert load_settings(path).webhook_backoff_base_s == 0.25

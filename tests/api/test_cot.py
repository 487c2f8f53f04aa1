"""CoT over TCP and UDP through a real `deconflict serve`: positions raise alerts seen on
/v1/events, alerts come back out as CoT on the TCP connection, and a party proves itself
by the token in `<detail><deconflict token=.../>`; hostile input harms nothing."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from api.server import Party, Server, free_port

LAT0, LON0 = 35.0, 36.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(
    uid: str, t_s: float, lat: float, lon: float, token: str | None = None, kind: str = "a-f-G"
) -> bytes:
    ours = f'<deconflict token="{token}"/>' if token else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><event version="2.0" uid="{uid}" type="{kind}" '
        f'how="m-g" time="{iso(t_s)}" start="{iso(t_s)}" stale="{iso(t_s + 60)}">'
        f'<point lat="{lat}" lon="{lon}" hae="9999999.0" ce="10" le="10"/>'
        f"<detail>{ours}</detail></event>"
    ).encode()


@dataclass
class World:
    server: Server
    alpha: Party
    beta: Party
    gamma: Party
    tcp: int
    udp: int


@pytest.fixture(scope="module")
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tcp, udp = free_port(), free_udp_port()
    config = f"cot_tcp_port = {tcp}\ncot_udp_port = {udp}\ncot_timeout_s = 2.0\n"
    s = Server(
        tmp_path_factory.mktemp("cot") / "deconflict.sqlite", store=store, config=config
    ).start()
    try:
        alpha, beta, gamma = (s.add_party(n, "force") for n in ("alpha", "beta", "gamma"))
        yield World(s, alpha, beta, gamma, tcp, udp)
    finally:
        s.close()


def alerts_of(p: Party) -> list[dict[str, Any]]:
    r = p.get("/v1/events", params={"limit": 500})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["type"] == "alert"]


def wait_for(p: Party, pred: Any, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = alerts_of(p)
        if pred(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def send_udp(port: int, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, ("127.0.0.1", port))


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def closed_by_server(s: socket.socket, timeout_s: float = 10.0) -> bool:
    """True when the server closes the connection (reads EOF or a reset) within the time."""
    s.settimeout(timeout_s)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


def log_says(w: World, words: str, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if words in w.server.log():
            return True
        time.sleep(0.1)
    return False


def test_tcp_and_udp_positions_raise_proximity_and_alerts_come_back_as_cot(world: World) -> None:
    w = world
    now = time.time()
    conn = connect(w.tcp)
    try:
        # alpha over TCP (the token in the first event), beta over UDP (token per datagram),
        # 300 m apart: below the 1000 m horizontal minimum.
        conn.sendall(event("tank-1", now - 3, LAT0, LON0, token=w.alpha.token))
        send_udp(w.udp, event("patrol-7", now - 3, LAT0 + 0.0027, LON0, token=w.beta.token))
        for k in (2, 1):
            conn.sendall(event("tank-1", now - k, LAT0, LON0))
            send_udp(w.udp, event("patrol-7", now - k, LAT0 + 0.0027, LON0, token=w.beta.token))
        got = wait_for(w.alpha, lambda es: any(e["alert"]["type"] == "proximity" for e in es))
        prox = next(e["alert"] for e in got if e["alert"]["type"] == "proximity")
        assert prox["units"] == ["alpha/tank-1", "beta/patrol-7"]
        assert any(e["alert"]["alert"] == prox["alert"] for e in alerts_of(w.beta))
        assert alerts_of(w.gamma) == []
        # The alert comes back to alpha's TAK client as CoT, with the milder type.
        conn.settimeout(10)
        data = b""
        while b"</event>" not in data:
            chunk = conn.recv(65536)
            assert chunk, "the server closed the connection"
            data += chunk
        assert b"deconflict-alert-" in data and b"proximity" in data
        assert b'type="b-a-g"' in data and b"b-a-o-tbl" not in data
    finally:
        conn.close()


def test_tcp_without_a_valid_token_is_closed_and_nothing_is_ingested(world: World) -> None:
    w = world
    now = time.time()
    before = len(alerts_of(w.gamma))
    for first in (
        event("intruder", now, LAT0, LON0),  # no token
        event("intruder", now, LAT0, LON0, token="dcf_000000000000_forged"),
        event("intruder", now, LAT0, LON0, token=w.server.operator_token),  # no units
    ):
        s = connect(w.tcp)
        s.sendall(first + event("intruder", now + 1, LAT0, LON0, token=w.gamma.token))
        assert closed_by_server(s)
        s.close()
    assert log_says(w, "refused (refused_auth, 3 so far)")
    assert len(alerts_of(w.gamma)) == before
    assert "gamma" not in w.server.log().split("refused_auth")[0][-200:]


def test_udp_without_a_valid_token_is_dropped(world: World) -> None:
    w = world
    now = time.time()
    send_udp(w.udp, event("ghost", now, LAT0, LON0))
    send_udp(w.udp, event("ghost", now, LAT0, LON0, token=w.alpha.token[:-2] + "xx"))
    assert log_says(w, "cot udp: refused (refused_auth, 2 so far)")


def test_hostile_tcp_input_closes_the_connection(world: World) -> None:
    w = world
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<event uid="x" type="a-f-G" time="2024-01-01T00:00:00Z"><point lat="1" lon="1"/>'
        b'<detail><deconflict token="' + w.alpha.token.encode() + b'"/>&lol2;</detail></event>'
    )
    s = connect(w.tcp)
    s.sendall(bomb)
    assert closed_by_server(s)
    s.close()
    # Garbage first.
    s = connect(w.tcp)
    s.sendall(b"\x00\xffGET / HTTP/1.1\r\n\r\n")
    assert closed_by_server(s)
    s.close()
    # Authenticated, then 10 MB without an event end.
    s = connect(w.tcp)
    s.sendall(event("tank-9", time.time(), LAT0, LON0, token=w.alpha.token))
    s.sendall(b"<event uid='big'>")
    chunk = b"A" * 65536
    try:
        for _ in range(160):
            s.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert closed_by_server(s)
    s.close()
    assert log_says(w, "closed_bad_stream")
    # A slow loris: an event started and never finished is closed after cot_timeout_s.
    s = connect(w.tcp)
    s.sendall(event("tank-9", time.time(), LAT0, LON0, token=w.alpha.token))
    s.sendall(b"<event uid='slow'")
    started = time.monotonic()
    assert closed_by_server(s, 15)
    assert time.monotonic() - started < 10
    s.close()
    # And one that never authenticates.
    s = connect(w.tcp)
    s.sendall(b"<event")
    assert closed_by_server(s, 15)
    s.close()
    # The service still serves.
    assert w.alpha.get("/v1/alerts").status_code == 200


def test_hostile_udp_datagrams_are_dropped(world: World) -> None:
    w = world
    send_udp(w.udp, b"\x00garbage\xff")
    send_udp(w.udp, b"<!DOCTYPE x [<!ENTITY a 'b'>]><event>&a;</event>")
    send_udp(w.udp, b"<event>" + b"A" * 60000)
    assert log_says(w, "cot udp: refused (dropped_invalid, 3 so far)")
    assert w.alpha.get("/v1/alerts").status_code == 200


def test_pytak_client_reports_over_tcp(world: World) -> None:
    pytak = pytest.importorskip("pytak")
    w = world
    config = {"COT_URL": f"tcp://127.0.0.1:{w.tcp}"}

    async def send() -> None:
        reader, writer = await pytak.protocol_factory(config)
        writer.write(event("pytak-1", time.time() - 1, 10.0, 10.0, token=w.gamma.token))
        writer.write(event("pytak-1", time.time(), 10.0, 10.0001))
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    asyncio.run(send())
    assert log_says(w, "CoT TCP connection authenticated as gamma")
    assert log_says(w, "CoT TCP connection of gamma closed: 2 reports, 2 events")

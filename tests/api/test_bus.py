"""The NATS bus (docs/scale.md, "The bus") against the NATS server of the machine, on both
stores: a write through one process wakes the other's streams at once (their store polls
are made too slow to do it); position batches and alert events reach their JetStream feeds
once each, in store order, also when a process is killed in the middle; a bus that cannot
be reached stops the service at start with one sentence."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.server import Listener, Party, Server, free_port, report_pair
from stores import NATS_URL, nats_or_skip

WAIT_S = 10.0


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def on(server: Server, p: Party) -> Party:
    return Party(p.name, p.token, server.client(p.token))


@pytest.fixture
def origin() -> str:
    """A log origin of its own: its streams and subjects are the test's alone."""
    return f"bustest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pair(
    store: str, origin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    nats_or_skip()
    # Polls every 30 s: only the bus can wake the other process within the test's bounds.
    config = f'bus_url = "{NATS_URL}"\nlog_origin = "{origin}"\nfollow_interval_s = 30\n'
    a = Server(tmp_path_factory.mktemp("bus") / "deconflict.sqlite", store=store, config=config)
    a.start()
    try:
        b = a.beside(".b", config=config).start()
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()
        asyncio.run(_delete_streams(origin))


async def _delete_streams(origin: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        for feed in ("POSITIONS", "ALERTS"):
            try:
                await js.delete_stream(f"DECONFLICT_{origin.upper().replace('-', '_')}_{feed}")
            except Exception:
                pass
    finally:
        await nc.close()


def feed(origin: str, name: str) -> list[tuple[str, dict[str, str], Any]]:
    """Every message of a feed: (subject, headers, body)."""

    async def read() -> list[tuple[str, dict[str, str], Any]]:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            stream = f"DECONFLICT_{origin.upper().replace('-', '_')}_{name.upper()}"
            info = await js.stream_info(stream)
            out: list[tuple[str, dict[str, str], Any]] = []
            if info.state.messages == 0:
                return out
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(stream, seq)
                out.append((msg.subject, dict(msg.headers or {}), json.loads(msg.data)))
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


def wait_feed(origin: str, name: str, want: int) -> list[tuple[str, dict[str, str], Any]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        got = feed(origin, name)
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_a_write_through_one_process_wakes_the_others_stream(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    alpha = a.add_party("alpha", "force")
    beta = a.add_party("beta", "force")
    heard = Listener(alpha, until="message", timeout_s=WAIT_S)
    time.sleep(0.5)
    sent = time.monotonic()
    ok(on(b, beta).post("/v1/messages", json={"to": "alpha", "text": "over the bus"}), 201)
    heard.join()
    took = time.monotonic() - sent
    assert heard.got(), heard.heard
    assert took < 3.0, f"the stream heard it after {took:.2f} s: the bus did not wake it"


def test_positions_and_alerts_reach_their_feeds_once_in_order(
    pair: tuple[Server, Server], origin: str
) -> None:
    a, b = pair
    alpha = a.add_party("alpha", "force")
    beta = on(b, a.add_party("beta", "force"))
    report_pair(alpha, beta, time.time() - 1.0)
    positions = wait_feed(origin, "positions", 4)
    assert len(positions) == 4, positions
    seqs = [int(h["Deconflict-Seq"]) for _, h, _ in positions]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [s.rsplit(".", 1)[1] for s, _, _ in positions] == ["alpha", "beta", "alpha", "beta"]
    assert positions[0][2]["reports"][0]["unit"] == "a1"
    stored = a.query("SELECT seq FROM position_queue ORDER BY seq")
    assert [s for (s,) in stored] == seqs
    alerts = wait_feed(origin, "alerts", 2)
    assert sorted(s.rsplit(".", 1)[1] for s, _, _ in alerts) == ["alpha", "beta"]
    assert {m["alert"]["type"] for _, _, m in alerts} == {"proximity"}
    events = a.query("SELECT seq FROM events WHERE type = 'alert' ORDER BY seq")
    assert [int(h["Deconflict-Seq"]) for _, h, _ in alerts] == [s for (s,) in events]


def test_the_feed_keeps_each_batch_once_across_a_killed_process(
    pair: tuple[Server, Server], origin: str
) -> None:
    a, b = pair
    alpha = a.add_party("alpha", "force")
    through = [alpha, on(b, alpha)]
    t0 = time.time() - 60.0
    for k in range(30):
        if k == 12:
            a.stop(signal.SIGKILL)  # whatever it had relayed or not
            through = [through[1]]
        ok(
            through[k % len(through)].post(
                "/v1/positions",
                json=[{"unit": f"u{k}", "time": t0 + k, "lat": 35.0, "lon": 36.0 + k}],
            )
        )
    stored = [s for (s,) in b.query("SELECT seq FROM position_queue ORDER BY seq")]
    assert len(stored) == 30
    got = wait_feed(origin, "positions", 30)
    seqs = [int(h["Deconflict-Seq"]) for _, h, _ in got]
    assert seqs == stored, (seqs, stored)


def test_a_bus_that_cannot_be_reached_stops_the_start(tmp_path: Any) -> None:
    port = free_port()
    out = subprocess.run(
        [
            *(sys.executable, "-m", "deconflict", "serve", "--db", str(tmp_path / "x.sqlite")),
            *("--bus", f"nats://127.0.0.1:{port}", "--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot be reached" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0, out.stderr

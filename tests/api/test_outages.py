"""The servers the service stands on go away and come back (issue 7, "Failure tests"):
PostgreSQL is restarted, and NATS is stopped and started again, in the middle of a load
on `serve --workers 2 --bus`. Afterwards nothing acknowledged is lost or doubled, each
position batch is in its feed once, no alert is sent to a party twice, the record
verifies, and the service resumes by itself.

These restart the machine's own PostgreSQL and NATS servers (loopback, bounded: each is
back within seconds), so they run against the PostgreSQL store only."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.server import Party, Server
from api.test_bus import feed, wait_feed
from stores import NATS_URL, PG_ADMIN, in_ci, nats_or_skip

WAIT_S = 60.0


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def restart_postgres() -> None:
    """Restart the machine's PostgreSQL cluster (Debian's pg_ctlcluster)."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart")


def postgres_is_up() -> bool:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


def stop_nats() -> None:
    _run("start-stop-daemon", "--stop", "--oknodo", "--retry", "10", "--exec", NATS_BIN)


def start_nats() -> None:
    _run(
        *("start-stop-daemon", "--start", "--oknodo", "--background", "--exec", NATS_BIN),
        *("--", "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server"),
        *("-l", "/var/log/nats-server.log"),
    )


NATS_BIN = "/usr/sbin/nats-server"


def _can_restart() -> None:
    missing = [
        tool for tool in ("pg_ctlcluster", "start-stop-daemon") if shutil.which(tool) is None
    ]
    if missing or not Path(NATS_BIN).exists() or not Path("/etc/postgresql").is_dir():
        why = f"cannot restart the servers here (missing {missing or NATS_BIN})"
        if in_ci():
            raise RuntimeError(f"CI=true but {why}")
        pytest.skip(why)


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def retried(p: Party, path: str, body: Any, key: str, give_up_s: float = WAIT_S) -> Any:
    """POST with an Idempotency-Key until answered 2xx: 503s and broken connections
    while a server is away are retried, as a client should."""
    deadline = time.monotonic() + give_up_s
    while True:
        try:
            r = p.post(path, json=body, headers={"Idempotency-Key": key})
            if r.status_code < 300:
                return r.json()
            assert r.status_code == 503, r.text  # the only refusal an outage may give
            assert r.json()["error"]["code"] == "store_unavailable", r.text
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{path} never went through"
        time.sleep(0.3)


@pytest.fixture
def world(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    if store != "postgresql":
        pytest.skip("restarting PostgreSQL concerns the PostgreSQL store")
    nats_or_skip()
    _can_restart()
    origin = f"outage-{uuid.uuid4().hex[:8]}"
    config = f'bus_url = "{NATS_URL}"\nlog_origin = "{origin}"\n'
    s = Server(
        tmp_path_factory.mktemp("outage") / "deconflict.sqlite",
        store=store,
        config=config,
        args=("--workers", "2"),
    ).start()
    try:
        yield s, origin
    finally:
        s.close()
        if not postgres_is_up():
            restart_postgres()
        start_nats()


def test_postgres_restarted_mid_load_loses_and_doubles_nothing(
    world: tuple[Server, str],
) -> None:
    server, _ = world
    alpha = server.add_party("alpha", "force")
    done: dict[str, Any] = {}
    t0 = time.time() + 3 * 86400.0

    def load() -> None:
        for k in range(40):
            doc = {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[36 + k * 0.01, 35], [36.05 + k * 0.01, 35]],
                },
                "properties": {
                    "id": f"m{k}",
                    "party": "alpha",
                    "kind": "movement",
                    "times": [
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 1800)),
                    ],
                },
            }
            done[f"m{k}"] = retried(alpha, "/v1/declarations", doc, f"k{k}")

    t = threading.Thread(target=load)
    t.start()
    while len(done) < 10:
        time.sleep(0.05)
    restart_postgres()
    t.join(WAIT_S * 2)
    assert sorted(done) == sorted(f"m{k}" for k in range(40))
    listed = ok(alpha.get("/v1/declarations", params={"limit": 100}))["items"]
    assert sorted(d["declaration"]["id"] for d in listed) == sorted(done)
    versions = server.query("SELECT id, count(*) FROM declarations GROUP BY id")
    assert all(n == 1 for _, n in versions) and len(versions) == 40
    # Resumed by itself: a new request through either worker just works.
    for _ in range(4):
        ok(alpha.get("/v1/inbox"))
    server.stop()
    server.verify_record()


def test_nats_stopped_and_started_again_delays_the_feed_only(
    world: tuple[Server, str],
) -> None:
    server, origin = world
    alpha = server.add_party("alpha", "force")
    beta = server.add_party("beta", "force")
    now = time.time() - 1.0
    ok(alpha.post("/v1/positions", json=[{"unit": "a1", "time": now, "lat": 35.0, "lon": 36.0}]))
    assert len(wait_feed(origin, "positions", 1)) == 1
    stop_nats()
    try:
        # Without the bus the service goes on: positions accepted, alerts raised.
        for dt in (0.5, 1.5):
            for p, lat in ((alpha, 35.0), (beta, 35.0027)):
                unit = "a1" if p is alpha else "b1"
                ok(
                    p.post(
                        "/v1/positions",
                        json=[{"unit": unit, "time": now + dt, "lat": lat, "lon": 36.0}],
                    )
                )
        deadline = time.monotonic() + 10
        while not ok(alpha.get("/v1/alerts"))["alerts"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(ok(alpha.get("/v1/alerts"))["alerts"]) == 1
    finally:
        start_nats()
    got = wait_feed(origin, "positions", 5)
    seqs = [int(h["Deconflict-Seq"]) for _, h, _ in got]
    stored = [s for (s,) in server.query("SELECT seq FROM position_queue ORDER BY seq")]
    assert seqs == stored and len(stored) == 5, (seqs, stored)
    alerts = wait_feed(origin, "alerts", 2)
    sent = server.query("SELECT seq, recipient FROM events WHERE type = 'alert' ORDER BY seq")
    assert [int(h["Deconflict-Seq"]) for _, h, _ in alerts] == [s for s, _ in sent]
    # Each party was told of the alert once (one open event each), by stream and feed.
    opened = [
        (r, json.loads(p)["alert"]["event"])
        for r, p in server.query("SELECT recipient, payload FROM events WHERE type = 'alert'")
    ]
    assert sorted(opened) == [("alpha", "open"), ("beta", "open")], opened
    assert len(feed(origin, "alerts")) == 2

"""Several service processes on one store (SQLite file or PostgreSQL database): what one
process writes, every other one knows, at once for writes and within a moment for reads and
streams; their writes together make one record that verifies; `serve --workers N` survives
the loss of a worker in the middle of a load, losing nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.server import Listener, Party, Server, free_port, report_pair
from api.test_protocol import movement
from api.test_restart import check_store
from api.test_streams import Receiver, receiver
from deconflict.api.webhooks import HEADER_EVENT_ID
from deconflict.engine.partitions import Partitioning

__all__ = ["receiver"]  # the fixture, imported to be used here

WAIT_S = 10.0
T0 = time.time() + 3 * 86400.0


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def on(server: Server, p: Party) -> Party:
    """The same party, talking to another process."""
    return Party(p.name, p.token, server.client(p.token))


def patrol(party: str, decl_id: str, lon: float, start: float = T0) -> dict[str, Any]:
    """A movement east from (lon, 36.5) for half an hour: two near one lon conflict."""
    return movement(party, decl_id, lon, 36.5, start)


@pytest.fixture
def pair(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    path = tmp_path_factory.mktemp("pair") / "deconflict.sqlite"
    a = Server(path, store=store).start()
    try:
        b = a.beside(".b").start()
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()


def test_a_write_through_one_process_counts_in_the_other(pair: tuple[Server, Server]) -> None:
    a, b = pair
    alpha = a.add_party("alpha", "force")
    beta = on(b, a.add_party("beta", "force"))
    # alpha declares through A; beta, through B, crosses it: B's engine must know alpha's.
    ok(alpha.post("/v1/declarations", json=patrol("alpha", "north", 40.0)), 201)
    got = ok(beta.post("/v1/declarations", json=patrol("beta", "north", 40.0)), 201)
    conflicts = got["declarations"][0]["conflicts"]
    assert [{c["party_a"], c["party_b"]} for c in conflicts] == [{"alpha", "beta"}], got
    # alpha is notified of beta's declaration: its inbox says so through A and through B.
    for p in (alpha, on(b, alpha)):
        inbox = ok(p.get("/v1/inbox"))
        assert [n["declaration"] for n in inbox["clearance"]] == [
            {"party": "beta", "id": "north", "version": 1}
        ]
    # alpha withdraws through A: B forgets it, and a new crossing through B finds nothing.
    etag = alpha.get("/v1/declarations/alpha/north").headers["ETag"]
    r = alpha.post("/v1/declarations/alpha/north/withdraw", headers={"If-Match": etag})
    ok(r)
    got = ok(beta.post("/v1/declarations", json=patrol("beta", "again", 40.0)), 201)
    assert got["declarations"][0]["conflicts"] == []


def test_a_stream_on_one_process_hears_writes_through_the_other(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    alpha = a.add_party("alpha", "force")
    beta = a.add_party("beta", "force")
    heard = Listener(alpha, until="message")
    time.sleep(0.3)  # the stream is open on A before B writes
    sent = time.monotonic()
    ok(on(b, beta).post("/v1/messages", json={"to": "alpha", "text": "hello from B"}), 201)
    heard.join()
    assert heard.got(), heard.heard
    assert time.monotonic() - sent < 3.0  # the follower polls every 0.2 s


def test_concurrent_writes_through_both_make_one_record(pair: tuple[Server, Server]) -> None:
    a, b = pair
    parties = [a.add_party(f"p{i}", "force") for i in range(4)]
    sides = [(p if i % 2 == 0 else on(b, p)) for i, p in enumerate(parties)]
    errors: list[str] = []

    def burst(p: Party, n: int) -> None:
        for k in range(n):
            # All cross one another at lon 41: every new one conflicts with those before.
            r = p.post(
                "/v1/declarations",
                json=patrol(p.name, f"m{k}", 41.0 + 0.001 * k),
                headers={"Idempotency-Key": f"{p.name}-{k}"},
            )
            if r.status_code != 201:
                errors.append(r.text)

    threads = [threading.Thread(target=burst, args=(p, 8)) for p in sides]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    a.stop()
    b.stop()
    versions = check_store(a)  # conflicts table == what one engine finds over the store
    assert len(versions) == 32
    a.verify_record()


def test_each_webhook_event_goes_out_once_from_two_processes(
    pair: tuple[Server, Server], receiver: Receiver
) -> None:
    """Both processes run a webhook deliverer on one store: each event is sent by one."""
    a, b = pair
    alpha = a.add_party("alpha", "force")
    beta = a.add_party("beta", "force")
    ok(alpha.post("/v1/webhooks", json={"url": receiver.url}), 201)
    for k in range(12):
        sender = beta if k % 2 else on(b, beta)
        ok(sender.post("/v1/messages", json={"to": "alpha", "text": f"m{k}"}), 201)
    got = receiver.wait_for(lambda got: len(got) >= 12, "not every event was delivered")
    time.sleep(1.5)  # three deliverer rounds: room for a second copy to show up
    ids = [d.headers[HEADER_EVENT_ID.lower()] for d in receiver.got]
    assert len(ids) == len(set(ids)) >= len(got), ids


def _wait_alerts(p: Party, want: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = list(ok(p.get("/v1/alerts"))["alerts"])
        if len(found) == want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def answering(server: Server, alert_id: str) -> tuple[int, str]:
    """The partition that answers for an alert, and the process (`host:pid:tag`)
    holding it."""
    part = server.query("SELECT part FROM alerts WHERE alert_id = :a", a=alert_id)[0][0]
    owner = server.query("SELECT owner FROM monitor_lease WHERE id = :i", i=int(part) + 1)[0][0]
    return int(part), str(owner)


def holders(server: Server) -> dict[str, int]:
    """Process -> how many partitions it holds now."""
    rows = server.query("SELECT owner, count(*) FROM monitor_lease GROUP BY owner")
    return {str(o): int(n) for o, n in rows if o is not None}


def test_positions_through_two_processes_make_one_monitor(pair: tuple[Server, Server]) -> None:
    """Units reporting through different processes still meet in one monitor (the store's
    queue, applied by the process holding the partition that answers for them): one
    alert, the same through both processes; when that process is killed the other takes
    its partitions over and continues that alert, not a second."""
    a, b = pair
    alpha = a.add_party("alpha", "force")
    beta = on(b, a.add_party("beta", "force"))
    report_pair(alpha, beta, time.time() - 1.0)
    seen = _wait_alerts(alpha, 1)
    assert len(seen) == 1 and seen[0]["type"] == "proximity", seen
    assert _wait_alerts(on(a, beta), 1) == _wait_alerts(beta, 1)
    first = seen[0]["alert"]
    part, holder = answering(a, first)
    pid = int(holder.split(":")[1])
    dead, alive = (a, b) if a.proc is not None and a.proc.pid == pid else (b, a)
    assert dead.proc is not None and dead.proc.pid == pid, (holder, a.proc, b.proc)
    dead.stop(signal.SIGKILL)
    alpha2, beta2 = on(alive, alpha), on(alive, beta)
    report_pair(alpha2, beta2, time.time())  # queued: the lease lapses within 5 s
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        owner = alive.query(f"SELECT owner FROM monitor_lease WHERE id = {part + 1}")[0][0]
        if owner and int(owner.split(":")[1]) == alive.proc.pid:  # type: ignore[union-attr]
            break
        time.sleep(0.2)
    report_pair(alpha2, beta2, time.time())
    still = _wait_alerts(alpha2, 1)
    assert [x["alert"] for x in still] == [first], still
    # Apart by 5 km: the alert closes after the hysteresis (30 s of report time; reports
    # from the future are dropped, so this takes that long), nothing else opens. (With a
    # hysteresis shorter than the lease's lapse, 5 s, the new holder's monitor finds the
    # pair again from the queued batches, then, as the units were silent during the lapse
    # for longer than the hysteresis, closes it, and opens a second alert at their next
    # reports: seen with hysteresis_s = 3.)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report_pair(alpha2, beta2, time.time() - 1.0, apart_m=5000.0)
        if not ok(alpha2.get("/v1/alerts"))["alerts"]:
            break
        time.sleep(1.0)
    assert ok(alpha2.get("/v1/alerts"))["alerts"] == []
    opened = alive.query("SELECT count(*) FROM alerts")
    assert opened == [(1,)], opened


def _wait_holders(server: Server, want: dict[int, int]) -> dict[str, int]:
    """Wait until the partitions are held as `want` says (pid -> how many)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = holders(server)
        if {int(o.split(":")[1]): n for o, n in found.items()} == want:
            return found
        assert time.monotonic() < deadline, (found, want)
        time.sleep(0.2)


def places() -> list[tuple[float, float, int]]:
    """Eight places (lat, lon, partition of their cell), four in even partitions and four
    in odd ones: with two processes, each holds the partitions of one parity."""
    split = Partitioning(parts=16, cell_deg=2.0)
    even: list[tuple[float, float, int]] = []
    odd: list[tuple[float, float, int]] = []
    for k in range(200):
        lat, lon = -60.0 + 5.0 * (k % 25), -170.0 + 11.0 * (k // 25)
        part = split.cell_part(*split.cell_of(lat, lon))
        (even if part % 2 == 0 else odd).append((lat, lon, part))
    return even[:4] + odd[:4]


def report_everywhere(alpha: Party, beta: Party, where: list[tuple[float, float, int]]) -> None:
    """alpha/a<k> and beta/b<k>, 300 m apart at place k, at t and t + 1: a proximity
    alert at each place (with one unit each, the pair is answered where alpha's is)."""
    t = time.time() - 1.0
    for dt in (0.0, 1.0):
        for p, prefix in ((alpha, "a"), (beta, "b")):
            north = 0.0 if prefix == "a" else 300.0 / 111_000
            batch = [
                {"unit": f"{prefix}{k}", "time": t + dt, "lat": lat + north, "lon": lon}
                for k, (lat, lon, _) in enumerate(where)
            ]
            ok(p.post("/v1/positions", json=batch))


def test_two_processes_deal_the_partitions_and_the_survivor_takes_all(
    pair: tuple[Server, Server],
) -> None:
    """With two processes each holds 8 of the 16 partitions of space and answers for the
    alerts in its cells; when one is killed the other takes its partitions over within
    the lease (5 s) and continues its alerts, none opened twice."""
    a, b = pair
    assert a.proc is not None and b.proc is not None
    _wait_holders(a, {a.proc.pid: 8, b.proc.pid: 8})
    alpha = a.add_party("alpha", "force")
    beta = on(b, a.add_party("beta", "force"))
    where = places()
    report_everywhere(alpha, beta, where)
    seen = _wait_alerts(alpha, len(where))
    assert len(seen) == len(where) and {x["type"] for x in seen} == {"proximity"}, seen
    answered = {answering(a, x["alert"]) for x in seen}
    assert {part for part, _ in answered} == {part for _, _, part in where}
    assert len({owner for _, owner in answered}) == 2, answered  # both processes answer
    first = sorted(x["alert"] for x in seen)
    a.stop(signal.SIGKILL)
    _wait_holders(b, {b.proc.pid: 16})
    alpha_b = on(b, alpha)
    report_everywhere(alpha_b, beta, where)
    still = _wait_alerts(alpha_b, len(where))
    assert sorted(x["alert"] for x in still) == first, still
    assert b.query("SELECT count(*) FROM alerts") == [(len(where),)]
    assert {answering(b, x)[1] for x in first} == set(holders(b))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_workers_survive_a_killed_worker_and_lose_nothing(
    store: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = Server(
        tmp_path_factory.mktemp("workers") / "deconflict.sqlite",
        store=store,
        args=("--workers", "2"),
        port=free_port(),
    ).start()
    try:
        assert server.proc is not None
        deadline = time.monotonic() + WAIT_S
        while len(_children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _children(server.proc.pid)
        assert len(workers) == 2, workers
        p = server.add_party("alpha", "force")
        answered: dict[str, int] = {}

        def submit(k: int) -> None:
            body = patrol("alpha", f"w{k}", 42.0 + 0.01 * k)
            for _ in range(20):  # a request cut by the kill is retried with its key
                try:
                    r = p.post("/v1/declarations", json=body, headers={"Idempotency-Key": f"k{k}"})
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                answered[f"w{k}"] = r.status_code
                return

        # Four clients submit 40 declarations; a worker is killed once 15 are answered,
        # while others are in flight.
        todo = iter(range(40))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    k = next(todo, None)
                if k is None:
                    return
                submit(k)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        while len(answered) < 15:
            time.sleep(0.01)
        os.kill(workers[0], signal.SIGKILL)
        for t in threads:
            t.join(120)
        assert set(answered.values()) == {201}, answered
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            now = _children(server.proc.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.1)
        assert len(_children(server.proc.pid)) == 2, "the killed worker was not started again"
        listed = ok(p.get("/v1/declarations", params={"limit": 100}))
        ids = sorted(d["declaration"]["id"] for d in listed["items"])
        assert ids == sorted(answered), ids
    finally:
        server.close()
    assert len(check_store(server)) == 40
    server.verify_record()

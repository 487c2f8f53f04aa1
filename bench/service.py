"""Benchmark of the service over HTTP (issue 3, "Speed").

Goals: with 100,000 declarations stored, the submission of a signed 50-waypoint movement
(conflict check and signature verification included) p50 under 20 ms and p99 under 60 ms at
50 concurrent clients; reads of a declaration at least 2,000 per second on 2 cores.

Method. A fresh SQLite store is filled in this process through the repository, in bulk, as
if the N declarations had been submitted one after another: each gets the clearance,
conflicts, notifications and events the service would have given it against those before
it. Then `deconflict serve` runs as a child process (its start-up, which indexes every live
declaration, is timed to its first answer on /health) and a load generator drives it for a
bounded time per phase. The load generator runs in its own process (or processes): asyncio
with a lean HTTP/1.1 keep-alive client, one connection per simulated client, responses
parsed by httptools (httpx spent about 2 ms of CPU per request, more than the server spends
on /health); submissions are made and signed before each phase. Phases:

- closed loop: C clients, each sending its next request when the last one answered (the
  capacity; the latency then is mostly queueing: about C / throughput);
- open loop: C clients each sending R requests per second on a fixed schedule whatever the
  answers, latency counted from the scheduled moment (no coordinated omission), so at a
  rate well under capacity it is the service time.

Baselines measured in the same run: GET /health (the HTTP stack and the load generator
alone) beside the reads; the same submissions against a store of 1,000 declarations
beside N. Load averages are printed beside the figures (the machine may be shared).

Run: `.venv/bin/python bench/service.py` (`--quick`: 2,000 declarations, 3 s phases, about
a minute; `--profile cpu|wall`: the N-store server runs under cProfile, its figures are
then slower and only the profile is meant to be read; `--sections K`: then K submissions
in-process on the N store, each step timed). Exits non-zero only when the server
cannot be started or answers wrongly (any request not answered 200/201), never for slowness.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deconflict.engine import Engine  # noqa: E402
from deconflict.engine import clearance as flow  # noqa: E402
from deconflict.export.geojson import declaration_to_feature  # noqa: E402
from deconflict.model.conflicts import Conflict  # noqa: E402
from deconflict.model.declarations import DeclarationKey  # noqa: E402
from deconflict.record import SigningKey  # noqa: E402
from deconflict.service import OPERATOR_PRINCIPAL, Principal, Service, Settings  # noqa: E402
from deconflict.service import parties as party_service  # noqa: E402
from deconflict.service.auth import signed_message  # noqa: E402
from deconflict.service.declarations import _new_row, _open_events  # noqa: E402
from deconflict.store.database import Database  # noqa: E402
from deconflict.store.repository import NotificationRow, Repository  # noqa: E402
from synthetic import movements  # noqa: E402

PARTIES = {"P0": "force", "P1": "force", "P2": "force", "P3": "humanitarian"}
"""The stored declarations' parties (synthetic.movements names them P0..P3); the load
generator's clients act for them in turn."""

LEAD_S = 72 * 3600.0
"""Plans start this long after now at the earliest: over the 48 h movement notice, so
nothing is late and nothing falls due (expires, escalates) while the benchmark runs."""

SUBMIT_PATH = "/v1/declarations"


# -- filling a store ---------------------------------------------------------------------


class _Collector:
    """Stands in for the Repository in `_open_events`: keeps the events and notifications
    the service would store for one submission, to write them in bulk."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float, str]] = []
        self.notes: list[NotificationRow] = []

    def observers(self, name: str) -> list[str]:
        return []

    def webhooks_of(self, party: str) -> list[Any]:
        return []

    def insert_event(self, recipient: str, kind: str, at_s: float, payload: str) -> int:
        self.events.append((recipient, kind, at_s, payload))
        return len(self.events)

    def insert_notifications(self, rows: list[NotificationRow]) -> None:
        self.notes.extend(rows)


@dataclass
class Store:
    """A filled store and what the load generator needs to act on it."""

    path: Path
    n: int
    t0: float
    fill_s: float
    conflicts: int
    operator_token: str
    tokens: dict[str, str]
    seeds: dict[str, bytes]
    key_ids: dict[str, str]
    ids: dict[str, list[str]]
    """A sample of each party's stored declaration ids (what the reads ask for)."""
    twin: dict[str, Any]
    """A Feature with the path and times of stored declaration m0, for another party: its
    submission must conflict with m0 if the server indexed the store at start."""


def fill(path: Path, n: int, t0: float) -> Store:
    """A fresh store at `path` holding `n` synthetic movements (20 legs each, 400 x 400 km,
    7 days from `t0`), their conflicts, notifications and events, four parties with a
    token and an Ed25519 key each, and an operator token. The parties, tokens and keys go
    through the service (and its record); the declarations are written in bulk, without
    record entries (the record's append cost grows with the log's size only as log n)."""
    start = time.perf_counter()
    settings = Settings()
    decls = movements(n, seed=1, t0=t0)
    eng = Engine(settings.policy)
    eng.add_many(decls)
    order = {d.key: i for i, d in enumerate(decls)}
    earlier: list[list[Conflict]] = [[] for _ in decls]
    found = eng.all_conflicts()
    for c in found:  # as if submitted in order: a conflict is found by the later one
        i = order[DeclarationKey(c.party_a, c.a)]
        j = order[DeclarationKey(c.party_b, c.b)]
        earlier[max(i, j)].append(c)
    del eng
    now = time.time()
    svc = Service(Database(str(path)), settings)  # parties, tokens, keys: the service's way
    operator = party_service.operator_token(svc, "bench").token
    keys = {p: SigningKey.generate() for p in PARTIES}
    tokens = {}
    for name, kind in PARTIES.items():
        tokens[name] = party_service.add_party(svc, OPERATOR_PRINCIPAL, name, kind)[1].token
        raw = base64.b64encode(keys[name].public_key.to_raw()).decode()
        party_service.add_key(svc, OPERATOR_PRINCIPAL, name, raw)
    with svc.read() as repo:
        parties = repo.parties()
    db = svc.db
    chunk = 5_000
    for lo in range(0, n, chunk):
        rows, conflicts, out = [], [], _Collector()
        for i in range(lo, min(n, lo + chunk)):
            d = decls[i]
            c = flow.submit(d, earlier[i], parties, now, settings.notice)
            rows.append(_new_row(d, c, None, shared=False))
            conflicts.extend(earlier[i])
            _open_events(out, c, earlier[i], now)  # type: ignore[arg-type]
        with db.write() as conn:
            repo = Repository(conn)
            repo.insert_declarations(rows)
            repo.insert_conflicts(conflicts)
            repo.insert_notifications(out.notes)
            repo.insert_events(out.events)
    svc.close()
    ids: dict[str, list[str]] = {p: [] for p in PARTIES}
    for d in decls:
        if len(ids[d.party]) < 20_000:
            ids[d.party].append(d.id)
    twin = declaration_to_feature(decls[0])
    other = next(p for p in PARTIES if p != decls[0].party)
    twin["properties"].update(id="twin-of-m0", party=other)
    return Store(
        path,
        n,
        t0,
        time.perf_counter() - start,
        len(found),
        operator,
        tokens,
        {p: k.to_raw() for p, k in keys.items()},
        {p: k.public_key.key_id for p, k in keys.items()},
        ids,
        twin,
    )


def kept(folder: Path, n: int, t0: float, tag: str = "run") -> Store:
    """The store of `n` in `folder` (`--keep`): filled once and described in a JSON file
    beside it, then reused; each run serves a fresh copy, so the kept one stays as filled.
    Its movements start when they did at the fill: refill once they come too close."""
    pristine, meta = folder / f"store-{n}.sqlite", folder / f"store-{n}.json"
    if pristine.exists() and meta.exists():
        m = json.loads(meta.read_text())
        seeds = {k: bytes.fromhex(v) for k, v in m["seeds"].items()}
        store = Store(**{**m, "path": pristine, "seeds": seeds})
        print(f"  reusing {pristine} (filled in {store.fill_s:.1f} s)", file=sys.stderr, flush=True)
    else:
        for old in folder.glob(f"store-{n}.sqlite*"):
            old.unlink()
        store = fill(pristine, n, t0)
        m = {**store.__dict__, "path": str(pristine)}
        m["seeds"] = {k: v.hex() for k, v in store.seeds.items()}
        meta.write_text(json.dumps(m))
    work = folder / f"store-{n}-{tag}.sqlite"
    for old in folder.glob(f"store-{n}-{tag}.sqlite*"):
        old.unlink()
    shutil.copyfile(pristine, work)
    return dataclasses.replace(store, path=work)


# -- the server ----------------------------------------------------------------------------


STARTED = "Application startup complete"
"""What uvicorn logs once a server process (each worker) serves."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`deconflict serve --db <db> --port <port> [--workers W]` as a child process."""

    db: Path
    profile: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    start_s: float = 0.0
    workers: int = 1
    src: Path | None = None
    """Serve the code of this source tree (its `src` on PYTHONPATH) instead of this one's."""
    ticker: bool = True
    """False: the live monitor's Ticker is not started (`--no-ticker`)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def profile_path(self) -> Path:
        return self.db.with_suffix(".prof")

    def start(self, timeout_s: float = 600.0) -> Server:
        serve = ["serve", "--db", str(self.db), "--port", str(self.port)]
        if self.workers > 1:
            serve += ["--workers", str(self.workers)]
        if self.profile is None and not self.ticker:
            args = [sys.executable, __file__, "--serve-without-ticker", *serve]
        elif self.profile is None:
            args = [sys.executable, "-m", "deconflict", *serve]
        else:
            args = [sys.executable, __file__, "--serve-profiled", self.profile]
            args += [str(self.profile_path), *serve]
        t = time.perf_counter()
        log_path = self.db.with_suffix(".log")
        seen = log_path.read_text(errors="replace").count(STARTED) if log_path.exists() else 0
        with open(log_path, "ab") as log:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            if self.src is not None:
                env["PYTHONPATH"] = str(self.src / "src")
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        up = False
        while time.perf_counter() - t < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()[-2000:]}")
            if not up:
                try:
                    up = httpx.get(self.url + "/health", timeout=1).status_code == 200
                except httpx.TransportError:
                    pass
            # With workers, every one (not only the first) must have indexed the store.
            if up and (self.workers == 1 or self.log().count(STARTED) - seen >= self.workers):
                self.start_s = time.perf_counter() - t
                return self
            time.sleep(0.2)  # each try costs ~5 ms of CPU (a new httpx client)
        log = self.log()[-2000:]
        self.stop()  # not left running (and using the CPU) after a failed start
        raise RuntimeError(f"the server did not start in {timeout_s:.0f} s: {log}")

    def pids(self) -> list[int]:
        """The server and, with workers, every live descendant."""
        if self.proc is None:
            return []
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo += [int(x) for x in f.read().split()]
            except OSError:
                pass
        return out

    def cpu_s(self) -> float:
        """CPU seconds (user + system, every thread, every worker) the server used so far."""
        if self.proc is None:
            return math.nan
        total = 0.0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def log(self) -> str:
        path = self.db.with_suffix(".log")
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def check_indexed(server: Server, store: Store) -> int:
    """Submit the twin of stored declaration m0 for another party: it must conflict with m0
    (the server indexed the store at start). Returns the twin's conflicts."""
    party = store.twin["properties"]["party"]
    r = httpx.post(
        server.url + SUBMIT_PATH,
        content=json.dumps(store.twin).encode(),
        headers={"Authorization": f"Bearer {store.tokens[party]}"},
        timeout=60,
    )
    if r.status_code != 201:
        raise RuntimeError(f"the probe submission got {r.status_code}: {r.text[:500]}")
    conflicts = r.json()["declarations"][0]["conflicts"]
    if not any("m0" in (c["a"], c["b"]) for c in conflicts):
        raise RuntimeError("the server did not index the stored declarations: no conflict with m0")
    return len(conflicts)


# -- the load generator (runs in its own processes) --------------------------------------


@dataclass
class Client:
    """One simulated client: a party's token and key, and what it reads."""

    index: int
    party: str
    token: str
    seed: bytes
    key_id: str
    ids: list[str]


@dataclass
class Phase:
    """One bounded load phase, given to each load-generator process for its clients."""

    port: int
    mode: str
    """health | read | submit"""
    clients: list[Client]
    seconds: float
    rate: float | None
    """Requests per second per client (open loop), or None for a closed loop."""
    t0: float
    tag: str
    expected: int
    """Requests the whole phase is expected to make (how many submissions to prepare)."""


class Requests:
    """Each client's requests as the bytes sent. Submissions (50-waypoint movements over
    the stored theatre, signed) are made before the phase starts, as many as expected;
    should a client run out, more are made on the fly (their cost then shows in the load
    generator's CPU)."""

    def __init__(self, phase: Phase, total_clients: int) -> None:
        self.phase = phase
        self.keys = {c.index: SigningKey.from_raw(c.seed) for c in phase.clients}
        self.batches = Counter[int]()
        self.ready: dict[int, list[bytes]] = {c.index: [] for c in phase.clients}
        self.rng = random.Random(zlib.crc32(phase.tag.encode()))
        if phase.mode == "submit":
            each = max(5, math.ceil(1.2 * phase.expected / total_clients))
            for c in phase.clients:
                while len(self.ready[c.index]) < each:
                    self.ready[c.index] += self._submissions(c)

    def head(self, c: Client, method: str, path: str, extra: str = "", length: int = 0) -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.phase.port}\r\n"
            f"Authorization: Bearer {c.token}\r\n{extra}Content-Length: {length}\r\n\r\n"
        ).encode()

    def _submissions(self, c: Client) -> list[bytes]:
        k = self.batches[c.index]
        self.batches[c.index] += 1
        batch = movements(
            10,
            seed=zlib.crc32(f"{self.phase.tag}/{c.index}/{k}".encode()),
            segments=49,
            parties=1,
            prefix=f"{self.phase.tag}-c{c.index}-{k}-",
            t0=self.phase.t0,
        )
        out = []
        for m in batch:
            feature = declaration_to_feature(m)
            feature["properties"]["party"] = c.party
            body = json.dumps(feature).encode()
            sig = self.keys[c.index].sign(signed_message("POST", SUBMIT_PATH, json.loads(body)))
            text = base64.urlsafe_b64encode(sig).decode().rstrip("=")
            extra = (
                "Content-Type: application/geo+json\r\n"
                f"Deconflict-Signature: keyid={c.key_id}, sig={text}\r\n"
            )
            out.append(self.head(c, "POST", SUBMIT_PATH, extra, len(body)) + body)
        return out

    def next(self, c: Client) -> bytes:
        mode = self.phase.mode
        if mode == "health":
            return self.head(c, "GET", "/health")
        if mode == "read":
            return self.head(c, "GET", f"/v1/declarations/{c.party}/{self.rng.choice(c.ids)}")
        queue = self.ready[c.index]
        if not queue:
            queue += self._submissions(c)
        return queue.pop()


KEEP_ALIVE_S = 4.0
"""A connection idle longer is not reused: uvicorn closes one idle for 5 s."""


class Connection:
    """One HTTP/1.1 keep-alive connection: write a request, read its response (parsed by
    httptools, the parser uvicorn uses). A lean client, so that the load generator spends
    far less CPU per request than the server (httpx spends about 2 ms)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import httptools

        self.reader, self.writer = reader, writer
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.complete = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.body, self.complete = [], False
        self.writer.write(raw)
        while not self.complete:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.parser.feed_data(chunk)
        return self.parser.get_status_code(), b"".join(self.body)

    def close(self) -> None:
        self.writer.close()


def load_process(pipe: Any, phase: Phase, total_clients: int) -> None:
    """A load-generator process: make the requests, say ready, wait for the start moment,
    run the phase, send back the figures."""
    requests = Requests(phase, total_clients)
    pipe.send("ready")
    start_at = pipe.recv()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    pipe.send(asyncio.run(run_phase(phase, requests, start_at)))


async def run_phase(phase: Phase, requests: Requests, start_at: float) -> dict[str, Any]:
    cpu = time.process_time()
    expect = 201 if phase.mode == "submit" else 200
    lat: list[float] = []
    done: list[float] = []
    status: Counter[str] = Counter()
    conflicts = [0]
    start = time.perf_counter() + max(0.0, start_at - time.time())
    end = start + phase.seconds
    # Each client's idle connections with the moment each went idle. One idle for longer
    # than the server keeps it (uvicorn closes a connection idle for 5 s) is closed, not
    # used: sending on it failed with "the server closed the connection" (1-10 of 400
    # requests of a positions phase, which burst more connections when requests overlap).
    idle: dict[int, list[tuple[Connection, float]]] = {c.index: [] for c in phase.clients}

    def take(c: Client) -> Connection | None:
        kept = idle[c.index]
        while kept:
            conn, since = kept.pop()
            if time.perf_counter() - since < KEEP_ALIVE_S:
                return conn
            conn.close()
        return None

    async def one(c: Client, raw: bytes, t: float) -> None:
        conn = take(c)
        try:
            if conn is None:
                conn = await Connection.open(phase.port)
            code, body = await conn.request(raw)
        except (OSError, ConnectionError, ValueError) as exc:
            status[type(exc).__name__] += 1
            if conn is not None:
                conn.close()
            return
        now = time.perf_counter()
        idle[c.index].append((conn, now))
        status[str(code)] += 1
        if code == expect:
            lat.append(now - t)
            done.append(now)
            if phase.mode == "submit":
                conflicts[0] += len(json.loads(body)["declarations"][0]["conflicts"])
        elif status[str(code)] == 1:
            print(f"load: {code} {body[:300]!r}", file=sys.stderr)

    async def closed(c: Client) -> None:
        idle[c.index].append((await Connection.open(phase.port), start))
        await asyncio.sleep(start - time.perf_counter())
        while time.perf_counter() < end:
            raw = requests.next(c)
            await one(c, raw, time.perf_counter())

    async def opened(c: Client) -> None:
        assert phase.rate is not None
        idle[c.index].append((await Connection.open(phase.port), start))
        period = 1.0 / phase.rate
        due = start + random.uniform(0, period)
        tasks = []
        while due < end:
            raw = requests.next(c)  # made before its moment, not counted
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(c, raw, due)))  # late or not: from `due`
            due += period
        await asyncio.gather(*tasks)

    loop = closed if phase.rate is None else opened
    try:  # bounded: in-flight requests get a minute of grace after the phase ends
        await asyncio.wait_for(
            asyncio.gather(*(loop(c) for c in phase.clients)),
            timeout=max(0.0, start - time.perf_counter()) + phase.seconds + 60,
        )
    except TimeoutError:
        status["unfinished"] += 1
    for conns in idle.values():
        for conn, _ in conns:
            conn.close()
    return {
        "lat": lat,
        "done": done,
        "start": start,
        "status": dict(status),
        "conflicts": conflicts[0],
        "cpu_s": time.process_time() - cpu,
    }


@dataclass
class Result:
    name: str
    stored: int
    clients: int
    offered: str
    seconds: float
    ok: int
    errors: dict[str, int]
    per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    conflicts: float
    load: tuple[float, float]
    """1-minute load average before and after the phase."""
    server_cpu_ms: float
    """Server CPU time (every thread) per answered request, ms."""
    client_cpu_ms: float
    """Load generator CPU time per answered request, ms (while the phase runs)."""


def phase(
    procs: int,
    name: str,
    server: Server,
    mode: str,
    store: Store,
    clients: int,
    seconds: float,
    rate: float | None = None,
) -> Result:
    """Run one phase with `procs` load-generator processes sharing `clients` clients."""
    everyone = []
    parties = list(PARTIES)
    for i in range(clients):
        p = parties[i % len(parties)]
        everyone.append(
            Client(i, p, store.tokens[p], store.seeds[p], store.key_ids[p], store.ids[p])
        )
    tag = f"{name.split()[0]}-{store.n}-{int(time.time() * 1000) % 10**9}"
    expected = int(seconds * (clients * rate if rate is not None else 100.0))
    ctx = mp.get_context("spawn")
    running = []
    for k in range(min(procs, clients)):
        ph = Phase(server.port, mode, everyone[k::procs], seconds, rate, store.t0, tag, expected)
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=load_process, args=(theirs, ph, clients), daemon=True)
        proc.start()
        running.append((proc, mine))
    outs = []
    try:
        for _, pipe in running:
            if not pipe.poll(600) or pipe.recv() != "ready":
                raise RuntimeError("a load-generator process did not get ready")
        before = os.getloadavg()[0]
        cpu = server.cpu_s()
        start_at = time.time() + 0.5
        for _, pipe in running:
            pipe.send(start_at)
        for _, pipe in running:
            if not pipe.poll(seconds + 120):
                raise RuntimeError("a load-generator process did not finish")
            outs.append(pipe.recv())
        cpu = server.cpu_s() - cpu
        after = os.getloadavg()[0]
    finally:
        for proc, _ in running:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    lat = np.array([x for o in outs for x in o["lat"]])
    done = [x for o in outs for x in o["done"]]
    status: Counter[str] = Counter()
    for o in outs:
        status.update(o["status"])
    ok = len(lat)
    ok_code = "201" if mode == "submit" else "200"
    errors = {k: v for k, v in status.items() if k != ok_code}
    # Each process has its own clock origin: measure spans within a process.
    span = max((max(o["done"]) - o["start"] for o in outs if o["done"]), default=seconds)
    q = np.percentile(lat, [50, 95, 99]) * 1e3 if ok else [math.nan] * 3
    offered = "closed" if rate is None else f"{clients * rate:g}/s"
    return Result(
        name,
        store.n,
        clients,
        offered,
        span,
        ok,
        errors,
        len(done) / span if span > 0 else math.nan,
        float(q[0]),
        float(q[1]),
        float(q[2]),
        sum(o["conflicts"] for o in outs) / ok if ok and mode == "submit" else math.nan,
        (before, after),
        1e3 * cpu / ok if ok else math.nan,
        1e3 * sum(o["cpu_s"] for o in outs) / ok if ok else math.nan,
    )


# -- where a submission's time goes (in-process) ---------------------------------------------

STEPS = [
    ("read_json", "read the body (JSON)"),
    ("parse_body", "parse and check bounds"),
    ("signed_message", "canonical JSON of the request (for the signature)"),
    ("verify_request", "verify the Ed25519 signature (key lookup included)"),
    ("_new_row", "make the row (feature and clearance JSON)"),
    ("_log_version", "record: the version's entry and disclosures"),
    ("_open_events", "events and notifications"),
    ("owner_view", "the answer (row and conflicts read back)"),
    ("written_view", "the answer (from what was written)"),
]
"""Functions of `deconflict.service.declarations` the submission calls, timed where they
exist (names change as the service grows: a missing one is skipped)."""

STATEMENTS = [
    "exists",
    "key",
    "parties",
    "observers",
    "insert_declaration",
    "insert_conflicts",
    "insert_notifications",
    "insert_event",
    "webhooks_of",
    "current",
    "conflicts_of",
]
"""Repository calls timed wherever they are made (so also inside the steps above)."""


def sections(store: Store, count: int) -> None:
    """Submit `count` signed 50-waypoint movements in-process (no HTTP) on the filled store
    and print the mean time of each step of the submission."""
    from deconflict.service import declarations as service_decl
    from deconflict.store import repository

    spent: Counter[str] = Counter()

    def timed(fn: Any, label: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - t

        return run

    t = time.perf_counter()
    svc = Service(Database(str(store.path)))
    start_s = time.perf_counter() - t
    with svc.read() as repo:
        who = {p: Principal(p, repo.tokens_of(p)[0].token_id) for p in PARTIES}
    client = [
        Client(i, p, store.tokens[p], store.seeds[p], store.key_ids[p], store.ids[p])
        for i, p in enumerate(PARTIES)
    ]
    phase = Phase(0, "submit", client, 0, None, store.t0, f"sections-{store.n}", count + 40)
    requests = Requests(phase, len(client))
    calls = []
    for k in range(count + 20):
        c = client[k % len(client)]
        raw = requests.next(c)
        head, _, body = raw.partition(b"\r\n\r\n")
        sig = head.split(b"Deconflict-Signature: ", 1)[1].split(b"\r\n", 1)[0].decode()
        calls.append((who[c.party], body, sig))
    for w, body, sig in calls[:20]:  # warm caches
        service_decl.submit(svc, w, body, signature=sig)
    saved = {n: getattr(service_decl, n) for n, _ in STEPS if hasattr(service_decl, n)}
    saved_repo = {n: getattr(repository.Repository, n) for n in STATEMENTS}
    engine = svc.engine
    try:
        for name, label in STEPS:
            if name in saved:
                setattr(service_decl, name, timed(saved[name], label))
        for name in STATEMENTS:
            setattr(repository.Repository, name, timed(saved_repo[name], f"repo.{name}"))
        engine.conflicts_of = timed(engine.conflicts_of, "engine: conflicts of the new one")  # type: ignore[method-assign]
        engine.add_many = timed(engine.add_many, "engine: index it (after commit)")  # type: ignore[method-assign]
        each = []
        for w, body, sig in calls[20:]:
            t = time.perf_counter()
            service_decl.submit(svc, w, body, signature=sig)
            each.append(time.perf_counter() - t)
    finally:
        for name, fn in saved.items():
            setattr(service_decl, name, fn)
        for name, fn in saved_repo.items():
            setattr(repository.Repository, name, fn)
        svc.close()
    total = sum(each)
    print(f"\n## Where a submission's time goes ({store.n:,} stored, in-process, no HTTP)\n")
    print(
        f"{count} signed 50-waypoint submissions through `service.declarations.submit`: "
        f"median {1e3 * statistics.median(each):.2f} ms, mean {1e3 * total / count:.2f} ms "
        f"(Service start-up on this store: {start_s:.1f} s; load average "
        f"{os.getloadavg()[0]:.2f}). Repository calls are counted again inside the steps.\n"
    )
    print("| step | mean ms | share of the submission |")
    print("|---|---|---|")
    steps = [(label, v) for label, v in spent.items() if not label.startswith("repo.")]
    repo_calls = [(label, v) for label, v in spent.items() if label.startswith("repo.")]
    for label, v in sorted(steps, key=lambda x: -x[1]) + sorted(repo_calls, key=lambda x: -x[1]):
        print(f"| {label} | {1e3 * v / count:.2f} | {100 * v / total:.0f} % |")
    listed = sum(v for _, v in steps)
    print(
        f"| rest: transaction, lock, repository calls made directly, clearance rules | "
        f"{1e3 * (total - listed) / count:.2f} | {100 * (total - listed) / total:.0f} % |"
    )


# -- profiling the server ------------------------------------------------------------------


class _Snapshot:
    def __init__(self, stats: dict[Any, Any]) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


def serve_profiled(clock: str, out: str, argv: list[str]) -> None:
    """Run `deconflict <argv>` with cProfile in every thread (the event loop and the
    thread pool that runs the service calls); write the merged stats to `out` at exit."""
    import cProfile
    import pstats
    import threading

    timer = time.thread_time if clock == "cpu" else time.perf_counter
    profs: list[cProfile.Profile] = []
    lock = threading.Lock()

    def boot(frame: Any, event: str, arg: Any) -> None:  # first call in each new thread
        p = cProfile.Profile(timer)
        with lock:
            profs.append(p)
        p.enable()

    def leave(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    # uvicorn handles SIGTERM itself, then restores this handler and raises the signal
    # again: exit through `finally` so the profile is written.
    signal.signal(signal.SIGTERM, leave)
    threading.setprofile(boot)  # type: ignore[arg-type]
    main = cProfile.Profile(timer)
    main.enable()
    from deconflict.cli.main import app

    try:
        app(args=argv)
    finally:
        main.disable()
        stats = pstats.Stats(main)
        with lock:
            for p in profs:
                p.snapshot_stats()  # still enabled in its thread: read, do not disable
                stats.add(_Snapshot(p.stats))  # type: ignore[arg-type]
        stats.dump_stats(out)


def print_profile(path: Path, clock: str, top: int = 30) -> None:
    import pstats

    if not path.exists():
        print(f"(no profile written at {path})")
        return
    print(f"\n## Server profile ({clock} time, all threads; top {top} by own time)\n")
    print("```")
    s = pstats.Stats(str(path))
    s.sort_stats("tottime").print_stats(top)
    print(f"top {top} by cumulative time:")
    s.sort_stats("cumulative").print_stats(top)
    print("```")


# -- the report ------------------------------------------------------------------------------


def ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1f}"


def goal_of(r: Result) -> str:
    if r.name.startswith("submit") and r.stored >= 100_000 and r.clients == 50:
        met = r.p50_ms < 20 and r.p99_ms < 60
        return ("met" if met else "missed") + " (p50 < 20, p99 < 60 ms)"
    if r.name.startswith("read") and r.stored >= 100_000:
        return ("met" if r.per_s >= 2000 else "missed") + " (>= 2,000/s)"
    return ""


def print_results(results: list[Result]) -> None:
    print(
        "| phase | stored | clients | offered | s | ok | errors | per s | p50 ms | p95 ms "
        "| p99 ms | conflicts/sub | server CPU ms/req | client CPU ms/req | load 1m before/after "
        "| goal |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0"
        conflicts = "" if math.isnan(r.conflicts) else f"{r.conflicts:.1f}"
        print(
            f"| {r.name} | {r.stored:,} | {r.clients} | {r.offered} | {r.seconds:.1f} "
            f"| {r.ok:,} | {errors} | {r.per_s:,.0f} | {ms(r.p50_ms)} | {ms(r.p95_ms)} "
            f"| {ms(r.p99_ms)} | {conflicts} | {r.server_cpu_ms:.1f} | {r.client_cpu_ms:.1f} "
            f"| {r.load[0]:.2f} / {r.load[1]:.2f} | {goal_of(r)} |",
            flush=True,
        )


def closed_name(clients: int) -> str:
    return f"submit, closed loop, {clients} clients"


def open_name(clients: int, rate: float) -> str:
    return f"submit, open loop, {clients} x {rate:g}/s"


def run_store(
    args: argparse.Namespace,
    folder: Path,
    n: int,
    full: bool,
    starts: list[tuple[Store, Server, int]],
) -> list[Result]:
    t0 = math.ceil((time.time() + LEAD_S) / 3600.0) * 3600.0
    print(f"filling a store of {n:,} declarations...", file=sys.stderr, flush=True)
    counts = args.workers if full else [1]
    # Several servers in turn each get a fresh copy of the store as filled.
    reuse = args.keep is not None or len(counts) > 1
    store = kept(folder, n, t0) if reuse else fill(folder / f"store-{n}.sqlite", n, t0)
    out: list[Result] = []
    # Reads are answered by every worker; writes go one at a time whatever the count, so
    # the submission phases run with the first worker count only.
    for k, workers in enumerate(counts):
        if k:
            store = kept(folder, n, t0)
        print(
            f"  filled in {store.fill_s:.1f} s; starting the server ({workers} worker(s))",
            file=sys.stderr,
            flush=True,
        )
        profile = args.profile if full and workers == 1 else None
        server = Server(store.path, profile=profile, workers=workers).start()
        try:
            twin = check_indexed(server, store)
            starts.append((store, server, twin))
            c, rate = args.clients, args.rate
            label = "" if workers == 1 else f", {workers} workers"
            todo: list[tuple[str, str, int, float | None]] = []
            if full:
                todo += [("health (baseline)", "health", c, None)]
                todo += [("read own declaration", "read", c, None)]
            if not args.reads and not k:
                if full:
                    todo += [("submit, 1 client", "submit", 1, None)]
                if full or not args.quick:
                    todo += [(closed_name(c), "submit", c, None)]
                todo += [(open_name(c, rate), "submit", c, rate)]
            for name, mode, clients, r in todo:
                print(f"  {name}{label} ({n:,} stored)...", file=sys.stderr, flush=True)
                out.append(
                    phase(args.procs, name + label, server, mode, store, clients, args.seconds, r)
                )
        finally:
            server.stop()
    return out


def run_compare(args: argparse.Namespace, folder: Path, n: int) -> list[Result]:
    """Reads (`--reads`) or submissions on the N store served by this tree's code (or
    `--this`'s) and by `--compare`'s, for each worker count: both servers up at once (each
    on its own copy of the store), their phases interleaved (this, other, other, this, ...)
    so that the load of a shared machine falls on both alike. Submissions: the open loop
    (`--clients` x `--rate`), each phase adding as many declarations to either store."""
    t0 = math.ceil((time.time() + LEAD_S) / 3600.0) * 3600.0
    out: list[Result] = []
    for workers in args.workers:
        servers = []
        try:
            for tag, src in (("this", args.this), ("other", args.compare)):
                store = kept(folder, n, t0, tag)
                print(f"  starting {tag} ({workers} worker(s))...", file=sys.stderr, flush=True)
                server = Server(store.path, workers=workers, src=src, ticker=not args.no_ticker)
                servers.append((tag, store, server))
                server.start()
                check_indexed(server, store)
            for tag, store, server in servers:
                name = f"health (baseline), {workers} worker(s), {tag}"
                print(f"  {name}...", file=sys.stderr, flush=True)
                out.append(phase(args.procs, name, server, "health", store, args.clients, 5.0))
            c, rate = args.clients, args.rate
            for rep in range(args.repeat):
                for tag, store, server in servers if rep % 2 == 0 else servers[::-1]:
                    if args.reads:
                        name = f"read own declaration, {workers} worker(s), {tag}"
                        mode, r = "read", None
                    else:
                        name, mode, r = f"{open_name(c, rate)}, {tag}", "submit", rate
                    print(f"  {name} ({rep + 1})...", file=sys.stderr, flush=True)
                    out.append(phase(args.procs, name, server, mode, store, c, args.seconds, r))
        finally:
            for _, _, server in servers:
                server.stop()
    return out


def serve_without_ticker(argv: list[str]) -> None:
    """Run `deconflict <argv>` without the live monitor's Ticker (`--no-ticker`): with
    declarations changing, each of its ticks (every second, under the writer lock) reads
    every live declaration and rebuilds the monitor when they changed, which at 100,000
    stored takes most of the server's CPU and hides what a submission itself costs."""
    from deconflict.service import live

    live.Ticker.start = lambda self: None  # type: ignore[method-assign]
    live.Ticker.stop = lambda self: None  # type: ignore[method-assign]
    from deconflict.cli.main import app

    app(args=argv)


def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "--serve-profiled":
        serve_profiled(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-without-ticker":
        serve_without_ticker(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="2,000 declarations (baseline 500), 3 s phases"
    )
    ap.add_argument("--declarations", type=int, help="stored declarations (default 100,000)")
    ap.add_argument("--baseline", type=int, help="the small store (1,000)")
    ap.add_argument("--seconds", type=float, help="length of each phase (default 20)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    ap.add_argument("--rate", type=float, default=1.0, help="open loop: per client per s (1)")
    ap.add_argument("--procs", type=int, default=1, help="load-generator processes (1)")
    ap.add_argument("--profile", choices=["cpu", "wall"], help="profile the N-store server")
    ap.add_argument(
        "--sections",
        type=int,
        nargs="?",
        const=200,
        metavar="K",
        help="then time K submissions' steps in-process on the N store (200)",
    )
    ap.add_argument(
        "--keep",
        type=Path,
        help="make the stores in this folder and keep them; reuse them when there (each run "
        "serves a fresh copy)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        metavar="W",
        help="serve the N store with each of these worker counts in turn (health and reads "
        "for each, submissions with the first only)",
    )
    ap.add_argument(
        "--compare",
        type=Path,
        metavar="TREE",
        help="the same reads (--reads) or open-loop submissions also against a server "
        "running the code of this source tree (e.g. a `git worktree` of an earlier commit), "
        "interleaved",
    )
    ap.add_argument(
        "--this",
        type=Path,
        metavar="TREE",
        help="with --compare: serve this source tree's code as 'this' (default: the tree of "
        "this script, with whatever is uncommitted in it)",
    )
    ap.add_argument("--repeat", type=int, default=2, help="with --compare: phases per server (2)")
    ap.add_argument(
        "--no-ticker",
        action="store_true",
        help="with --compare: serve without the live monitor's Ticker (its rebuilds after "
        "every change of the declarations take most of the CPU at 100,000 stored)",
    )
    ap.add_argument(
        "--reads",
        action="store_true",
        help="only GET /health and the reads on the N store (no submissions, no small store)",
    )
    args = ap.parse_args()
    n = args.declarations or (2_000 if args.quick else 100_000)
    args.seconds = args.seconds or (3.0 if args.quick else 20.0)
    args.baseline = args.baseline or (500 if args.quick else 1_000)
    print("# deconflict service benchmark")
    print(
        f"# python {sys.version.split()[0]}, cores: {os.cpu_count()}, load generator: "
        f"{args.procs} process(es) of asyncio + an HTTP/1.1 keep-alive client (httptools); "
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="deconflict-bench-")
        folder = Path(tmp.name)
    else:
        folder = args.keep
        folder.mkdir(parents=True, exist_ok=True)
    starts: list[tuple[Store, Server, int]] = []
    try:
        results = []
        if args.compare is not None:
            results = run_compare(args, folder, n)
            print_results(results)
        else:
            if not args.profile and not args.reads and args.baseline < n:
                results += run_store(args, folder, args.baseline, False, starts)
            results += run_store(args, folder, n, True, starts)
            report(args, n, starts, results)
        if args.profile:
            print_profile(starts[-1][1].profile_path, args.profile)
        if args.sections:
            sections(starts[-1][0], args.sections)
    finally:
        if tmp is not None:
            tmp.cleanup()
    failed = [r.name for r in results if r.errors]
    if failed:  # wrong answers, not slowness
        sys.exit(f"requests failed in: {', '.join(failed)} (see the server log)")


def report(
    args: argparse.Namespace,
    n: int,
    starts: list[tuple[Store, Server, int]],
    results: list[Result],
) -> None:
    print("## Start-up with the store filled\n")
    print(
        "| stored | conflicts stored | fill s (in-process, bulk) | server start s (to first "
        "/health, indexing included) | probe conflicts (its twin m0 found) |"
    )
    print("|---|---|---|---|---|")
    for store, server, twin in starts:
        print(
            f"| {store.n:,} | {store.conflicts:,} | {store.fill_s:.1f} | {server.start_s:.1f} "
            f"| {twin} |"
        )
    print("\n## Load phases\n")
    print_results(results)

    by = {(r.name, r.stored): r for r in results}
    health = by.get(("health (baseline)", n))
    read = by.get(("read own declaration", n))
    print()
    if health and read:
        print(
            f"- reads against the bare HTTP stack (GET /health, same clients): "
            f"{read.per_s:,.0f} against {health.per_s:,.0f} per s "
            f"({health.per_s / read.per_s:.1f}x fewer); p50 {read.p50_ms:.1f} against "
            f"{health.p50_ms:.1f} ms"
        )
    for name in (closed_name(args.clients), open_name(args.clients, args.rate)):
        big, small = by.get((name, n)), by.get((name, args.baseline))
        if big and small:
            print(
                f"- {name}: {n:,} stored against {args.baseline:,}: p50 {big.p50_ms:.1f} "
                f"against {small.p50_ms:.1f} ms ({big.p50_ms / small.p50_ms:.2f}x), p99 "
                f"{big.p99_ms:.1f} against {small.p99_ms:.1f} ms, throughput "
                f"{big.per_s:.0f} against {small.per_s:.0f} per s"
            )
    print(f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""Benchmark of the service on several workers and on PostgreSQL (issue 7, "Speed").

Part 1, over HTTP. One store per backend (SQLite file, PostgreSQL database) is filled in
bulk with the same N synthetic declarations (bench/service.py's `fill`: each with the
clearance, conflicts, notifications and events the service would have given it), then for
each backend and each worker count (1, 2, 4) a fresh copy of it (a file copy; `CREATE
DATABASE ... TEMPLATE`) is served by `deconflict serve [--workers W]` and driven by
bench/service.py's load generator, closed loop, C clients (16), one phase each:

- read: GET of one of the caller's stored declarations;
- submit: a signed 50-waypoint movement (conflict check, signature, record);
- positions: POST /v1/positions, batches of B reports (50) of the client's own units, each
  unit moving straight at 5-30 m/s (reports per second = batches per second x B).

Writes (submissions, position batches) are one sequence across the workers of a store
(BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL); reads run in parallel. Ratios are
taken against the 1-worker SQLite figure of the same phase in the same run. Server CPU per
request sums every process of the server (supervisor and workers).

Then, in this process, submissions and position batches made one after another on a copy
of each store, timing how long each holds the write transaction (BEGIN to COMMIT: the
section every worker's writes pass through one at a time, so 1 / its mean bounds the
writes per second of a whole deployment, however many machines).

Part 2: the strategic check through PostGIS against the in-memory engine on the same
100,000 movements (bench/postgis.py), skipped, saying why, without PostGIS.

Run: `.venv/bin/python bench/scale.py` (10,000 declarations, 10 s phases, 100,000
movements and 200 probes for part 2: about 8 minutes on 2 cores); `--quick` (1 and 2
workers, 1,000 declarations, 2 s phases, 10,000 movements and 30 probes: under 2 minutes). Databases
named dc_bench_scale_<pid>_* and dc_bench_postgis_<pid> are made and dropped. Exits
non-zero only when a server answers wrongly, never for slowness.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import postgis  # noqa: E402
import service as http_bench  # noqa: E402
from synthetic import CENTRE  # noqa: E402

PG = postgis.PG
POSITIONS_PATH = "/v1/positions"
BATCH_ENV = "DECONFLICT_BENCH_BATCH"
"""The position batch size, passed to the load-generator processes (spawned) this way."""
PROFILE_ENV = "DECONFLICT_BENCH_PROFILE"
"""When set, a path: the server runs under cProfile, written to <path>.<workers> when it
stops (only the event loop's thread: the service calls run in the thread pool)."""
_PROFILED = """
import cProfile, signal, sys
from deconflict.cli.main import app
signal.raise_signal = lambda sig: None  # uvicorn re-raises SIGTERM after shutting down
sys.argv[0] = "deconflict"
p = cProfile.Profile()
try:
    p.runcall(app, prog_name="deconflict")
except SystemExit:
    pass
p.dump_stats({out!r})
"""

_load_process = http_bench.load_process


# -- the load generator: bench/service.py's, with position batches ------------------------


class Requests(http_bench.Requests):
    """bench/service.py's requests, and mode `positions`: a JSON array of B reports, one
    per unit of the client (B units, placed at random over the 400 km theatre, each on a
    straight course), timed now."""

    def __init__(self, phase: http_bench.Phase, total_clients: int) -> None:
        super().__init__(phase, total_clients)
        self.batch = int(os.environ.get(BATCH_ENV, "50"))
        self.units: dict[int, tuple[np.ndarray[Any, Any], ...]] = {}
        self.started = time.time()

    def next(self, c: http_bench.Client) -> bytes:
        if self.phase.mode != "positions":
            return super().next(c)
        if c.index not in self.units:
            rng = np.random.default_rng(zlib.crc32(f"{self.phase.tag}/{c.index}".encode()))
            n = self.batch
            self.units[c.index] = (
                rng.uniform(-200_000, 200_000, n),
                rng.uniform(-200_000, 200_000, n),
                rng.uniform(5, 30, n),
                rng.uniform(0, 360, n),
            )
        x0, y0, speed, course = self.units[c.index]
        now = time.time()
        k = now - self.started
        rad = np.radians(course)
        lat = CENTRE[1] + (y0 + speed * np.cos(rad) * k) / 111_200.0
        lon = CENTRE[0] + (x0 + speed * np.sin(rad) * k) / (
            111_200.0 * math.cos(math.radians(CENTRE[1]))
        )
        body = json.dumps(
            [
                {
                    "unit": f"c{c.index}-u{j}",
                    "time": now,
                    "lat": la,
                    "lon": lo,
                    "speed_mps": s,
                    "course_deg": co,
                }
                for j, (la, lo, s, co) in enumerate(
                    zip(lat.tolist(), lon.tolist(), speed.tolist(), course.tolist(), strict=True)
                )
            ]
        ).encode()
        extra = "Content-Type: application/json\r\n"
        return self.head(c, "POST", POSITIONS_PATH, extra, len(body)) + body


def load_process(pipe: Any, phase: http_bench.Phase, total_clients: int) -> None:
    """bench/service.py's load-generator process, with these requests."""
    http_bench.Requests = Requests  # type: ignore[misc]
    _load_process(pipe, phase, total_clients)


# -- the server: N workers on a SQLite file or a PostgreSQL database ------------------------


@dataclass
class Cluster(http_bench.Server):
    """`deconflict serve --db <target> [--workers W]`; `db` only names its log file."""

    target: str = ""
    workers: int = 1
    log_key: Path | None = None

    def start(self, timeout_s: float = 600.0) -> Cluster:
        args = [sys.executable, "-m", "deconflict", "serve", "--db", self.target]
        profile = os.environ.get(PROFILE_ENV)
        if profile:  # the event loop's thread only (cProfile follows one thread)
            args[1:3] = ["-c", _PROFILED.format(out=f"{profile}.{self.workers}")]
        args += ["--port", str(self.port), "--log-key", str(self.log_key)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        t = time.perf_counter()
        with open(self.db.with_suffix(".log"), "ab") as log:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
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
            # Every worker, not only the first, must have indexed the store and be serving.
            if up and self.log().count("Application startup complete") >= self.workers:
                self.start_s = time.perf_counter() - t
                return self
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start in {timeout_s:.0f} s: {self.log()[-2000:]}")

    def pids(self) -> list[int]:
        """The supervisor and its workers (every live descendant)."""
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
        total = 0.0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def workers_supported() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "deconflict", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return "--workers" in out.stdout


# -- stores ----------------------------------------------------------------------------------


@dataclass
class Backend:
    """One kind of store: its filled template and how to copy it."""

    name: str
    """sqlite | postgresql"""
    folder: Path
    prefix: str
    template: str = ""
    store: http_bench.Store | None = None
    copies: list[str] = field(default_factory=list)

    def fill(self, n: int, t0: float) -> http_bench.Store:
        if self.name == "sqlite":
            self.template = str(self.folder / "template.sqlite")
        else:
            self.template = f"{self.prefix}_tpl"
            _admin(f"DROP DATABASE IF EXISTS {self.template}", f"CREATE DATABASE {self.template}")
        target = self.template if self.name == "sqlite" else f"{PG}/{self.template}"
        # fill() only passes its path to Database(str(path)), so a URL serves as well.
        self.store = http_bench.fill(target, n, t0)  # type: ignore[arg-type]
        return self.store

    def copy(self, workers: int) -> str:
        """A fresh copy of the filled template, as `serve --db` takes it."""
        if self.name == "sqlite":
            path = self.folder / f"sqlite-w{workers}.sqlite"
            for suffix in ("", "-wal"):
                if Path(self.template + suffix).exists():
                    shutil.copyfile(self.template + suffix, str(path) + suffix)
            self.copies.append(str(path))
            return str(path)
        name = f"{self.prefix}_w{workers}"
        _admin(
            f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE {self.template}"
        )
        self.copies.append(name)
        return f"{PG}/{name}"

    def drop(self, target: str) -> None:
        if self.name == "sqlite":
            for suffix in ("", "-wal", "-shm", ".log-key"):
                Path(target + suffix).unlink(missing_ok=True)
        else:
            _admin(f"DROP DATABASE IF EXISTS {target.rsplit('/', 1)[1]} WITH (FORCE)")

    def drop_all(self) -> None:
        if self.name == "postgresql":
            names = [*self.copies, self.template] if self.template else self.copies
            _admin(*(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names))


def _admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        for s in statements:
            conn.execute(s)  # type: ignore[arg-type]


def pg_cpu(target: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to the database of
    `target` (a URL; {} for a SQLite file). The server runs on this machine."""
    if "://" not in target:
        return {}
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s",
                (target.rsplit("/", 1)[1],),
            ).fetchall()
        ]
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def postgres_missing() -> str | None:
    try:
        _admin("SELECT 1")
    except Exception as exc:  # any driver or connection error: say it, skip
        return f"PostgreSQL not reachable at {PG} ({type(exc).__name__})"
    return None


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    workers: int
    phase: str
    result: http_bench.Result | None
    failed: str = ""
    pg_cpu_ms: float = math.nan
    """PostgreSQL's own CPU (the backends of this database) per answered request, ms."""


@dataclass
class Start:
    backend: str
    workers: int
    start_s: float
    twin: int
    idle_cpu: float = math.nan
    """Server CPU, in cores, over IDLE_S without requests (background work: following
    the other workers' writes, deadlines, the live ticker)."""
    failed: str = ""


IDLE_S = 2.0
PHASES = [("read", "read"), ("submit", "submit"), ("positions", "positions")]


def run_config(
    args: argparse.Namespace, backend: Backend, workers: int, rows: list[Row], starts: list[Start]
) -> None:
    assert backend.store is not None
    store = backend.store
    target = backend.copy(workers)
    label = f"{backend.name}-w{workers}"
    server = Cluster(
        args.folder / f"{label}.db",
        target=target,
        workers=workers,
        log_key=args.folder / f"{label}.log-key",
    )
    print(f"{label}: starting ({store.n:,} stored)...", file=sys.stderr, flush=True)
    try:
        server.start()
        twin = http_bench.check_indexed(server, store)
        time.sleep(0.5)
        cpu = server.cpu_s()
        time.sleep(IDLE_S)
        idle = (server.cpu_s() - cpu) / IDLE_S
        starts.append(Start(backend.name, workers, server.start_s, twin, idle))
        for name, mode in PHASES:
            if mode not in args.phases:
                continue
            print(f"  {label}: {name}...", file=sys.stderr, flush=True)
            before = pg_cpu(target)
            try:
                r = http_bench.phase(
                    args.procs, name, server, mode, store, args.clients, args.seconds, args.rate
                )
            except RuntimeError as exc:
                rows.append(Row(backend.name, workers, name, None, str(exc)[:200]))
                continue
            after = pg_cpu(target)
            used = sum(v - before.get(pid, 0.0) for pid, v in after.items())
            pg_ms = 1e3 * used / r.ok if after and r.ok else math.nan
            rows.append(Row(backend.name, workers, name, r, pg_cpu_ms=pg_ms))
    except RuntimeError as exc:
        starts.append(Start(backend.name, workers, math.nan, 0, str(exc)[-300:]))
        print(f"  {label} failed: {str(exc)[-500:]}", file=sys.stderr, flush=True)
    finally:
        server.stop()
        backend.drop(target)


@dataclass
class Serial:
    """Writes made one after another in this process on a copy of a filled store: how long
    each holds the store's write transaction (BEGIN to COMMIT, which on PostgreSQL is how
    long the writer row lock is held, and on SQLite the file's write lock), beside the
    whole call. Writes of every worker of a deployment pass through this one section."""

    backend: str
    kind: str
    count: int
    call_ms: list[float]
    held_ms: list[float]
    statements: float
    """SQL statements per write (each a round trip to PostgreSQL, lock held)."""


def serial_sections(backend: Backend, count: int, batches: int, folder: Path) -> list[Serial]:
    from deconflict.service import Principal, Service
    from deconflict.service import declarations as decl_service
    from deconflict.service.live import live, parse_batch
    from deconflict.store.database import Database

    assert backend.store is not None
    store = backend.store
    target = backend.copy(0)
    svc = Service(Database(target))
    from sqlalchemy import event

    held: list[float] = []
    statements = [0]
    write = svc.db.write

    @event.listens_for(svc.db.writer, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        statements[0] += 1

    @contextmanager
    def timed() -> Iterator[Any]:
        t = time.perf_counter()
        with write() as conn:
            yield conn
        held.append(1e3 * (time.perf_counter() - t))

    try:
        with svc.read() as repo:
            who = {p: Principal(p, repo.tokens_of(p)[0].token_id) for p in http_bench.PARTIES}
        clients = [
            http_bench.Client(i, p, store.tokens[p], store.seeds[p], store.key_ids[p], [])
            for i, p in enumerate(http_bench.PARTIES)
        ]
        out = []
        for kind, k in (("submit", count), ("positions", batches)):
            phase = http_bench.Phase(
                0, kind, clients, 0, None, store.t0, f"serial-{kind}-{os.getpid()}", k + 10
            )
            requests = Requests(phase, len(clients))
            calls = []
            for i in range(k + 5):
                c = clients[i % len(clients)]
                head, _, body = requests.next(c).partition(b"\r\n\r\n")
                sig = None
                if kind == "submit":
                    sig = head.split(b"Deconflict-Signature: ", 1)[1].split(b"\r\n", 1)[0]
                calls.append((c.party, body, sig))
            each = []
            svc.db.write = timed  # type: ignore[method-assign]
            statements[0] = 0
            for i, (party, body, sig) in enumerate(calls):
                t = time.perf_counter()
                if kind == "submit":
                    assert sig is not None
                    decl_service.submit(svc, who[party], body, signature=sig.decode())
                else:
                    batch = parse_batch(svc, body, party)
                    live(svc).ingest(who[party], batch.reports, batch.rows)
                if i >= 5:  # the first ones warm caches
                    each.append(1e3 * (time.perf_counter() - t))
            svc.db.write = write  # type: ignore[method-assign]
            per_call = len(held) // len(calls)
            kept = [sum(held[i : i + per_call]) for i in range(5 * per_call, len(held), per_call)]
            held.clear()
            stmts = statements[0] / len(calls)
            out.append(Serial(backend.name, kind, k, each, kept, stmts))
        return out
    finally:
        svc.close()
        backend.drop(target)


def print_serial(serials: list[Serial], batch: int) -> None:
    print(
        "\n## The one sequence of writes (in-process, one writer, no HTTP; write "
        "transaction = BEGIN to COMMIT, writer lock held)\n"
    )
    print(
        "| store | write | calls | call median ms | transaction median ms | transaction p99 ms "
        "| share in the transaction | SQL statements per write "
        "| bound: writes per s across the deployment |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in serials:
        mean = statistics.fmean(s.held_ms)
        what = "submission" if s.kind == "submit" else f"position batch of {batch}"
        print(
            f"| {s.backend} | {what} | {s.count} | {statistics.median(s.call_ms):.2f} "
            f"| {statistics.median(s.held_ms):.2f} | {float(np.percentile(s.held_ms, 99)):.2f} "
            f"| {100 * sum(s.held_ms) / sum(s.call_ms):.0f} % | {s.statements:.0f} "
            f"| {1e3 / mean:,.0f} |"
        )


def load(r: http_bench.Result) -> str:
    return f"{r.load[0]:.2f} / {r.load[1]:.2f}"


def report(
    args: argparse.Namespace, n: int, fills: list[Backend], starts: list[Start], rows: list[Row]
) -> None:
    print(f"## Stores: {n:,} declarations each (same synthetic theatre)\n")
    print("| store | conflicts stored | fill s (in-process, bulk) |")
    print("|---|---|---|")
    for b in fills:
        assert b.store is not None
        print(f"| {b.name} | {b.store.conflicts:,} | {b.store.fill_s:.1f} |")
    print("\n## Start-up (every worker indexes the store before serving)\n")
    print(
        "| store | workers | start s (to every worker up) | probe conflicts (twin of m0) "
        "| idle server CPU (cores) |"
    )
    print("|---|---|---|---|---|")
    for s in starts:
        if s.failed:
            print(f"| {s.backend} | {s.workers} | failed: {s.failed!r} | |")
        else:
            print(f"| {s.backend} | {s.workers} | {s.start_s:.1f} | {s.twin} | {s.idle_cpu:.2f} |")
    print(
        f"\n## Load phases (closed loop, {args.clients} clients, {args.seconds:g} s each; "
        f"positions in batches of {args.batch})\n"
    )
    base = {
        row.phase: row.result
        for row in rows
        if row.backend == "sqlite" and row.workers == 1 and row.result is not None
    }
    print(
        "| phase | store | workers | ok | errors | per s | x SQLite 1 worker | p50 ms | p99 ms "
        "| server CPU ms/req | PostgreSQL CPU ms/req | load 1m before / after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    for name, _ in PHASES:
        for row in rows:
            if row.phase != name:
                continue
            r = row.result
            if r is None:
                print(f"| {name} | {row.backend} | {row.workers} | failed: {row.failed!r} |")
                continue
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0"
            failed |= bool(r.errors)
            b = base.get(name)
            ratio = "-" if b is None or not b.per_s else f"{r.per_s / b.per_s:.2f}"
            per_s = f"{r.per_s:,.0f}"
            if name == "positions":
                per_s += f" ({r.per_s * args.batch:,.0f} reports)"
            print(
                f"| {name} | {row.backend} | {row.workers} | {r.ok:,} | {errors} | {per_s} "
                f"| {ratio} | {http_bench.ms(r.p50_ms)} | {http_bench.ms(r.p99_ms)} "
                f"| {r.server_cpu_ms:.1f} | {http_bench.ms(row.pg_cpu_ms)} | {load(r)} |",
                flush=True,
            )
    args.failed = failed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small stores and short phases")
    ap.add_argument("--declarations", type=int, help="stored per store (10,000; quick 1,000)")
    ap.add_argument("--workers", help="worker counts to run (1,2,4; quick 1,2)")
    ap.add_argument("--stores", default="sqlite,postgresql", help="backends (both)")
    ap.add_argument("--phases", default="read,submit,positions", help="phases to run (all)")
    ap.add_argument("--seconds", type=float, help="length of each phase (10; quick 2)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    ap.add_argument("--batch", type=int, default=50, help="reports per position batch (50)")
    ap.add_argument("--procs", type=int, default=1, help="load-generator processes (1)")
    ap.add_argument(
        "--rate",
        type=float,
        help="open loop: requests per second per client on a fixed schedule, latency from "
        "the scheduled moment (default: closed loop)",
    )
    ap.add_argument("--movements", type=int, help="part 2: stored (100,000; quick 10,000)")
    ap.add_argument("--probes", type=int, help="part 2: probes (200; quick 30)")
    ap.add_argument("--skip-postgis", action="store_true", help="no part 2")
    ap.add_argument(
        "--serial", type=int, help="in-process submissions timed per store (100; quick 20)"
    )
    args = ap.parse_args()
    n = args.declarations or (1_000 if args.quick else 10_000)
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.movements = args.movements or (10_000 if args.quick else 100_000)
    args.probes = args.probes or (30 if args.quick else 200)
    args.serial = args.serial or (20 if args.quick else 100)
    args.phases = args.phases.split(",")
    os.environ[BATCH_ENV] = str(args.batch)
    http_bench.load_process = load_process  # phase() starts these processes
    counts = [int(w) for w in (args.workers or ("1,2" if args.quick else "1,2,4")).split(",")]
    print("# deconflict scale benchmark")
    print(
        f"# python {sys.version.split()[0]}, cores: {os.cpu_count()}; load generator: "
        f"{args.procs} process(es) of bench/service.py's asyncio client on the same machine; "
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    notes = []
    if not workers_supported():
        notes.append("`deconflict serve --workers` is not in this release: 1 worker only")
        counts = [1]
    names = args.stores.split(",")
    if "postgresql" in names:
        why = postgres_missing()
        if why:
            notes.append(f"PostgreSQL part skipped: {why}")
            names.remove("postgresql")
    for note in notes:
        print(f"- {note}")
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="deconflict-scale-")
    args.folder = Path(tmp.name)
    t0 = math.ceil((time.time() + http_bench.LEAD_S) / 3600.0) * 3600.0
    backends = [Backend(b, args.folder, f"dc_bench_scale_{os.getpid()}") for b in names]
    starts: list[Start] = []
    rows: list[Row] = []
    args.failed = False
    try:
        for b in backends:
            print(f"filling the {b.name} store with {n:,} declarations...", file=sys.stderr)
            b.fill(n, t0)
        # SQLite 1 worker first (the baseline); each worker count on both stores in turn,
        # so that what they are compared on ran close in time (the machine is shared).
        for w in counts:
            for b in backends:
                run_config(args, b, w, rows, starts)
        report(args, n, backends, starts, rows)
        serials = []
        for b in backends:
            print(f"{b.name}: timing writes in-process...", file=sys.stderr, flush=True)
            serials += serial_sections(b, args.serial, max(10, args.serial // 3), args.folder)
        print_serial(serials, args.batch)
    finally:
        for b in backends:
            b.drop_all()
        tmp.cleanup()
    if args.skip_postgis:
        pass
    elif why := postgis.postgis_missing(PG):
        print(f"\n## Strategic check through PostGIS: skipped ({why})")
    else:
        print(f"part 2: {args.movements:,} movements, {args.probes} probes", file=sys.stderr)
        postgis.report(postgis.run(args.movements, args.probes, PG, log=_stderr))
    print(
        f"\n- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"whole run {time.perf_counter() - started:.0f} s"
    )
    if args.failed or any(s.failed for s in starts):
        sys.exit("some requests or servers failed (see the tables)")


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

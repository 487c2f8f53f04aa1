"""A real `deconflict serve` process on a free loopback port, for tests that go through
real HTTP. Parties are registered through the API with the operator's token."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deconflict.scenarios import party_kinds, scenario_path, shifted
from deconflict.service import Service
from deconflict.service import parties as party_service
from deconflict.store.database import Database
from stores import NATS_URL, delete_streams, fresh_postgres, nats_or_skip


def _NullPool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Party:
    """A registered party and an HTTP client carrying its token."""

    name: str
    token: str
    client: httpx.Client

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.put(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.delete(path, **kw)


@dataclass
class Server:
    """`deconflict serve --db <db> --port <port> [--config <toml>]` as a child process.
    `db` names the files beside the store (log, config, log key); with `store`
    "postgresql" the store itself is a fresh database on the test server."""

    db: Path
    config: str | None = None
    store: str = "sqlite"
    store_url: str = ""
    args: tuple[str, ...] = ()
    """More arguments of `deconflict serve` (e.g. `--workers 2`)."""
    origin: str = ""
    """The log origin this server was given (PostgreSQL with the bus), if any."""
    tag: str = ""
    """Told apart in file names (".b"): a second server on one store logs to `<db><tag>.log`."""
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    operator_token: str = ""
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_arg(self) -> str:
        """What `--db` is given: the SQLite file, or the PostgreSQL URL."""
        if self.store == "sqlite":
            return str(self.db)
        if not self.store_url:
            self.store_url = fresh_postgres(self.db.parent.name)
        return self.store_url

    @property
    def log_key(self) -> Path:
        return Path(str(self.db) + ".log-key")

    def start(self, timeout_s: float = 30.0) -> Server:
        if not self.operator_token:
            svc = Service(Database(self.db_arg))
            self.operator_token = party_service.operator_token(svc, "tests").token
            svc.close()
        args = [
            sys.executable,
            "-m",
            "deconflict",
            "serve",
            "--db",
            self.db_arg,
            "--log-key",
            str(self.log_key),
            "--port",
            str(self.port),
            *self.args,
        ]
        config = self._with_bus(self.config)
        if config is not None:
            path = self.db.with_suffix(f"{self.tag}.toml")
            path.write_text(config)
            args += ["--config", str(path)]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop(signal.SIGKILL)  # leave no server behind
        raise RuntimeError(f"server did not start: {self.log()[-2000:]}")

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of one read-only SQL query straight from the store (SQLite or PostgreSQL),
        bypassing the service; `:name` parameters; a list value expands (`IN :ids`)."""
        from sqlalchemy import bindparam, create_engine, text

        from deconflict.store.database import database_url

        stmt = text(sql)
        for name, value in params.items():
            if isinstance(value, list | tuple):
                stmt = stmt.bindparams(bindparam(name, expanding=True))
        engine = create_engine(database_url(self.db_arg), poolclass=_NullPool())
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(stmt, params)]
        finally:
            engine.dispose()

    @property
    def log_path(self) -> Path:
        return self.db.with_suffix(f"{self.tag}.log")

    def log(self) -> str:
        path = self.log_path
        return path.read_text(errors="replace") if path.exists() else ""

    def beside(self, tag: str, **kw: Any) -> Server:
        """Another server process on this server's store, log key and operator token."""
        return Server(
            self.db,
            store=self.store,
            store_url=self.db_arg,
            operator_token=self.operator_token,
            origin=self.origin,
            tag=tag,
            **kw,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def client(self, token: str | None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        c = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(c)
        return c

    @property
    def operator(self) -> Party:
        return Party("@operator", self.operator_token, self.client(self.operator_token))

    def add_party(self, name: str, kind: str) -> Party:
        r = self.operator.post("/v1/parties", json={"name": name, "kind": kind})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        return Party(name, token, self.client(token))

    def _with_bus(self, config: str | None) -> str | None:
        """On PostgreSQL the service runs with the NATS bus (the suite covers both stores
        and both ways of following the store: polling alone, and the bus), under a log
        origin of its own so its feeds are its own."""
        if self.store != "postgresql" or (config is not None and "bus_url" in config):
            return config
        nats_or_skip()
        extra = f'bus_url = "{NATS_URL}"\n'
        if config is None or "log_origin" not in config:
            if not self.origin:
                self.origin = f"test-{uuid.uuid4().hex[:12]}"
            extra += f'log_origin = "{self.origin}"\n'
        return extra + (config or "")

    def verify_record(self) -> dict[str, Any]:
        """`deconflict log verify --json` on this server's store (stop it first); asserts
        the record verifies and returns the report."""
        out = subprocess.run(
            [
                *(sys.executable, "-m", "deconflict", "log", "verify", "--json"),
                *("--db", self.db_arg, "--log-key", str(self.log_key)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        report = dict(json.loads(out.stdout))
        assert report["ok"] is True, report
        return report

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.stop()
        if self.origin and self.tag == "":
            delete_streams(self.origin)


class Listener:
    """A party's event stream read on a thread until an event of type `until` arrives;
    `heard` holds the events in order."""

    def __init__(self, p: Party, until: str, timeout_s: float = 10.0) -> None:
        self.heard: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self._p, self._until, self._timeout_s = p, until, timeout_s
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()
        assert self.ready.wait(timeout_s), "the event stream did not open"

    def _listen(self) -> None:
        with self._p.client.stream("GET", "/v1/events/stream", timeout=self._timeout_s) as r:
            self.ready.set()
            for line in r.iter_lines():
                if line.startswith("data:"):
                    self.heard.append(json.loads(line[5:]))
                    if self.got():
                        return

    def got(self) -> bool:
        return any(e.get("type") == self._until for e in self.heard)

    def join(self) -> None:
        self._thread.join(self._timeout_s)


def report_pair(alpha: Party, beta: Party, t: float, apart_m: float = 300.0) -> None:
    """alpha/a1 and beta/b1 report at t and t + 1 (the second completes the first tick),
    `apart_m` north-south of each other (300 m: in proximity)."""
    for dt in (0.0, 1.0):
        _ok(
            alpha.post(
                "/v1/positions", json=[{"unit": "a1", "time": t + dt, "lat": 35.0, "lon": 36.0}]
            )
        )
        _ok(
            beta.post(
                "/v1/positions",
                json=[{"unit": "b1", "time": t + dt, "lat": 35.0 + apart_m / 111_000, "lon": 36.0}],
            )
        )


def _ok(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text


def scenario_plans(name: str, start_s: float) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """A bundled scenario moved to start at `start_s`: (party -> kind, party ->
    FeatureCollection of its own declarations)."""
    from deconflict.export.geojson import declarations_to_collection
    from deconflict.ingest import load_declarations

    found = load_declarations(scenario_path(name))
    decls = shifted(found.declarations, start_s)
    kinds = party_kinds(found.metadata)
    plans = {
        p: declarations_to_collection([d for d in decls if d.party == p])
        for p in sorted({d.party for d in decls})
    }
    return kinds, plans


def as_json(doc: Any) -> bytes:
    return json.dumps(doc).encode()

"""`deconflict serve` and `deconflict demo`: run the service over HTTP. The demo makes a
fresh embedded store, registers the scenario's parties, submits their plans moved to the
coming days, prints the URL and the tokens, and serves."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from deconflict.cli.failures import reporting
from deconflict.cli.options import Db, Debug
from deconflict.errors import InvalidRequest
from deconflict.export.geojson import declarations_to_collection
from deconflict.ingest import load_declarations
from deconflict.model.clearance import OPERATOR
from deconflict.scenarios import list_scenarios, party_kinds, scenario_path, shifted
from deconflict.service import OPERATOR_PRINCIPAL, Service, Settings
from deconflict.service import declarations as decl_service
from deconflict.service import parties as party_service
from deconflict.service.config import load_settings
from deconflict.service.record import load_or_create_key
from deconflict.store.database import Database

DEMO_LEAD_S = 72 * 3600.0
"""The demo's plans start this long after it starts: more than the 48 h notice."""

Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int, typer.Option("--port", help="TCP port to listen on.")]
Config = Annotated[
    Path | None, typer.Option("--config", help="TOML file of settings (docs/api.md).")
]
LogKey = Annotated[
    Path | None,
    typer.Option(
        "--log-key",
        help="File of the key that signs the record's checkpoints, made on first start "
        "(default: the SQLite file's name + .log-key).",
    ),
]


Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Service processes sharing the port and the store, restarted if one dies "
        "(docs/scale.md).",
    ),
]
Bus = Annotated[
    str | None,
    typer.Option(
        "--bus",
        help="NATS server (nats://host:port, with JetStream) for wake-ups between processes "
        "and the feeds of positions and alerts (docs/scale.md); overrides bus_url.",
    ),
]
ReusePort = Annotated[
    bool,
    typer.Option(
        "--reuse-port",
        hidden=True,
        help="Listen with SO_REUSEPORT beside the other workers (internal, set by --workers).",
    ),
]


def _log_key_path(db: str, log_key: Path | None) -> Path:
    if log_key is not None:
        return log_key
    if "://" in db:
        raise InvalidRequest("--log-key is needed with a database URL (no file to put it beside).")
    return Path(db + ".log-key")


def _with_bus(settings: Settings, url: str) -> Settings:
    import dataclasses

    try:
        return dataclasses.replace(settings, bus_url=url)
    except ValueError as exc:
        raise InvalidRequest(f"--bus: {exc}.") from None


def _settings(config: Path | None) -> Settings:
    return Settings() if config is None else load_settings(config)


def _open(db: str, settings: Settings, log_key: Path | None = None) -> Service:
    """The service on `db` with its log key; the store is closed again if loading fails."""
    signer = load_or_create_key(_log_key_path(db, log_key), settings.log_origin)
    database = Database(db)
    try:
        return Service(database, settings, log_signer=signer)
    except BaseException:
        database.close()
        raise


def reuse_port_socket(host: str, port: int, *, listen: bool) -> Any:
    """A TCP socket bound to host:port with SO_REUSEPORT: with `listen`, one worker's own
    queue of the port's connections (the kernel deals new connections among the listening
    sockets of the port by a hash of their addresses); without, a reservation of the port
    that takes no connection (only sockets of this user with SO_REUSEPORT can join it)."""
    import socket

    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if listen:
            sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InvalidRequest(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    return sock


def run(svc: Service, host: str, port: int, reuse_port: bool = False) -> None:
    """Serve `svc` on host:port; with `reuse_port`, on a socket of its own that shares the
    port with the other workers (bound once the service is loaded, so no connection waits
    on a worker that is still starting)."""
    import uvicorn

    from deconflict.api.app import create_app
    from deconflict.api.routes.events import end_streams

    app = create_app(svc, listeners=os.environ.get("DECONFLICT_WORKER", "0") == "0")

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            end_streams(app)  # else open event streams hold the stop until clients leave
            await super().shutdown(sockets)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = Server(uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False))
    try:
        server.run(sockets=[reuse_port_socket(host, port, listen=True)] if reuse_port else None)
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise SystemExit(3)  # as uvicorn.run: the port is taken or startup failed


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        db: Db = "deconflict.sqlite",
        host: Host = "127.0.0.1",
        port: Port = 8000,
        config: Config = None,
        log_key: LogKey = None,
        workers: Workers = 1,
        bus: Bus = None,
        reuse_port: ReusePort = False,
        debug: Debug = False,
    ) -> None:
        """Start the service on a store (created and migrated as needed)."""
        with reporting(debug=debug):
            settings = _settings(config)  # a bad file is refused before the store is touched
            if bus is not None:
                settings = _with_bus(settings, bus)
            if settings.bus_url:
                from deconflict.service.bus import check_bus

                check_bus(settings.bus_url)
            svc = _open(db, settings, log_key)
            assert svc.log_signer is not None
            if not reuse_port:
                typer.echo(f"Record: log key {svc.log_signer.verifier}")
        try:
            with reporting(debug=debug):
                with svc.read() as repo:
                    has_operator = bool(repo.tokens_of(OPERATOR))
                if not has_operator:
                    token = party_service.operator_token(svc, "first start")
                    typer.echo(f"Operator token (shown once, keep it safe): {token.token}")
            if workers > 1:
                svc.close()  # the supervisor holds no connection; each worker opens its own
                key = _log_key_path(db, log_key)
                with reporting(debug=debug):
                    supervise(db, host, port, config, key, workers, bus)
                return
            run(svc, host, port, reuse_port)
        finally:
            svc.close()

    @app.command()
    def demo(
        scenario: Annotated[
            str, typer.Option(help=f"Bundled scenario: {', '.join(list_scenarios())}.")
        ] = "al-malikiyah-2020",
        db: Db = "deconflict-demo.sqlite",
        host: Host = "127.0.0.1",
        port: Port = 8000,
        no_serve: Annotated[
            bool, typer.Option("--no-serve", help="Set up the store and exit.")
        ] = False,
        debug: Debug = False,
    ) -> None:
        """Start the service on a fresh embedded store with a bundled scenario."""
        with reporting(debug=debug):
            path = Path(db)
            for suffix in ("", "-wal", "-shm", ".log-key"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            svc = _open(db, Settings())
        try:
            with reporting(debug=debug):
                tokens = setup_demo(svc, scenario)
                typer.echo(f"deconflict demo: {scenario} on {path.resolve()}")
                conflicts = sum(1 for _ in svc.engine.all_conflicts())
                typer.echo(
                    f"  {len(svc.engine)} declarations of {len(tokens) - 1} parties submitted, "
                    f"{conflicts} conflicts between them"
                )
                typer.echo(f"  URL      http://{host}:{port}/   (API /v1, schema /openapi.json)")
                for name, token in tokens.items():
                    typer.echo(f"  {name:<12} {token}")
                first = next(t for n, t in tokens.items() if n != "operator")
                typer.echo(
                    f"Try: curl -H 'Authorization: Bearer {first}' http://{host}:{port}/v1/inbox"
                )
            if not no_serve:
                run(svc, host, port)
        finally:
            svc.close()


def supervise(
    db: str,
    host: str,
    port: int,
    config: Path | None,
    log_key: Path,
    workers: int,
    bus: str | None = None,
) -> None:
    """Run `workers` service processes on one port and one store: each is `deconflict
    serve --reuse-port`, listening on a socket of its own once loaded, and the kernel deals
    new connections among them (one socket shared by all let the first worker to wake take
    a whole burst of connections: 44 of 50 kept-alive clients, or all 50, went to one of two
    workers). One that dies is started again (at most once a second); meanwhile the others
    take the new connections. SIGTERM or SIGINT stops them all."""
    import signal
    import subprocess
    import sys

    # The port held (bound, not listening) for the workers alone while they start.
    sock = reuse_port_socket(host, port, listen=False)
    port = sock.getsockname()[1]  # the port the system chose, when asked for port 0
    args = [sys.executable, "-m", "deconflict", "serve", "--db", db, "--log-key", str(log_key)]
    args += ["--host", host, "--port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
    if bus is not None:
        args += ["--bus", bus]
    args += ["--reuse-port"]
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def start(i: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DECONFLICT_WORKER": str(i)}
        proc = subprocess.Popen(args, env=env)
        logging.getLogger("deconflict.supervisor").info("worker %d: pid %d", i, proc.pid)
        return proc

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    typer.echo(f"Serving on http://{host}:{port} with {workers} workers")
    procs = [start(i) for i in range(workers)]
    started = [time.monotonic()] * workers
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if proc.poll() is not None and not stopping:
                    logging.getLogger("deconflict.supervisor").warning(
                        "worker %d (pid %d) ended with %s; starting it again",
                        i,
                        proc.pid,
                        proc.returncode,
                    )
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - started[i])))
                    procs[i] = start(i)
                    started[i] = time.monotonic()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        sock.close()


def setup_demo(svc: Service, scenario: str) -> dict[str, str]:
    """Register the scenario's parties and submit their plans, moved to start
    `DEMO_LEAD_S` from now. Returns name -> token (the operator's first)."""
    found = load_declarations(scenario_path(scenario))
    kinds = party_kinds(found.metadata)
    start = math.ceil((time.time() + DEMO_LEAD_S) / 3600.0) * 3600.0
    decls = shifted(found.declarations, start)
    tokens = {"operator": party_service.operator_token(svc, "demo").token}
    names = sorted({d.party for d in decls})
    for name in names:
        party, issued = party_service.add_party(
            svc, OPERATOR_PRINCIPAL, name, kinds.get(name, "force")
        )
        tokens[name] = issued.token
    with svc.read() as repo:
        principals = {t.party: t for n in names for t in repo.tokens_of(n)}
    for name in names:
        mine = [d for d in decls if d.party == name]
        body = json.dumps(declarations_to_collection(mine)).encode()
        from deconflict.service.auth import Principal

        who = Principal(name, principals[name].token_id)
        decl_service.submit(svc, who, body)
    return tokens

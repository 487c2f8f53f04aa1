"""`serve --workers N`: each worker listens on a socket of its own (SO_REUSEPORT), so a
burst of kept-alive connections is dealt among the workers instead of going to the first
one awake; the port is held for the workers alone, and a refusal to listen is one clear
sentence."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.server import Server, free_port

CONNECTIONS = 60
WAIT_S = 20.0


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def _on_port(port: int, state: str) -> set[str]:
    """Socket inodes on local `port` in `state` ("01" established, "0A" listening)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, inode = fields[1], fields[9]
            if fields[3] == state and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


def _sockets_of(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[len("socket:[") : -1])
    return out


def test_a_burst_of_connections_is_dealt_among_the_workers(tmp_path: Path) -> None:
    server = Server(tmp_path / "deconflict.sqlite", args=("--workers", "2"), port=free_port())
    server.start()
    try:
        assert server.proc is not None
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:  # both workers loaded and listening
            workers = _children(server.proc.pid)
            listening = _on_port(server.port, "0A")
            if len(workers) == 2 and all(_sockets_of(p) & listening for p in workers):
                break
            time.sleep(0.1)
        workers = _children(server.proc.pid)
        listening = _on_port(server.port, "0A")
        assert len(workers) == 2 and all(_sockets_of(p) & listening for p in workers)
        assert not _sockets_of(server.proc.pid) & listening, "the supervisor takes no connection"
        # All at once, before any request: the burst one shared socket gave to one worker.
        conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(CONNECTIONS)]
        try:
            for c in conns:
                c.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            for c in conns:
                c.settimeout(10)
                assert c.recv(4096).startswith(b"HTTP/1.1 200"), "a connection was not served"
            accepted = _on_port(server.port, "01")
            per_worker = [len(_sockets_of(pid) & accepted) for pid in workers]
            assert sum(per_worker) == CONNECTIONS, per_worker
            # Dealt by a hash: 30 each on average; fewer than 15 has odds of about 1e-4.
            assert min(per_worker) >= 15, per_worker
        finally:
            for c in conns:
                c.close()
    finally:
        server.close()


def test_the_port_is_held_for_the_workers_alone(tmp_path: Path) -> None:
    server = Server(tmp_path / "deconflict.sqlite", args=("--workers", "2"), port=free_port())
    server.start()
    try:
        intruder = socket.socket()
        with pytest.raises(OSError):
            intruder.bind(("127.0.0.1", server.port))
        intruder.close()
    finally:
        server.close()


def test_a_taken_port_is_refused_in_one_sentence(tmp_path: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "deconflict", "serve", "--db", str(tmp_path / "d.sqlite")]
            + ["--port", str(port), "--workers", "2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        taken.close()
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

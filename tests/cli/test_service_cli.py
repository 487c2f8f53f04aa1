"""The operator's commands on a store (docs/cli.md): `party add/list/rotate/revoke`,
`operator token`, `demo --no-serve`, and `serve` as a real process. Tokens printed by the
commands are checked by authenticating with them against the same store."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from deconflict.cli.main import app
from deconflict.errors import Unauthorized
from deconflict.ingest import load_declarations
from deconflict.record import SigningKey
from deconflict.scenarios import party_kinds, scenario_path
from deconflict.service import Principal, Service
from deconflict.service import parties as party_service
from deconflict.service.auth import authenticate
from deconflict.store.database import Database

runner = CliRunner()
TOKEN = re.compile(r"dcf_[0-9a-f]+_[A-Za-z0-9_-]+")


def cli(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def ok(*args: str | Path) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def field(result: Result, name: str) -> str:
    """The value of a `name   value` line of a command's output."""
    for line in result.stdout.splitlines():
        label, _, value = line.partition("  ")
        if label == name:
            return value.split()[0]
    raise AssertionError(f"no {name!r} line in {result.stdout!r}")


@contextmanager
def store(db: Path) -> Iterator[Service]:
    database = Database(str(db))
    try:
        yield Service(database)
    finally:
        database.close()


def who(db: Path, token: str) -> Principal:
    """The principal a token authenticates as; Unauthorized if it does not."""
    with store(db) as svc, svc.read() as repo:
        return authenticate(repo, f"Bearer {token}")


def refused(db: Path, token: str) -> bool:
    try:
        who(db, token)
    except Unauthorized:
        return True
    return False


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "deconflict.sqlite"


# --- party add --------------------------------------------------------------------------------


def test_party_add_prints_a_token_that_authenticates(db: Path) -> None:
    result = ok("party", "add", "UN-OCHA", "--kind", "humanitarian", "--db", db)
    token, token_id = field(result, "token"), field(result, "token id")
    assert TOKEN.fullmatch(token) and token_id in token
    assert field(result, "party") == "UN-OCHA"
    assert "(humanitarian)" in result.stdout
    assert "shown once" in result.stderr and token not in result.stderr
    assert who(db, token) == Principal("UN-OCHA", token_id)
    with store(db) as svc:
        assert party_service.parties(svc) == [{"name": "UN-OCHA", "kind": "humanitarian"}]


def test_party_add_with_signing_key_writes_a_private_pem_and_registers_it(
    db: Path, tmp_path: Path
) -> None:
    pem = tmp_path / "keys" / "force-a.pem"
    pem.parent.mkdir()
    old_umask = os.umask(0)  # the key file must be 0600 whatever the umask says
    try:
        result = ok("party", "add", "A", "--kind", "force", "--db", db, "--signing-key", pem)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    key = SigningKey.from_pem(pem.read_bytes())
    key_id = field(result, "key id")
    assert key_id == key.public_key.key_id and str(pem) in result.stdout
    with store(db) as svc:
        public = base64.b64encode(key.public_key.to_raw()).decode()
        assert party_service.keys(svc, "A") == [{"key_id": key_id, "public_key": public}]
    assert b"PRIVATE KEY" not in db.read_bytes()


def test_party_add_never_overwrites_a_key_file(db: Path, tmp_path: Path) -> None:
    pem = tmp_path / "existing.pem"
    pem.write_text("precious")
    result = cli("party", "add", "A", "--kind", "force", "--db", db, "--signing-key", pem)
    assert result.exit_code == 2 and result.stdout == ""
    assert "already exists" in result.stderr and len(result.stderr.splitlines()) == 1
    assert pem.read_text() == "precious"
    with store(db) as svc:  # refused before anything was registered
        assert party_service.parties(svc) == []


def test_party_add_key_file_in_a_missing_folder_is_refused_first(db: Path, tmp_path: Path) -> None:
    result = cli(
        "party", "add", "A", "--kind", "force", "--db", db, "--signing-key", tmp_path / "no/k.pem"
    )
    assert result.exit_code == 2 and "does not exist" in result.stderr
    with store(db) as svc:
        assert party_service.parties(svc) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bad name", "--kind", "force"], "Party name 'bad name' is not allowed"),
        (["x" * 33, "--kind", "force"], "is not allowed"),
        (["A", "--kind", "army"], "'army'; use one of force, humanitarian, observer"),
        (["A", "--kind", "FORCE"], "use one of"),
    ],
)
def test_party_add_refuses_bad_names_and_kinds_in_one_line(
    db: Path, args: list[str], says: str
) -> None:
    result = cli("party", "add", *args, "--db", db)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_party_add_twice_is_refused(db: Path) -> None:
    ok("party", "add", "A", "--kind", "force", "--db", db)
    result = cli("party", "add", "A", "--kind", "observer", "--db", db)
    assert result.exit_code == 2
    assert result.stderr.strip() == "Party 'A' is already registered."


def test_bad_kind_through_the_real_script_has_no_traceback(db: Path) -> None:
    script = Path(sys.executable).with_name("deconflict")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "deconflict"]
    proc = subprocess.run(
        [*command, "party", "add", "A", "--kind", "tank", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "Party 'A' has kind 'tank'; use one of force, humanitarian, observer."
    )


# --- party list / rotate / revoke, operator token ---------------------------------------------


def test_party_list(db: Path) -> None:
    assert ok("party", "list", "--db", db).stdout == ""
    ok("party", "add", "zeta", "--kind", "observer", "--db", db)
    ok("party", "add", "Alpha", "--kind", "force", "--db", db)
    assert ok("party", "list", "--db", db).stdout == "Alpha\tforce\nzeta\tobserver\n"


def test_party_rotate_revokes_the_old_tokens(db: Path) -> None:
    first = field(ok("party", "add", "A", "--kind", "force", "--db", db), "token")
    kept = field(ok("party", "rotate", "A", "--keep-old", "--db", db), "token")
    assert who(db, first).party == who(db, kept).party == "A"  # --keep-old: both work
    rotated = ok("party", "rotate", "A", "--db", db)
    new = field(rotated, "token")
    assert who(db, new) == Principal("A", field(rotated, "token id"))
    assert refused(db, first) and refused(db, kept)
    assert len({first, kept, new}) == 3


def test_party_rotate_of_an_unknown_party(db: Path) -> None:
    result = cli("party", "rotate", "nobody", "--db", db)
    assert result.exit_code == 2 and result.stderr.strip() == "No party is named 'nobody'."


def test_party_revoke_one_token(db: Path) -> None:
    ok("party", "add", "B", "--kind", "force", "--db", db)
    added = ok("party", "add", "A", "--kind", "force", "--db", db)
    second = ok("party", "rotate", "A", "--keep-old", "--db", db)
    result = ok("party", "revoke", field(added, "token id"), "--db", db)
    assert result.stdout == f"revoked {field(added, 'token id')}\n"
    assert refused(db, field(added, "token"))
    assert who(db, field(second, "token")).party == "A"  # only that one token
    with store(db) as svc, svc.read() as repo:
        assert all(t.revoked_s is None for t in repo.tokens_of("B"))


def test_party_revoke_unknown_token(db: Path) -> None:
    result = cli("party", "revoke", "0123456789ab", "--db", db)
    assert result.exit_code == 2 and result.stderr.strip() == "No token of yours has that id."


def test_operator_token(db: Path) -> None:
    one = ok("operator", "token", "--db", db).stdout.strip()
    two = ok("operator", "token", "--db", db).stdout.strip()
    assert TOKEN.fullmatch(one) and TOKEN.fullmatch(two) and one != two
    assert who(db, one).is_operator and who(db, two).is_operator


def test_a_store_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    result = cli("party", "list", "--db", tmp_path / "nope" / "x.sqlite")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "does not exist" in result.stderr


# --- demo -------------------------------------------------------------------------------------


def test_demo_no_serve_sets_up_the_scenario(db: Path) -> None:
    db.write_text("an old file the demo replaces")
    result = ok("demo", "--no-serve", "--db", db)
    scenario = load_declarations(scenario_path("al-malikiyah-2020"))
    kinds = party_kinds(scenario.metadata)
    names = sorted({d.party for d in scenario.declarations})
    tokens = {
        line.split()[0]: line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("  ") and TOKEN.search(line)
    }
    assert sorted(tokens) == sorted(["operator", *names])
    assert who(db, tokens["operator"]).is_operator
    for name in names:
        assert who(db, tokens[name]).party == name
    with store(db) as svc, svc.read() as repo:
        assert [(p.name, str(p.kind)) for p in repo.parties()] == [
            (n, kinds.get(n, "force")) for n in names
        ]
        for name in names:
            ids = {d.id for d in scenario.declarations if d.party == name}
            stored = repo.current_of([name], None, 1000)
            assert {r.id for r in stored} == ids and all(r.version == 1 for r in stored)
        assert len(svc.engine) == len(scenario.declarations)
    assert "curl -H 'Authorization: Bearer " in result.stdout


def test_demo_of_an_unknown_scenario(db: Path) -> None:
    result = cli("demo", "--no-serve", "--scenario", "atlantis", "--db", db)
    assert result.exit_code == 2 and "no bundled scenario named 'atlantis'" in result.stderr
    assert len(result.stderr.splitlines()) == 1


# --- serve, as a real process -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_once(db: Path, log: Path) -> str:
    """Start `deconflict serve`, wait until it answers, check `operator token`s it printed
    authenticate over HTTP, stop it with SIGTERM; the first line of its output."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deconflict", "serve", "--db", str(db), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        text = log.read_text()
        for token in TOKEN.findall(text):
            r = httpx.get(
                f"http://127.0.0.1:{port}/v1/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert r.status_code == 200 and r.json()["kind"] == "operator", r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    text = log.read_text()
    # uvicorn shuts down cleanly, then re-raises the signal it caught as its exit status
    assert proc.returncode in (0, -signal.SIGTERM), text
    assert "Application shutdown complete" in text and "Traceback" not in text, text
    return text


def test_serve_prints_the_operator_token_on_first_start_only(db: Path, tmp_path: Path) -> None:
    first = serve_once(db, tmp_path / "first.log")
    [token] = TOKEN.findall(first)
    assert f"Operator token (shown once, keep it safe): {token}" in first
    assert "Traceback" not in first
    second = serve_once(db, tmp_path / "second.log")
    assert TOKEN.findall(second) == [] and "Operator token" not in second
    assert who(db, token).is_operator  # still valid after a restart


def test_serve_refuses_a_bad_config_before_touching_the_store(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[policy]\nhorizontal = 5\n")
    result = cli("serve", "--db", db, "--config", config)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "'horizontal'" in result.stderr
    assert not db.exists()

"""`deconflict log checkpoint|verify|export|proof` (docs/cli.md, docs/record.md): exit 0
on a good log, 1 with one line per finding on a tampered store or export, 2 on input that
cannot be read; a printed proof verifies against the printed checkpoint's root."""

from __future__ import annotations

import base64
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from deconflict.cli.main import app
from deconflict.record import (
    NoteSigner,
    NoteVerifier,
    SigningKey,
    leaf_hash,
    make_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
    verify_inclusion,
)
from deconflict.service import Service, record
from deconflict.service import parties as party_service
from deconflict.service.auth import OPERATOR_PRINCIPAL
from deconflict.store.database import Database

runner = CliRunner()
ORIGIN = "deconflict"


def cli(*args: str | Path) -> Result:
    return runner.invoke(app, ["log", *(str(a) for a in args)], env={"COLUMNS": "200"})


def status(result: Result, code: int) -> Result:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    if code == 2:
        assert result.stderr.strip() and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result


def append(db: Path, n: int) -> None:
    svc = Service(Database(str(db)))
    try:
        with svc.write() as repo:
            for _ in range(n):
                i = repo.log.size
                record.append(repo, 1.7e9 + i, "test", "A", {"n": i}, {"secret": {"x": i}})
    finally:
        svc.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with a log key beside it (as `deconflict serve` leaves it) and 12 entries:
    a party's registration and token, then test entries."""
    path = tmp_path / "deconflict.sqlite"
    record.load_or_create_key(str(path) + ".log-key", ORIGIN)
    svc = Service(Database(str(path)))
    try:
        party_service.add_party(svc, OPERATOR_PRINCIPAL, "A", "force")
    finally:
        svc.close()
    append(path, 12 - 2)
    return path


def signer(db: Path) -> NoteSigner:
    return NoteSigner.parse(Path(str(db) + ".log-key").read_text().strip())


def sql(db: Path, statement: str, *args: object) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(statement, args)


def test_checkpoint_prints_a_note_signed_by_the_log_key(db: Path) -> None:
    out = status(cli("checkpoint", "--db", db), 0).stdout
    head = verify_checkpoint(out, signer(db).verifier, origin=ORIGIN).checkpoint
    assert head.tree_size == 12 and head.time is not None
    # Asked again with no growth: a new checkpoint all the same (on demand means now).
    again = status(cli("checkpoint", "--db", db), 0).stdout
    assert verify_checkpoint(again, signer(db).verifier).checkpoint.root_hash == head.root_hash


def test_checkpoint_without_a_log_key_is_refused(tmp_path: Path) -> None:
    result = status(cli("checkpoint", "--db", tmp_path / "none.sqlite"), 2)
    assert "log key" in result.stderr


def test_verify_a_good_store_and_its_export(db: Path, tmp_path: Path) -> None:
    status(cli("checkpoint", "--db", db), 0)
    append(db, 3)
    status(cli("checkpoint", "--db", db), 0)
    result = status(cli("verify", "--db", db), 0)
    assert result.stdout.splitlines()[-1].startswith(
        "log of 15 entries verifies; 2 signed checkpoints match; root "
    )
    report = json.loads(status(cli("verify", "--db", db, "--json"), 0).stdout)
    assert report["ok"] and report["size"] == 15 and report["checkpoints_verified"] == 2
    assert report["findings"] == []

    out = tmp_path / "export"
    result = status(cli("export", "--db", db, "--out", out), 0)
    assert "exported 15 entries and 2 checkpoints" in result.stdout
    lines = (out / "entries.jsonl").read_bytes().splitlines()
    assert len(lines) == 15 and all(json.loads(x)["index"] == i for i, x in enumerate(lines))
    assert len((out / "checkpoints.jsonl").read_text().splitlines()) == 2
    vkey = (out / "log-key.pub").read_text().strip()
    assert NoteVerifier.parse(vkey) == signer(db).verifier
    result = status(cli("verify", out), 0)
    assert "log of 15 entries verifies; 2 signed checkpoints match" in result.stdout
    # Offline with the key given, and against a checkpoint kept in a file.
    kept = tmp_path / "kept.note"
    kept.write_text(json.loads((out / "checkpoints.jsonl").read_text().splitlines()[0])["note"])
    status(cli("verify", out, "--key", vkey, "--checkpoint", kept), 0)
    status(cli("verify", "--db", db, "--key", vkey, "--checkpoint", kept), 0)


def test_verify_a_tampered_store_names_the_entry(db: Path) -> None:
    status(cli("checkpoint", "--db", db), 0)
    with closing(sqlite3.connect(db)) as conn:
        [(raw,)] = conn.execute("SELECT entry FROM log_entries WHERE idx = 4").fetchall()
    sql(db, "UPDATE log_entries SET entry = ? WHERE idx = 4", raw.replace(b'"n":4', b'"n":5'))
    result = status(cli("verify", "--db", db), 1)
    lines = result.stdout.splitlines()
    assert (
        "altered: Entry 4 was altered: its bytes no longer hash to the leaf hash the tree "
        "holds." in lines
    )
    assert any(x.startswith("bad_checkpoint: Entries 0 to 11 ") for x in lines)
    assert "does NOT verify" in lines[-1]
    report = json.loads(status(cli("verify", "--db", db, "--json"), 1).stdout)
    assert not report["ok"]
    assert {(f["kind"], f["index"]) for f in report["findings"]} == {
        ("altered", 4),
        ("bad_checkpoint", None),
    }


def test_verify_catches_a_forged_checkpoint_in_the_store(db: Path) -> None:
    status(cli("checkpoint", "--db", db), 0)
    forger = NoteSigner(ORIGIN, SigningKey.generate())
    note = sign_checkpoint(make_checkpoint(ORIGIN, 12, b"\x00" * 32), forger)
    sql(db, "INSERT INTO checkpoints (tree_size, at_s, note) VALUES (12, 0, ?)", note)
    result = status(cli("verify", "--db", db), 1)
    assert result.stdout.startswith("bad_signature: The checkpoint of size 12 does not verify")


@pytest.mark.parametrize(
    ("edit", "finding"),
    [
        ("alter", "altered: Entry 6 was altered"),
        ("remove", "removed: Entry 7 is missing: removed from the log."),
        ("swap", "reordered: Entry 9 sits at position 3: entries were reordered."),
        ("insert", "inserted: Entry 8 repeats index 2"),
        ("truncate", "removed: The signed checkpoint of size 12 covers 2 entries more"),
    ],
)
def test_verify_a_tampered_export_names_what_changed(
    db: Path, tmp_path: Path, edit: str, finding: str
) -> None:
    status(cli("checkpoint", "--db", db), 0)
    out = tmp_path / "export"
    status(cli("export", "--db", db, "--out", out), 0)
    path = out / "entries.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    if edit == "alter":
        lines[6] = lines[6].replace(b'"n":6', b'"n":7')
    elif edit == "remove":
        del lines[7]
    elif edit == "swap":
        lines[3], lines[9] = lines[9], lines[3]
    elif edit == "insert":
        lines.insert(8, lines[2])
    else:
        lines = lines[:10]
    path.write_bytes(b"".join(lines))
    result = status(cli("verify", out), 1)
    assert any(line.startswith(finding) for line in result.stdout.splitlines()), result.stdout
    assert "does NOT verify" in result.stdout.splitlines()[-1]


def test_unreadable_input_exits_2(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    status(cli("export", "--db", db, "--out", out), 0)
    vkey = (out / "log-key.pub").read_text().strip()
    # No such export, no key in it, a key that is not one, a checkpoint file missing.
    status(cli("verify", tmp_path / "nowhere"), 2)
    status(cli("verify", out, "--key", "not-a-key"), 2)
    status(cli("verify", out, "--checkpoint", tmp_path / "missing.note"), 2)
    status(cli("verify", "--db", db, "--key", "x+00000000+AAAA"), 2)
    # A checkpoints.jsonl line that is not a record.
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("entries.jsonl", "log-key.pub"):
        (bad / name).write_bytes((out / name).read_bytes())
    (bad / "checkpoints.jsonl").write_text("{not json\n")
    status(cli("verify", bad), 2)
    (bad / "checkpoints.jsonl").unlink()
    (bad / "entries.jsonl").unlink()
    status(cli("verify", bad), 2)
    # A store that is not a database, and one that does not exist (not created).
    junk = tmp_path / "junk.sqlite"
    junk.write_text("this is not a database\n" * 100)
    status(cli("verify", "--db", junk, "--key", vkey), 2)
    missing = tmp_path / "missing.sqlite"
    status(cli("verify", "--db", missing, "--key", vkey), 2)
    status(cli("proof", "0", "--db", missing), 2)
    status(
        cli("export", "--db", missing, "--out", tmp_path / "e2", "--log-key", str(db) + ".log-key"),
        2,
    )
    assert not missing.exists()
    # A store without its key file beside it.
    alone = tmp_path / "alone.sqlite"
    alone.write_bytes(db.read_bytes())
    status(cli("verify", "--db", alone), 2)


def test_proof_verifies_against_the_checkpoint_it_prints(db: Path) -> None:
    first = verify_checkpoint(
        status(cli("checkpoint", "--db", db), 0).stdout, signer(db).verifier
    ).checkpoint
    append(db, 5)
    status(cli("checkpoint", "--db", db), 0)
    for index, size in ((0, 17), (11, 17), (16, 17), (3, None)):
        args = ["proof", str(index), "--db", str(db)]
        proof = json.loads(status(cli(*args), 0).stdout)
        assert proof["index"] == proof["leaf_index"] == index
        assert proof["tree_size"] == size or (size is None and proof["tree_size"] == 17)
        head = verify_checkpoint(proof["checkpoint"], signer(db).verifier).checkpoint
        assert head.tree_size == proof["tree_size"]
        leaf = leaf_hash(proof["entry"].encode())
        assert base64.b64decode(proof["leaf_hash"]) == leaf
        hashes = [base64.b64decode(h) for h in proof["proof"]]
        assert [bytes.fromhex(h) for h in proof["inclusion"]] == hashes
        verify_inclusion(leaf, index, head.tree_size, hashes, head.root_hash)
    # Against the earlier checkpoint, by its size.
    proof = json.loads(status(cli("proof", "5", "--db", db, "--tree-size", "12"), 0).stdout)
    head = verify_checkpoint(proof["checkpoint"], signer(db).verifier).checkpoint
    assert head == first
    verify_inclusion(
        leaf_hash(proof["entry"].encode()),
        5,
        12,
        [base64.b64decode(h) for h in proof["proof"]],
        head.root_hash,
    )
    # No signed checkpoint of that size: the proof is printed with "checkpoint": null.
    assert (
        json.loads(status(cli("proof", "5", "--db", db, "--tree-size", "13"), 0).stdout)[
            "checkpoint"
        ]
        is None
    )
    status(cli("proof", "17", "--db", db), 2)
    status(cli("proof", "1", "--db", db, "--tree-size", "18"), 2)

"""`deconflict log …`: the verifiable record from the command line: verify a store or an
export offline, print an inclusion proof, export entries and checkpoints, sign a checkpoint.

Exit status of `verify`: 0 the log verifies, 1 something is wrong (each finding printed,
one line each), 2 the input cannot be read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from deconflict.cli.failures import reporting
from deconflict.cli.options import Db, Debug
from deconflict.errors import InvalidRequest
from deconflict.record import NoteSigner
from deconflict.record.audit import AuditReport, audit
from deconflict.record.errors import BadKey
from deconflict.record.note import NoteVerifier
from deconflict.service import Service
from deconflict.service import record as rec
from deconflict.store.database import Database
from deconflict.store.log import LogReader

Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="The log's verifier key (as GET /v1/log/key gives it); default: read from "
        "the log key file beside the store.",
    ),
]
LogKeyFile = Annotated[
    Path | None,
    typer.Option("--log-key", help="The log key file (default: the SQLite file + .log-key)."),
]

log_app = typer.Typer(help="The verifiable record: verify, proofs, export.", no_args_is_help=True)

ENTRIES = "entries.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
KEY = "log-key.pub"


@contextmanager
def _service(db: str) -> Iterator[Service]:
    """The store, which must exist: reading a log never creates an empty one."""
    if "://" not in db and not Path(db).is_file():
        raise InvalidRequest(f"The store {db} does not exist; give --db the SQLite file.")
    database = Database(db)
    try:
        yield Service(database)
    finally:
        database.close()


def _key_file(db: str, log_key: Path | None) -> Path:
    if log_key is not None:
        return log_key
    if "://" in db:
        raise InvalidRequest("Give --key or --log-key with a database URL.")
    return Path(db + ".log-key")


def _verifier(db: str | None, key: str | None, log_key: Path | None) -> NoteVerifier:
    try:
        if key is not None:
            return NoteVerifier.parse(key.strip())
        assert db is not None
        path = _key_file(db, log_key)
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise InvalidRequest(f"The log key cannot be read ({exc.strerror}); give --key.") from None
    except BadKey as exc:
        raise InvalidRequest(f"--key is not a verifier key: {exc}") from None
    try:
        return NoteSigner.parse(text).verifier
    except BadKey:
        try:
            return NoteVerifier.parse(text)
        except BadKey as exc:
            raise InvalidRequest(f"{path} holds no log key: {exc}") from None


def _print_report(report: AuditReport) -> None:
    for f in report.findings:
        typer.echo(f"{f.kind}: {f.message}")
    verdict = "verifies" if report.ok else f"does NOT verify ({len(report.findings)} findings)"
    typer.echo(
        f"log of {report.size} entries {verdict}; {report.checkpoints} signed checkpoints "
        f"match; root {rec.b64(report.root)}"
    )


def register(app: typer.Typer) -> None:
    @log_app.command("verify")
    def verify(
        export: Annotated[
            Path | None,
            typer.Argument(help="An export folder (deconflict log export); else --db."),
        ] = None,
        db: Db = "deconflict.sqlite",
        key: Key = None,
        log_key: LogKeyFile = None,
        checkpoint: Annotated[
            list[Path] | None,
            typer.Option("--checkpoint", help="A signed checkpoint file to check against."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        debug: Debug = False,
    ) -> None:
        """Verify the whole record: every entry, link and signed checkpoint."""
        with reporting(debug=debug):
            extra = [_read_checkpoint(p) for p in checkpoint or []]
            if export is not None:
                report = _verify_export(export, key, extra)
            else:
                verifier = _verifier(db, key, log_key)
                with _service(db) as svc:
                    report = rec.audit_store(svc, verifier, extra)
        if as_json:
            typer.echo(json.dumps(rec.report_json(report), indent=2))
        else:
            _print_report(report)
        raise typer.Exit(0 if report.ok else 1)

    @log_app.command("proof")
    def proof(
        entry: Annotated[int, typer.Argument(help="The entry's index.", min=0)],
        db: Db = "deconflict.sqlite",
        tree_size: Annotated[
            int | None,
            typer.Option(
                "--tree-size",
                help="Prove against this size (default: the latest "
                "signed checkpoint that holds the entry).",
                min=1,
            ),
        ] = None,
        debug: Debug = False,
    ) -> None:
        """Print the inclusion proof of an entry, as JSON, with the checkpoint it checks
        against."""
        with reporting(debug=debug), _service(db) as svc:
            out = rec.inclusion(svc, entry, tree_size)
            with svc.read() as repo:
                heads = [
                    c for c in LogReader(repo.conn).checkpoints() if c.tree_size == out["tree_size"]
                ]
            out["checkpoint"] = heads[-1].note if heads else None
            # The fields SPEC section 7 names, beside the API's (base64) ones.
            out["leaf_index"] = out["index"]
            out["inclusion"] = [base64.b64decode(h).hex() for h in out["proof"]]
            typer.echo(json.dumps(out, indent=2))

    @log_app.command("export")
    def export_(
        out: Annotated[Path, typer.Option("--out", help="Folder to write (created).")],
        db: Db = "deconflict.sqlite",
        log_key: LogKeyFile = None,
        debug: Debug = False,
    ) -> None:
        """Write every entry and signed checkpoint, and the log's public key, to a folder
        that `deconflict log verify FOLDER` checks offline."""
        with reporting(debug=debug):
            verifier = _verifier(db, None, log_key)
            with _service(db) as svc, svc.read() as repo:
                out.mkdir(parents=True, exist_ok=True)
                reader = LogReader(repo.conn)
                n = 0
                with (out / ENTRIES).open("wb") as f:
                    for e in reader.entries():
                        f.write(e.entry + b"\n")
                        n += 1
                heads = reader.checkpoints()
                with (out / CHECKPOINTS).open("w", encoding="utf-8") as f:
                    for c in heads:
                        f.write(json.dumps({"tree_size": c.tree_size, "note": c.note}) + "\n")
            (out / KEY).write_text(str(verifier) + "\n", encoding="ascii")
            typer.echo(f"exported {n} entries and {len(heads)} checkpoints to {out}")

    @log_app.command("checkpoint")
    def checkpoint_(
        db: Db = "deconflict.sqlite",
        log_key: LogKeyFile = None,
        debug: Debug = False,
    ) -> None:
        """Sign a checkpoint of the record now and print it."""
        with reporting(debug=debug):
            signer = rec.load_or_create_key(_key_file(db, log_key), _origin_of(db, log_key))
            with _service(db) as svc:
                stored = rec.checkpoint_now(svc, signer, force=True)
            typer.echo(stored.note, nl=False)

    app.add_typer(log_app, name="log")


def _read_checkpoint(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise InvalidRequest(f"The checkpoint file {path} cannot be read ({why}).") from None


def _origin_of(db: str, log_key: Path | None) -> str:
    path = _key_file(db, log_key)
    try:
        return NoteSigner.parse(path.read_text(encoding="ascii").strip()).name
    except (OSError, BadKey):
        raise InvalidRequest(
            f"The log key {path} cannot be read; `deconflict serve` makes it on first start."
        ) from None


def _verify_export(folder: Path, key: str | None, extra: list[str]) -> AuditReport:
    try:
        vkey = key if key is not None else (folder / KEY).read_text(encoding="ascii")
        verifier = NoteVerifier.parse(vkey.strip())
    except OSError:
        raise InvalidRequest(f"{folder / KEY} cannot be read; give --key.") from None
    except BadKey as exc:
        raise InvalidRequest(f"The verifier key cannot be read: {exc}") from None
    notes = list(extra)
    path = folder / CHECKPOINTS
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                notes.append(str(json.loads(line)["note"]))
            except (ValueError, KeyError, TypeError):
                raise InvalidRequest(f"{path} line {number} is not a checkpoint record.") from None
    try:
        f = (folder / ENTRIES).open("rb")
    except OSError as exc:
        raise InvalidRequest(f"{folder / ENTRIES} cannot be read ({exc.strerror}).") from None
    with f:
        return audit((line.rstrip(b"\n") for line in f), notes, verifier)

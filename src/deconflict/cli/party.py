"""`deconflict party …` and `deconflict operator token`: the operator's administration of
parties, working on the store directly (the service may be running). Tokens are printed
once and stored only as hashes."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from deconflict.cli.failures import reporting
from deconflict.cli.options import Db, Debug
from deconflict.errors import InvalidRequest
from deconflict.record import SigningKey
from deconflict.service import OPERATOR_PRINCIPAL, Service
from deconflict.service import parties as party_service
from deconflict.store.database import Database

party_app = typer.Typer(
    help="Register parties and manage their tokens and keys.", no_args_is_help=True
)
operator_app = typer.Typer(help="The operator's own tokens.", no_args_is_help=True)


@contextmanager
def _service(db: str) -> Iterator[Service]:
    """The service on `db`, closed when the command ends."""
    database = Database(db)
    try:
        yield Service(database)
    finally:
        database.close()


def _check_key_file(path: Path) -> None:
    """Refuse, before anything is registered, a key file that could not be written."""
    if path.exists() or path.is_symlink():
        raise InvalidRequest(
            f"{path} already exists; give --signing-key a new file (a private key is never "
            "overwritten)."
        )
    if not path.parent.is_dir():
        raise InvalidRequest(f"The folder of {path} does not exist; create it first.")
    if not os.access(path.parent, os.W_OK):
        raise InvalidRequest(f"The folder of {path} cannot be written to.")


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file readable by its owner only (mode 0600 from the start, so
    the key is never readable by others, not even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, data)
    finally:
        os.close(fd)


@party_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Party name: 1-32 letters, digits, '_' or '-'.")],
    kind: Annotated[str, typer.Option(help="force, humanitarian or observer.")],
    db: Db = "deconflict.sqlite",
    signing_key: Annotated[
        Path | None,
        typer.Option(
            help="Also make an Ed25519 signing key, write it (PEM) to this new file "
            "and register its public key."
        ),
    ] = None,
    debug: Debug = False,
) -> None:
    """Register a party; prints its one-time API token and key id."""
    with reporting(debug=debug), _service(db) as svc:
        if signing_key is not None:
            _check_key_file(signing_key)
        party, token = party_service.add_party(svc, OPERATOR_PRINCIPAL, name, kind)
        typer.echo(f"party     {party.name} ({party.kind})")
        typer.echo(f"token id  {token.token_id}")
        typer.echo(f"token     {token.token}")
        if signing_key is not None:
            key = SigningKey.generate()
            _write_private(signing_key, key.to_pem())
            raw = key.public_key.to_raw()
            found = party_service.add_key(
                svc, OPERATOR_PRINCIPAL, party.name, base64.b64encode(raw).decode()
            )
            typer.echo(f"key id    {found['key_id']}  (private key in {signing_key})")
        typer.echo(
            "The token is shown once: give it to the party over a trusted channel.", err=True
        )


@party_app.command("list")
def listing(db: Db = "deconflict.sqlite", debug: Debug = False) -> None:
    """List parties with their kinds."""
    with reporting(debug=debug), _service(db) as svc:
        for p in party_service.parties(svc):
            typer.echo(f"{p['name']}\t{p['kind']}")


@party_app.command("rotate")
def rotate(
    name: str,
    db: Db = "deconflict.sqlite",
    keep_old: Annotated[bool, typer.Option(help="Leave the party's other tokens working.")] = False,
    debug: Debug = False,
) -> None:
    """Issue a new token for a party and (by default) revoke its others."""
    with reporting(debug=debug), _service(db) as svc:
        token = party_service.rotate_token(svc, OPERATOR_PRINCIPAL, name, not keep_old)
        typer.echo(f"token id  {token.token_id}")
        typer.echo(f"token     {token.token}")


@party_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token id (not the token).")],
    db: Db = "deconflict.sqlite",
    debug: Debug = False,
) -> None:
    """Revoke one token at once; calls with it are refused from then on."""
    with reporting(debug=debug), _service(db) as svc:
        party_service.revoke_token(svc, OPERATOR_PRINCIPAL, token_id)
        typer.echo(f"revoked {token_id}")


@operator_app.command("token")
def operator_token(db: Db = "deconflict.sqlite", debug: Debug = False) -> None:
    """Issue a new operator token (shown once)."""
    with reporting(debug=debug), _service(db) as svc:
        typer.echo(party_service.operator_token(svc, "cli").token)


def register(app: typer.Typer) -> None:
    app.add_typer(party_app, name="party")
    app.add_typer(operator_app, name="operator")

"""`deconflict incident`: the evidence bundle of an incident, reconstructed from the
record alone (docs/record.md, "Reconstruction"); and `deconflict log verify-bundle DIR`,
which checks such a bundle offline.

Exit status of `incident`: 0 written, 2 invalid input or unreadable store/key. Of
`verify-bundle`: 0 every proof and the checkpoint verify, 1 findings, 2 unreadable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from deconflict.cli.failures import reporting
from deconflict.cli.log import log_app
from deconflict.cli.options import Db, Debug
from deconflict.errors import InvalidRequest
from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.times import parse_time
from deconflict.record import NoteSigner
from deconflict.record.errors import BadKey
from deconflict.record.note import NoteVerifier
from deconflict.service import Service
from deconflict.service import reconstruct as rc
from deconflict.store.database import Database

_LENGTH = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(m|km)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|min|m|h)?\s*$", re.IGNORECASE)
_UNITS = {"": 1.0, "m": 1.0, "km": 1000.0}
_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_length(text: str, name: str, *, zero: bool = False) -> float:
    """`5km`, `500m` or `500` (metres) as metres."""
    found = _LENGTH.match(text)
    if not found or (float(found.group(1)) <= 0 and not zero):
        raise InvalidRequest(f"{name} {text!r} is not a distance; write it like 5km or 500m.")
    return float(found.group(1)) * _UNITS[(found.group(2) or "").lower()]


def parse_duration(text: str, name: str) -> float:
    """`30min`, `1h`, `90s` or `90` (seconds) as seconds."""
    found = _DURATION.match(text)
    if not found or float(found.group(1)) <= 0:
        raise InvalidRequest(f"{name} {text!r} is not a duration; write it like 30min or 1h.")
    return float(found.group(1)) * _SECONDS[(found.group(2) or "").lower()]


def parse_place(text: str) -> tuple[float, float]:
    """`LAT,LON` in decimal degrees as (lon, lat)."""
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise InvalidRequest(
            f"--near {text!r} is not a place; write it LAT,LON in degrees, like 37.17,42.14."
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRequest(f"--near {text!r} is outside -90..90 latitude, -180..180 longitude.")
    return lon, lat


def _keys(db: str, log_key: Path | None) -> tuple[NoteSigner | None, NoteVerifier]:
    """The log key beside the store (signs a checkpoint if none covers the report), or
    only its verifier key when the file holds just that."""
    if log_key is None:
        if "://" in db:
            raise InvalidRequest("Give --log-key with a database URL.")
        log_key = Path(db + ".log-key")
    try:
        text = log_key.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not a key file"
        raise InvalidRequest(
            f"The log key {log_key} cannot be read ({why}); give --log-key, the file "
            "`deconflict serve` made beside the store."
        ) from None
    try:
        signer = NoteSigner.parse(text)
        return signer, signer.verifier
    except BadKey:
        try:
            return None, NoteVerifier.parse(text)
        except BadKey as exc:
            raise InvalidRequest(f"{log_key} holds no log key: {exc}") from None


def register(app: typer.Typer) -> None:
    app.command("incident")(incident)
    log_app.command("verify-bundle")(verify_bundle)


def incident(
    at: Annotated[
        str, typer.Option("--at", help="When: ISO 8601 with a zone, like 2020-08-25T07:00Z.")
    ],
    near: Annotated[str, typer.Option("--near", help="Where: LAT,LON in degrees.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle to (created).")],
    radius: Annotated[
        str, typer.Option("--radius", help="Distance from the place, like 5km or 500m.")
    ] = "5km",
    window: Annotated[
        str,
        typer.Option("--window", help="The report covers --at minus and plus this, like 30min."),
    ] = "30min",
    margin: Annotated[
        str,
        typer.Option("--margin", help="Positions this far beyond --radius are kept as context."),
    ] = "1km",
    db: Db = "deconflict.sqlite",
    log_key: Annotated[
        Path | None,
        typer.Option("--log-key", help="The log key file (default: the SQLite file + .log-key)."),
    ] = None,
    debug: Debug = False,
) -> None:
    """Reconstruct an incident from the record: report.json, report.html, the signed
    checkpoint and the log's verifier key, for a third party to check offline."""
    with reporting(debug=debug):
        try:
            at_s = parse_time(at, "--at")
        except RuleBroken as broken:
            raise InvalidRequest(broken.rule) from None
        lon, lat = parse_place(near)
        query = rc.Query(
            at_s=at_s,
            lon=lon,
            lat=lat,
            radius_m=parse_length(radius, "--radius"),
            window_s=parse_duration(window, "--window"),
            margin_m=parse_length(margin, "--margin", zero=True),
        )
        signer, verifier = _keys(db, log_key)
        if "://" not in db and not Path(db).is_file():
            raise InvalidRequest(f"The store {db} does not exist; give --db the SQLite file.")
        database = Database(db)
        try:
            report = rc.build_report(Service(database), query, signer)
        finally:
            database.close()
        rc.write_bundle(report, verifier, out)
        typer.echo(
            f"wrote {out}: {len(report['declarations'])} declarations, "
            f"{len(report['tracks'])} tracks, {len(report['alerts'])} alert events, "
            f"{len(report['deviations'])} deviations, {len(report['entries'])} cited entries "
            f"against the checkpoint of {report['checkpoint']['tree_size']} entries"
        )


def verify_bundle(
    folder: Annotated[Path, typer.Argument(help="A bundle written by `deconflict incident`.")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The log's verifier key you trust (default: the bundle's log-key.pub).",
        ),
    ] = None,
    debug: Debug = False,
) -> None:
    """Check an incident bundle offline: the checkpoint's signature, every cited entry's
    inclusion proof and every opened content against its commitment."""
    with reporting(debug=debug):
        check = rc.verify_bundle(folder, key)
    for problem in check.problems:
        typer.echo(problem)
    if check.ok:
        typer.echo(
            f"bundle verifies: {check.entries} entries included in the signed checkpoint of "
            f"{check.tree_size} entries"
        )
        raise typer.Exit(0)
    typer.echo(f"bundle does NOT verify ({len(check.problems)} findings)")
    raise typer.Exit(1 if check.readable else 2)

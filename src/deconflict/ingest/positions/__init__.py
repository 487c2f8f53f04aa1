"""Position reports from trackers and files (SPEC section 5): one parser module per source,
and `load_tracks` choosing among them for a track file to replay.

Network sources never take a party from a report: the caller passes the party of the
credentials. Files for replay may carry a party per row (CSV, GeoJSON); see docs/positions.md.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from deconflict.errors import DeconflictError, InvalidPositions, NotFound, ReportProblem
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.cot import (
    CotStream,
    alert_to_cot,
    parse_cot,
    parse_cot_event,
    report_to_cot,
)
from deconflict.ingest.positions.csv import parse_csv
from deconflict.ingest.positions.geojson import parse_geojson_tracks
from deconflict.ingest.positions.gpx import parse_gpx
from deconflict.ingest.positions.osmand import parse_osmand
from deconflict.ingest.positions.owntracks import parse_owntracks
from deconflict.ingest.positions.reports import TrackFile, check_size

__all__ = [
    "FORMATS",
    "CotStream",
    "TrackFile",
    "alert_to_cot",
    "load_tracks",
    "parse_cot",
    "parse_cot_event",
    "parse_csv",
    "parse_geojson_tracks",
    "parse_gpx",
    "parse_osmand",
    "parse_owntracks",
    "parse_tracks",
    "report_to_cot",
]

FORMATS = {
    ".csv": "csv",
    ".gpx": "gpx",
    ".geojson": "geojson",
    ".json": "geojson",
    ".cot": "cot",
    ".xml": "cot",
}
"""Track file formats by extension; any other extension is told by its content."""


def load_tracks(
    path: str | Path,
    *,
    party: str | None = None,
    unit: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrackFile:
    """Read and check one track file (CSV, GPX, GeoJSON or CoT, by extension or content).

    `party`: the party the file is replayed for; required for GPX and CoT, which carry no
    party; for CSV and GeoJSON it fills a missing party and refuses rows of another.
    `unit`: the unit when the file does not name one (a CSV without a unit column, a GPX
    track without a name). Raises InvalidPositions naming each bad row, LimitExceeded for an
    over-size file (checked before reading), NotFound for a missing file."""
    source = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise DeconflictError(f"{source} is a directory; give a track file")
        check_size(info.st_size, limits.max_track_bytes, "max_track_bytes", source)
        with open(path, "rb") as f:
            data = f.read(limits.max_track_bytes + 1)
    except FileNotFoundError:
        raise NotFound(f"{source}: no such file; check the path") from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise DeconflictError(f"{source} cannot be read ({reason}); check it") from None
    kind = FORMATS.get(Path(path).suffix.lower()) or _sniff(data)
    return parse_tracks(data, kind, party=party, unit=unit, source=source, limits=limits)


def parse_tracks(
    data: bytes,
    kind: str,
    *,
    party: str | None = None,
    unit: str | None = None,
    source: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrackFile:
    """Track file contents of a known format (`csv`, `gpx`, `geojson`, `cot`)."""
    check_size(len(data), limits.max_track_bytes, "max_track_bytes", source or "the input")
    if kind == "csv":
        return parse_csv(data, party=party, unit=unit, source=source, limits=limits)
    if kind == "geojson":
        return parse_geojson_tracks(data, party=party, unit=unit, source=source, limits=limits)
    if kind not in ("gpx", "cot"):
        raise ValueError(f"unknown track format {kind!r}")
    if party is None:
        rule = f"a {kind.upper()} file carries no party; give the party it is replayed for"
        raise InvalidPositions([ReportProblem(None, rule, source)])
    if kind == "gpx":
        return parse_gpx(data, party=party, unit=unit, source=source, limits=limits)
    return parse_cot(data, party=party, source=source, limits=limits)


def _sniff(data: bytes) -> str:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "gpx" if b"<gpx" in head else "cot"
    if head.startswith(b"{"):
        return "geojson"
    return "csv"

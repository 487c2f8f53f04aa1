"""GeoJSON track files (RFC 7946 FeatureCollection) to position reports.

A Point feature is one report: properties `unit`, `party`, `time` (ISO 8601 with a zone or
epoch seconds), optional `alt_m` (or a third coordinate), `speed_mps`, `course_deg`,
`movement`. A LineString feature is a track: properties `unit`, `party` and a `times` array,
one time per coordinate. Never returns part of a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deconflict.ingest.fields import NonFinite, RuleBroken, describe
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.reports import (
    Problems,
    TrackFile,
    check_count,
    check_size,
    from_json,
    party_name,
    report,
    time_value,
)
from deconflict.model.positions import PositionReport

__all__ = ["parse_geojson_tracks"]


def parse_geojson_tracks(
    data: bytes | str,
    *,
    party: str | None = None,
    unit: str | None = None,
    source: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrackFile:
    """Every report of a GeoJSON track file, or InvalidPositions naming each bad feature
    ('feature 3', 'point 2 of feature 5'). `party` and `unit` fill missing properties; a
    feature naming another party than `party` is refused."""
    what = source or "the GeoJSON input"
    check_size(len(data), limits.max_track_bytes, "max_track_bytes", what)
    problems = Problems(source)
    try:
        if party is not None:
            party = party_name(party, "the party given for the file")
        doc = _decode(data)
        if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
            raise RuleBroken("a track file must be a GeoJSON FeatureCollection")
        features = doc.get("features")
        if not isinstance(features, list):
            raise RuleBroken(f'its "features" must be a list, not {describe(features)}')
    except RuleBroken as broken:
        problems.add(None, broken.rule)
        problems.raise_any()
        raise AssertionError("unreachable") from None
    reports: list[PositionReport] = []
    for index, feature in enumerate(features):
        try:
            reports.extend(_feature(feature, index, party, unit, limits, problems))
        except RuleBroken as broken:
            problems.add(f"feature {index}", broken.rule)
        check_count(len(reports), limits.max_reports, "max_reports", what)
    problems.raise_any()
    return TrackFile(tuple(reports), source, "geojson")


def _feature(
    feature: object,
    index: int,
    party: str | None,
    unit: str | None,
    limits: Limits,
    problems: Problems,
) -> list[PositionReport]:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise RuleBroken(f"it must be a GeoJSON Feature, not {describe(feature)}")
    props = feature.get("properties")
    geometry = feature.get("geometry")
    if not isinstance(props, Mapping):
        raise RuleBroken(f"its properties must be an object, not {describe(props)}")
    if not isinstance(geometry, Mapping):
        raise RuleBroken(f"its geometry must be an object, not {describe(geometry)}")
    given = props.get("party")
    if given is None and party is None:
        raise RuleBroken("it has no party property, and no party was given for the file")
    if given is not None:
        party_name(given)
        if party is not None and given != party:
            raise RuleBroken(
                f"party {given!r} differs from the party {party!r} the file is loaded for"
            )
    owner = given if isinstance(given, str) else str(party)
    name = props.get("unit", unit)
    coords = geometry.get("coordinates")
    kind = geometry.get("type")

    def optional(key: str, value: object = None) -> float | None:
        value = props.get(key) if value is None else value
        return None if value is None else from_json(value, key)

    if kind == "Point":
        lon, lat, alt = _position(coords)
        return [
            report(
                unit=name,
                party=owner,
                time_s=time_value(props.get("time"), "time"),
                lat=lat,
                lon=lon,
                alt_m=optional("alt_m", alt),
                speed_mps=optional("speed_mps"),
                course_deg=optional("course_deg"),
                movement=props.get("movement"),
                source="geojson",
                limits=limits,
            )
        ]
    if kind != "LineString":
        raise RuleBroken(f"its geometry must be a Point or a LineString, not {describe(kind)}")
    times = props.get("times")
    if not isinstance(coords, list) or not isinstance(times, list) or len(times) != len(coords):
        raise RuleBroken("a LineString track needs a 'times' list, one time per coordinate")
    found: list[PositionReport] = []
    for i, (position, time) in enumerate(zip(coords, times, strict=True)):
        try:
            lon, lat, alt = _position(position)
            found.append(
                report(
                    unit=name,
                    party=owner,
                    time_s=time_value(time, f"times[{i}]"),
                    lat=lat,
                    lon=lon,
                    alt_m=alt,
                    movement=props.get("movement"),
                    source="geojson",
                    limits=limits,
                )
            )
        except RuleBroken as broken:
            problems.add(f"point {i} of feature {index}", broken.rule)
    return found


def _position(value: object) -> tuple[float, float, float | None]:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise RuleBroken(f"a position must be [lon, lat] or [lon, lat, alt], not {describe(value)}")
    alt = from_json(value[2], "alt") if len(value) == 3 else None
    return from_json(value[0], "lon"), from_json(value[1], "lat"), alt


def _decode(data: bytes | str) -> Any:
    try:
        return json.loads(data, parse_constant=NonFinite)
    except json.JSONDecodeError as e:
        raise RuleBroken(f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise RuleBroken(f"not UTF-8 text (byte {e.start} cannot be decoded)") from None
    except (ValueError, RecursionError):
        raise RuleBroken("not a readable JSON document") from None

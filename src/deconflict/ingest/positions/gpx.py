"""GPX 1.1 (and 1.0) track files to position reports: every `trkpt` of every track, and
every `wpt` with a time.

The unit is the caller's `unit`, else the track's (or waypoint's) `name`. Speed and course
come from GPX 1.0 `<speed>`/`<course>` or Garmin's TrackPointExtension (m/s, degrees).
Parsed with defusedxml only; GPX holds no party, so the caller gives it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import partial

from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.reports import (
    Problems,
    TrackFile,
    check_count,
    check_size,
    from_text,
    party_name,
    report,
)
from deconflict.ingest.positions.xml import local, parse_xml
from deconflict.ingest.times import parse_time
from deconflict.model.positions import PositionReport

__all__ = ["parse_gpx"]


def parse_gpx(
    data: bytes | str,
    *,
    party: str,
    unit: str | None = None,
    source: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrackFile:
    """Every timed point of a GPX file as a report of `party`, in file order, or
    InvalidPositions naming each bad point ('point 3 of track 2')."""
    what = source or "the GPX input"
    check_size(len(data), limits.max_track_bytes, "max_track_bytes", what)
    problems = Problems(source)
    try:
        party = party_name(party, "the party given for the file")
        root = parse_xml(data, "the file")
        if local(root.tag) != "gpx":
            raise RuleBroken(f"the root element is <{local(root.tag)[:40]}>, not <gpx>")
    except RuleBroken as broken:
        problems.add(None, broken.rule)
        problems.raise_any()
        raise AssertionError("unreachable") from None
    reports: list[PositionReport] = []
    tracks = 0
    for element in root:
        kind = local(element.tag)
        if kind == "trk":
            tracks += 1
            name = unit or _text(element, "name") or None
            points = [p for seg in _children(element, "trkseg") for p in _children(seg, "trkpt")]
            for i, point in enumerate(points, 1):
                check_count(len(reports), limits.max_reports, "max_reports", what)
                item = f"point {i} of track {tracks}"
                one = problems.attempt(item, partial(_point, point, name, party, limits))
                if one is not None:
                    reports.append(one)
        elif kind == "wpt" and _text(element, "time"):
            item = f"waypoint {_text(element, 'name') or '(no name)'}"[:80]
            name = unit or _text(element, "name") or None
            one = problems.attempt(item, partial(_point, element, name, party, limits))
            if one is not None:
                reports.append(one)
    problems.raise_any()
    check_count(len(reports), limits.max_reports, "max_reports", what)
    return TrackFile(tuple(reports), source, "gpx")


def _point(point: ET.Element, unit: str | None, party: str, limits: Limits) -> PositionReport:
    if unit is None:
        raise RuleBroken("its track has no <name> to use as the unit; give the unit")
    lat, lon, time = point.get("lat"), point.get("lon"), _text(point, "time")
    if lat is None or lon is None:
        raise RuleBroken("it has no lat or lon attribute")
    if not time:
        raise RuleBroken("it has no <time>, and a report needs one")
    ele, speed, course = _text(point, "ele"), _deep(point, "speed"), _deep(point, "course")
    return report(
        unit=unit,
        party=party,
        time_s=parse_time(time, "time"),
        lat=from_text(lat, "lat"),
        lon=from_text(lon, "lon"),
        alt_m=from_text(ele, "ele") if ele else None,
        speed_mps=from_text(speed, "speed") if speed else None,
        course_deg=from_text(course, "course") if course else None,
        source="gpx",
        limits=limits,
    )


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if local(child.tag) == name]


def _text(element: ET.Element, name: str) -> str:
    for child in element:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _deep(element: ET.Element, name: str) -> str:
    """A child named `name` at any depth (extensions nest it), in any namespace."""
    for child in element.iter():
        if child is not element and local(child.tag) == name:
            return (child.text or "").strip()
    return ""

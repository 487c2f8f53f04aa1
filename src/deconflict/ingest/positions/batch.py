"""A JSON batch of position reports checked column by column (the HTTP batch of the API).

`plain_reports` takes the common case, where every report is an object with the SPEC
section 5 members, numbers as JSON numbers and every value in range, and checks each rule
once over all the reports with numpy instead of once per report. It never decides that a
batch is bad: on anything else (a member of the wrong type, a value out of range, a numeric
text for the time, an unknown member) it answers None, and the report-by-report check
(`service.live.parse_batch`) finds the first bad report and names it. The two give the same
reports for every batch the fast one takes (tests/ingest/test_batch.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deconflict.ingest.limits import Limits
from deconflict.ingest.positions.reports import MAX_ALT_M, MAX_TIME_S, MIN_ALT_M, MIN_TIME_S
from deconflict.ingest.positions.rows import Rows, encode_rows
from deconflict.model.positions import PositionReport

FIELDS = frozenset(
    {"unit", "time", "lat", "lon", "alt_m", "speed_mps", "course_deg", "movement", "party"}
)
_NUMBERS: frozenset[type] = frozenset({int, float})
_OPTIONAL: frozenset[type] = frozenset({int, float, type(None)})


def _column(values: list[Any], types: frozenset[type]) -> npt.NDArray[np.float64] | None:
    if not set(map(type, values)) <= types:
        return None
    try:
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    except OverflowError:
        return None


def _within(a: npt.NDArray[np.float64], low: float, high: float, optional: bool = False) -> bool:
    with np.errstate(invalid="ignore"):
        ok = (a >= low) & (a <= high)
        if optional:
            ok |= np.isnan(a)
    return bool(ok.all())


def _names(values: list[Any], limits: Limits, optional: bool = False) -> bool:
    kinds = set(map(type, values))
    if not kinds <= ({str, type(None)} if optional else {str}):
        return False
    texts = [v for v in values if v is not None] if optional else values
    return all(0 < len(v) <= limits.max_name_chars and v.isprintable() for v in texts)


@dataclass(frozen=True, slots=True)
class Columns:
    """A plain batch's reports as columns (row k is report k; NaN for an absent optional
    number), as the partition routing and `Monitor.ingest_columns` take them."""

    party: str
    units: list[str]
    time_s: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    alt_m: npt.NDArray[np.float64]
    speed_mps: npt.NDArray[np.float64]
    course_deg: npt.NDArray[np.float64]
    movements: list[str | None]


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A batch's reports, checked."""

    reports: list[PositionReport]
    rows: Rows | None = None
    """The reports as the record and the queue write them, made from the columns of a plain
    batch (None: `service.live.report_json` of each report, through the general encoders)."""
    columns: Columns | None = None
    """The same reports as columns (a plain batch), the values of `reports` exactly."""


def plain_reports(
    doc: list[Any], party: str, limits: Limits, source: str = "http"
) -> list[PositionReport] | None:
    """The reports of `doc` (a parsed JSON array) when every one of them is plain and
    valid; None when any is not (then check them one by one)."""
    found = plain_batch(doc, party, limits, source)
    return None if found is None else found.reports


def plain_batch(
    doc: list[Any], party: str, limits: Limits, source: str = "http"
) -> CheckedBatch | None:
    """`plain_reports`, with the reports' rows encoded (ingest/positions/rows.py)."""
    if not all(type(item) is dict and item.keys() <= FIELDS for item in doc):
        return None
    try:
        units = [item["unit"] for item in doc]
        times = [item["time"] for item in doc]
        lats = [item["lat"] for item in doc]
        lons = [item["lon"] for item in doc]
    except KeyError:
        return None
    alts = [item.get("alt_m") for item in doc]
    speeds = [item.get("speed_mps") for item in doc]
    courses = [item.get("course_deg") for item in doc]
    movements = [item.get("movement") for item in doc]
    if any(item.get("party", party) != party for item in doc):
        return None
    if not _names(units, limits) or not _names(movements, limits, optional=True):
        return None
    t = _column(times, _NUMBERS)
    lat = _column(lats, _NUMBERS)
    lon = _column(lons, _NUMBERS)
    alt = _column(alts, _OPTIONAL)
    speed = _column(speeds, _OPTIONAL)
    course = _column(courses, _OPTIONAL)
    if t is None or lat is None or lon is None or alt is None or speed is None or course is None:
        return None
    if not (
        _within(t, MIN_TIME_S, MAX_TIME_S)
        and _within(lat, -90.0, 90.0)
        and _within(lon, -180.0, 180.0)
        and _within(alt, MIN_ALT_M, MAX_ALT_M, optional=True)
        and _within(speed, 0.0, limits.max_speed_kmh / 3.6, optional=True)
        and _within(course, 0.0, 360.0, optional=True)
    ):
        return None
    course = course % 360.0

    def maybe(a: npt.NDArray[np.float64]) -> list[float | None]:
        return [None if math.isnan(v) else v for v in a.tolist()]

    reports = [
        PositionReport(u, party, ts, lo, la, al, sp, co, m, source)
        for u, ts, lo, la, al, sp, co, m in zip(
            units,
            t.tolist(),
            lon.tolist(),
            lat.tolist(),
            maybe(alt),
            maybe(speed),
            maybe(course),
            movements,
            strict=True,
        )
    ]
    rows = encode_rows(units, t, lat, lon, alt, speed, course, movements, source)
    return CheckedBatch(
        reports, rows, Columns(party, units, t, lon, lat, alt, speed, course, movements)
    )

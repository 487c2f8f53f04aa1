"""Rules every position report obeys whatever its source (SPEC section 5): value ranges,
names, times, the per-item problem list of a file, and the size bounds of inputs.

Holds checks only; never reads a file or a socket, never trusts a party from a report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from deconflict.errors import InvalidPositions, LimitExceeded, ReportProblem
from deconflict.ingest.fields import RuleBroken, describe, is_number
from deconflict.ingest.limits import Limits
from deconflict.ingest.times import parse_time
from deconflict.model.parties import NAME_PATTERN
from deconflict.model.positions import PositionReport

MIN_TIME_S = 946_684_800.0
"""2000-01-01T00:00:00Z: no tracker reports from before it; an earlier time is a broken clock
(or a GPS week rollover)."""
MAX_TIME_S = 4_102_444_800.0
"""2100-01-01T00:00:00Z: later is absurd; epoch milliseconds given as seconds land here."""
MIN_ALT_M = -1_000.0
"""Lowest altitude taken, metres (the Dead Sea shore is at -430 m)."""
MAX_ALT_M = 100_000.0
"""Highest altitude taken, metres (the edge of space)."""
MAX_PROBLEMS = 1_000
"""Problems kept with their rows in an InvalidPositions; the rest are only counted."""

KNOT_MPS = 1852.0 / 3600.0
KMH_MPS = 1.0 / 3.6
MPH_MPS = 1609.344 / 3600.0

T = TypeVar("T")


@dataclass(frozen=True)
class TrackFile:
    """Every report of one valid track file, in file order."""

    reports: tuple[PositionReport, ...]
    source: str | None
    """The file it was read from, when known."""
    format: str
    """csv, gpx, geojson or cot."""


class Problems:
    """Collects problems of one input, keeping the first MAX_PROBLEMS, and raises them all
    at once, so a file is accepted whole or not at all."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.kept: list[ReportProblem] = []
        self.count = 0

    def add(self, item: str | None, rule: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(ReportProblem(item, rule, self.source))

    def attempt(self, item: str, make: Callable[[], T]) -> T | None:
        """`make()`, or None with its RuleBroken recorded against `item`."""
        try:
            return make()
        except RuleBroken as broken:
            self.add(item, broken.rule)
            return None

    def raise_any(self) -> None:
        if self.count:
            raise InvalidPositions(self.kept, count=self.count)


def refuse(rule: str, source: str | None, item: str | None = None) -> InvalidPositions:
    """One problem as the error a network parser raises."""
    return InvalidPositions([ReportProblem(item, rule, source)])


def check_size(size: int, limit: int, name: str, what: str) -> None:
    """LimitExceeded naming `what` and the Limits field `name` when `size` > `limit`."""
    if size > limit:
        raise LimitExceeded(
            f"{what} is {size:,} bytes, more than the limit {name} = {limit:,}",
            details={"limit": name, "value": limit, "size": size},
        )


def check_count(count: int, limit: int, name: str, what: str) -> None:
    if count > limit:
        raise LimitExceeded(
            f"{what} holds more than {limit:,} position reports, the limit {name}; "
            "split it into smaller ones",
            details={"limit": name, "value": limit},
        )


def party_name(value: object, name: str = "party") -> str:
    """A party name as SPEC section 2 writes it."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise RuleBroken(f"{name} must be 1-32 letters, digits, '_' or '-', not {describe(value)}")
    return value


def name_text(value: object, name: str, limits: Limits) -> str:
    """A unit or movement id: printable text of 1 to max_name_chars characters."""
    if not isinstance(value, str) or not value:
        raise RuleBroken(f"{name} must be a non-empty text, not {describe(value)}")
    if len(value) > limits.max_name_chars:
        raise RuleBroken(
            f"{name} is {len(value):,} characters long, more than the limit "
            f"max_name_chars = {limits.max_name_chars}"
        )
    if not value.isprintable():
        raise RuleBroken(f"{name} {value[:40]!r} holds control characters; use printable text")
    return value


def from_text(value: str, name: str) -> float:
    """A number written as text (XML attributes, CSV cells, query parameters)."""
    if len(value) > 40:
        raise RuleBroken(f"{name} is {len(value):,} characters long, too long for a number")
    try:
        return float(value)
    except ValueError:
        raise RuleBroken(f"{name} must be a number, not {describe(value)}") from None


def from_json(value: object, name: str) -> float:
    """A JSON number; never a boolean, never a numeric text."""
    if not is_number(value):
        raise RuleBroken(f"{name} must be a number, not {describe(value)}")
    try:
        return float(value)
    except OverflowError:
        raise RuleBroken(f"{name} must be a finite number, not {describe(value)}") from None


def time_value(value: object, name: str) -> float:
    """Epoch seconds from a number, a numeric text, or an ISO 8601 text with a zone."""
    if isinstance(value, str):
        if len(value) <= 40:
            try:
                return float(value)
            except ValueError:
                pass
        return parse_time(value.strip(), name)
    return from_json(value, name)


def report(
    *,
    unit: object,
    party: str,
    time_s: float,
    lat: float,
    lon: float,
    alt_m: float | None = None,
    speed_mps: float | None = None,
    course_deg: float | None = None,
    movement: object = None,
    source: str,
    limits: Limits,
) -> PositionReport:
    """A checked PositionReport, or RuleBroken naming the first value out of range.

    `party` must already be checked (it comes from credentials or the caller)."""
    unit = name_text(unit, "unit", limits)
    if movement is not None:
        movement = name_text(movement, "movement", limits)
    check_range(time_s, "time", MIN_TIME_S, MAX_TIME_S, hint=_TIME_HINT)
    check_range(lat, "lat", -90.0, 90.0)
    check_range(lon, "lon", -180.0, 180.0)
    if alt_m is not None:
        check_range(alt_m, "alt_m", MIN_ALT_M, MAX_ALT_M)
    if speed_mps is not None:
        check_range(speed_mps, "speed_mps", 0.0, limits.max_speed_kmh / 3.6, limit="max_speed_kmh")
    if course_deg is not None:
        check_range(course_deg, "course_deg", 0.0, 360.0)
        course_deg = course_deg % 360.0
    return PositionReport(
        unit=unit,
        party=party,
        time_s=time_s,
        lon=lon,
        lat=lat,
        alt_m=alt_m,
        speed_mps=speed_mps,
        course_deg=course_deg,
        movement=movement,
        source=source,
    )


_TIME_HINT = "between 2000 and 2100 (epoch seconds, not milliseconds)"


def check_range(
    value: float, name: str, low: float, high: float, *, hint: str = "", limit: str = ""
) -> None:
    if not math.isfinite(value):
        raise RuleBroken(f"{name} must be a finite number, not {value!r}")
    if not low <= value <= high:
        why = f" (the limit {limit})" if limit else ""
        raise RuleBroken(
            f"{name} is {value:g}, outside {low:g} to {high:g}{why}" + (f"; {hint}" if hint else "")
        )

"""Service limits on valid declarations' extent in space and time: zone area, plan duration,
and how far ahead a plan may start (the `Limits` fields max_zone_area_km2,
max_plan_duration_s and max_lead_s).

A pure check: raises LimitExceeded naming every offender, or returns; never changes,
stores or reads anything, and never reads the clock (the caller passes `now_s`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from pyproj import Geod

from deconflict.errors import LimitExceeded
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.model import Declaration, Movement

__all__ = ["area_km2", "check_bounds"]

_GEOD = Geod(ellps="WGS84")
_DAY_S = 86400.0
_ASK = "ask the operator to raise the limit"


@dataclass(frozen=True, slots=True)
class _Offence:
    """One declaration over one limit."""

    index: int
    id: str
    limit: str
    """The Limits field name."""
    value: float
    """What the declaration has, in the limit's unit (km², seconds)."""
    limit_value: float
    what: str
    """The measured quantity with its value in human units: "zone area 312,000 km²"."""
    limit_text: str
    """The limit's value in human units: "250,000 km²"."""
    fix: str

    def detail(self) -> dict[str, object]:
        return {
            "index": self.index,
            "id": self.id,
            "limit": self.limit,
            "value": float(self.value),
            "limit_value": float(self.limit_value),
        }


def check_bounds(
    decls: Sequence[Declaration],
    now_s: float,
    limits: Limits = DEFAULT_LIMITS,
    source: str | None = None,
) -> None:
    """Refuse declarations larger in area, longer, or further ahead than `limits` allow.

    Raises LimitExceeded whose message is one sentence naming the first offender (by its
    index in `decls` and id), the limit's field name and value; `details` lists every
    (declaration, limit) over, as dicts of index, id, limit, value, limit_value. A value
    equal to its limit passes. O(n + total polygon vertices): one geodesic area per
    polygon ring (pyproj, in C), the rest constant work per declaration.
    """
    offences: list[_Offence] = []
    for index, decl in enumerate(decls):
        offences.extend(_check_one(index, decl, now_s, limits))
    if not offences:
        return
    first = offences[0]
    where = f"{source}: feature" if source else "Feature"
    more = len(offences) - 1
    tail = f" ({more} more over a limit: see details)" if more else ""
    raise LimitExceeded(
        f"{where} {first.index} (id {first.id!r}): {first.what} is over the limit "
        f"{first.limit} = {first.limit_text}; {first.fix} or {_ASK}{tail}.",
        details=[o.detail() for o in offences],
    )


def area_km2(polygon: shapely.Polygon) -> float:
    """Geodesic area on WGS84 of a polygon less its holes, km², whatever the rings' winding.

    Each ring is measured on its own and its sign dropped: pyproj's signed sum over a
    polygon is right only when holes wind against the outer ring, which RFC 7946 asks of
    writers but a valid file need not do.
    """
    rings = [polygon.exterior, *polygon.interiors]
    areas = [abs(_GEOD.geometry_area_perimeter(ring)[0]) for ring in rings]
    return max(0.0, areas[0] - sum(areas[1:])) / 1e6


def _check_one(index: int, decl: Declaration, now_s: float, limits: Limits) -> list[_Offence]:
    kind = decl.kind.value
    found: list[_Offence] = []

    def over(limit: str, value: float, limit_value: float, what: str, text: str, fix: str) -> None:
        found.append(_Offence(index, decl.id, limit, value, limit_value, what, text, fix))

    if not isinstance(decl, Movement) and isinstance(decl.geometry, shapely.Polygon):
        area = area_km2(decl.geometry)
        if area > limits.max_zone_area_km2:
            over(
                "max_zone_area_km2",
                area,
                limits.max_zone_area_km2,
                f"{kind} area {_number(area, limits.max_zone_area_km2)} km²",
                f"{_number(limits.max_zone_area_km2)} km²",
                f"split the {kind}",
            )
    duration: float | None = None  # None: open-ended validity, no duration to bound
    if isinstance(decl, Movement):
        duration, label, span = decl.end_s - decl.start_s, "movement plan", "first to last time"
    elif decl.valid_from_s is not None and decl.valid_to_s is not None:
        duration, label = decl.valid_to_s - decl.valid_from_s, f"{kind} validity"
        span = "valid_from to valid_to"
    if duration is not None and duration > limits.max_plan_duration_s:
        over(
            "max_plan_duration_s",
            duration,
            limits.max_plan_duration_s,
            f"{label} of {_duration(duration)} ({span})",
            _duration(limits.max_plan_duration_s),
            "split it into shorter declarations",
        )
    lead = decl.start_s - now_s  # -inf for a validity open at the start: never over
    if lead > limits.max_lead_s:
        start = "first time" if isinstance(decl, Movement) else "valid_from"
        over(
            "max_lead_s",
            lead,
            limits.max_lead_s,
            f"{kind} start ({start}) {_duration(lead)} after now",
            _duration(limits.max_lead_s),
            "submit it nearer the time",
        )
    return found


def _number(value: float, other: float | None = None) -> str:
    """`value` with thousands separators and 3 significant digits at least, with more
    decimals when it would otherwise read the same as `other` (the limit it is over)."""
    decimals = 0 if value >= 100 or value <= 0 else 2 - math.floor(math.log10(value))
    while True:
        text = f"{value:,.{decimals}f}"
        if other is None or decimals >= 9 or text != f"{other:,.{decimals}f}":
            break
        decimals += 1
    return text.rstrip("0").rstrip(".") if "." in text else text


def _duration(seconds: float) -> str:
    """Seconds as days, hours, minutes and seconds, zero parts left out: "366 days",
    "30 days 1 second", "1 day 12 hours". Exact to the microsecond, so a value just over a
    limit never reads the same as the limit."""
    days, rest = divmod(seconds, _DAY_S)
    hours, rest = divmod(rest, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    parts = [_count(days, "day"), _count(hours, "hour"), _count(minutes, "minute")]
    sec_text = f"{secs:.6f}".rstrip("0").rstrip(".")
    if sec_text != "0":
        parts.append(f"{sec_text} second" + ("" if sec_text == "1" else "s"))
    shown = " ".join(p for p in parts if p)
    return shown or "0 seconds"


def _count(value: float, unit: str) -> str:
    n = int(value)
    if n == 0:
        return ""
    return f"{n:,} {unit}" + ("" if n == 1 else "s")

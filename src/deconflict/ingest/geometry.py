"""Coordinates of declaration geometries: positions, lines, points and polygons (RFC 7946).

Checks sizes before touching positions, and types and ranges before building any shapely
object, so a hostile file cannot make it do expensive work. Never reprojects or simplifies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import shapely

from deconflict.ingest.fields import NonFinite, RuleBroken, describe, is_number
from deconflict.ingest.limits import Limits

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Positions:
    """Checked positions of one line or ring: (lon, lat) pairs and, when given, altitudes."""

    lonlat: list[LonLat]
    altitudes_m: list[float] | None
    """Third coordinate of every position, or None when positions are [lon, lat]."""


def _position(value: object, where: str) -> tuple[float, float, float | None]:
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        raise RuleBroken(
            f"{where} is {describe(value)}, but a position must be [lon, lat] or [lon, lat, alt_m]"
        )
    for axis, item in zip(("longitude", "latitude", "altitude"), value, strict=False):
        if isinstance(item, NonFinite):
            raise RuleBroken(f"{where} has {axis} {item.token}, but it must be a finite number")
        if not is_number(item):
            raise RuleBroken(f"{where} has {axis} {describe(item)}, but it must be a number")
        if not _finite(item):
            raise RuleBroken(f"{where} has {axis} {describe(item)}, but it must be a finite number")
    lon, lat = float(value[0]), float(value[1])
    if not -180.0 <= lon <= 180.0:
        raise RuleBroken(f"{where} has longitude {lon:g}, outside -180 to 180 (is it [lon, lat]?)")
    if not -90.0 <= lat <= 90.0:
        raise RuleBroken(f"{where} has latitude {lat:g}, outside -90 to 90 (is it [lon, lat]?)")
    return lon, lat, (float(value[2]) if len(value) == 3 else None)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _all_valid(value: list[object]) -> Positions | None:
    """The positions when every one is valid, checked as whole arrays; None sends the caller
    to the per-position path, which finds and names the first bad one. O(n), the per-item
    Python work being two set comprehensions over types (bool must never pass as a number)."""
    if {type(p) for p in value} != {list}:
        return None
    rows = cast(list[list[object]], value)
    widths = {len(p) for p in rows}
    if widths not in ({2}, {3}) or not {type(x) for p in rows for x in p} <= {int, float}:
        return None
    try:
        array = np.array(rows, dtype=np.float64)
    except (OverflowError, ValueError, TypeError):
        return None
    lon, lat = array[:, 0], array[:, 1]
    if not (np.isfinite(array).all() and (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all()):
        return None
    alts = array[:, 2].tolist() if array.shape[1] == 3 else None
    return Positions(list(zip(lon.tolist(), lat.tolist(), strict=True)), alts)


def positions(value: object, what: str, *, min_count: int, limits: Limits) -> Positions:
    """A list of positions for `what` ('the route', 'ring 0'): types, ranges, count."""
    if not isinstance(value, list):
        raise RuleBroken(
            f"the coordinates of {what} must be a list of positions, not {describe(value)}"
        )
    if len(value) > limits.max_positions:
        raise RuleBroken(
            f"{what} has {len(value)} positions, more than the limit "
            f"max_positions = {limits.max_positions}; simplify it or split it"
        )
    if len(value) < min_count:
        raise RuleBroken(f"{what} has {len(value)} positions, but it needs at least {min_count}")
    fast = _all_valid(value)
    if fast is not None:
        return fast
    lonlat: list[LonLat] = []
    alts: list[float] = []
    for i, item in enumerate(value):
        lon, lat, alt = _position(item, f"position {i} of {what}")
        lonlat.append((lon, lat))
        if alt is not None:
            alts.append(alt)
    if alts and len(alts) != len(lonlat):
        raise RuleBroken(
            f"only {len(alts)} of the {len(lonlat)} positions of {what} give an altitude; "
            "give it for every position or for none"
        )
    return Positions(lonlat, alts or None)


def point(value: object) -> tuple[shapely.Point, list[float] | None]:
    """A Point's coordinates: one position."""
    lon, lat, alt = _position(value, "the point")
    return shapely.Point(lon, lat), ([alt] if alt is not None else None)


def polygon(value: object, limits: Limits) -> tuple[shapely.Polygon, list[float] | None]:
    """A Polygon's rings (outer first, then holes): closed, at least 4 positions each, and
    valid as a whole (no self-crossing, holes inside the outer ring and not overlapping)."""
    if not isinstance(value, list) or not value:
        raise RuleBroken(
            f"polygon coordinates must be a list of rings (outer ring, then holes), "
            f"not {describe(value)}"
        )
    total = sum(len(ring) if isinstance(ring, list) else 1 for ring in value)
    if total > limits.max_positions:
        raise RuleBroken(
            f"the polygon has {total} positions, more than the limit "
            f"max_positions = {limits.max_positions}; simplify it"
        )
    rings: list[Sequence[LonLat]] = []
    alts: list[float] = []
    has_alts: list[bool] = []
    for r, ring in enumerate(value):
        what = "the outer ring" if r == 0 else f"hole {r}"
        checked = positions(ring, what, min_count=4, limits=limits)
        assert isinstance(ring, list)
        if ring[0] != ring[-1]:
            raise RuleBroken(
                f"{what} is not closed: its last position must repeat its first, "
                f"{ring[0]}, but it is {ring[-1]}"
            )
        rings.append(checked.lonlat)
        has_alts.append(checked.altitudes_m is not None)
        alts.extend(checked.altitudes_m or ())
    if any(has_alts) and not all(has_alts):
        raise RuleBroken(
            "some rings of the polygon give altitudes and some do not; "
            "give them everywhere or nowhere"
        )
    lons = [p[0] for p in rings[0]]
    if max(lons) - min(lons) > 180.0:
        # Written as lon/lat, such a ring goes the long way round the Earth; RFC 7946
        # section 3.1.9 asks for areas crossing the antimeridian to be cut there.
        raise RuleBroken(
            f"the polygon spans {max(lons) - min(lons):g} degrees of longitude; an area that "
            "crosses the antimeridian (longitude 180) must be split there into two polygons"
        )
    shape = shapely.Polygon(rings[0], rings[1:])
    if not shapely.is_valid(shape):
        # shapely says "Self-intersection[x y]"; operators read "at lon lat" more easily.
        reason = re.sub(r"\[(\S+) (\S+)\]$", r" at lon \1, lat \2", shapely.is_valid_reason(shape))
        raise RuleBroken(
            f"the polygon is not valid ({reason}); its edges must not cross themselves "
            "and holes must lie inside the outer ring without overlapping"
        )
    return shape, (alts or None)

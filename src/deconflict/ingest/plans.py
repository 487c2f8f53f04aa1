"""A movement's time plan: the epoch seconds at each position, from listed `times` or from
`departure` + `speed_kmh` (SPEC section 2). Never interpolates between positions; the engine does.
"""

from __future__ import annotations

import numpy as np
from pyproj import Geod

from deconflict.ingest.fields import RuleBroken, describe
from deconflict.ingest.limits import Limits
from deconflict.ingest.times import parse_time

_GEOD = Geod(ellps="WGS84")


def listed_times(
    value: object, route: list[tuple[float, float]] | None, limits: Limits
) -> list[float]:
    """Listed `times`: one ISO 8601 time per position, non-decreasing. `route` is None when
    the geometry itself was refused; the count is then not compared."""
    if not isinstance(value, list):
        raise RuleBroken(
            f"times must be a list of ISO 8601 times, one per position, not {describe(value)}"
        )
    if len(value) > limits.max_positions:
        raise RuleBroken(
            f"times gives {_plural(len(value), 'time')}, more than the limit "
            f"max_positions = {limits.max_positions}"
        )
    if route is not None and len(value) != len(route):
        raise RuleBroken(
            f"times gives {_plural(len(value), 'time')}, but the route has {len(route)} "
            "positions; give exactly one time per position"
        )
    result = [parse_time(item, f"times[{i}]") for i, item in enumerate(value)]
    for i in range(1, len(result)):
        if result[i] < result[i - 1]:
            raise RuleBroken(
                f"times must not decrease, but times[{i}] {value[i]!r} is before "
                f"times[{i - 1}] {value[i - 1]!r}"
            )
    return result


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def times_at_speed(
    route: list[tuple[float, float]], departure_s: float, speed_kmh: float
) -> list[float]:
    """Epoch seconds at each position of a route flown at constant ground speed: cumulative
    geodesic distance on WGS84 over speed. O(n), vectorised in pyproj."""
    lons = np.fromiter((p[0] for p in route), dtype=float, count=len(route))
    lats = np.fromiter((p[1] for p in route), dtype=float, count=len(route))
    _, _, legs_m = _GEOD.inv(lons[:-1], lats[:-1], lons[1:], lats[1:])
    along_m = np.concatenate(([0.0], np.cumsum(legs_m)))
    speed_mps = speed_kmh / 3.6
    return [departure_s + float(d) / speed_mps for d in along_m]

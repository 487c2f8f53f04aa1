"""Hypothesis strategies for random theatres: movements, sites and zones in a small box.

Everything is built with pyproj `Geod` from a centre and metric offsets, so a box of
5-30 km means the same anywhere on Earth (antimeridian and high latitudes included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from hypothesis import strategies as st

from deconflict.model import Movement, Site, Zone, ZoneType

from .reference import GEOD

BASE_S = 1_598_342_400.0  # 2020-08-25T08:00:00Z
PARTIES = ("blue", "green", "red")

BANDS = ((0.0, 5.0), (0.0, 150.0), (400.0, 600.0), (1000.0, 1500.0))
"""Altitude bands whose gaps are far from V = 300 m either way (0, 250, 395, 400, 850...)."""
V_M = 300.0


@dataclass(frozen=True)
class Frame:
    lon: float
    lat: float
    size_m: float

    def point(self, east_m: float, north_m: float) -> tuple[float, float]:
        az = math.degrees(math.atan2(east_m, north_m))
        lon, lat, _ = GEOD.fwd(self.lon, self.lat, az, math.hypot(east_m, north_m))
        return (float(lon), float(lat))


@st.composite
def frames(
    draw: st.DrawFn, *, antimeridian: bool = True, min_m: float = 5_000.0,
    max_m: float = 30_000.0,
) -> Frame:
    lon_choices = [st.floats(-179.0, 179.0)]
    if antimeridian:
        lon_choices.append(st.sampled_from([179.95, -179.95, 180.0]))
    lon = draw(st.one_of(*lon_choices))
    lat = draw(st.one_of(st.floats(-70.0, 70.0), st.sampled_from([-60.0, 0.0, 60.0])))
    size = draw(st.floats(min_m, max_m))
    return Frame(lon, lat, size)


@st.composite
def offsets(draw: st.DrawFn, frame: Frame) -> tuple[float, float]:
    half = frame.size_m / 2
    return draw(st.floats(-half, half)), draw(st.floats(-half, half))


@st.composite
def movements(
    draw: st.DrawFn, frame: Frame, party: str, ident: str, *, uncertainty: bool = True,
    max_speed_mps: float = 40.0,
) -> Movement:
    n = draw(st.integers(2, 6))
    t = BASE_S + draw(st.floats(0.0, 3600.0))
    pos = [frame.point(*draw(offsets(frame)))]
    times = [t]
    for _ in range(n - 1):
        step = draw(st.sampled_from(["move"] * 5 + ["stay", "repeat"]))
        if step == "move":
            p = frame.point(*draw(offsets(frame)))
            _, _, d = GEOD.inv(*pos[-1], *p)
            speed = max(draw(st.floats(3.0, max_speed_mps)), d / 3600.0)
            t += max(d / speed, 1.0)  # never a jump: a new position always takes time
        elif step == "stay":  # stationary: repeated position, later time
            p = pos[-1]
            t += draw(st.floats(1.0, 1800.0))
        else:  # zero-length segment: the same waypoint twice at the same time
            p = pos[-1]
        pos.append(p)
        times.append(t)
    alt_min, alt_max = draw(st.sampled_from(BANDS))
    buffer = draw(st.one_of(st.just(0.0), st.floats(0.0, 200.0)))
    u = draw(st.one_of(st.just(0.0), st.floats(0.0, 600.0))) if uncertainty else 0.0
    return Movement(
        id=ident,
        party=party,
        positions=tuple(pos),
        times_s=tuple(times),
        alt_min_m=alt_min,
        alt_max_m=alt_max,
        buffer_m=buffer,
        time_uncertainty_s=u,
    )


@st.composite
def polygons(draw: st.DrawFn, frame: Frame) -> shapely.Polygon:
    """A star-shaped (hence simple) polygon of 3-8 vertices, 300 m to 5 km across."""
    cx, cy = draw(offsets(frame))
    n = draw(st.integers(3, 8))
    radii = draw(st.lists(st.floats(300.0, 2500.0), min_size=n, max_size=n))
    turn = draw(st.floats(0, 2 * math.pi))
    ring = []
    for k, r in enumerate(radii):
        a = turn + 2 * math.pi * k / n
        ring.append(frame.point(cx + r * math.sin(a), cy + r * math.cos(a)))
    poly = shapely.Polygon(ring)
    if not poly.exterior.is_ccw:  # RFC 7946 exterior rings are counter-clockwise
        poly = shapely.Polygon(ring[::-1])
    return poly


@st.composite
def validity(draw: st.DrawFn) -> tuple[float | None, float | None]:
    start = draw(st.one_of(st.none(), st.floats(BASE_S - 3600, BASE_S + 4 * 3600)))
    end = draw(st.one_of(st.none(), st.floats(BASE_S, BASE_S + 6 * 3600)))
    if start is not None and end is not None and end < start:
        start, end = end, start
    return start, end


@st.composite
def sites(draw: st.DrawFn, frame: Frame, party: str, ident: str) -> Site:
    geom = draw(
        st.one_of(
            st.builds(shapely.Point, offsets(frame).map(lambda en: frame.point(*en))),
            polygons(frame),
        )
    )
    start, end = draw(validity())
    alt_min, alt_max = draw(st.sampled_from(BANDS))
    return Site(
        id=ident,
        party=party,
        geometry=geom,
        valid_from_s=start,
        valid_to_s=end,
        alt_min_m=alt_min,
        alt_max_m=alt_max,
        buffer_m=draw(st.one_of(st.just(0.0), st.floats(0.0, 200.0))),
    )


ZONE_BANDS = ((0.0, math.inf), (0.0, 300.0), (700.0, math.inf))
"""Zone bands: each either overlaps a movement band or clears it by >= 100 m."""


@st.composite
def zones(
    draw: st.DrawFn, frame: Frame, party: str, ident: str, zone_type: ZoneType | None = None
) -> Zone:
    start, end = draw(validity())
    alt_min, alt_max = draw(st.sampled_from(ZONE_BANDS))
    return Zone(
        id=ident,
        party=party,
        geometry=draw(polygons(frame)),
        valid_from_s=start,
        valid_to_s=end,
        alt_min_m=alt_min,
        alt_max_m=alt_max,
        buffer_m=draw(st.one_of(st.just(0.0), st.floats(0.0, 200.0))),
        zone_type=zone_type or draw(st.sampled_from(list(ZoneType))),
    )

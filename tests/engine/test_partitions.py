"""Space dealt among monitors (engine.partitions): a monitor that sees only the reports
routed to its partition keeps, for every alert its partition answers for, the same alert
open at the same moments as one monitor that sees everything; and routing and answering
hold their simple promises (home partition, antimeridian, one partition = everything)."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from deconflict.engine.monitor import Monitor, MonitorSettings
from deconflict.engine.partitions import Partitioning, bits
from deconflict.model import Policy
from deconflict.model.positions import Alert, AlertEvent, AlertType, PositionReport

GEOD = Geod(ellps="WGS84")
T0 = 1_598_342_400.0
LON0, LAT0 = 42.0, 37.0
H, V = 1000.0, 300.0
SETTINGS = MonitorSettings(look_ahead_s=120.0, stale_timeout_s=20.0, hysteresis_s=5.0)
PARTS = Partitioning(
    parts=4,
    cell_deg=0.05,
    h_m=H,
    look_ahead_s=SETTINGS.look_ahead_s,
    stale_timeout_s=SETTINGS.stale_timeout_s,
    max_ground_mps=SETTINGS.max_ground_speed_mps,
    max_air_mps=SETTINGS.max_air_speed_mps,
)
DURATION = 60

Key = tuple[AlertType, tuple[str, ...]]


def place(east_m: float, north_m: float) -> tuple[float, float]:
    az = math.degrees(math.atan2(east_m, north_m))
    lon, lat, _ = GEOD.fwd(LON0, LAT0, az, math.hypot(east_m, north_m))
    return float(lon), float(lat)


def intervals(events: list[Alert]) -> dict[Key, list[tuple[float, float]]]:
    """(type, units) -> the times each alert of them was open, [open, close)."""
    opened: dict[str, tuple[Key, float]] = {}
    out: dict[Key, list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        key = (e.type, e.units)
        if e.event is AlertEvent.OPEN:
            opened[e.alert] = (key, e.time_s)
        elif e.event is AlertEvent.CLOSE and e.alert in opened:
            k, start = opened.pop(e.alert)
            out[k].append((start, e.time_s))
    for k, start in opened.values():
        out[k].append((start, math.inf))
    return out


def is_open(spans: dict[Key, list[tuple[float, float]]], key: Key, t: float) -> bool:
    return any(a <= t < b for a, b in spans.get(key, ()))


units_st = st.lists(
    st.tuples(
        st.sampled_from(("blue", "green", "red")),
        st.floats(-10_000, 10_000),
        st.floats(-10_000, 10_000),
        st.one_of(st.floats(0, 1), st.floats(20, 30)),  # slow and fast: reaches differ
        st.floats(0, 359.9),
        st.booleans(),  # course given (else the monitor derives velocity from positions)
    ),
    min_size=2,
    max_size=30,
)


def compare(ticks: list[list[PositionReport]], split: Partitioning = PARTS) -> list[Alert]:
    """Run one monitor over every tick and one per partition over what is routed to it;
    assert that at every tick each alert is open in the monitor of the partition that
    answers for it exactly when it is open in the one monitor. The one monitor's events."""
    whole = Monitor(Policy(H, V), [], SETTINGS)
    parts = [Monitor(Policy(H, V), [], SETTINGS) for _ in range(split.parts)]
    got: list[list[Alert]] = [[] for _ in parts]
    want: list[Alert] = []
    latest: dict[str, PositionReport] = {}
    history: list[dict[str, PositionReport]] = []
    for tick in ticks:
        want += whole.ingest(tick)
        for r, mask in zip(tick, split.routes(tick), strict=True):
            latest[f"{r.party}/{r.unit}"] = r
            for q in bits(mask):
                got[q] += parts[q].ingest([r])
        history.append(dict(latest))
    want += whole.flush()
    for q, m in enumerate(parts):
        got[q] += m.flush()
    one = intervals(want)
    each = [intervals(g) for g in got]
    keys = set(one) | {k for spans in each for k in spans}
    for k, tick in enumerate(ticks):
        at = tick[0].time_s
        for key in keys:
            q = split.answers(Alert("-", AlertEvent.OPEN, key[0], at, key[1], ()), history[k].get)
            assert is_open(one, key, at) == is_open(each[q], key, at), (key, k, q)
    return want


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(units_st)
def test_each_partition_sees_what_one_monitor_sees_of_the_alerts_it_answers_for(
    units: list[tuple[str, float, float, float, float, bool]],
) -> None:
    # Units moving straight, reporting every second; half of them head for the centre,
    # so that pairs meet, the others as drawn.
    ticks = []
    for t in range(DURATION):
        tick = []
        for k, (party, e, n, speed, course, given_course) in enumerate(units):
            if k % 2 == 0:
                course = (math.degrees(math.atan2(-e, -n)) + 360.0) % 360.0
            rad = math.radians(course)
            lon, lat = place(e + speed * t * math.sin(rad), n + speed * t * math.cos(rad))
            c = course if given_course else None
            tick.append(PositionReport(f"u{k}", party, T0 + t, lon, lat, None, speed, c))
        ticks.append(tick)
    compare(ticks)


def test_a_fast_unit_meets_a_slow_one_across_a_border() -> None:
    # A still unit 4 km south of a cell border; a fast one coming south at 30 m/s from
    # 6 km north of it, in another partition: predicted proximity opens ~4.7 km apart,
    # beyond the still unit's reach (3 km) but within the fast one's (13.8 km); the still
    # unit's partition answers, and gets both; the fast one's does not get the still one.
    wide = dataclasses.replace(PARTS, cell_deg=0.2)
    border, lon = 37.4, 42.1  # mid-column
    lat0 = border - 4_000.0 / 111_000.0
    north = wide.cell_part(*wide.cell_of(border + 0.01, lon))
    south = wide.cell_part(*wide.cell_of(lat0, lon))
    assert north != south
    still = next(u for u in (f"s{k}" for k in range(99)) if wide.home(f"blue/{u}") != north)

    def fast(t: int) -> PositionReport:
        lat = lat0 + (6_000.0 - 30.0 * t) / 111_000.0
        return PositionReport("f", "red", T0 + t, lon, lat, None, 30.0, 180.0)

    ticks = [
        [PositionReport(still, "blue", T0 + t, lon, lat0, None, 0.0, 0.0), fast(t)]
        for t in range(200)
    ]
    assert north not in bits(wide.routes(ticks[0][:1])[0])
    events = compare(ticks, wide)
    opened = [e for e in events if e.event is AlertEvent.OPEN]
    assert [e.type for e in opened] == [AlertType.PREDICTED_PROXIMITY, AlertType.PROXIMITY]
    k = int(opened[0].time_s - T0)
    assert wide.cell_part(*wide.cell_of(fast(k).lat, lon)) == north
    assert wide.answers(opened[0], {f"blue/{still}": ticks[k][0], "red/f": fast(k)}.get) == south


def r(unit: str, lat: float, lon: float, **kw: float) -> PositionReport:
    return PositionReport(unit, "blue", T0, lon, lat, **kw)  # type: ignore[arg-type]


def test_one_partition_is_everything() -> None:
    p = Partitioning(parts=1)
    reports = [r("a", 10.0, 20.0), r("b", -80.0, 179.99, speed_mps=5.0, course_deg=1.0)]
    assert p.routes(reports) == [1, 1]
    assert p.home("blue/a") == 0 and p.every == 1


def test_a_report_goes_to_its_home_and_every_cell_within_its_reach() -> None:
    p = Partitioning(parts=16, cell_deg=1.0)
    still = r("a", 10.5, 20.5, speed_mps=0.0, course_deg=0.0)  # mid-cell, reach 3 km
    (mask,) = p.routes([still])
    assert set(bits(mask)) == {p.home("blue/a"), p.cell_part(10, 20)}
    edge = r("a", 10.999, 20.5, speed_mps=0.0, course_deg=0.0)  # 110 m from the next row
    (mask,) = p.routes([edge])
    assert {p.cell_part(10, 20), p.cell_part(11, 20)} <= set(bits(mask))
    # Without a course the monitor derives the velocity from positions: the reach is that
    # of the fastest plausible unit (100 m/s on the ground: 53 km), so neighbours are in.
    (mask,) = p.routes([r("a", 10.8, 20.9)])
    corner = {p.cell_part(i, j) for i in (10, 11) for j in (20, 21)}
    assert corner <= set(bits(mask))
    (mask,) = p.routes([r("a", 10.8, 20.9, speed_mps=0.0, course_deg=0.0)])
    assert set(bits(mask)) == {p.home("blue/a"), p.cell_part(10, 20)}


def test_the_antimeridian_is_no_border() -> None:
    p = Partitioning(parts=16, cell_deg=1.0)
    (mask,) = p.routes([r("a", 0.5, 179.999, speed_mps=0.0, course_deg=0.0)])
    assert p.cell_part(0, -180) in bits(mask)  # the cell east of it, across 180
    assert p.cell_of(0.5, 180.0) == p.cell_of(0.5, -180.0)


def test_a_pair_is_answered_where_the_slower_unit_is() -> None:
    p = Partitioning(parts=16, cell_deg=1.0)
    slow = PositionReport("s", "blue", T0, 20.5, 10.5, speed_mps=1.0, course_deg=0.0)
    fast = PositionReport("f", "red", T0, 21.5, 10.5, speed_mps=30.0, course_deg=0.0)
    latest = {"blue/s": slow, "red/f": fast}
    pair = Alert("x", AlertEvent.OPEN, AlertType.PROXIMITY, T0, ("blue/s", "red/f"), ())
    assert p.answers(pair, latest.get) == p.cell_part(10, 20)
    alone = Alert("y", AlertEvent.OPEN, AlertType.DEVIATION, T0, ("red/f",), ())
    assert p.answers(alone, latest.get) == p.home("red/f")


def test_every_cell_within_reach_gets_the_report() -> None:
    # For random ground reports anywhere below 80 degrees of latitude (and across the
    # antimeridian), every cell whose nearest point is within the report's reach, by the
    # geodesic distance to points along the cell's edges, is among the report's partitions.
    rnd = np.random.default_rng(5)
    p = Partitioning(parts=16, cell_deg=0.5)
    n = 100
    reports = [
        PositionReport(
            f"u{k}",
            "blue",
            T0,
            float(rnd.choice([rnd.uniform(-180.0, 180.0), rnd.uniform(179.0, 180.0)])),
            float(rnd.uniform(-80.0, 80.0)),
            None,
            [None, 0.0, 5.0, 30.0][k % 4],
            [None, 90.0][k % 2],
        )
        for k in range(n)
    ]
    side = np.linspace(0.0, 1.0, 21)
    for x, mask in zip(reports, p.routes(reports), strict=True):
        reach = p.reach_m(x)
        i0, j0 = math.floor(x.lat / 0.5), math.floor(x.lon / 0.5)
        for di in range(-2, 3):
            for dj in range(-2, 3):
                lat0, lon0 = (i0 + di) * 0.5, (j0 + dj) * 0.5
                lats = np.concatenate(
                    [lat0 + 0.5 * side, lat0 + 0.5 * side, [lat0] * 21, [lat0 + 0.5] * 21]
                )
                lons = np.concatenate(
                    [[lon0] * 21, [lon0 + 0.5] * 21, lon0 + 0.5 * side, lon0 + 0.5 * side]
                )
                lons = (lons + 180.0) % 360.0 - 180.0
                _, _, d = GEOD.inv(np.full(lats.size, x.lon), np.full(lats.size, x.lat), lons, lats)
                inside = di == 0 and dj == 0
                if inside or float(np.min(d)) < reach:
                    part = p.cell_part(
                        *p.cell_of(lat0 + 0.25, (lon0 + 0.25 + 180.0) % 360.0 - 180.0)
                    )
                    assert part in bits(mask), (x, di, dj, float(np.min(d)), reach)

"""Space dealt among monitors (engine.partitions): a monitor that sees only the reports
routed to its partition keeps, for every alert its partition answers for, the same alert
open at the same moments as one monitor that sees everything; and routing and answering
hold their simple promises (home partition, antimeridian, one partition = everything)."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

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
            q = split.answers(Alert("-", AlertEvent.OPEN, key[0], at, key[1], ()), history[k])
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
    assert wide.answers(opened[0], {f"blue/{still}": ticks[k][0], "red/f": fast(k)}) == south

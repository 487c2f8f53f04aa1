"""Hand-made cases for SPEC section 3, each with its answer worked out on paper.

Geometry is built with pyproj `Geod.fwd` so distances are exact by construction: points
taken along one geodesic (fwd from a point at azimuth az and az + 180) lie on it, so a unit
moving between them passes exactly through the middle point, and the arc between two
points of one geodesic is their distance. Within a few km of a point the ellipsoid is flat
to better than 1e-6, so crossing and passing separations follow Pythagoras.

Unless said otherwise: H = 1000 m, V = 300 m, speeds 10 m/s, times relative to T0.
"""

from __future__ import annotations

import math

import pytest
import shapely
from pyproj import Geod

from deconflict.engine import Engine
from deconflict.errors import AlreadyExists, NotFound
from deconflict.model import (
    Conflict,
    Crossing,
    DeclarationKey,
    Movement,
    Policy,
    Site,
    Zone,
    ZoneType,
)

GEOD = Geod(ellps="WGS84")
T0 = 1_598_342_400.0  # 2020-08-25T08:00:00Z
X = (42.1, 37.0)  # near al-Malikiyah
POLICY = Policy(horizontal_m=1000.0, vertical_m=300.0)

T_TOL = 0.05
"""Seconds. Engine interval ends are closed-form or bisected to 1 ms; 5 cm at 10 m/s is
far below anything a planner reads, far above rounding."""
D_TOL = 0.01
"""Metres, for distances that are exact by construction."""
AT_TOL = 0.1
"""Metres, for the point of closest approach."""

Point = tuple[float, float]


def fwd(p: Point, az: float, dist_m: float) -> Point:
    lon, lat, _ = GEOD.fwd(p[0], p[1], az, dist_m)
    return (float(lon), float(lat))


def dist(p: Point, q: Point) -> float:
    return float(GEOD.inv(p[0], p[1], q[0], q[1])[2])


def move(ident: str, party: str, points: list[Point], times: list[float], **kw: float) -> Movement:
    return Movement(id=ident, party=party, positions=tuple(points),
                    times_s=tuple(T0 + t for t in times), **kw)


def through(p: Point, az: float, before_m: float, after_m: float) -> list[Point]:
    """Two points on the geodesic through p at azimuth az: before_m behind, after_m ahead."""
    return [fwd(p, az + 180.0, before_m), fwd(p, az, after_m)]


def stay(ident: str, party: str, p: Point, t0: float, t1: float, **kw: float) -> Movement:
    """A stationary unit: the same position twice, times increasing."""
    return move(ident, party, [p, p], [t0, t1], **kw)


def engine(*decls: Movement | Site | Zone, policy: Policy = POLICY) -> Engine:
    eng = Engine(policy=policy)
    eng.add_many(decls)
    return eng


def only(conflicts: list[Conflict]) -> Conflict:
    assert len(conflicts) == 1, conflicts
    return conflicts[0]


def assert_conflict(c: Conflict, start: float, end: float, min_m: float,
                    at: Point | None = None) -> None:
    assert c.start_s == pytest.approx(T0 + start, abs=T_TOL), c.start_s - T0
    assert c.end_s == pytest.approx(T0 + end, abs=T_TOL), c.end_s - T0
    assert c.min_distance_m == pytest.approx(min_m, abs=D_TOL)
    if at is not None:
        assert dist(c.at, at) < AT_TOL, (c.at, at)


# --- movements against movements ---------------------------------------------------------


def test_spec_3_head_on_units_conflict_for_the_interval_within_H() -> None:
    """Same road (the geodesic X -> E, 20 km long). blue/m1 leaves X at 0 at 10 m/s;
    red/m2 leaves E at 0 at 15 m/s towards X. Distance from X: 10t and 20000 - 15t, so
    separation |20000 - 25t|: below 1000 m for 760 < t < 840, zero at t = 800, 8 km from X.
    (party, id) order: ("blue", "m1") < ("red", "a0") although "a0" < "m1"."""
    e = fwd(X, 90, 20_000)
    blue = move("m1", "blue", [X, e], [0, 2000])
    red = move("a0", "red", [e, X], [0, 20_000 / 15])
    c = only(engine(blue, red).all_conflicts())
    assert (c.party_a, c.a, c.party_b, c.b) == ("blue", "m1", "red", "a0")
    assert_conflict(c, 760, 840, 0.0, at=fwd(X, 90, 8000))


def test_spec_3_right_angle_crossing_min_distance_and_interval() -> None:
    """blue goes north through X at t = 1000, red east through X at t = 1100 (10 m/s).
    Offsets from X: 10(t - 1000) north, 10(t - 1100) east; d^2 = 100((t-1000)^2 +
    (t-1100)^2), least at t = 1050: 10 * 50 * sqrt(2) = 707.107 m, blue 500 m north of X
    and red 500 m west of it: midpoint 353.553 m from X at azimuth 315. d < 1000 <=>
    2(t-1050)^2 + 5000 < 10000 <=> |t - 1050| < 50: conflict from 1000 to 1100."""
    blue = move("b", "blue", through(X, 0, 10_000, 10_000), [0, 2000])
    red = move("r", "red", through(X, 90, 11_000, 9_000), [0, 2000])
    c = only(engine(blue, red).all_conflicts())
    assert_conflict(c, 1000, 1100, 500 * math.sqrt(2), at=fwd(X, 315, 250 * math.sqrt(2)))


def test_spec_3_overtaking_units_conflict_while_the_fast_one_passes() -> None:
    """Same road east from X, 20 km. blue leaves at 0 at 5 m/s; red leaves at 1000 at
    15 m/s. Positions 5t and 15(t - 1000): separation |15000 - 10t| < 1000 for
    1400 < t < 1600, zero at 1500 (7.5 km out). red's plan ends at 1000 + 1333.3 s at the
    far end; blue gets there at 4000, after red has gone: no second conflict."""
    e = fwd(X, 90, 20_000)
    blue = move("slow", "blue", [X, e], [0, 4000])
    red = move("fast", "red", [X, e], [1000, 1000 + 20_000 / 15])
    c = only(engine(blue, red).all_conflicts())
    assert_conflict(c, 1400, 1600, 0.0, at=fwd(X, 90, 7500))


def test_spec_3_convoy_exactly_H_apart_on_one_road_does_not_conflict() -> None:
    """Both on the geodesic east from X at 10 m/s for 10 km, red starting 1000 m ahead of
    blue: on one geodesic they stay exactly 1000 m apart, which meets H: no conflict.
    999 m ahead: they conflict for the whole common plan, least distance 999 m."""
    ahead = fwd(X, 90, 1000)
    blue = move("b", "blue", [X, fwd(X, 90, 10_000)], [0, 1000])
    red = move("r", "red", [ahead, fwd(ahead, 90, 10_000)], [0, 1000])
    assert engine(blue, red).all_conflicts() == []

    closer = fwd(X, 90, 999)
    red = move("r", "red", [closer, fwd(X, 90, 10_999)], [0, 1000])
    assert_conflict(only(engine(blue, red).all_conflicts()), 0, 1000, 999.0)


def test_spec_3_stationary_units_side_by_side_at_exactly_H_do_not_conflict() -> None:
    """Two stationary units 1000 m apart (north of each other): separation equals H, not
    below it. 999 m: conflict for the common hour, least distance 999, at the midpoint."""
    blue = stay("b", "blue", X, 0, 3600)
    assert engine(blue, stay("r", "red", fwd(X, 0, 1000), 0, 3600)).all_conflicts() == []
    c = only(engine(blue, stay("r", "red", fwd(X, 0, 999), 0, 3600)).all_conflicts())
    assert_conflict(c, 0, 3600, 999.0, at=fwd(X, 0, 499.5))


@pytest.mark.parametrize(
    ("apart_m", "conflicts"),
    [(1000.0, False), (999.9995, False), (999.998, True)],
    ids=["exactly-H", "half-a-mm-short", "two-mm-short"],
)
def test_spec_3_separation_within_1_mm_of_H_meets_it(apart_m: float, conflicts: bool) -> None:
    """Separations within 1 mm of the minimum count as meeting it (floating point noise
    must not turn a declared H into a conflict)."""
    eng = engine(stay("b", "blue", X, 0, 60), stay("r", "red", fwd(X, 0, apart_m), 0, 60))
    assert bool(eng.all_conflicts()) is conflicts


def test_spec_3_touching_time_windows_conflict_for_an_instant() -> None:
    """blue's plan ends at X at 10:00 (T0 + 7200); red's starts there at 10:00. Both occupy
    X at that instant only: one conflict with start == end == 10:00, distance 0, at X."""
    blue = move("b", "blue", [fwd(X, 270, 5000), X], [6700, 7200])
    red = move("r", "red", [X, fwd(X, 0, 5000)], [7200, 7700])
    c = only(engine(blue, red).all_conflicts())
    assert c.start_s == c.end_s == T0 + 7200
    assert_conflict(c, 7200, 7200, 0.0, at=X)


def test_spec_3_windows_one_second_apart_do_not_touch() -> None:
    """As above but red starts at 10:00:01: blue has gone (occupancy only inside the plan),
    red is at X: nothing at any common time."""
    blue = move("b", "blue", [fwd(X, 270, 5000), X], [6700, 7200])
    red = move("r", "red", [X, fwd(X, 0, 5000)], [7201, 7701])
    assert engine(blue, red).all_conflicts() == []


def test_spec_3_uncertainty_widens_occupancy_into_a_conflict() -> None:
    """blue crosses X northbound at 1000, red crosses X eastbound at 1900 (15 min later).
    Nominally the least separation is at t = 1450: 10 * 450 * sqrt(2) = 6364 m: none.
    With u = 600 s each, at time t blue may be as far along its plan as any t' with
    |t' - t| <= 600, so it may be at X for t in [400, 1600]; red for [1300, 2500]: both
    may be at X during [1300, 1600] (distance 0). Outside, blue misses X by
    10 * max(0, |t - 1000| - 600) and red by 10 * max(0, |t - 1900| - 600), at right
    angles: below 1000 m for 1200 < t < 1700."""
    blue = move("b", "blue", through(X, 0, 10_000, 10_000), [0, 2000])
    red = move("r", "red", through(X, 90, 10_000, 10_000), [900, 2900])
    assert engine(blue, red).all_conflicts() == []
    blue_u = move("b", "blue", through(X, 0, 10_000, 10_000), [0, 2000], time_uncertainty_s=600)
    red_u = move("r", "red", through(X, 90, 10_000, 10_000), [900, 2900],
                 time_uncertainty_s=600)
    c = only(engine(blue_u, red_u).all_conflicts())
    assert_conflict(c, 1200, 1700, 0.0, at=X)


def test_spec_3_uncertainty_extends_occupancy_beyond_the_plan() -> None:
    """With u = 300 s a unit may occupy its first position from times[0] - u: blue sits at
    X over [1000, 2000] with u = 300; red (no uncertainty) sits 500 m away over [0, 800].
    Nominally disjoint windows; with u, blue may be at X from 700: conflict [700, 800]."""
    blue = stay("b", "blue", X, 1000, 2000)
    red = stay("r", "red", fwd(X, 90, 500), 0, 800)
    assert engine(blue, red).all_conflicts() == []
    blue_u = stay("b", "blue", X, 1000, 2000, time_uncertainty_s=300)
    assert_conflict(only(engine(blue_u, red).all_conflicts()), 700, 800, 500.0,
                    at=fwd(X, 90, 250))


def test_spec_3_routes_across_the_antimeridian_conflict() -> None:
    """C = (180, 10). blue goes east along the geodesic through C from 5 km west to 5 km
    east (positions at lon 179.95.. and -179.95..), passing C at 500; red goes north
    through C, passing at 600. As for the right-angle crossing: least 707.107 m at 550
    (blue 500 m east of C, red 500 m south), conflict from 500 to 600, midpoint 353.553 m
    from C at azimuth 135 (lon about -179.998: across the line)."""
    c_pt = (180.0, 10.0)
    west, east = through(c_pt, 90, 5000, 5000)
    assert west[0] > 179.9 and east[0] < -179.9
    blue = move("b", "blue", [west, east], [0, 1000])
    red = move("r", "red", through(c_pt, 0, 6000, 4000), [0, 1000])
    c = only(engine(blue, red).all_conflicts())
    assert_conflict(c, 500, 600, 500 * math.sqrt(2), at=fwd(c_pt, 135, 250 * math.sqrt(2)))


def test_spec_3_units_either_side_of_the_antimeridian_are_close() -> None:
    """Stationary at lon 179.999 and -179.999 (lat 10): 0.002 deg of longitude, about
    219 m apart (Geod), not 360 degrees: they conflict, least distance that."""
    a, b = (179.999, 10.0), (-179.999, 10.0)
    c = only(engine(stay("b", "blue", a, 0, 60), stay("r", "red", b, 0, 60)).all_conflicts())
    assert 200 < dist(a, b) < 240
    assert_conflict(c, 0, 60, dist(a, b))


def test_spec_3_routes_crossing_over_the_pole() -> None:
    """blue flies (0, 89.5) -> (180, 89.5) and red (90, 89.5) -> (-90, 89.5): both
    geodesics pass over the North Pole, at right angles. At 20 m/s blue is at the pole at
    L/2 / 20 = tb, red 30 s later. Offsets from the pole 20(t - tb) and 20(t - tb - 30)
    at right angles: least 20 * 15 * sqrt(2) = 424.264 m at tb + 15; d < 1000 <=>
    2 tau^2 + 450 < 2500 (tau = t - tb - 15, in units of 20 m) <=> |tau| < 32.0156 s."""
    pole = (0.0, 90.0)
    length = dist((0.0, 89.5), (180.0, 89.5))
    assert length == pytest.approx(2 * dist((0.0, 89.5), pole))
    tb = length / 2 / 20
    blue = move("b", "blue", [(0.0, 89.5), (180.0, 89.5)], [0, length / 20])
    red = move("r", "red", [(90.0, 89.5), (-90.0, 89.5)], [30, 30 + length / 20])
    c = only(engine(blue, red).all_conflicts())
    half = math.sqrt(1025)
    mid = tb + 15
    # at the closest approach blue is 300 m past the pole, red 300 m short of it
    az_blue = GEOD.inv(0.0, 89.5, 180.0, 89.5)[0]
    az_red = GEOD.inv(90.0, 89.5, -90.0, 89.5)[0]
    p_blue = fwd((0.0, 89.5), az_blue, length / 2 + 300)
    p_red = fwd((90.0, 89.5), az_red, length / 2 - 300)
    assert dist(p_blue, pole) == pytest.approx(300, abs=1e-6)
    assert dist(p_blue, p_red) == pytest.approx(300 * math.sqrt(2), abs=1e-3)
    az_mid, _, d_mid = GEOD.inv(*p_blue, *p_red)
    assert_conflict(c, mid - half, mid + half, 300 * math.sqrt(2),
                    at=fwd(p_blue, az_mid, d_mid / 2))


def test_spec_3_a_halt_repeated_position_is_a_stationary_unit() -> None:
    """blue drives 4 km east to X (arrives 400), halts there until 1000 (X repeated,
    times increasing), then drives on 4 km. red drives north through X, passing at 700.
    During the halt red is 10|t - 700| from blue: conflict 600..800, 0 m, at X. Without
    the halt (blue passing X at 400 and 4 km beyond by 800) the least separation is
    10 * 150 * sqrt(2) = 2121 m: no conflict."""
    west, east = fwd(X, 270, 4000), fwd(X, 90, 4000)
    red = move("r", "red", through(X, 0, 5000, 5000), [200, 1200])
    halted = move("b", "blue", [west, X, X, east], [0, 400, 1000, 1400])
    assert_conflict(only(engine(halted, red).all_conflicts()), 600, 800, 0.0, at=X)
    passing = move("b", "blue", [west, X, east], [0, 400, 800])
    assert engine(passing, red).all_conflicts() == []


def test_spec_3_zero_length_zero_duration_segment_changes_nothing() -> None:
    """A waypoint repeated with the same time is a segment of no length and no duration:
    the plan is the same as without it, and so are its conflicts (the crossing case)."""
    red = move("r", "red", through(X, 90, 11_000, 9_000), [0, 2000])
    south, north = through(X, 0, 10_000, 10_000)
    plain = move("b", "blue", [south, X, north], [0, 1000, 2000])
    doubled = move("b", "blue", [south, X, X, north], [0, 1000, 1000, 2000])
    want = only(engine(plain, red).all_conflicts())
    got = only(engine(doubled, red).all_conflicts())
    assert_conflict(got, want.start_s - T0, want.end_s - T0, want.min_distance_m, at=want.at)
    assert_conflict(got, 1000, 1100, 500 * math.sqrt(2))


def test_spec_3_stationary_units_conflict_while_both_are_there() -> None:
    """Stationary 800 m apart, blue over [0, 3600], red over [1800, 7200]: conflict exactly
    while both exist, [1800, 3600], 800 m, at the midpoint."""
    c = only(engine(stay("b", "blue", X, 0, 3600),
                    stay("r", "red", fwd(X, 135, 800), 1800, 7200)).all_conflicts())
    assert_conflict(c, 1800, 3600, 800.0, at=fwd(X, 135, 400))


def test_spec_3_one_conflict_per_maximal_interval() -> None:
    """blue patrols 3 km west of X -> 3 km east (0..600) and back (600..1200), past red
    stationary at X: within 1000 m for 200..400 and again 800..1000: two conflicts, not
    one, and not one per segment. Splitting the first leg at X (a waypoint inside the
    interval) still gives one conflict 200..400."""
    west, east = fwd(X, 270, 3000), fwd(X, 90, 3000)
    red = stay("r", "red", X, 0, 1200)
    patrol = move("b", "blue", [west, east, west], [0, 600, 1200])
    first, second = engine(patrol, red).all_conflicts()
    assert_conflict(first, 200, 400, 0.0, at=X)
    assert_conflict(second, 800, 1000, 0.0, at=X)
    split = move("b", "blue", [west, X, east], [0, 300, 600])
    assert_conflict(only(engine(split, red).all_conflicts()), 200, 400, 0.0, at=X)


@pytest.mark.parametrize(
    ("band", "conflicts"),
    [((400.0, 600.0), False), ((200.0, 400.0), True), ((305.0, 600.0), False),
     ((304.0, 600.0), True)],
    ids=["clears-by-395", "within-195", "gap-exactly-V", "gap-1m-under-V"],
)
def test_spec_3_altitude_bands_clear_vertically(band: tuple[float, float], conflicts: bool) -> None:
    """A helicopter crossing right over a ground unit (0-5 m) at X at the same instant:
    the bands' gap is band_min - 5; with V = 300 they conflict only when it is below 300."""
    ground = move("g", "blue", through(X, 0, 5000, 5000), [0, 1000])
    heli = move("h", "red", through(X, 90, 5000, 5000), [0, 1000],
                alt_min_m=band[0], alt_max_m=band[1])
    got = engine(ground, heli).all_conflicts()
    assert bool(got) is conflicts
    if conflicts:
        assert_conflict(only(got), 500 - 50 * math.sqrt(2), 500 + 50 * math.sqrt(2), 0.0, at=X)


def test_spec_3_vertical_gap_of_exactly_V_meets_V_despite_rounding() -> None:
    """Bands 0-212.3 m and 512.3-600 m are exactly 300 m apart as declared; V = 300 is
    met (SPEC: "within V" is strict, and separations within 1 mm count as meeting it)."""
    assert 512.3 - 212.3 < 300.0  # how it reads in binary floating point
    low = stay("g", "blue", X, 0, 60, alt_max_m=212.3)
    high = stay("h", "red", X, 0, 60, alt_min_m=512.3, alt_max_m=600.0)
    assert engine(low, high).all_conflicts() == []


def test_spec_3_buffers_count_towards_the_separation() -> None:
    """blue east through X, red west through N = 1500 m north of X, both at X/N at 500,
    20 m/s closing. Centre separation sqrt(1500^2 + (20 tau)^2), tau = t - 500. Buffers
    300 m each: the occupied areas come within H when the centres are within 1600 m:
    (20 tau)^2 < 1600^2 - 1500^2 = 310000, |tau| < 27.839 s. Least distance between what
    they occupy: 1500 - 600 = 900 m, midpoint 750 m north of X. Without buffers: none."""
    n = fwd(X, 0, 1500)
    blue = move("b", "blue", through(X, 90, 5000, 5000), [0, 1000], buffer_m=300)
    red = move("r", "red", through(n, 270, 5000, 5000), [0, 1000], buffer_m=300)
    half = math.sqrt(310_000) / 20
    assert_conflict(only(engine(blue, red).all_conflicts()), 500 - half, 500 + half, 900.0,
                    at=fwd(X, 0, 750))
    plain_blue = move("b", "blue", through(X, 90, 5000, 5000), [0, 1000])
    plain_red = move("r", "red", through(n, 270, 5000, 5000), [0, 1000])
    assert engine(plain_blue, plain_red).all_conflicts() == []


def test_spec_3_touching_buffers_report_zero_distance() -> None:
    """Stationary 500 m apart with buffers 300 m each: the occupied discs overlap, so the
    least distance between what they occupy is 0 (never negative)."""
    c = only(engine(stay("b", "blue", X, 0, 60, buffer_m=300),
                    stay("r", "red", fwd(X, 0, 500), 0, 60, buffer_m=300)).all_conflicts())
    assert c.min_distance_m == 0.0


def test_spec_3_same_party_never_conflicts() -> None:
    """Two blue units head-on on one road (as the head-on case) never conflict, and a blue
    site on the road does not either; a red unit parked at the site conflicts with all
    three."""
    e = fwd(X, 90, 20_000)
    b1 = move("m1", "blue", [X, e], [0, 2000])
    b2 = move("m2", "blue", [e, X], [0, 2000])
    site = Site(id="depot", party="blue", geometry=shapely.Point(fwd(X, 90, 10_000)))
    eng = engine(b1, b2, site)
    assert eng.all_conflicts() == []
    assert eng.conflicts_of(b1.key) == [] and eng.conflicts_of(site) == []
    red = stay("r", "red", fwd(X, 90, 10_000), 0, 2000)
    eng.add(red)
    assert {(c.a, c.b) for c in eng.all_conflicts()} == {("m1", "r"), ("m2", "r"), ("depot", "r")}


# --- sites --------------------------------------------------------------------------------


def test_spec_3_site_point_conflicts_only_during_its_validity() -> None:
    """Hospital (red) at X, valid [2000, 5000]. blue drives north through X at 10 m/s.
    Passing at 1000 (before validity): nothing. Passing at 3000: within H for
    2900..3100, 0 m, at X. Validity from 3050: the conflict starts there, 3050..3100, and
    its least distance is where the unit is then, 500 m past X (midpoint 250 m north)."""
    def blue(at_x: float) -> Movement:
        return move("b", "blue", through(X, 0, 5000, 5000), [at_x - 500, at_x + 500])

    def hospital(valid_from: float) -> Site:
        return Site(id="h", party="red", geometry=shapely.Point(X),
                    valid_from_s=T0 + valid_from, valid_to_s=T0 + 5000)

    assert engine(blue(1000), hospital(2000)).all_conflicts() == []
    assert_conflict(only(engine(blue(3000), hospital(2000)).all_conflicts()), 2900, 3100, 0.0,
                    at=X)
    assert_conflict(only(engine(blue(3000), hospital(3050)).all_conflicts()), 3050, 3100, 500.0,
                    at=fwd(X, 0, 250))


def test_spec_3_site_point_at_exactly_H_meets_it() -> None:
    """A unit stationary exactly 1000 m from a site point: no conflict; 990 m: conflict,
    least distance 990, midpoint 495 m from the site."""
    site = Site(id="s", party="red", geometry=shapely.Point(X))
    assert engine(site, stay("b", "blue", fwd(X, 200, 1000), 0, 60)).all_conflicts() == []
    c = only(engine(site, stay("b", "blue", fwd(X, 200, 990), 0, 60)).all_conflicts())
    assert_conflict(c, 0, 60, 990.0, at=fwd(X, 200, 495))


def square(centre: Point, half_m: float) -> shapely.Polygon:
    """A 'square' whose south and north edges are geodesics perpendicular to the meridian
    through centre at S and N, half_m either side of centre (so a unit on that meridian
    meets the edges exactly at S and N, and the nearest edge point is S or N)."""
    s, n = fwd(centre, 180, half_m), fwd(centre, 0, half_m)
    ring = [fwd(s, 270, half_m), fwd(s, 90, half_m), fwd(n, 90, half_m), fwd(n, 270, half_m)]
    return shapely.Polygon(ring)


def test_spec_3_site_polygon_conflicts_within_H_of_its_edge() -> None:
    """Base (red): the 2 km square around X, valid from 2500. blue drives north along the
    meridian through X at 10 m/s, at X at 3000: within H of the south edge 2 km south of X
    (t = 2800) until 2 km north (3200); inside, distance 0. Passing at 1000: it is gone
    before the base is valid: nothing."""
    base = Site(id="base", party="red", geometry=square(X, 1000), valid_from_s=T0 + 2500)
    blue = move("b", "blue", through(X, 0, 5000, 5000), [2500, 3500])
    c = only(engine(base, blue).all_conflicts())
    assert_conflict(c, 2800, 3200, 0.0)
    assert shapely.distance(shapely.Point(c.at), base.geometry) < 1e-5  # inside or on it
    early = move("b", "blue", through(X, 0, 5000, 5000), [500, 1500])
    assert engine(base, early).all_conflicts() == []


def test_spec_3_site_polygon_with_a_hole_is_measured_from_the_hole() -> None:
    """A site ring: the 10 km square around X with the 4 km square cut out. A unit parked
    at X is 2 km from the nearest edge (the hole's): no conflict. With a 1.6 km hole it is
    800 m from the hole's edge (the north and south edges are exactly 800 m away, the east
    and west ones 800 m to within centimetres): conflict, least distance 800 m."""
    shell = square(X, 5000)

    def ring(hole_half_m: float) -> Site:
        hole = square(X, hole_half_m).exterior.coords[::-1]
        return Site(id="ring", party="red", geometry=shapely.Polygon(shell.exterior.coords,
                                                                     [hole]))

    parked = stay("b", "blue", X, 0, 60)
    assert engine(ring(2000), parked).all_conflicts() == []
    c = only(engine(ring(800), parked).all_conflicts())
    assert c.min_distance_m == pytest.approx(800.0, abs=0.5)
    assert (c.start_s, c.end_s) == (T0, T0 + 60)


@pytest.mark.parametrize("kind", ["site", "restricted zone"])
@pytest.mark.parametrize("creep_m", [1e-9, 1e-7])
def test_spec_3_a_micrometre_creep_inside_an_area_still_occupies_it(
    kind: str, creep_m: float,
) -> None:
    """A unit inside the 1 km square around X moves 1 m north in the first second, then
    creeps creep_m east in the next (a waypoint repeated with coordinate noise). It is
    inside the area (500 m from every edge) for the whole plan: one conflict 0..2, 0 m.
    Exactly 0 m or 1 mm of creep gives that answer already."""
    area = (Site if kind == "site" else Zone)(id="a", party="red", geometry=square(X, 500))
    n = fwd(X, 0, 1)
    unit = move("b", "blue", [X, n, fwd(n, 90, creep_m)], [0, 1, 2])
    assert_conflict(only(engine(area, unit).all_conflicts()), 0, 2, 0.0)


def test_spec_3_site_vertical_band_clears() -> None:
    """A rooftop site 0-5 m; a helicopter at 400-600 m right over it: gap 395 >= V: none.
    At 200-400 m: gap 195: conflict."""
    site = Site(id="s", party="red", geometry=shapely.Point(X))
    high = stay("h", "blue", X, 0, 60, alt_min_m=400, alt_max_m=600)
    low = stay("h", "blue", X, 0, 60, alt_min_m=200, alt_max_m=400)
    assert engine(site, high).all_conflicts() == []
    assert len(engine(site, low).all_conflicts()) == 1


# --- zones --------------------------------------------------------------------------------


def restricted(**kw: object) -> Zone:
    return Zone(id="z", party="red", geometry=square(X, 1000), **kw)  # type: ignore[arg-type]


def test_spec_3_restricted_zone_entered() -> None:
    """blue drives north along the meridian through X at 10 m/s, at X at 1000: inside the
    2 km square from the south edge (t = 900) to the north edge (1100); no H margin."""
    blue = move("b", "blue", through(X, 0, 5000, 5000), [500, 1500])
    c = only(engine(restricted(), blue).all_conflicts())
    assert_conflict(c, 900, 1100, 0.0)


def test_spec_3_restricted_zone_touched_counts() -> None:
    """blue drives north towards the south edge and stops on it at S (its plan ends there
    at 500): touching counts: one instant, 500..500, distance 0, at S. A unit passing the
    south-west corner diagonally (azimuth 135, outside otherwise) touches it at one
    instant too."""
    s = fwd(X, 180, 1000)
    blue = move("b", "blue", [fwd(s, 180, 5000), s], [0, 500])
    c = only(engine(restricted(), blue).all_conflicts())
    assert c.start_s == c.end_s
    assert_conflict(c, 500, 500, 0.0, at=s)
    corner = fwd(s, 270, 1000)
    diagonal = move("d", "blue", through(corner, 135, 3000, 3000), [0, 600])
    c = only(engine(restricted(), diagonal).all_conflicts())
    assert_conflict(c, 300, 300, 0.0, at=corner)


def test_spec_3_restricted_zone_avoided_by_a_metre() -> None:
    """Stopping 1 m short of the south edge: no conflict (no H margin for zones). With a
    2 m buffer the unit's occupied area reaches 1 m into the zone: conflict from when the
    centre is 2 m from the edge (t = 500 - 0.1) to the end of the plan, least distance 0.
    With the 1 mm tolerance, 1.0005 m short with a 1 m buffer still touches."""
    s = fwd(X, 180, 1000)
    short = fwd(s, 180, 1)
    assert engine(restricted(), move("b", "blue", [fwd(s, 180, 5000), short],
                                     [0, 499.9])).all_conflicts() == []
    buffered = move("b", "blue", [fwd(s, 180, 5000), short], [0, 499.9], buffer_m=2)
    assert_conflict(only(engine(restricted(), buffered).all_conflicts()), 499.8, 499.9, 0.0)
    nearly = fwd(s, 180, 1.0005)
    touching = stay("b", "blue", nearly, 0, 60, buffer_m=1)
    assert len(engine(restricted(), touching).all_conflicts()) == 1
    clear = stay("b", "blue", fwd(s, 180, 1.002), 0, 60, buffer_m=1)
    assert engine(restricted(), clear).all_conflicts() == []


def test_spec_3_a_vanishing_zone_buffer_keeps_the_whole_interval() -> None:
    """A unit parked inside a restricted zone (a triangle about 500 m across, 150 m from
    the unit to each edge) for 100 s conflicts for those 100 s whatever the zone's buffer;
    a buffer of 1e-50 m is as good as 0. Found by hypothesis; geometry as it found it."""
    unit = (1.6515985672261309, 0.0)
    triangle = shapely.Polygon([
        (1.6492646756557316, -0.0013565542151953538), (1.65393245879653, -0.0013565542151953514),
        (1.6515985672261309, 0.002713108431130784),
    ])
    inside = stay("b", "blue", unit, 0, 100)
    for buffer_m in (0.0, 1e-50):
        zone = Zone(id="z", party="red", geometry=triangle, buffer_m=buffer_m)
        assert_conflict(only(engine(zone, inside).all_conflicts()), 0, 100, 0.0)


def test_spec_3_restricted_zone_buffer_of_the_zone_counts() -> None:
    """The zone's own buffer_m (300 m) extends it: a unit stationary 200 m south of the
    edge conflicts; 400 m south does not."""
    s = fwd(X, 180, 1000)
    zone = restricted(buffer_m=300)
    assert len(engine(zone, stay("b", "blue", fwd(s, 180, 200), 0, 60)).all_conflicts()) == 1
    assert engine(zone, stay("b", "blue", fwd(s, 180, 400), 0, 60)).all_conflicts() == []


def test_spec_3_restricted_zone_vertical_bands_must_overlap() -> None:
    """A zone from the ground to 300 m: a helicopter at 400-600 m over it does not enter
    (no V margin for zones); at 200-400 m it does; at 300-500 m its band touches the
    zone's top, which counts as overlap (gap 0)."""
    zone = restricted(alt_max_m=300.0)

    def heli(lo: float, hi: float) -> Movement:
        return stay("h", "blue", X, 0, 60, alt_min_m=lo, alt_max_m=hi)

    assert engine(zone, heli(400, 600)).all_conflicts() == []
    assert len(engine(zone, heli(200, 400)).all_conflicts()) == 1
    assert len(engine(zone, heli(300, 500)).all_conflicts()) == 1


def test_spec_3_restricted_zone_validity_and_party() -> None:
    """A zone valid only from 2000 is not entered by a unit that is through by 1100; the
    zone's own party never conflicts with it."""
    blue = move("b", "blue", through(X, 0, 5000, 5000), [500, 1500])
    assert engine(restricted(valid_from_s=T0 + 2000), blue).all_conflicts() == []
    own = move("b", "red", through(X, 0, 5000, 5000), [500, 1500])
    assert engine(restricted(), own).all_conflicts() == []


@pytest.mark.parametrize("zone_type", [ZoneType.CORRIDOR, ZoneType.CEASEFIRE])
def test_spec_3_corridor_and_ceasefire_crossings_are_reported_not_conflicts(
    zone_type: ZoneType,
) -> None:
    """blue crosses the zone as in the restricted case (inside 900..1100): no conflict,
    one crossing of the zone by blue/b from 900 to 1100; with 60 s uncertainty it may be
    inside from 840 to 1160."""
    zone = Zone(id="z", party="red", geometry=square(X, 1000), zone_type=zone_type)
    blue = move("b", "blue", through(X, 0, 5000, 5000), [500, 1500])
    eng = engine(zone, blue)
    assert eng.all_conflicts() == []
    assert eng.conflicts_of(blue) == [] and eng.conflicts_of(zone.key) == []
    (x,) = eng.all_crossings()
    assert isinstance(x, Crossing)
    assert (x.zone, x.zone_party, x.zone_type, x.movement, x.movement_party) == (
        "z", "red", zone_type, "b", "blue")
    assert x.start_s == pytest.approx(T0 + 900, abs=T_TOL)
    assert x.end_s == pytest.approx(T0 + 1100, abs=T_TOL)
    assert eng.crossings_of(blue.key) == [x] and eng.crossings_of(zone) == [x]
    late = move("b", "blue", through(X, 0, 5000, 5000), [500, 1500], time_uncertainty_s=60)
    (y,) = engine(zone, late).all_crossings()
    assert y.start_s == pytest.approx(T0 + 840, abs=T_TOL)
    assert y.end_s == pytest.approx(T0 + 1160, abs=T_TOL)


def test_spec_3_sites_and_zones_never_conflict_with_each_other() -> None:
    """A red site inside a blue restricted zone, overlapping a green site: no conflicts."""
    eng = engine(
        Site(id="s", party="red", geometry=shapely.Point(X)),
        Site(id="s2", party="green", geometry=square(X, 500)),
        Zone(id="z", party="blue", geometry=square(X, 1000)),
    )
    assert eng.all_conflicts() == []
    assert eng.all_crossings() == []


# --- the index as a collection: amend, errors, queries ------------------------------------


def test_spec_3_amendment_by_remove_and_add() -> None:
    """An amendment replaces the declaration: the head-on pair conflicts; red amends its
    route to leave 2 h later (blue has arrived by then): remove returns the old version,
    the new one (same key) has no conflict. Checking a new version before it is indexed
    never compares it with the version it replaces."""
    e = fwd(X, 90, 20_000)
    blue = move("m1", "blue", [X, e], [0, 2000])
    red = move("r", "red", [e, X], [0, 2000])
    eng = engine(blue, red)
    assert len(eng.all_conflicts()) == 1
    later = move("r", "red", [e, X], [7200, 9200])
    assert eng.conflicts_of(later) == []
    assert eng.remove(red.key) is red
    assert red.key not in eng and len(eng) == 1
    assert eng.all_conflicts() == []
    eng.add(later)
    assert eng.get(later.key) is later
    assert eng.all_conflicts() == [] and eng.conflicts_of(later.key) == []


def test_spec_3_conflicts_of_an_unindexed_declaration() -> None:
    """conflicts_of works on a declaration not in the index, and it equals what adding it
    would add to all_conflicts(); the index is unchanged."""
    red = stay("r", "red", X, 0, 600)
    eng = engine(red)
    blue = move("b", "blue", through(X, 0, 3000, 3000), [0, 600])
    would = eng.conflicts_of(blue)
    assert len(eng) == 1 and blue.key not in eng
    assert_conflict(only(would), 200, 400, 0.0, at=X)
    eng.add(blue)
    for got in (eng.all_conflicts(), eng.conflicts_of(blue.key), eng.conflicts_of(red)):
        c = only(got)
        assert (c.party_a, c.a, c.party_b, c.b) == ("blue", "b", "red", "r")
        assert_conflict(c, would[0].start_s - T0, would[0].end_s - T0,
                        would[0].min_distance_m, at=would[0].at)


def test_errors_on_duplicate_and_missing_keys() -> None:
    red = stay("r", "red", X, 0, 60)
    eng = engine(red)
    with pytest.raises(AlreadyExists):
        eng.add(stay("r", "red", X, 100, 160))
    with pytest.raises(AlreadyExists):  # all or nothing
        eng.add_many([stay("new", "blue", X, 0, 60), red])
    assert DeclarationKey("blue", "new") not in eng and len(eng) == 1
    with pytest.raises(NotFound):
        eng.remove(DeclarationKey("red", "nope"))
    with pytest.raises(NotFound):
        eng.get(DeclarationKey("blue", "r"))
    with pytest.raises(NotFound):
        eng.conflicts_of(DeclarationKey("blue", "r"))


def test_spec_3_all_conflicts_sorted_by_start_then_parties_and_ids() -> None:
    """Three red units stationary at X at different times, blue at X throughout; plus a
    green one at the same time as the first: order by start, then (party_a, a, party_b, b)."""
    blue = stay("b", "blue", X, 0, 3600)
    reds = [stay(f"r{k}", "red", X, 3000 - 1000 * k, 3100 - 1000 * k) for k in range(3)]
    green = stay("g", "green", X, 1000, 1100)
    got = [(round(c.start_s - T0, 3), c.party_a, c.a, c.party_b, c.b)
           for c in engine(blue, green, *reds).all_conflicts()]
    assert got == [
        (1000, "blue", "b", "green", "g"),
        (1000, "blue", "b", "red", "r2"),
        (1000, "green", "g", "red", "r2"),
        (2000, "blue", "b", "red", "r1"),
        (3000, "blue", "b", "red", "r0"),
    ]

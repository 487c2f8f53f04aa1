"""deconflict.geo against independent references: pyproj's own transformations and `Geod`,
and brute-force minimisation for the closest-approach solver."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from deconflict.geo.closest import min_over_band, min_over_box, roots_below
from deconflict.geo.densify import MAX_LEG_M, densify_track
from deconflict.geo.ellipsoid import distance_m, midpoints, points_along, surface_normal, to_ecef

GEOD = Geod(ellps="WGS84")
RNG = np.random.default_rng(20200825)


def random_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    lon = RNG.uniform(-180, 180, n)
    lat = np.degrees(np.arcsin(RNG.uniform(-1, 1, n)))  # uniform on the sphere
    lat[:4] = [90.0, -90.0, 89.9999, -89.9999]
    lon[4:6] = [180.0, -180.0]
    return lon, lat


def test_to_ecef_matches_pyproj_geocentric() -> None:
    lon, lat = random_points(2000)
    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x, y, z = tr.transform(lon, lat, np.zeros_like(lon))
    np.testing.assert_allclose(to_ecef(lon, lat), np.stack([x, y, z], axis=1), atol=1e-6)


def test_surface_normal_is_the_geodetic_vertical() -> None:
    lon, lat = random_points(500)
    up = surface_normal(to_ecef(lon, lat))
    lam, phi = np.radians(lon), np.radians(lat)
    want = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    np.testing.assert_allclose(up, want, atol=1e-12)


@pytest.mark.parametrize("max_km", [1, 50, 500])
def test_distance_points_along_and_midpoints_agree_with_geod(max_km: float) -> None:
    """Distances are geodesic to within 0.1 % up to 500 km (SPEC section 3): here they are
    Geod's own, so agreement is to the millimetre; points_along lies on the geodesic at the
    right fraction of its length."""
    n = 1000
    lon0, lat0 = random_points(n)
    az = RNG.uniform(-180, 180, n)
    d = RNG.uniform(0, max_km * 1000, n)
    lon1, lat1, _ = GEOD.fwd(lon0, lat0, az, d)
    np.testing.assert_allclose(distance_m(lon0, lat0, lon1, lat1), d, rtol=1e-9, atol=1e-3)
    frac = RNG.uniform(0, 1, n)
    lon_f, lat_f = points_along(lon0, lat0, lon1, lat1, frac)
    to_f = distance_m(lon0, lat0, lon_f, lat_f)
    from_f = distance_m(lon_f, lat_f, lon1, lat1)
    np.testing.assert_allclose(to_f, frac * d, atol=1e-3)
    np.testing.assert_allclose(to_f + from_f, d, atol=1e-3)  # on the geodesic
    lon_m, lat_m = midpoints(lon0, lat0, lon1, lat1)
    np.testing.assert_allclose(distance_m(lon0, lat0, lon_m, lat_m), d / 2, atol=1e-3)
    np.testing.assert_allclose(distance_m(lon_m, lat_m, lon1, lat1), d / 2, atol=1e-3)


def test_densify_splits_long_legs_along_the_geodesic_at_constant_speed() -> None:
    """Two tracks: one leg of 95 km across the antimeridian, then a 3 km leg; a separate
    track of one 45 km leg. Inserted points lie on each geodesic, no leg is longer than
    MAX_LEG_M, times follow distance, and the track boundary is not bridged."""
    a0 = (179.7, 10.0)
    a1 = GEOD.fwd(*a0, 80.0, 95_000)[:2]
    a2 = GEOD.fwd(*a1, 0.0, 3_000)[:2]
    b0 = (10.0, 60.0)
    b1 = GEOD.fwd(*b0, 200.0, 45_000)[:2]
    lon = np.array([a0[0], a1[0], a2[0], b0[0], b1[0]])
    lat = np.array([a0[1], a1[1], a2[1], b0[1], b1[1]])
    t = np.array([0.0, 9500.0, 9800.0, 0.0, 4500.0])
    is_leg = np.array([True, True, False, True])
    out_lon, out_lat, out_t, index = densify_track(lon, lat, t, is_leg)
    np.testing.assert_array_equal(out_lon[index], lon)
    np.testing.assert_array_equal(out_t[index], t)
    assert len(out_lon) == 5 + 4 + 2  # 95 km -> 5 legs, 45 km -> 3 legs
    legs = distance_m(out_lon[:-1], out_lat[:-1], out_lon[1:], out_lat[1:])
    own = np.ones(len(legs), dtype=bool)
    own[index[3] - 1] = False  # the gap between the two tracks
    assert np.all(legs[own] <= MAX_LEG_M + 1e-6)
    # on the geodesic, at constant speed: distance from the track start over time
    for first, last in ((0, index[1]), (index[3], index[4])):
        seg = slice(first, last + 1)
        from_start = distance_m(np.full(last - first + 1, out_lon[first]),
                                np.full(last - first + 1, out_lat[first]),
                                out_lon[seg], out_lat[seg])
        total = from_start[-1]
        np.testing.assert_allclose(from_start, np.cumsum(np.r_[0, legs[first:last]]), atol=1e-3)
        speed = total / (out_t[last] - out_t[first])
        np.testing.assert_allclose(from_start, speed * (out_t[seg] - out_t[first]), atol=1e-3)


def test_chord_stands_in_for_the_geodesic_within_a_few_cm_per_densified_leg() -> None:
    """The engine measures in straight Earth-centred chords between points <= 20 km apart;
    horizontally the chord's midpoint is within 3 cm of the geodesic's (densify.py)."""
    n = 500
    lon0, lat0 = random_points(n)
    lon1, lat1, _ = GEOD.fwd(lon0, lat0, RNG.uniform(-180, 180, n), np.full(n, MAX_LEG_M))
    p0, p1 = to_ecef(lon0, lat0), to_ecef(lon1, lat1)
    lon_m, lat_m = midpoints(lon0, lat0, lon1, lat1)
    geo_mid = to_ecef(lon_m, lat_m)
    chord_mid = (p0 + p1) / 2
    up = surface_normal(geo_mid)
    diff = chord_mid - geo_mid
    horizontal = diff - np.einsum("ij,ij->i", diff, up)[:, None] * up
    assert np.linalg.norm(horizontal, axis=1).max() < 0.03
    assert np.linalg.norm(diff, axis=1).max() < 9.0  # the sag, vertical


# --- closest approach in the plane, against brute force --------------------------------

vec = st.tuples(st.floats(-5000, 5000), st.floats(-5000, 5000), st.floats(-5000, 5000))


def _dist(w: np.ndarray, da: np.ndarray, db: np.ndarray, s1: np.ndarray, s2: np.ndarray
          ) -> np.ndarray:
    return np.linalg.norm(w + s1[..., None] * da - s2[..., None] * db, axis=-1)


@settings(max_examples=200, deadline=None)
@given(vec, vec, vec, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_min_over_box_is_the_least_distance_over_the_box(
    w: tuple[float, ...], da: tuple[float, ...], db: tuple[float, ...],
    a: float, b: float, c: float, d: float,
) -> None:
    W, DA, DB = (np.array([v]) for v in (w, da, db))
    lo1, hi1, lo2, hi2 = min(a, b), max(a, b), min(c, d), max(c, d)
    got, arg = min_over_box(W, DA, DB, *(np.array([v]) for v in (lo1, hi1, lo2, hi2)))
    g1, g2 = np.meshgrid(np.linspace(lo1, hi1, 201), np.linspace(lo2, hi2, 201))
    brute = _dist(W[0], DA[0], DB[0], g1, g2).min()
    assert lo1 - 1e-9 <= arg[0, 0] <= hi1 + 1e-9 and lo2 - 1e-9 <= arg[0, 1] <= hi2 + 1e-9
    at_arg = _dist(W[0], DA[0], DB[0], arg[:, 0], arg[:, 1])[0]
    assert at_arg == pytest.approx(got[0], abs=1e-6)
    assert got[0] <= brute + 1e-6
    # the grid is within half a cell of the optimum: |grad| * cell bounds the gap
    cell = max(hi1 - lo1, hi2 - lo2) / 200
    slack = (np.linalg.norm(DA) + np.linalg.norm(DB)) * cell
    assert brute <= got[0] + slack + 1e-6


@settings(max_examples=200, deadline=None)
@given(vec, vec, vec, st.floats(-3000, 3000), st.floats(0, 2000), st.floats(0, 2000),
       st.floats(0, 1200))
def test_min_over_band_is_the_least_distance_at_compatible_times(
    w: tuple[float, ...], da: tuple[float, ...], db: tuple[float, ...],
    k: float, dur_a: float, dur_b: float, band: float,
) -> None:
    """Units at times ta0 + s1 dur_a and tb0 + s2 dur_b (k = ta0 - tb0) no further apart
    in time than `band`: brute force over a fine grid of (s1, s2)."""
    W, DA, DB = (np.array([v]) for v in (w, da, db))
    got, arg = min_over_band(W, DA, DB, *(np.array([v]) for v in (k, dur_a, dur_b, band)))
    g1, g2 = np.meshgrid(np.linspace(0, 1, 401), np.linspace(0, 1, 401))
    ok = np.abs(k + g1 * dur_a - g2 * dur_b) <= band
    if not np.isfinite(got[0]):
        assert not ok.any()
        return
    s1, s2 = arg[0]
    assert abs(k + s1 * dur_a - s2 * dur_b) <= band + 1e-6 * (1 + dur_a + dur_b)
    assert _dist(W[0], DA[0], DB[0], arg[:, 0], arg[:, 1])[0] == pytest.approx(got[0], abs=1e-6)
    if ok.any():
        brute = _dist(W[0], DA[0], DB[0], g1[ok], g2[ok]).min()
        assert got[0] <= brute + 1e-6


@settings(max_examples=200, deadline=None)
@given(vec, vec, st.floats(1, 3000), st.floats(0, 500), st.floats(0, 500))
@example(c0=(5e-324, 0.0, 2.0), v=(51.0, 0.0, 0.0), r=1.0, lo=0.0, span=0.0)  # c / q overflowed
def test_roots_below_is_where_a_moving_point_is_within_r(
    c0: tuple[float, ...], v: tuple[float, ...], r: float, lo: float, span: float,
) -> None:
    C0, V = np.array([c0]), np.array(v)[None, :] / 100
    t_in, t_out, ok = roots_below(C0, V, np.array([r]), np.array([lo]), np.array([lo + span]))
    t = np.linspace(lo, lo + span, 2001)
    inside = np.linalg.norm(C0[0] + t[:, None] * V[0], axis=1) < r
    if ok[0]:
        assert lo <= t_in[0] <= t_out[0] <= lo + span
        assert np.all(~inside | ((t >= t_in[0] - 1e-6) & (t <= t_out[0] + 1e-6)))
        mid = (t_in[0] + t_out[0]) / 2
        assert np.linalg.norm(C0[0] + mid * V[0]) <= r + 1e-6
    else:
        assert not inside.any()

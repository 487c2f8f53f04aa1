"""Refine candidate segment pairs exactly: closest approach and conflict interval.

Candidates come from the index by box; here each pair gets (1) its least horizontal
distance, in a tangent plane at the pair, over all times allowed by the two units' time
uncertainties, (2) that distance measured again on the ellipsoid with `Geod` between the
two exact geodesic positions, which decides and is reported, and (3) the interval of t
during which the pair conflicts. All O(pairs) vectorised; only the uncertain pairs that
really conflict take a bisection (about 40 vectorised steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.geo.closest import min_over_band, min_over_box, roots_below
from deconflict.geo.ellipsoid import FloatArray, distance_m, midpoints, points_along, surface_normal

BoolArray = npt.NDArray[np.bool_]

TOLERANCE_M = 1e-3
"""A separation within 1 mm of the minimum counts as meeting it."""
_PLANE_SLACK = 1e-4
"""Relative error bound of the tangent-plane distance against the geodesic, as a screen."""
_EPS_T = 1e-9


@dataclass(frozen=True)
class Side:
    """One side of n candidate pairs: segment ends and the unit's parameters, row-aligned."""

    p0: FloatArray  # (n, 3)
    p1: FloatArray  # (n, 3)
    t: FloatArray  # (n, 2)
    ll: FloatArray  # (n, 4)
    u: FloatArray  # (n,) time uncertainty, s


@dataclass(frozen=True)
class PairResult:
    """For the pairs that conflict (rows of `index` into the candidates)."""

    index: npt.NDArray[np.int64]
    start: FloatArray
    end: FloatArray
    distance_m: FloatArray
    """Least centre-to-centre geodesic distance (buffers not yet subtracted)."""
    at: FloatArray
    """(n, 2) lon, lat of the midpoint of closest approach."""


def _horizontal(v: FloatArray, up: FloatArray) -> FloatArray:
    out: FloatArray = v - np.einsum("ij,ij->i", v, up)[:, None] * up
    return out


def refine(a: Side, b: Side, reach_m: FloatArray) -> PairResult:
    """Pairs whose units may come closer than `reach_m` (centre to centre, strictly)."""
    up = surface_normal(0.5 * (a.p0 + b.p0))
    w = _horizontal(a.p0 - b.p0, up)
    da = _horizontal(a.p1 - a.p0, up)
    db = _horizontal(b.p1 - b.p0, up)
    dur_a = a.t[:, 1] - a.t[:, 0]
    dur_b = b.t[:, 1] - b.t[:, 0]
    band = a.u + b.u
    d_plane, s = min_over_band(w, da, db, a.t[:, 0] - b.t[:, 0], dur_a, dur_b, band)
    near = np.flatnonzero(d_plane < reach_m * (1 + _PLANE_SLACK) + 0.01)
    if near.size == 0:
        return _empty()
    # Exact positions of the closest approach on the geodesics, measured with Geod.
    s = s[near]
    lon_a, lat_a = points_along(a.ll[near, 0], a.ll[near, 1], a.ll[near, 2], a.ll[near, 3], s[:, 0])
    lon_b, lat_b = points_along(b.ll[near, 0], b.ll[near, 1], b.ll[near, 2], b.ll[near, 3], s[:, 1])
    d_geo = distance_m(lon_a, lat_a, lon_b, lat_b)
    hit = d_geo < reach_m[near] - TOLERANCE_M
    near, s, d_geo = near[hit], s[hit], d_geo[hit]
    if near.size == 0:
        return _empty()
    at_lon, at_lat = midpoints(lon_a[hit], lat_a[hit], lon_b[hit], lat_b[hit])
    # Intervals are found in the plane against a threshold shifted by the plane's own error
    # at the closest approach, so plane and ellipsoid agree on whether the pair conflicts.
    r = reach_m[near] - TOLERANCE_M + (d_plane[near] - d_geo)
    plane = _Plane(w[near], da[near], db[near], a.t[near], b.t[near], a.u[near], b.u[near])
    start, end = _intervals(plane, s, r)
    return PairResult(near, start, end, d_geo, np.stack([at_lon, at_lat], axis=1))


@dataclass(frozen=True)
class _Plane:
    """Candidate pairs in their tangent planes, row-aligned: a at A0 + s1 da over ta, b at
    B0 + s2 db over tb, w = A0 - B0, with time uncertainties ua and ub."""

    w: FloatArray
    da: FloatArray
    db: FloatArray
    ta: FloatArray
    tb: FloatArray
    ua: FloatArray
    ub: FloatArray

    def take(self, rows: npt.NDArray[np.int64]) -> _Plane:
        return _Plane(*(getattr(self, f)[rows] for f in ("w", "da", "db", "ta", "tb", "ua", "ub")))


def _empty() -> PairResult:
    z = np.zeros(0)
    return PairResult(np.zeros(0, dtype=np.int64), z, z, z, np.zeros((0, 2)))


def _intervals(p: _Plane, s: FloatArray, r: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Conflict interval of each pair (all known to conflict at the argmin `s`)."""
    w, da, db, ta, tb, ua, ub = p.w, p.da, p.db, p.ta, p.tb, p.ua, p.ub
    n = w.shape[0]
    start = np.empty(n)
    end = np.empty(n)
    dur_a = ta[:, 1] - ta[:, 0]
    dur_b = tb[:, 1] - tb[:, 0]
    certain = (ua == 0) & (ub == 0)
    instant = certain & ((dur_a <= _EPS_T) | (dur_b <= _EPS_T))
    # An instantaneous segment (equal times) conflicts at that instant only.
    t_inst = np.where(dur_a <= _EPS_T, ta[:, 0], tb[:, 0])
    start[instant] = t_inst[instant]
    end[instant] = t_inst[instant]
    # Both certain and moving: |c0 + t v| < r, a quadratic in t, relative to t_ref.
    lin = np.flatnonzero(certain & ~instant)
    if lin.size:
        t_ref = np.maximum(ta[lin, 0], tb[lin, 0])
        t_hi = np.minimum(ta[lin, 1], tb[lin, 1])
        va = da[lin] / dur_a[lin, None]
        vb = db[lin] / dur_b[lin, None]
        c0 = w[lin] + (t_ref - ta[lin, 0])[:, None] * va - (t_ref - tb[lin, 0])[:, None] * vb
        t_in, t_out, ok = roots_below(c0, va - vb, r[lin], np.zeros(lin.size), t_hi - t_ref)
        # The closest point conflicts by construction: fall back to it if rounding said no.
        t_star = ta[lin, 0] + s[lin, 0] * dur_a[lin] - t_ref
        t_in = np.where(ok, t_in, t_star)
        t_out = np.where(ok, t_out, t_star)
        start[lin] = t_ref + t_in
        end[lin] = t_ref + t_out
    unc = np.flatnonzero(~certain)
    if unc.size:
        lo, hi = _bisect_uncertain(p.take(unc), s[unc], r[unc])
        start[unc] = lo
        end[unc] = hi
    return start, end


def _bisect_uncertain(p: _Plane, s: FloatArray, r: FloatArray) -> tuple[FloatArray, FloatArray]:
    """With uncertainty, at time t unit a may be anywhere on its segment between
    t - ua and t + ua (likewise b); g(t) = least distance over that box of (s1, s2) is
    convex in t, so {t : g(t) < r} is an interval: bisect each end from the argmin."""
    w, da, db, ta, tb, ua, ub = p.w, p.da, p.db, p.ta, p.tb, p.ua, p.ub
    dur_a = ta[:, 1] - ta[:, 0]
    dur_b = tb[:, 1] - tb[:, 0]
    pos_a = dur_a > _EPS_T
    pos_b = dur_b > _EPS_T
    safe_a = np.where(pos_a, dur_a, 1.0)
    safe_b = np.where(pos_b, dur_b, 1.0)

    def g(t: FloatArray) -> FloatArray:
        lo1 = np.where(pos_a, (t - ua - ta[:, 0]) / safe_a, 0.0)
        hi1 = np.where(pos_a, (t + ua - ta[:, 0]) / safe_a, 1.0)
        ok1 = pos_a | (np.abs(t - ta[:, 0]) <= ua)
        lo2 = np.where(pos_b, (t - ub - tb[:, 0]) / safe_b, 0.0)
        hi2 = np.where(pos_b, (t + ub - tb[:, 0]) / safe_b, 1.0)
        ok2 = pos_b | (np.abs(t - tb[:, 0]) <= ub)
        lo1 = np.maximum(lo1, 0.0)
        hi1 = np.where(ok1, np.minimum(hi1, 1.0), -1.0)
        lo2 = np.maximum(lo2, 0.0)
        hi2 = np.where(ok2, np.minimum(hi2, 1.0), -1.0)
        d, _ = min_over_box(w, da, db, lo1, hi1, lo2, hi2)
        return d

    t_a = ta[:, 0] + s[:, 0] * dur_a
    t_b = tb[:, 0] + s[:, 1] * dur_b
    t_star = np.clip(np.maximum(t_a - ua, t_b - ub), None, np.minimum(t_a + ua, t_b + ub))
    dom_lo = np.maximum(ta[:, 0] - ua, tb[:, 0] - ub)
    dom_hi = np.minimum(ta[:, 1] + ua, tb[:, 1] + ub)
    t_star = np.clip(t_star, dom_lo, dom_hi)
    start = _bisect(g, r, inside=t_star, outside=dom_lo)
    end = _bisect(g, r, inside=t_star, outside=dom_hi)
    return start, end


def _bisect(g, r: FloatArray, inside: FloatArray, outside: FloatArray) -> FloatArray:  # type: ignore[no-untyped-def]
    """Boundary of {g < r} between `inside` (where g < r) and `outside`, to 1 ms."""
    inside = inside.copy()
    outside = outside.copy()
    whole = g(outside) < r
    result = np.where(whole, outside, inside)
    todo = ~whole
    for _ in range(64):
        if not todo.any() or np.max(np.abs(outside - inside)[todo]) < 1e-3:
            break
        mid = 0.5 * (inside + outside)
        below = g(mid) < r
        inside = np.where(todo & below, mid, inside)
        outside = np.where(todo & ~below, mid, outside)
    return np.where(whole, result, inside)

"""A brute-force reference for SPEC section 3, written to be checked by eye, not to be fast.

It samples every movement densely along its plan (pyproj `Geod`, nothing of the engine's
own geometry) and turns the samples into *bounds*: a set of times when a pair surely
conflicts and a set of times when it may conflict; the exact answer lies between them.
It must never import `deconflict.geo` or `deconflict.engine`.

How the bounds are rigorous (the whole argument):

- A movement is sampled at plan times tau_i (every waypoint time included, and enough
  points per segment that neighbours are at most `spacing_m` apart along the geodesic).
  Sample i stands for every plan time in its *support* [lo_i, hi_i] (half-way to each
  neighbour); there the unit is within rho_i (half the larger neighbouring gap, measured
  along the segment's geodesic) of the sample's position.
- With uncertainty u the unit may, at time t, be at p(t') for any t' of its plan with
  |t' - t| <= u; so it may be within rho_i of sample i exactly when
  t is in [lo_i - u, hi_i + u].
- For two samples i, j at geodesic distance D, during the intersection of those time
  ranges the true separation is at most D + rho_i + rho_j (so "surely below the
  threshold" when that is) and, whatever t, the separation realised through i and j is
  at least D - rho_i - rho_j (so the true conflict times are inside the union over pairs
  with D - rho_i - rho_j below the threshold). Areas (sites, zones) are the same with
  the signed distance from a sample to the geometry in place of D.

Candidate pairs are pruned first by straight-line (ECEF chord) distance, which is never
more than the geodesic distance, so pruning never drops a pair the bound needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod, Transformer

from deconflict.model import Movement, Policy, Site, Zone
from deconflict.model.declarations import vertical_gap_m

GEOD = Geod(ellps="WGS84")
_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)

TOL_M = 1e-3
"""SPEC: separations within 1 mm of a minimum count as meeting it."""
GEO_REL = 1e-3
"""SPEC: distances are geodesic to within 0.1 %; the engine may be off by this much."""

Interval = tuple[float, float]


def ecef(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Earth-centred coordinates (m) of points on the ellipsoid, shape (n, 3)."""
    lam, phi = np.radians(lon), np.radians(lat)
    n = _A / np.sqrt(1 - _E2 * np.sin(phi) ** 2)
    return np.stack(
        [n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1 - _E2) * np.sin(phi)],
        axis=-1,
    )


def geod_distance(lon1, lat1, lon2, lat2) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Geodesic distance (m) on WGS84, elementwise."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2))
    )
    if lon1.size == 0:
        return np.zeros(lon1.shape)
    _, _, d = GEOD.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(d, dtype=float).reshape(lon1.shape)


def position_at(m: Movement, t: float) -> tuple[float, float]:
    """Where movement m is at plan time t (times[0] <= t <= times[-1]), by Geod."""
    times = m.times_s
    if not times[0] <= t <= times[-1]:
        raise ValueError("t outside the plan")
    k = max(0, min(int(np.searchsorted(times, t, side="right")) - 1, len(times) - 2))
    (lon0, lat0), (lon1, lat1) = m.positions[k], m.positions[k + 1]
    t0, t1 = times[k], times[k + 1]
    az, _, length = GEOD.inv(lon0, lat0, lon1, lat1)
    frac = 1.0 if t1 == t0 else (t - t0) / (t1 - t0)
    lon, lat, _ = GEOD.fwd(lon0, lat0, az, frac * length)
    return float(lon), float(lat)


@dataclass(frozen=True)
class Samples:
    """A movement sampled along its plan (see the module docstring)."""

    lon: np.ndarray
    lat: np.ndarray
    xyz: np.ndarray
    tau: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rho: np.ndarray

    def __len__(self) -> int:
        return len(self.tau)


def sample_movement(
    m: Movement, spacing_m: float, window: Interval | None = None
) -> Samples | None:
    """Sample m's plan inside `window` (plan times); None when they do not overlap."""
    w0, w1 = window if window is not None else (-math.inf, math.inf)
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    taus: list[np.ndarray] = []
    arcs: list[np.ndarray] = []  # distance along the current segment, for rho
    segs: list[np.ndarray] = []
    for k in range(len(m.positions) - 1):
        (lon0, lat0), (lon1, lat1) = m.positions[k], m.positions[k + 1]
        t0, t1 = m.times_s[k], m.times_s[k + 1]
        a, b = max(t0, w0), min(t1, w1)
        if a > b:
            continue
        az, _, length = GEOD.inv(lon0, lat0, lon1, lat1)
        if t1 == t0:
            if length > 0:
                raise NotImplementedError("reference: a jump (two positions, one time)")
            fr = np.array([0.0])
            tt = np.array([t0])
        else:
            fa, fb = (a - t0) / (t1 - t0), (b - t0) / (t1 - t0)
            n = max(1, math.ceil(length * (fb - fa) / spacing_m))
            fr = np.linspace(fa, fb, n + 1)
            tt = t0 + fr * (t1 - t0)
            tt[0], tt[-1] = a, b
        dist = fr * length
        lon, lat, _ = GEOD.fwd(np.full(fr.shape, lon0), np.full(fr.shape, lat0),
                               np.full(fr.shape, az), dist)
        lons.append(np.asarray(lon, dtype=float))
        lats.append(np.asarray(lat, dtype=float))
        taus.append(tt)
        arcs.append(dist)
        segs.append(np.full(fr.shape, k))
    if not taus:
        return None
    lon_a, lat_a, tau = np.concatenate(lons), np.concatenate(lats), np.concatenate(taus)
    arc, seg = np.concatenate(arcs), np.concatenate(segs)
    # gap to the next sample along the route (0 between the two copies of a waypoint)
    gap = np.where(seg[1:] == seg[:-1], np.abs(np.diff(arc)), 0.0)
    half = np.concatenate([[0.0], gap / 2]), np.concatenate([gap / 2, [0.0]])
    rho = np.maximum(*half)
    mid = (tau[1:] + tau[:-1]) / 2
    lo = np.concatenate([[tau[0]], mid])
    hi = np.concatenate([mid, [tau[-1]]])
    return Samples(lon_a, lat_a, ecef(lon_a, lat_a), tau, lo, hi, rho)


@dataclass
class Truth:
    """What the reference knows about one pair: rows of (time range, distance bounds).

    Each row says: at every time of [t_lo, t_hi] the centres may be at most d_hi apart,
    and any separation realised through this row's two samples is at least d_lo. Rows
    cover every way the pair can come within `reach_m` of each other inside `domain`.
    """

    t_lo: np.ndarray
    t_hi: np.ndarray
    d_lo: np.ndarray
    d_hi: np.ndarray
    threshold_m: float
    """Centre separation below which they conflict (H + buffers; buffers for zones)."""
    buffers_m: float
    reach_m: float
    """Rows exist for every pair with d_lo below this; beyond it the reference is blind."""
    domain: Interval = (-math.inf, math.inf)
    """Times for which the rows are complete (a refinement covers only part of time)."""
    blocked: bool = False
    """Vertically separated (or otherwise excluded): never conflicts."""

    @property
    def tol_m(self) -> float:
        return TOL_M + GEO_REL * self.threshold_m

    def sure(self) -> list[Interval]:
        if self.blocked:
            return []
        k = self.d_hi < self.threshold_m - self.tol_m
        return merge(self.t_lo[k], self.t_hi[k])

    def maybe(self) -> list[Interval]:
        if self.blocked:
            return []
        k = self.d_lo < self.threshold_m + self.tol_m
        return merge(self.t_lo[k], self.t_hi[k])

    def decided(self) -> bool | None:
        """True: surely conflicts; False: surely not; None: too close to call."""
        if self.sure():
            return True
        if not self.maybe():
            return False
        return None

    def centre_bounds(self, t0: float, t1: float) -> tuple[float, float]:
        """Bounds on the least centre-to-centre distance over [t0, t1] (negative: inside)."""
        k = (self.t_lo <= t1) & (self.t_hi >= t0)
        lo = min(float(np.min(self.d_lo[k], initial=math.inf)), self.reach_m)
        hi = float(np.min(self.d_hi[k], initial=math.inf))
        return lo, hi

    def reported_bounds(self, t0: float, t1: float) -> tuple[float, float]:
        """Bounds on SPEC's min_distance_m (buffers taken off) over [t0, t1]."""
        lo, hi = self.centre_bounds(t0, t1)
        return max(0.0, lo - self.buffers_m), max(0.0, hi - self.buffers_m)


def distance_to_route_lower(
    m: Movement, lon: float, lat: float, spacing_m: float, window: Interval
) -> float:
    """A lower bound on the distance from (lon, lat) to where m may be during plan times
    inside `window` (inf when the plan misses the window)."""
    s = sample_movement(m, spacing_m, window)
    if s is None:
        return math.inf
    d = geod_distance(s.lon, s.lat, lon, lat)
    return float(np.min(d - s.rho))


def merge(lo: np.ndarray, hi: np.ndarray) -> list[Interval]:
    """Union of closed intervals (touching ones merge), sorted."""
    keep = lo <= hi
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return []
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    run = np.maximum.accumulate(hi)
    start = np.concatenate([[True], lo[1:] > run[:-1]])
    idx = np.flatnonzero(start)
    ends = np.concatenate([idx[1:] - 1, [lo.size - 1]])
    return [(float(lo[a]), float(run[b])) for a, b in zip(idx, ends, strict=True)]


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out = []
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if lo <= hi:
                out.append((lo, hi))
    return out


# --- movement vs movement -------------------------------------------------------------

_BLOCK = 32
MAX_PAIRS = 4_000_000
"""Candidate sample pairs per movement pair before the reference samples coarser (memory
and time stay bounded; the bounds stay rigorous, only looser)."""


class TooDense(Exception):
    """Too many candidate pairs at this spacing: sample coarser."""


def _blocks(s: Samples) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block of _BLOCK consecutive samples: representative xyz, radius, time range."""
    n = len(s)
    starts = np.arange(0, n, _BLOCK)
    rep = s.xyz[starts]
    owner = np.arange(n) // _BLOCK
    r = np.linalg.norm(s.xyz - rep[owner], axis=1)
    radius = np.zeros(len(starts))
    np.maximum.at(radius, owner, r)
    ends = np.minimum(starts + _BLOCK, n) - 1
    return rep, radius, s.lo[starts], s.hi[ends]


def close_pairs(
    a: Samples, b: Samples, slack_s: float, reach_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j) whose supports come within slack_s in time and whose geodesic distance
    minus rho_i + rho_j is below reach_m: returns i, j, D."""
    rep_a, rad_a, t0a, t1a = _blocks(a)
    rep_b, rad_b, t0b, t1b = _blocks(b)
    reach = reach_m + float(a.rho.max()) + float(b.rho.max())
    chord = np.linalg.norm(rep_a[:, None, :] - rep_b[None, :, :], axis=2)
    near = chord - rad_a[:, None] - rad_b[None, :] < reach
    t_gap = np.maximum(t0a[:, None], t0b[None, :]) - np.minimum(t1a[:, None], t1b[None, :])
    near &= t_gap <= slack_s
    bi, bj = np.nonzero(near)
    if len(bi) * _BLOCK**2 > MAX_PAIRS:
        raise TooDense(len(bi) * _BLOCK**2)
    out_i, out_j, out_d = [], [], []
    off = np.arange(_BLOCK)
    # chunks keep memory bounded: each candidate block pair expands to _BLOCK**2 pairs
    for c in range(0, len(bi), 256):
        ii = (bi[c : c + 256, None, None] * _BLOCK + off[None, :, None]).repeat(_BLOCK, 2)
        jj = (bj[c : c + 256, None, None] * _BLOCK + off[None, None, :]).repeat(_BLOCK, 1)
        ii, jj = ii.ravel(), jj.ravel()
        ok = (ii < len(a)) & (jj < len(b))
        ii, jj = ii[ok], jj[ok]
        ok = np.maximum(a.lo[ii], b.lo[jj]) - np.minimum(a.hi[ii], b.hi[jj]) <= slack_s
        ii, jj = ii[ok], jj[ok]
        ok = np.linalg.norm(a.xyz[ii] - b.xyz[jj], axis=1) - a.rho[ii] - b.rho[jj] < reach_m
        ii, jj = ii[ok], jj[ok]
        d = geod_distance(a.lon[ii], a.lat[ii], b.lon[jj], b.lat[jj])
        ok = d - a.rho[ii] - b.rho[jj] < reach_m
        out_i.append(ii[ok])
        out_j.append(jj[ok])
        out_d.append(d[ok])
    if not out_i:
        e = np.zeros(0)
        return e.astype(int), e.astype(int), e
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def movement_pair(
    a: Movement,
    b: Movement,
    policy: Policy,
    spacing_m: float,
    window: Interval | None = None,
) -> Truth:
    """Reference truth for two movements of different parties."""
    threshold = policy.horizontal_m + a.buffer_m + b.buffer_m
    buffers = a.buffer_m + b.buffer_m
    ua, ub = a.time_uncertainty_s, b.time_uncertainty_s
    gap = vertical_gap_m(a, b)
    if abs(gap - policy.vertical_m) <= 10 * TOL_M:
        raise NotImplementedError("reference: vertical gap too close to V to call")
    reach = threshold + TOL_M + GEO_REL * threshold
    empty = np.zeros(0)
    truth = Truth(empty, empty, empty, empty, threshold, buffers, reach,
                  window or (-math.inf, math.inf), blocked=gap >= policy.vertical_m)
    if truth.blocked:
        return truth
    wa = wb = None
    if window is not None:
        wa = (window[0] - ua, window[1] + ua)
        wb = (window[0] - ub, window[1] + ub)
    while True:
        sa, sb = sample_movement(a, spacing_m, wa), sample_movement(b, spacing_m, wb)
        if sa is None or sb is None:
            return truth
        try:
            i, j, d = close_pairs(sa, sb, ua + ub, reach)
            break
        except TooDense:
            spacing_m *= 2
    t_lo = np.maximum(sa.lo[i] - ua, sb.lo[j] - ub)
    t_hi = np.minimum(sa.hi[i] + ua, sb.hi[j] + ub)
    if window is not None:
        t_lo, t_hi = np.maximum(t_lo, window[0]), np.minimum(t_hi, window[1])
    rr = sa.rho[i] + sb.rho[j]
    truth.t_lo, truth.t_hi, truth.d_lo, truth.d_hi = t_lo, t_hi, d - rr, d + rr
    return truth


# --- movement vs area (site or zone) ---------------------------------------------------


def _aeqd(lon0: float, lat0: float) -> Transformer:
    return Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m",
        always_xy=True,
    )


def signed_distance_to_area(
    geometry: shapely.Point | shapely.Polygon, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    """Geodesic distance (m) from points to a point, or signed distance to a polygon with
    geodesic edges (negative inside: minus the distance to its boundary).

    Polygons are measured in an azimuthal equidistant frame centred on their first vertex,
    edges densified along the geodesic every <= 20 m; fine for areas of tens of km."""
    if isinstance(geometry, shapely.Point):
        return geod_distance(lon, lat, geometry.x, geometry.y)
    ring = list(geometry.exterior.coords)
    lon0, lat0 = ring[0]
    pts: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:], strict=True):
        pts.append((x0, y0))
        _, _, length = GEOD.inv(x0, y0, x1, y1)
        n = int(length // 20)
        if n > 0:
            pts.extend(GEOD.npts(x0, y0, x1, y1, n))
    tr = _aeqd(lon0, lat0)
    px, py = tr.transform(*np.array(pts).T)
    poly = shapely.Polygon(np.column_stack([px, py]))
    qx, qy = tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    q = shapely.points(np.column_stack([np.atleast_1d(qx), np.atleast_1d(qy)]))
    dist = shapely.distance(q, poly.exterior)
    inside = shapely.contains(poly, q)
    return np.where(inside, -dist, dist)


def movement_area(
    m: Movement,
    area: Site | Zone,
    policy: Policy,
    spacing_m: float,
    window: Interval | None = None,
) -> Truth:
    """Reference truth for a movement and another party's site or zone: for a restricted
    zone when they conflict, for a corridor or ceasefire when the movement crosses it
    (same rule: the movement may touch it, bands overlapping)."""
    is_zone = isinstance(area, Zone)
    buffers = m.buffer_m + area.buffer_m
    if is_zone:
        threshold = buffers  # touching counts; SPEC's 1 mm tolerance makes <= and < agree
        blocked = vertical_gap_m(m, area) > 0
    else:
        threshold = policy.horizontal_m + buffers
        gap = vertical_gap_m(m, area)
        if abs(gap - policy.vertical_m) <= 10 * TOL_M:
            raise NotImplementedError("reference: vertical gap too close to V to call")
        blocked = gap >= policy.vertical_m
    reach = threshold + TOL_M + GEO_REL * threshold
    empty = np.zeros(0)
    truth = Truth(empty, empty, empty, empty, threshold, buffers, reach,
                  window or (-math.inf, math.inf), blocked=blocked)
    u = m.time_uncertainty_s
    valid = (area.start_s, area.end_s)
    w = (valid[0] - u, valid[1] + u)
    if window is not None:
        w = (max(w[0], window[0] - u), min(w[1], window[1] + u))
    s = None if blocked else sample_movement(m, spacing_m, w)
    if s is None:
        return truth
    d = signed_distance_to_area(area.geometry, s.lon, s.lat)
    keep = d - s.rho < reach
    t_lo = np.maximum(s.lo[keep] - u, valid[0])
    t_hi = np.minimum(s.hi[keep] + u, valid[1])
    if window is not None:
        t_lo, t_hi = np.maximum(t_lo, window[0]), np.minimum(t_hi, window[1])
    rho = s.rho[keep]
    truth.t_lo, truth.t_hi = t_lo, t_hi
    truth.d_lo, truth.d_hi = d[keep] - rho, d[keep] + rho
    return truth


def refine(
    truth: Truth,
    compute,  # type: ignore[no-untyped-def]
    spacing_m: float,
    rounds: int = 2,
    factor: float = 8.0,
) -> Truth:
    """Resample a pair the reference cannot call, finer, over the times it might conflict.

    `compute(spacing_m, window)` recomputes the truth inside the window; the window is the
    hull of the coarser pass's "maybe" set, so every true conflict time lies inside it."""
    for _ in range(rounds):
        if truth.decided() is not None:
            return truth
        maybe = truth.maybe()
        window = (maybe[0][0], maybe[-1][1])
        spacing_m /= factor
        truth = compute(spacing_m, window)
    return truth

"""Sites and zones against movement segments, each area in its own local frame.

An area is projected once into an azimuthal equidistant frame centred on it (pyproj), where
distances from the centre are exact and distortion stays under 0.04 % out to 300 km. For
candidate segments, shapely gives the exact least distance and the stretch of the segment
that comes within reach; both are vectorised over the segments of one area.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

from deconflict.geo.densify import densify_track
from deconflict.geo.ellipsoid import MEAN_RADIUS_M, FloatArray, to_ecef
from deconflict.model import Site, Zone

IntArray = npt.NDArray[np.int64]
Within = Callable[[FloatArray, npt.NDArray[np.int64]], npt.NDArray[np.bool_]]

TOLERANCE_M = 1e-3
_QUAD_SEGS = 64  # buffer circle: 256 chords


@dataclass
class AreaEntry:
    """An indexed site or zone with its local frame."""

    slot: int
    decl: Site | Zone
    to_local: Transformer
    to_lonlat: Transformer
    shape: shapely.Geometry
    """The geometry in the local frame, metres, edges densified along geodesics."""
    box_lo: FloatArray
    """(3,) Earth-centred bounding box of the geometry."""
    box_hi: FloatArray
    _buffered: dict[float, shapely.Geometry] = field(default_factory=dict)

    def reach_region(self, reach_m: float) -> shapely.Geometry:
        if reach_m <= TOLERANCE_M:
            # Within the tolerance the shape itself is the region (and GEOS returns an empty
            # polygon for vanishing buffer distances).
            return self.shape
        region = self._buffered.get(reach_m)
        if region is None:
            # Circumscribed, not inscribed: the chords lie outside the true rounded edge, so
            # an interval can only come out longer (by < 0.008 % of the reach), never shorter.
            region = self._buffered[reach_m] = shapely.buffer(
                self.shape, reach_m / math.cos(math.pi / (4 * _QUAD_SEGS)), quad_segs=_QUAD_SEGS
            )
        return region


def make_area(slot: int, decl: Site | Zone) -> AreaEntry:
    geom = decl.geometry
    if isinstance(geom, shapely.Point):
        lon0, lat0 = geom.x, geom.y
        rings: list[FloatArray] = [np.array([[lon0, lat0]])]
    else:
        c = geom.centroid
        lon0, lat0 = c.x, c.y
        rings = [np.asarray(geom.exterior.coords)[:, :2]]
        rings += [np.asarray(r.coords)[:, :2] for r in geom.interiors]
    crs = f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +ellps=WGS84 +units=m +no_defs"
    to_local = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    local_rings = []
    all_pts = []
    for ring in rings:
        lon, lat, _, _ = densify_track(ring[:, 0], ring[:, 1], np.zeros(len(ring)))
        all_pts.append(np.stack([lon, lat], axis=1))
        x, y = to_local.transform(lon, lat)
        local_rings.append(np.stack([x, y], axis=1))
    if isinstance(geom, shapely.Point):
        shape: shapely.Geometry = shapely.Point(0.0, 0.0)
    else:
        shape = shapely.Polygon(local_rings[0], local_rings[1:])
    pts = np.concatenate(all_pts)
    xyz = to_ecef(pts[:, 0], pts[:, 1])
    lo = xyz.min(axis=0)
    hi = xyz.max(axis=0)
    # The surface bulges above the chord box of a wide area by up to diag^2 / 8R.
    sag = float(np.sum((hi - lo) ** 2)) / (8 * MEAN_RADIUS_M) + 1.0
    return AreaEntry(slot, decl, to_local, to_lonlat, shape, lo - sag, hi + sag)


@dataclass(frozen=True)
class AreaHits:
    """Stretches of segments within reach of one area, one row per stretch: when (in the
    unit's own plan time) it is within reach, and its own closest approach."""

    row: IntArray
    """Segment row (into the query arrays) the stretch lies on."""
    t_lo: FloatArray
    t_hi: FloatArray
    distance_m: FloatArray
    """Least distance of the stretch to the area, centre line, buffers not subtracted."""
    at: FloatArray
    """(n, 2) lon, lat of the midpoint of that closest approach."""


def near_times(
    area: AreaEntry,
    ll: FloatArray,
    t: FloatArray,
    reach_m: FloatArray,
    closed: bool,
    t_min: FloatArray,
    t_max: FloatArray,
) -> AreaHits:
    """Stretches of segments (lon/lat ends `ll`, times `t`) whose distance to the area is
    below `reach_m` (or at most, if `closed`), restricted to plan times [t_min, t_max]."""
    dur = t[:, 1] - t[:, 0]
    moving = dur > 0
    safe = np.where(moving, dur, 1.0)
    s_lo = np.where(moving, np.clip((t_min - t[:, 0]) / safe, 0, 1), 0.0)
    s_hi = np.where(moving, np.clip((t_max - t[:, 0]) / safe, 0, 1), 1.0)
    live = (t[:, 1] >= t_min) & (t[:, 0] <= t_max) & (s_lo <= s_hi)
    x0, y0 = area.to_local.transform(ll[:, 0], ll[:, 1])
    x1, y1 = area.to_local.transform(ll[:, 2], ll[:, 3])
    p0 = np.stack([x0, y0], axis=1)
    p1 = np.stack([x1, y1], axis=1)
    q0 = p0 + s_lo[:, None] * (p1 - p0)
    q1 = p0 + s_hi[:, None] * (p1 - p0)
    length = np.linalg.norm(q1 - q0, axis=1)
    point_like = length < 1e-6
    geoms = np.empty(len(ll), dtype=object)
    geoms[point_like] = shapely.points(q0[point_like])
    geoms[~point_like] = shapely.linestrings(np.stack([q0[~point_like], q1[~point_like]], axis=1))
    dist = shapely.distance(geoms, area.shape)
    within = _within(reach_m, closed)
    hit = live & within(dist, np.arange(len(ll)))
    rows = np.flatnonzero(hit)
    if rows.size == 0:
        z = np.zeros(0)
        return AreaHits(np.zeros(0, dtype=np.int64), z, z, z, np.zeros((0, 2)))
    # A leg under a micrometre (a repeated waypoint with coordinate noise) is a halt: it
    # occupies one place for its whole duration, the same for every test below.
    vec = np.where(point_like[:, None], 0.0, q1 - q0)
    len2 = np.einsum("ij,ij->i", vec, vec)
    if isinstance(area.shape, shapely.Point):
        piece_row, piece_a, piece_b = _point_pieces(q0, vec, len2, reach_m, rows)
    else:
        piece_row, piece_a, piece_b = _polygon_pieces(area, geoms, q0, vec, len2, reach_m, rows)
    # Each piece measured exactly on its own stretch: phantom pieces of the drawn (grown)
    # polygon are dropped, and distance and point of closest approach are the piece's own.
    pa = q0[piece_row] + piece_a[:, None] * vec[piece_row]
    pb = q0[piece_row] + piece_b[:, None] * vec[piece_row]
    d_piece, ends = _distance_and_nearest(area.shape, pa, pb)
    keep = within(d_piece, piece_row)
    piece_row, piece_a, piece_b = piece_row[keep], piece_a[keep], piece_b[keep]
    d_piece, ends = d_piece[keep], ends[keep]
    if not isinstance(area.shape, shapely.Point) and piece_row.size:
        s_in = np.clip(
            np.einsum("ij,ij->i", ends[:, 0] - q0[piece_row], vec[piece_row])
            / np.where(len2[piece_row] > 0, len2[piece_row], 1.0),
            piece_a,
            piece_b,
        )
        piece_a = _refine_end(area.shape, q0, vec, piece_row, piece_a, s_in, within)
        piece_b = _refine_end(area.shape, q0, vec, piece_row, piece_b, s_in, within)
    mid = ends.mean(axis=1)
    at_lon, at_lat = area.to_lonlat.transform(mid[:, 0], mid[:, 1])
    # Back from the clipped sub-segment's parameter to plan time.
    r = piece_row
    full_a = s_lo[r] + piece_a * (s_hi[r] - s_lo[r])
    full_b = s_lo[r] + piece_b * (s_hi[r] - s_lo[r])
    t_lo = np.where(moving[r], t[r, 0] + full_a * dur[r], np.maximum(t[r, 0], t_min[r]))
    t_hi = np.where(moving[r], t[r, 0] + full_b * dur[r], np.minimum(t[r, 1], t_max[r]))
    return AreaHits(r, t_lo, t_hi, d_piece, np.stack([at_lon, at_lat], axis=1))


def _within(reach_m: FloatArray, closed: bool) -> Within:
    """The decision rule: below the reach by more than the tolerance, or (closed: touching
    counts) not beyond it by more than the tolerance."""

    def within(dist: FloatArray, rows: IntArray) -> npt.NDArray[np.bool_]:
        r = reach_m[rows]
        ok: npt.NDArray[np.bool_] = dist <= r + TOLERANCE_M if closed else dist < r - TOLERANCE_M
        return ok

    return within


def _point_pieces(
    q0: FloatArray, vec: FloatArray, len2: FloatArray, reach_m: FloatArray, rows: IntArray
) -> tuple[IntArray, FloatArray, FloatArray]:
    """A point sits at its own frame's origin, where distances are exact: solve
    |q0 + s v| < reach in closed form."""
    q = q0[rows]
    a2 = len2[rows]
    b2 = 2.0 * np.einsum("ij,ij->i", q, vec[rows])
    c2 = np.einsum("ij,ij->i", q, q) - reach_m[rows] ** 2
    sq = np.sqrt(np.maximum(b2 * b2 - 4 * a2 * c2, 0.0))
    safe = np.where(a2 > 0, 2 * a2, 1.0)
    lo = np.where(a2 > 0, (-b2 - sq) / safe, 0.0)
    hi = np.where(a2 > 0, (-b2 + sq) / safe, 1.0)
    return rows, np.clip(lo, 0, 1), np.clip(hi, 0, 1)


def _polygon_pieces(
    area: AreaEntry,
    geoms: npt.NDArray[np.object_],
    q0: FloatArray,
    vec: FloatArray,
    len2: FloatArray,
    reach_m: FloatArray,
    rows: IntArray,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """First guess of the stretches within reach: the segment cut by the polygon grown by
    the reach (drawn with chords, so a guess to be refined on exact distances)."""
    out_row: list[IntArray] = []
    out_a: list[FloatArray] = []
    out_b: list[FloatArray] = []
    for reach in np.unique(reach_m[rows]):
        g_rows = rows[reach_m[rows] == reach]
        pieces = shapely.intersection(geoms[g_rows], area.reach_region(float(reach)))
        parts, which = shapely.get_parts(pieces, return_index=True)
        found = np.zeros(g_rows.size, dtype=bool)
        if parts.size:
            coords, cidx = shapely.get_coordinates(parts, return_index=True)
            first = np.searchsorted(cidx, np.arange(parts.size), side="left")
            last = np.searchsorted(cidx, np.arange(parts.size), side="right") - 1
            ok = last >= first
            r = g_rows[which[ok]]
            l2 = np.where(len2[r] > 0, len2[r], 1.0)
            a = np.einsum("ij,ij->i", coords[first[ok]] - q0[r], vec[r]) / l2
            b = np.einsum("ij,ij->i", coords[last[ok]] - q0[r], vec[r]) / l2
            a, b = (
                np.where(len2[r] > 0, np.minimum(a, b), 0.0),
                np.where(len2[r] > 0, np.maximum(a, b), 1.0),
            )
            out_row.append(r)
            out_a.append(np.clip(a, 0, 1))
            out_b.append(np.clip(b, 0, 1))
            found[which[ok]] = True
        # Within reach by exact distance yet missed by the chords: start from the closest
        # point, which the refinement below grows into the true stretch.
        missed = g_rows[~found]
        if missed.size:
            ends = shapely.get_coordinates(shapely.shortest_line(geoms[missed], area.shape))
            near = ends.reshape(-1, 2, 2)[:, 0]
            l2 = np.where(len2[missed] > 0, len2[missed], 1.0)
            s = np.clip(np.einsum("ij,ij->i", near - q0[missed], vec[missed]) / l2, 0, 1)
            out_row.append(missed)
            out_a.append(s)
            out_b.append(s)
    return np.concatenate(out_row), np.concatenate(out_a), np.concatenate(out_b)


def _distance_and_nearest(
    shape: shapely.Geometry, pa: FloatArray, pb: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Exact least distance from each stretch pa-pb to the shape, and (n, 2, 2) ends of
    the shortest line (on the stretch, on the shape)."""
    if pa.shape[0] == 0:
        return np.zeros(0), np.zeros((0, 2, 2))
    degenerate = np.all(np.abs(pb - pa) < 1e-9, axis=1)
    geoms = np.empty(pa.shape[0], dtype=object)
    geoms[degenerate] = shapely.points(pa[degenerate])
    geoms[~degenerate] = shapely.linestrings(np.stack([pa[~degenerate], pb[~degenerate]], 1))
    dist = np.asarray(shapely.distance(geoms, shape), dtype=np.float64)
    ends = shapely.get_coordinates(shapely.shortest_line(geoms, shape)).reshape(-1, 2, 2)
    return dist, ends


def _refine_end(
    shape: shapely.Geometry,
    q0: FloatArray,
    vec: FloatArray,
    rows: IntArray,
    end: FloatArray,
    inside: FloatArray,
    within: Within,
) -> FloatArray:
    """Move each piece end onto the exact edge of the reach: bisect on the exact distance
    between the guessed end and a point known to be within reach (to 1e-9 of the leg)."""
    out = end.copy()

    def ok(s: FloatArray, idx: IntArray) -> npt.NDArray[np.bool_]:
        pts = shapely.points(q0[rows[idx]] + s[:, None] * vec[rows[idx]])
        result: npt.NDArray[np.bool_] = within(
            np.asarray(shapely.distance(pts, shape), dtype=np.float64), rows[idx]
        )
        return result

    todo = np.flatnonzero(~ok(end, np.arange(end.size)))
    out_s, in_s = end[todo], inside[todo]
    for _ in range(34):
        if todo.size == 0:
            break
        mid = 0.5 * (out_s + in_s)
        good = ok(mid, todo)
        in_s = np.where(good, mid, in_s)
        out_s = np.where(good, out_s, mid)
    out[todo] = in_s
    return out

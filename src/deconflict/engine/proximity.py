"""Pairs of units that are, or will be within the look-ahead, within H: each unit hashed
once to a grid cell of its current position, neighbouring cells compared, closest point of
approach on the candidates, all vectorised.

Units are bucketed by speed class. Two units that come within H over [now, now + T] are
now within H + (|v_a| + |v_b|) T of each other; within a bucket whose fastest unit has
speed S that is at most H + 2 S T, the bucket's cell size, so the pair lies in the 3 x 3
neighbourhood of cells. A cross-bucket pair is looked for in the faster bucket's grid
(where the slower unit is hashed as data too). Altitude is a third key, in bands of V:
units more than one band apart never pair. Each unordered pair is emitted once (by bucket,
then by unit order within a bucket), so there is nothing to deduplicate: cost is
O(units x buckets + candidate pairs), candidates grouped in chunks to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deconflict.engine.tracks import BoolArray, IntArray
from deconflict.geo.ellipsoid import FloatArray

SPEED_EDGES_MPS = (0.5, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
"""Upper bounds of the speed classes (the last class is open-ended); performance only."""

_CHUNK = 1 << 21  # candidate pairs evaluated at once
_E = np.zeros(0, np.int64)


@dataclass(frozen=True)
class PairResult:
    """Candidate pairs within reach, row-aligned (i < j as unit numbers), sorted by
    (i, j)."""

    i: IntArray
    j: IntArray
    distance_m: FloatArray
    """Horizontal distance now."""
    cpa_dt_s: FloatArray
    """Seconds from now to the closest approach over [0, look-ahead]."""
    cpa_distance_m: FloatArray
    vertical_m: FloatArray


def _cells(
    p: FloatArray, alt: FloatArray, cell_m: float, band_m: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Integer (x cell, y cell, altitude band) of every point."""
    cx = np.floor(p[:, 0] / cell_m).astype(np.int64)
    cy = np.floor(p[:, 1] / cell_m).astype(np.int64)
    cb = np.floor(alt / band_m).astype(np.int64)
    return cx, cy, cb


def neighbour_pairs(
    p: FloatArray,
    alt: FloatArray,
    query: IntArray,
    data: IntArray,
    cell_m: float,
    band_m: float,
) -> list[tuple[IntArray, IntArray]]:
    """(q, d) row pairs, q from `query` and d from `data` (both row numbers of `p`), whose
    x, y cells (size `cell_m`) and altitude bands (size `band_m`) differ by at most one.
    `query` must be a subset of `data`: a pair of two query rows is emitted once (q < d).
    Returned in chunks of at most about `_CHUNK` pairs."""
    if query.size == 0 or data.size < 2:
        return []
    cx, cy, cb = _cells(p[data], alt[data], cell_m, band_m)
    x0, y0, b0 = int(cx.min()) - 1, int(cy.min()) - 1, int(cb.min()) - 1
    ny = int(cy.max()) - y0 + 2
    nb = int(cb.max()) - b0 + 2
    nx = int(cx.max()) - x0 + 2
    if float(nx) * ny * nb >= 2.0**62:  # coarser keys stay correct, only looser
        raise OverflowError("grid too fine for 64-bit keys")
    # Key order (band, x, y): the three y cells of one (band, x) are one key range.
    keys = ((cb - b0) * nx + (cx - x0)) * ny + (cy - y0)
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    sdata = data[order]
    is_query = np.zeros(p.shape[0], np.bool_)
    is_query[query] = True
    where = np.full(p.shape[0], -1, np.int64)
    where[data] = np.arange(data.size)
    qk = keys[where[query]]
    lo_parts, hi_parts = [], []
    for db in (-1, 0, 1):
        for dx in (-1, 0, 1):
            base = qk + (db * nx + dx) * ny
            lo_parts.append(np.searchsorted(skeys, base - 1, "left"))
            hi_parts.append(np.searchsorted(skeys, base + 1, "right"))
    lo = np.stack(lo_parts, axis=1).ravel()
    hi = np.stack(hi_parts, axis=1).ravel()
    qrow = np.repeat(query, 9)
    counts = hi - lo
    nz = counts > 0
    lo, counts, qrow = lo[nz], counts[nz], qrow[nz]
    out: list[tuple[IntArray, IntArray]] = []
    ends = np.cumsum(counts)
    start = 0
    while start < counts.size:
        base_total = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, base_total + _CHUNK, "right"))
        stop = max(stop, start + 1)
        c = counts[start:stop]
        total = int(c.sum())
        first = np.cumsum(c) - c
        pos = np.repeat(lo[start:stop] - first, c) + np.arange(total)
        q = np.repeat(qrow[start:stop], c)
        d = sdata[pos]
        keep = ~is_query[d] | (q < d)
        out.append((q[keep], d[keep]))
        start = stop
    return out


def find_pairs(
    units: IntArray,
    p: FloatArray,
    v: FloatArray,
    alt: FloatArray,
    party: IntArray,
    h_m: float,
    v_m: float,
    look_ahead_s: float,
    cell_m: float = 0.0,
) -> PairResult:
    """Pairs of `units` (positions `p` and velocities `v` now, frame metres) of different
    parties that are within V vertically and come within H over [now, now + look-ahead].
    Returns unit numbers from `units`. `cell_m` is a lower bound on the cell size (0: the
    speed classes decide)."""
    n = units.size
    if n < 2 or h_m <= 0 or v_m <= 0:
        return PairResult(_E, _E, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    speed = np.linalg.norm(v, axis=1)
    bucket = np.searchsorted(np.asarray(SPEED_EDGES_MPS), speed, "left")
    rows = np.arange(n)
    a_parts: list[IntArray] = []
    b_parts: list[IntArray] = []
    dt_parts: list[FloatArray] = []
    dc_parts: list[FloatArray] = []
    d_parts: list[FloatArray] = []
    seen = np.zeros(n, np.bool_)
    fastest = 0.0
    # Bands coarse enough for 64-bit keys: altitudes are within (-1 km, 100 km).
    band_m = max(v_m, 1e-3 * (float(alt.max()) - float(alt.min())) + 1e-9)
    for b in np.unique(bucket).tolist():
        query = rows[bucket == b]
        seen[query] = True
        fastest = max(fastest, float(speed[query].max()))
        cell = max(cell_m, h_m + 2.0 * fastest * look_ahead_s) * (1.0 + 1e-9) + 1e-6
        extent = float(np.ptp(p[seen, :2])) if seen.sum() > 1 else 0.0
        cell = max(cell, extent / 2.0**20)
        for qa, qb in neighbour_pairs(p, alt, query, rows[seen], cell, band_m):
            keep = (party[qa] != party[qb]) & (np.abs(alt[qa] - alt[qb]) < v_m)
            qa, qb = qa[keep], qb[keep]
            d0 = p[qa] - p[qb]
            dv = v[qa] - v[qb]
            vv = np.einsum("ij,ij->i", dv, dv)
            dd = np.einsum("ij,ij->i", d0, d0)
            # Relative-motion bound before the closest approach: |d0| < H + |dv| T.
            reach = h_m + np.sqrt(vv) * look_ahead_s
            keep = dd < reach * reach
            qa, qb, d0, dv, vv = qa[keep], qb[keep], d0[keep], dv[keep], vv[keep]
            with np.errstate(invalid="ignore", divide="ignore"):
                tc = np.where(
                    vv > 1e-12, -np.einsum("ij,ij->i", d0, dv) / np.where(vv > 0, vv, 1.0), 0.0
                )
            tc = np.clip(tc, 0.0, look_ahead_s)
            dmin = np.linalg.norm(d0 + tc[:, None] * dv, axis=1)
            near: BoolArray = dmin < h_m
            a_parts.append(qa[near])
            b_parts.append(qb[near])
            dt_parts.append(tc[near])
            dc_parts.append(dmin[near])
            d_parts.append(np.linalg.norm(d0[near], axis=1))
    if not a_parts:
        return PairResult(_E, _E, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    a = np.concatenate(a_parts)
    b = np.concatenate(b_parts)
    ua, ub = units[a], units[b]
    i = np.minimum(ua, ub)
    j = np.maximum(ua, ub)
    order = np.lexsort((j, i))
    return PairResult(
        i=i[order],
        j=j[order],
        distance_m=np.concatenate(d_parts)[order],
        cpa_dt_s=np.concatenate(dt_parts)[order],
        cpa_distance_m=np.concatenate(dc_parts)[order],
        vertical_m=np.abs(alt[a] - alt[b])[order],
    )

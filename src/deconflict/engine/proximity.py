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

_SPAN = 3  # cells of reach / _SPAN, neighbourhood of (2 _SPAN + 1)^2: fewer candidates
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
    span: int = 1,
) -> list[tuple[IntArray, IntArray]]:
    """(q, d) row pairs, q from `query` and d from `data` (row numbers of `p`), whose x, y
    cells (size `cell_m`) differ by at most `span` and altitude bands (size `band_m`) by
    at most one. When
    `query` is `data` (the same array) each unordered pair is emitted once (q < d).
    Returned in chunks of at most about `_CHUNK` pairs."""
    same = query is data
    if query.size == 0 or data.size == 0 or (same and data.size < 2):
        return []
    dx_, dy_, db_ = _cells(p[data], alt[data], cell_m, band_m)
    qx, qy, qb = (dx_, dy_, db_) if same else _cells(p[query], alt[query], cell_m, band_m)
    x0 = min(int(dx_.min()), int(qx.min())) - span
    y0 = min(int(dy_.min()), int(qy.min())) - span
    b0 = min(int(db_.min()), int(qb.min())) - 1
    nx = max(int(dx_.max()), int(qx.max())) - x0 + 1 + span
    ny = max(int(dy_.max()), int(qy.max())) - y0 + 1 + span
    nb = max(int(db_.max()), int(qb.max())) - b0 + 2
    if float(nx) * ny * nb >= 2.0**62:
        raise OverflowError("grid too fine for 64-bit keys")
    # Key order (band, x, y): the y cells of one (band, x) are one key range.
    keys = ((db_ - b0) * nx + (dx_ - x0)) * ny + (dy_ - y0)
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    sdata = data[order]
    qk = keys if same else ((qb - b0) * nx + (qx - x0)) * ny + (qy - y0)
    # Ranges per occupied query cell, then per query unit.
    cells, inverse = np.unique(qk, return_inverse=True)
    lo_parts, hi_parts = [], []
    for db in (-1, 0, 1):
        for dx in range(-span, span + 1):
            base = cells + (db * nx + dx) * ny
            lo_parts.append(np.searchsorted(skeys, base - span, "left"))
            hi_parts.append(np.searchsorted(skeys, base + span, "right"))
    lo_c = np.stack(lo_parts, axis=1)
    hi_c = np.stack(hi_parts, axis=1)
    lo = lo_c[inverse].ravel()
    counts = (hi_c - lo_c)[inverse].ravel()
    qrow = np.repeat(query, len(lo_parts))
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
        if same:
            keep = q < d
            q, d = q[keep], d[keep]
        out.append((q, d))
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
    # Bands coarse enough for 64-bit keys: altitudes are within (-1 km, 100 km).
    band_m = max(v_m, 1e-3 * (float(alt.max()) - float(alt.min())) + 1e-9)
    extent = float(np.ptp(p[:, :2])) / 2.0**20
    xys = np.column_stack([p[:, :2], speed])  # one row gather per candidate side
    classes = [rows[bucket == b] for b in np.unique(bucket).tolist()]
    top = [float(speed[c].max()) for c in classes]
    for kb, query in enumerate(classes):
        for ka in range(kb + 1):
            data = query if ka == kb else classes[ka]
            # Within H over the look-ahead => now within H + (|v_a| + |v_b|) T.
            reach = h_m + (top[ka] + top[kb]) * look_ahead_s
            cell = max(cell_m, reach * (1.0 + 1e-9) / _SPAN + 1e-6, extent)
            for qa, qb in neighbour_pairs(p, alt, query, data, cell, band_m, _SPAN):
                ea, eb = xys[qa], xys[qb]
                dx = ea[:, 0] - eb[:, 0]
                dy = ea[:, 1] - eb[:, 1]
                r = h_m + (ea[:, 2] + eb[:, 2]) * look_ahead_s
                keep = dx * dx + dy * dy < r * r
                qa, qb = qa[keep], qb[keep]
                keep = (party[qa] != party[qb]) & (np.abs(alt[qa] - alt[qb]) < v_m)
                qa, qb = qa[keep], qb[keep]
                d0 = p[qa] - p[qb]
                dv = v[qa] - v[qb]
                vv = np.einsum("ij,ij->i", dv, dv)
                with np.errstate(invalid="ignore", divide="ignore"):
                    tc = np.where(
                        vv > 1e-12,
                        -np.einsum("ij,ij->i", d0, dv) / np.where(vv > 0, vv, 1.0),
                        0.0,
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

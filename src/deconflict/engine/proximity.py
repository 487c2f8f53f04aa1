"""Pairs of units that are, or will be within the look-ahead, within H: grid hashing of
each unit's swept box, then closest point of approach on the candidates, all vectorised.

Each unit's box covers its linear extrapolation over [now, now + look-ahead] widened by
H/2; two units that ever come within H have overlapping boxes, so they share a cell. With
cells sized for the usual reach a box spans a few cells: cost O(units + candidate pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deconflict.engine.tracks import BoolArray, IntArray
from deconflict.geo.ellipsoid import FloatArray

_BITS = 21
_MASK = (1 << _BITS) - 1


@dataclass(frozen=True)
class PairResult:
    """Candidate pairs within reach, row-aligned (i < j as unit numbers)."""

    i: IntArray
    j: IntArray
    distance_m: FloatArray
    """Horizontal distance now."""
    cpa_dt_s: FloatArray
    """Seconds from now to the closest approach over [0, look-ahead]."""
    cpa_distance_m: FloatArray
    vertical_m: FloatArray


def cell_keys(lo: FloatArray, hi: FloatArray, cell_m: float) -> tuple[IntArray, IntArray]:
    """(key, box) for every cell each (n, 3) box overlaps. Keys wrap at 2^21 cells per axis:
    a shared key between far cells only adds a candidate, never loses one."""
    ilo = np.floor(lo / cell_m).astype(np.int64)
    ihi = np.floor(hi / cell_m).astype(np.int64)
    span = ihi - ilo + 1
    counts = np.prod(span, axis=1)
    box = np.repeat(np.arange(lo.shape[0]), counts)
    total = int(counts.sum())
    if total == lo.shape[0]:  # the common case: every box in one cell
        idx = ilo
    else:
        offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        idx = np.empty((total, 3), np.int64)
        for dim in range(3):
            s = span[box, dim]
            idx[:, dim] = ilo[box, dim] + offset % s
            offset //= s
    keys = (
        ((idx[:, 0] & _MASK) << (2 * _BITS)) | ((idx[:, 1] & _MASK) << _BITS) | (idx[:, 2] & _MASK)
    )
    return keys, box


def co_cell_pairs(keys: IntArray, item: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct (a, b) item pairs, a < b, that share a key. O(entries log entries + pairs)."""
    order = np.lexsort((item, keys))
    keys = keys[order]
    item = item[order]
    n = keys.size
    if n < 2:
        e = np.zeros(0, np.int64)
        return e, e
    new = np.ones(n, np.bool_)
    new[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, n))
    group_end = np.repeat(starts + sizes, sizes)
    reps = group_end - 1 - np.arange(n)  # later entries of the same cell
    left = np.repeat(np.arange(n), reps)
    step = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
    right = left + 1 + step
    a = item[left]
    b = item[right]
    keep = a != b
    a, b = a[keep], b[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    packed = np.unique(lo * (1 << 31) + hi)
    return packed >> 31, packed & ((1 << 31) - 1)


def find_pairs(
    units: IntArray,
    p: FloatArray,
    v: FloatArray,
    alt: FloatArray,
    party: IntArray,
    h_m: float,
    v_m: float,
    look_ahead_s: float,
    cell_m: float,
) -> PairResult:
    """Pairs of `units` (positions `p` and velocities `v` now, frame metres) of different
    parties that are within V vertically and come within H over [now, now + look-ahead].
    Returns unit numbers from `units`."""
    end = p + v * look_ahead_s
    pad = h_m / 2.0 + 1.0
    lo = np.minimum(p, end) - pad
    hi = np.maximum(p, end) + pad
    keys, box = cell_keys(lo, hi, cell_m)
    a, b = co_cell_pairs(keys, box)
    keep = (party[a] != party[b]) & (np.abs(alt[a] - alt[b]) < v_m)
    a, b = a[keep], b[keep]
    d0 = p[a] - p[b]
    dv = v[a] - v[b]
    vv = np.einsum("ij,ij->i", dv, dv)
    with np.errstate(invalid="ignore", divide="ignore"):
        tc = np.where(vv > 1e-12, -np.einsum("ij,ij->i", d0, dv) / np.where(vv > 0, vv, 1.0), 0.0)
    tc = np.clip(tc, 0.0, look_ahead_s)
    dmin = np.linalg.norm(d0 + tc[:, None] * dv, axis=1)
    near: BoolArray = dmin < h_m
    a, b = a[near], b[near]
    ua, ub = units[a], units[b]
    swap = ua > ub
    i = np.where(swap, ub, ua)
    j = np.where(swap, ua, ub)
    return PairResult(
        i=i,
        j=j,
        distance_m=np.linalg.norm(d0[near], axis=1),
        cpa_dt_s=tc[near],
        cpa_distance_m=dmin[near],
        vertical_m=np.abs(alt[a] - alt[b]),
    )

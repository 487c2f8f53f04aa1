"""Per-segment-pair findings merged into one record per maximal interval per pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.geo.ellipsoid import FloatArray

IntArray = npt.NDArray[np.int64]

MERGE_GAP_S = 1e-3
"""Intervals closer than this (rounding between consecutive segments) are one interval."""


@dataclass(frozen=True)
class Findings:
    """Flat arrays, one row per (segment pair or segment-area) finding."""

    a: IntArray
    """Slot of the first declaration (-1: the declaration being checked, not indexed)."""
    b: IntArray
    start: FloatArray
    end: FloatArray
    distance_m: FloatArray
    """Least centre distance minus the buffers: negative where the buffers overlap. Kept
    signed so that merging picks the true closest approach even when buffers cover it."""
    at: FloatArray

    @staticmethod
    def concat(parts: list[Findings]) -> Findings:
        if not parts:
            z = np.zeros(0)
            zi = np.zeros(0, dtype=np.int64)
            return Findings(zi, zi, z, z, z, np.zeros((0, 2)))
        return Findings(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("a", "b", "start", "end", "distance_m", "at")
            )
        )


def merge(f: Findings) -> Findings:
    """One row per pair and maximal interval: earliest start, latest end, least distance
    (with its point). Vectorised: O(n log n) for the sort, no Python loop."""
    n = f.a.size
    if n == 0:
        return f
    order = np.lexsort((f.start, f.b, f.a))
    a, b = f.a[order], f.b[order]
    start, end = f.start[order], f.end[order]
    new_pair = np.ones(n, dtype=bool)
    new_pair[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    pair_id = np.cumsum(new_pair) - 1
    # Running max of `end` within each pair, in integer microseconds offset per pair so
    # one accumulate serves all pairs without crossing between them.
    t0 = float(start.min())
    span = int(np.ceil((float(end.max()) - t0) * 1e6)) + 2
    end_us = np.round((end - t0) * 1e6).astype(np.int64) + pair_id * span
    start_us = np.round((start - t0) * 1e6).astype(np.int64) + pair_id * span
    run_max = np.maximum.accumulate(end_us)
    new_iv = new_pair.copy()
    new_iv[1:] |= start_us[1:] > run_max[:-1] + int(MERGE_GAP_S * 1e6)
    iv = np.cumsum(new_iv) - 1
    heads = np.flatnonzero(new_iv)
    m_start = np.minimum.reduceat(start, heads)
    m_end = np.maximum.reduceat(end, heads)
    dist = f.distance_m[order]
    best = np.lexsort((dist, iv))
    first = best[np.searchsorted(iv[best], np.arange(heads.size))]
    return Findings(a[heads], b[heads], m_start, m_end, dist[first], f.at[order][first])

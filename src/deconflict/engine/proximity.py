"""Pairs of units that are, or will be within the look-ahead, within H: each unit hashed
once to a grid cell of where it will be half-way through the look-ahead, neighbouring
cells joined, closest point of approach on the candidates, all vectorised.

Units are bucketed by speed class. Two units that come within H at some t in [0, T] are
at T/2 within H + (|v_a| + |v_b|) T/2 of each other, at most the reach of their two
classes; a class pair is joined on a grid whose cells are a third of that reach, through
the cells that can hold a point within reach. Altitude is a third key, in bands of V:
units more than one band apart never pair. Each unordered pair is emitted once (within a
class, only the forward half of the neighbourhood is searched), so there is nothing to
deduplicate. Candidates are screened in float32 with a margin far above its rounding
(relative motion bound, party, altitude, closest approach in the plane); the few that pass
are decided by the exact float64 closest approach from the positions now. Cost is
O(units x class pairs + candidate pairs), candidates in chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.engine.tracks import BoolArray, IntArray
from deconflict.geo.ellipsoid import FloatArray

SPEED_EDGES_MPS = (0.5, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
"""Upper bounds of the speed classes (the last class is open-ended); performance only."""

_SPAN = 3  # cells of reach / _SPAN: a disc of 7 x 7 cells at most, fewer candidates
_CHUNK = 1 << 18  # candidate pairs screened at once
_TABLE = 1 << 21  # cells of a grid small enough for a table of where each cell starts
# Costs of a class pair, in candidate pairs screened (each about 25 ns), measured here:
_PAIR_COST = 8000.0  # fixed (about 40 numpy calls)
_QUERY_COST = 27.0  # per querying unit (its neighbourhood ranges)
_DATA_COST = 9.0  # per data unit (hashed and sorted)
_E = np.zeros(0, np.int64)
F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]
_Cols = tuple[C64, F32, C64, C64]
"""x + iy, reach share (H + margin + |v| T), vx + ivy, altitude + i party of some units."""


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


def _empty() -> PairResult:
    z = np.zeros(0)
    return PairResult(_E, _E, z, z, z, z)


def speed_classes(
    speed: FloatArray, h_m: float, look_ahead_s: float, area_m2: float
) -> list[IntArray]:
    """Rows of each speed class, slowest first. Any partition gives the same pairs, so
    this one is chosen for speed: starting from `SPEED_EDGES_MPS`, neighbouring classes
    are merged while that lowers an estimate of the cost (a fixed cost per class pair and
    per unit, and the candidates of units spread evenly over `area_m2`)."""
    bucket = np.searchsorted(np.asarray(SPEED_EDGES_MPS), speed, "left")
    counts = np.bincount(bucket, minlength=len(SPEED_EDGES_MPS) + 1)
    tops = np.zeros(counts.size)
    np.maximum.at(tops, bucket, speed)
    groups = [[b] for b in np.flatnonzero(counts).tolist()]
    size = [float(counts[g[0]]) for g in groups]
    top = [float(tops[g[0]]) for g in groups]
    cells = (2 * _SPAN + 1) ** 2 / _SPAN**2 / max(area_m2, 1.0)

    def cost(na: float, sa: float, nb: float, sb: float, same: bool) -> float:
        reach = h_m + (sa + sb) * look_ahead_s
        pairs = na * nb / (2.0 if same else 1.0)
        fixed = _PAIR_COST + _QUERY_COST * min(na, nb) + _DATA_COST * max(na, nb)
        return fixed + pairs * min(1.0, cells * reach * reach)

    # Greedy: merge the neighbours whose merging saves most, O(classes^3).
    while len(groups) > 1:
        best, at = 0.0, -1
        for k in range(len(groups) - 1):
            n2, s2 = size[k] + size[k + 1], top[k + 1]
            gain = cost(size[k], top[k], size[k], top[k], True)
            gain += cost(size[k + 1], top[k + 1], size[k + 1], top[k + 1], True)
            gain += cost(size[k], top[k], size[k + 1], top[k + 1], False)
            gain -= cost(n2, s2, n2, s2, True)
            for m in range(len(groups)):
                if m not in (k, k + 1):
                    gain += cost(size[k], top[k], size[m], top[m], False)
                    gain += cost(size[k + 1], top[k + 1], size[m], top[m], False)
                    gain -= cost(n2, s2, size[m], top[m], False)
            if gain > best:
                best, at = gain, k
        if at < 0:
            break
        groups[at : at + 2] = [groups[at] + groups[at + 1]]
        size[at : at + 2] = [size[at] + size[at + 1]]
        top[at : at + 2] = [top[at + 1]]
    label = np.zeros(counts.size, np.int64)
    for k, g in enumerate(groups):
        label[g] = k
    cls = label[bucket]
    order = np.argsort(cls, kind="stable")
    bounds = np.flatnonzero(np.diff(cls[order])) + 1
    return list(np.split(order, bounds))


def _disc(span: float) -> list[tuple[int, int]]:
    """(dx, half width in y) of the cells, at most `span` cells away, that can hold a
    point nearer than `span` cells to a point of the centre cell (2 span + 1 rows)."""
    s = int(np.ceil(span))
    out = []
    for dx in range(-s, s + 1):
        gx = max(abs(dx) - 1, 0)
        w = 0
        while w < s and gx * gx + w * w < span * span * (1 + 1e-6):
            w += 1
        out.append((dx, w))
    return out


class _Join:
    """The grid of one class pair: data units sorted by cell key (band, x, y), and for
    each query unit the key ranges of its neighbourhood."""

    def __init__(
        self,
        x: FloatArray,
        y: FloatArray,
        alt: FloatArray,
        query: IntArray,
        data: IntArray,
        cell_m: float,
        band_m: float,
        span: float,
    ) -> None:
        same = query is data
        s = int(np.ceil(span))

        def cells(r: IntArray) -> tuple[IntArray, IntArray, IntArray]:
            return (
                np.floor(x[r] / cell_m).astype(np.int64),
                np.floor(y[r] / cell_m).astype(np.int64),
                np.floor(alt[r] / band_m).astype(np.int64),
            )

        dx_, dy_, db_ = cells(data)
        qx, qy, qb = (dx_, dy_, db_) if same else cells(query)
        x0 = min(int(dx_.min()), int(qx.min())) - s
        y0 = min(int(dy_.min()), int(qy.min())) - s
        b0 = min(int(db_.min()), int(qb.min())) - 1
        nx = max(int(dx_.max()), int(qx.max())) - x0 + 1 + s
        ny = max(int(dy_.max()), int(qy.max())) - y0 + 1 + s
        nb = max(int(db_.max()), int(qb.max())) - b0 + 2
        if float(nx) * ny * nb >= 2.0**62:
            raise OverflowError("grid too fine for 64-bit keys")
        # Key order (band, x, y): the y cells of one (band, x) are one key range.
        keys = ((db_ - b0) * nx + (dx_ - x0)) * ny + (dy_ - y0)
        order = np.argsort(keys)  # any order within a cell
        skeys = keys[order]
        self.data = data[order]
        if same:
            self.query, qkeys = self.data, skeys
        else:
            qk = ((qb - b0) * nx + (qx - x0)) * ny + (qy - y0)
            qorder = np.argsort(qk)
            self.query, qkeys = query[qorder], qk[qorder]
        # One row of ranges per occupied query cell, then per query unit.
        head = np.ones(qkeys.size, np.bool_)
        head[1:] = qkeys[1:] != qkeys[:-1]
        cells_q = qkeys[head]
        lo_off: list[int] = []
        hi_off: list[int] = []
        lo_b, hi_b = int(db_.min()), int(db_.max())
        for db in (0, 1) if same else (-1, 0, 1):
            if int(qb.max()) + db < lo_b or int(qb.min()) + db > hi_b:
                continue  # no data in that band
            for dx, w in _disc(span):
                if not (same and db == 0 and dx < 0):
                    lo_off.append((db * nx + dx) * ny - w)
                    hi_off.append((db * nx + dx) * ny + w + 1)
        if not lo_off:
            self.lo = self.counts = _E.reshape(0, 0)
            return
        lo_k = cells_q[:, None] + np.asarray(lo_off)[None, :]
        hi_k = cells_q[:, None] + np.asarray(hi_off)[None, :]
        size = nx * ny * nb
        if size <= max(_TABLE, 8 * (keys.size + qkeys.size)):
            # Where each key's units start in the sorted data: a lookup, not a search.
            start = np.zeros(size + 1, np.int64)
            np.cumsum(np.bincount(keys, minlength=size), out=start[1:])
            lo, hi = start[lo_k], start[hi_k]
        else:
            lo = np.searchsorted(skeys, lo_k, "left")
            hi = np.searchsorted(skeys, hi_k, "left")
        if cells_q.size < qkeys.size:  # a row per query unit
            per_cell = np.diff(np.flatnonzero(np.append(head, True)))
            lo, hi = np.repeat(lo, per_cell, axis=0), np.repeat(hi, per_cell, axis=0)
        if same:
            # The first range, own cell and those above it in y, from the next unit on.
            lo[:, 0] = np.arange(1, qkeys.size + 1)
        self.lo = lo
        self.counts = hi - lo
        if same:
            np.maximum(self.counts[:, 0], 0, out=self.counts[:, 0])

    def chunks(self) -> Iterator[tuple[IntArray, IntArray, IntArray]]:
        """(query positions, data positions, candidates per query unit) in chunks of
        about `_CHUNK` candidates; positions index `self.query` and `self.data`."""
        if self.counts.size == 0:
            return
        per_unit = self.counts.sum(axis=1)
        ends = np.cumsum(per_unit)
        start = 0
        nq = per_unit.size
        while start < nq:
            base = int(ends[start - 1]) if start else 0
            stop = max(int(np.searchsorted(ends, base + _CHUNK, "right")), start + 1)
            c = self.counts[start:stop].ravel()
            lo = self.lo[start:stop].ravel()
            nz = np.flatnonzero(c)
            c, lo = c[nz], lo[nz]
            total = int(ends[stop - 1]) - base
            if total:
                first = np.cumsum(c) - c
                pos = np.repeat(lo - first, c) + np.arange(total)
                yield np.arange(start, stop), pos, per_unit[start:stop]
            start = stop


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
        return _empty()
    speed = np.linalg.norm(v, axis=1)
    # Units are hashed where they will be half-way through the look-ahead: a pair that
    # comes within H at some t in [0, T] is then within H + |v_a - v_b| T / 2, half the
    # reach of positions now, so about a quarter of the candidates.
    half = 0.5 * look_ahead_s
    mid = p[:, :2] + half * v[:, :2]
    area = float(np.ptp(mid[:, 0])) * float(np.ptp(mid[:, 1]))
    classes = speed_classes(speed, h_m, half, area)
    top = [float(speed[c].max()) for c in classes]
    # Bands coarse enough for 64-bit keys: altitudes are within (-1 km, 100 km).
    band_m = max(v_m, 1e-3 * (float(alt.max()) - float(alt.min())) + 1e-9)
    extent = float(np.ptp(mid)) / 2.0**20
    screen = _Screen(mid, v, speed, alt, party, h_m, v_m, half)
    a_parts: list[IntArray] = []
    b_parts: list[IntArray] = []
    for kb in range(len(classes)):
        for ka in range(kb + 1):
            # The smaller class queries: its units each search the other's cells.
            query, data = (classes[kb], classes[ka])
            if ka != kb and query.size > data.size:
                query, data = data, query
            reach = h_m + (top[ka] + top[kb]) * half
            cell = max(cell_m, reach * (1.0 + 1e-9) / _SPAN + 1e-6, extent)
            if query.size == 0 or (ka == kb and query.size < 2):
                continue
            join = _Join(mid[:, 0], mid[:, 1], alt, query, data, cell, band_m, reach / cell)
            qside, dside = screen.side(join.query, True), screen.side(join.data, False)
            for q, d, per in join.chunks():
                keep_q, keep_d = screen(qside, dside, q, d, per)
                a_parts.append(join.query[keep_q])
                b_parts.append(join.data[keep_d])
    if not a_parts:
        return _empty()
    return _exact(units, p, v, alt, party, h_m, v_m, look_ahead_s, a_parts, b_parts)


class _Screen:
    """Cheap float32 tests that keep every pair the exact test could keep: the margin
    `slack` is orders of magnitude above float32 rounding at these coordinates. Columns
    are paired as complex64 (x + iy, vx + ivy, altitude + i party) so that one gather
    fetches two."""

    def __init__(
        self,
        mid: FloatArray,
        v: FloatArray,
        speed: FloatArray,
        alt: FloatArray,
        party: IntArray,
        h_m: float,
        v_m: float,
        half_s: float,
    ) -> None:
        """`mid`: (n, 2) horizontal positions at `half_s`, the middle of the look-ahead."""
        c = np.complex64
        self.xy = (mid[:, 0] + 1j * mid[:, 1]).astype(c)
        self.vel = (v[:, 0] + 1j * v[:, 1]).astype(c)
        # Party numbers are exact in float32 below 2^24; beyond, the screen ignores party.
        self.by_party = int(party.max(initial=0)) < 2**24 and int(party.min(initial=0)) >= 0
        self.ap = (alt + 1j * (party if self.by_party else 0)).astype(c)
        self.motion = (speed * half_s).astype(np.float32)
        self.half = np.float32(half_s)
        # float32 keeps 24 bits: 6e-8 of the largest coordinate or motion, per operation.
        scale = float(np.abs(mid).max()) + 4.0 * half_s * float(speed.max())
        slack = 1.0 + 1e-5 * scale
        self.reach0 = np.float32(h_m + slack)
        self.reach0_sq = np.float32((h_m + slack) ** 2)
        self.v_m = np.float32(v_m + 1e-3 + 1e-6 * float(np.abs(alt).max()))

    def side(self, rows: IntArray, query: bool) -> _Cols:
        """The screen's columns of `rows` (the query side's reach share holds H too)."""
        reach = self.motion[rows] + self.reach0 if query else self.motion[rows]
        return self.xy[rows], reach, self.vel[rows], self.ap[rows]

    def __call__(
        self, qs: _Cols, ds: _Cols, q: IntArray, d: IntArray, per: IntArray
    ) -> tuple[IntArray, IntArray]:
        """Positions in `qs` and `ds` of the candidates (query positions `q`, each
        repeated `per` times, and data positions `d`) that may come within H."""
        qxy, qreach, qvel, qap = qs
        dxy, dreach, dvel, dap = ds
        # At T / 2 within H + (|v_a| + |v_b|) T / 2 (horizontal, 3-D speeds: a bound).
        w = np.repeat(qxy[q], per)
        w -= dxy.take(d)
        r = np.repeat(qreach[q], per)
        r += dreach.take(d)
        r *= r
        dist = np.square(w.real)
        dist += np.square(w.imag)
        keep = np.flatnonzero(dist < r)
        # The query unit of each kept candidate: where it falls among the units' ends.
        a = q[np.searchsorted(np.cumsum(per), keep, "right")]
        b = d.take(keep)
        w = w.take(keep)
        # Other party, within V.
        e = qap.take(a)
        e -= dap.take(b)
        ok = np.abs(e.real) < self.v_m
        if self.by_party:
            ok &= e.imag != 0
        a, b, w = a[ok], b[ok], w[ok]
        # Closest approach in the plane (never farther than in 3-D).
        u = qvel.take(a)
        u -= dvel.take(b)
        vv = np.square(u.real) + np.square(u.imag)
        dot = w.real * u.real + w.imag * u.imag
        with np.errstate(invalid="ignore", divide="ignore"):
            tc = -dot / vv
        # From the middle of the look-ahead: closest at tc in [-T/2, T/2].
        tc = np.clip(np.nan_to_num(tc, nan=0.0, posinf=0.0, neginf=0.0), -self.half, self.half)
        w += tc * u
        near = np.square(w.real) + np.square(w.imag) < self.reach0_sq
        return a[near], b[near]


def _exact(
    units: IntArray,
    p: FloatArray,
    v: FloatArray,
    alt: FloatArray,
    party: IntArray,
    h_m: float,
    v_m: float,
    look_ahead_s: float,
    a_parts: list[IntArray],
    b_parts: list[IntArray],
) -> PairResult:
    """The float64 tests that decide, on the screened pairs."""
    qa = np.concatenate(a_parts)
    qb = np.concatenate(b_parts)
    keep = (party.take(qa) != party.take(qb)) & (np.abs(alt.take(qa) - alt.take(qb)) < v_m)
    qa, qb = qa[keep], qb[keep]
    # Row gathers of (n, 3) arrays are slow in numpy: gather columns, the same numbers.
    d0 = np.empty((qa.size, 3))
    dv = np.empty((qa.size, 3))
    for k in range(3):
        pk, vk = p[:, k].copy(), v[:, k].copy()
        np.subtract(pk.take(qa), pk.take(qb), out=d0[:, k])
        np.subtract(vk.take(qa), vk.take(qb), out=dv[:, k])
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
    a, b = qa[near], qb[near]
    ua, ub = units.take(a), units.take(b)
    i = np.minimum(ua, ub)
    j = np.maximum(ua, ub)
    top = int(units.max()) + 1
    # Pairs are distinct: one sort on a combined key when it fits in 64 bits.
    order = np.argsort(i * top + j) if top < 2**31 else np.lexsort((j, i))
    return PairResult(
        i=i[order],
        j=j[order],
        distance_m=np.linalg.norm(d0[near], axis=1)[order],
        cpa_dt_s=tc[near][order],
        cpa_distance_m=dmin[near][order],
        vertical_m=np.abs(alt.take(a) - alt.take(b))[order],
    )

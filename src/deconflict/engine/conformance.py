"""Reports against declarations: deviation from a unit's cleared movement (corridor and
time plan) and intrusion into another party's site or restricted zone (SPEC section 5).

Movements are laid out once as densified segments (engine.segments) in the monitor's
frame; areas keep their own azimuthal equidistant frames (engine.areas). Everything is
vectorised over the reports of one tick; it must never hold alert state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from deconflict.engine.areas import AreaEntry, make_area
from deconflict.engine.segments import build_segments
from deconflict.engine.tracks import BoolArray, Frame, IntArray
from deconflict.geo.ellipsoid import FloatArray
from deconflict.model import Movement, Site, Zone, ZoneType

TOLERANCE_M = 1e-3


class Routes:
    """Every movement's densified route in the frame, segments grouped by movement."""

    def __init__(self, movements: Sequence[Movement], frame: Frame) -> None:
        self.movements = list(movements)
        n = len(self.movements)
        self.buffer = np.array([m.buffer_m for m in self.movements], dtype=np.float64)
        self.uncertainty = np.array([m.time_uncertainty_s for m in self.movements], np.float64)
        self.start = np.array([m.start_s for m in self.movements], dtype=np.float64)
        self.end = np.array([m.end_s for m in self.movements], dtype=np.float64)
        if n == 0:
            self.a = self.b = np.zeros((0, 3))
            self.t = np.zeros((0, 2))
            self.first = self.count = np.zeros(0, np.int64)
            return
        seg = build_segments(self.movements)
        self.a = frame.ecef_to_frame(seg.p0)
        self.b = frame.ecef_to_frame(seg.p1)
        self.t = seg.t
        self.count = np.bincount(seg.owner, minlength=n).astype(np.int64)
        self.first = np.cumsum(self.count) - self.count

    def active(self, m: IntArray, t: FloatArray, tol_s: float) -> BoolArray:
        """Movement `m` is in force at `t`: its plan, widened by uncertainty + tolerance."""
        slack = self.uncertainty[m] + tol_s
        out: BoolArray = (t >= self.start[m] - slack) & (t <= self.end[m] + slack)
        return out

    def off_plan_m(self, m: IntArray, p: FloatArray, t: FloatArray, tol_s: float) -> FloatArray:
        """Distance from each point `p` (frame) at `t` to where its movement `m` may be:
        the route over plan times [t - u - tol_s, t + u + tol_s]. O(points x segments of
        their movements)."""
        if m.size == 0:
            return np.zeros(0)
        counts = self.count[m]
        q = np.repeat(np.arange(m.size), counts)
        seg = np.repeat(self.first[m] - (np.cumsum(counts) - counts), counts) + np.arange(
            int(counts.sum())
        )
        slack = self.uncertainty[m] + tol_s
        lo = np.clip(t - slack, self.start[m], self.end[m])[q]
        hi = np.clip(t + slack, self.start[m], self.end[m])[q]
        t0, t1 = self.t[seg, 0], self.t[seg, 1]
        dur = t1 - t0
        inside = np.maximum(lo, t0) <= np.minimum(hi, t1)
        safe = np.where(dur > 0, dur, 1.0)
        s_lo = np.where(dur > 0, (np.maximum(lo, t0) - t0) / safe, 0.0)
        s_hi = np.where(dur > 0, (np.minimum(hi, t1) - t0) / safe, 1.0)
        a = self.a[seg]
        d = self.b[seg] - a
        w = p[q] - a
        dd = np.einsum("ij,ij->i", d, d)
        s = np.where(dd > 0, np.einsum("ij,ij->i", w, d) / np.where(dd > 0, dd, 1.0), 0.0)
        s = np.clip(s, s_lo, s_hi)
        dist = np.linalg.norm(w - s[:, None] * d, axis=1)
        dist = np.where(inside, dist, np.inf)
        out: FloatArray = np.full(m.size, np.inf)
        np.minimum.at(out, q, dist)
        return out


@dataclass
class _Area:
    entry: AreaEntry
    centre: FloatArray
    radius_m: float


class Areas:
    """Sites and restricted zones (corridors and ceasefire zones raise no alert)."""

    def __init__(self, areas: Sequence[Site | Zone], frame: Frame) -> None:
        self.items: list[_Area] = []
        self.decls: list[Site | Zone] = []
        for a in areas:
            if isinstance(a, Zone) and a.zone_type is not ZoneType.RESTRICTED:
                continue
            e = make_area(len(self.items), a)
            lo = frame.ecef_to_frame(e.box_lo[None, :])[0]
            hi = frame.ecef_to_frame(e.box_hi[None, :])[0]
            # The rotated box's half-diagonal bounds the area from its centre.
            half = float(np.linalg.norm(e.box_hi - e.box_lo)) / 2.0
            self.items.append(_Area(e, (lo + hi) / 2.0, half))
            self.decls.append(a)

    def intrusions(
        self,
        h_m: float,
        v_m: float,
        party: IntArray,
        area_party: Sequence[int],
        p: FloatArray,
        lon: FloatArray,
        lat: FloatArray,
        alt: FloatArray,
        t: FloatArray,
    ) -> list[tuple[int, int, float]]:
        """(row, area index, distance outside the area's occupied region) for each report
        row inside another party's site (within H and V) or restricted zone (touching,
        band overlapping). O(areas x rows) distance screens, shapely only near an area."""
        out: list[tuple[int, int, float]] = []
        for k, it in enumerate(self.items):
            d = it.entry.decl
            site = isinstance(d, Site)
            reach = d.buffer_m + (h_m if site else TOLERANCE_M)
            near = np.flatnonzero(
                (party != area_party[k])
                & (t >= d.start_s)
                & (t <= d.end_s)
                & (np.linalg.norm(p - it.centre, axis=1) <= it.radius_m + reach + 10.0)
            )
            if near.size == 0:
                continue
            if site:
                gap = np.maximum(0.0, np.maximum(alt[near] - d.alt_max_m, d.alt_min_m - alt[near]))
                near = near[gap < v_m]
            else:
                near = near[(alt[near] >= d.alt_min_m) & (alt[near] <= d.alt_max_m)]
            if near.size == 0:
                continue
            x, y = it.entry.to_local.transform(lon[near], lat[near])
            dist = shapely.distance(it.entry.shape, shapely.points(np.asarray(x), np.asarray(y)))
            hit = (dist < reach) if site else (dist <= reach)
            for row, dd in zip(near[hit].tolist(), dist[hit].tolist(), strict=True):
                out.append((row, k, max(0.0, dd - d.buffer_m)))
        return out

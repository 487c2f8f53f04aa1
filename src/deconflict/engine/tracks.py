"""Per-unit track state of the tactical monitor: the last accepted report of every unit in
numpy arrays, in one metric frame, and the rules that drop bad reports.

The frame is Earth-centred metres (geo.ellipsoid.to_ecef, as the strategic engine uses)
rotated so that z is the local vertical at a theatre centre: a rigid rotation, so
distances are exact chords wherever a unit is, and near the centre horizontal motion lies
in x, y (which keeps grid boxes flat). It must never do I/O or hold alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deconflict.geo.ellipsoid import FloatArray, to_ecef

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

COUNTERS = (
    "received",
    "accepted",
    "invalid",
    "future",
    "duplicate",
    "out_of_order",
    "absurd",
    "reset",
    "late",
    "unknown_movement",
)
"""Names of `Monitor.counters`, documented in docs/live.md."""


class Frame:
    """Earth-centred metres rotated to east/north/up axes at a centre (lon0, lat0)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.origin = to_ecef(np.array([lon0]), np.array([lat0]))[0]
        self.rot = _enu_axes(np.radians([lon0]), np.radians([lat0]))[0]  # rows e, n, u

    def xyz(self, lon: FloatArray, lat: FloatArray) -> FloatArray:
        """(n, 3) frame coordinates of surface points."""
        return _rotate(to_ecef(lon, lat) - self.origin, self.rot)

    def ecef_to_frame(self, ecef: FloatArray) -> FloatArray:
        return _rotate(ecef - self.origin, self.rot)

    def velocity(
        self, lon: FloatArray, lat: FloatArray, speed: FloatArray, course_deg: FloatArray
    ) -> FloatArray:
        """(n, 3) frame velocity of ground speed `speed` on course `course_deg` (from north,
        clockwise) in the local horizontal plane of each point."""
        en = _enu_axes(np.radians(lon), np.radians(lat), rows=2).reshape(-1, 3)
        axes = _rotate(en, self.rot).reshape(-1, 2, 3)  # (n, 2[e,n], 3)
        c = np.radians(course_deg)
        out: FloatArray = speed[:, None] * (
            np.sin(c)[:, None] * axes[:, 0] + np.cos(c)[:, None] * axes[:, 1]
        )
        return out


_ROWS = 4096
"""Rows per matrix product: small enough that OpenBLAS stays on one thread, whose
threads cost more than the product on a busy machine (3 ms against 26 ms for 300k rows)."""


def _rotate(a: FloatArray, rot: FloatArray) -> FloatArray:
    """`a @ rot.T` for (n, 3) rows, in blocks of `_ROWS` (the same numbers)."""
    out: FloatArray = np.empty(a.shape)
    n = a.shape[0]
    # A block of one row takes another BLAS path (its last bit can differ): none.
    cuts = [0, *(k for k in range(_ROWS, n, _ROWS) if n - k > 1), n]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        np.matmul(a[lo:hi], rot.T, out=out[lo:hi])
    return out


def _enu_axes(lon: FloatArray, lat: FloatArray, rows: int = 3) -> FloatArray:
    """(n, rows, 3) east, north, up unit vectors (Earth-centred) at each point; the first
    `rows` of them."""
    sl, cl = np.sin(lon), np.cos(lon)
    sp, cp = np.sin(lat), np.cos(lat)
    out: FloatArray = np.empty((lon.shape[0], rows, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = -sl, cl, 0.0
    out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = -sp * cl, -sp * sl, cp
    if rows > 2:
        out[:, 2, 0], out[:, 2, 1], out[:, 2, 2] = cp * cl, cp * sl, sp
    return out


@dataclass
class Batch:
    """Reports as columns, one row per report (already checked for finiteness)."""

    unit: IntArray
    time_s: FloatArray
    lon: FloatArray
    lat: FloatArray
    alt_m: FloatArray
    """NaN for a ground unit (no altitude)."""
    speed: FloatArray
    """NaN when not given."""
    course: FloatArray
    movement: IntArray
    """Index into the monitor's movements, -1 when none."""

    def take(self, rows: IntArray) -> Batch:
        return Batch(
            self.unit[rows],
            self.time_s[rows],
            self.lon[rows],
            self.lat[rows],
            self.alt_m[rows],
            self.speed[rows],
            self.course[rows],
            self.movement[rows],
        )


def _grow(a: Any, n: int, fill: object) -> Any:
    if a.shape[0] >= n:
        return a
    out = np.empty((max(n, 2 * a.shape[0]), *a.shape[1:]), dtype=a.dtype)
    out[: a.shape[0]] = a
    out[a.shape[0] :] = fill
    return out


class Tracks:
    """The last accepted report of every unit, as arrays indexed by unit number.

    Memory is about 200 bytes per unit plus its key in a dict.
    """

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.index: dict[tuple[str, str], int] = {}
        self.keys: list[tuple[str, str]] = []
        self.names: list[str] = []
        """`party/unit` of each unit, as alerts name it."""
        self.parties: list[str] = []
        self.party_index: dict[str, int] = {}
        self.n = 0
        cap = 1024
        self.party = np.full(cap, -1, np.int64)
        self.t = np.full(cap, -np.inf)
        """Time of the last accepted report; -inf before any."""
        self.p = np.zeros((cap, 3))
        """Frame position at `t`."""
        self.v = np.zeros((cap, 3))
        """Frame velocity, m/s."""
        self.alt = np.zeros(cap)
        """Altitude, metres; 0 for a ground unit."""
        self.air = np.zeros(cap, np.bool_)
        self.lon = np.zeros(cap)
        self.lat = np.zeros(cap)
        self.movement = np.full(cap, -1, np.int64)
        self.streak = np.zeros(cap, np.int64)
        """Consecutive absurd reports, each plausible from the one before."""
        self.streak_t = np.full(cap, -np.inf)
        self.streak_p = np.zeros((cap, 3))

    def unit_ids(self, keys: Sequence[tuple[str, str]]) -> IntArray:
        """Unit number of each (party, unit) key, registering new units (O(keys) dict
        lookups, in C but for new units)."""
        found = list(map(self.index.get, keys))
        if None in found:
            for k, (key, i) in enumerate(zip(keys, found, strict=True)):
                if i is None:
                    found[k] = self._register(key)
        self.n = len(self.keys)
        return np.fromiter(found, np.int64, len(found))

    def _register(self, key: tuple[str, str]) -> int:
        i = self.index.get(key)
        if i is not None:  # twice in one batch
            return i
        i = self.index[key] = len(self.keys)
        self.keys.append(key)
        self.names.append(f"{key[0]}/{key[1]}")
        pi = self.party_index.get(key[0])
        if pi is None:
            pi = self.party_index[key[0]] = len(self.parties)
            self.parties.append(key[0])
        self._ensure(i + 1)
        self.party[i] = pi
        return i

    def _ensure(self, n: int) -> None:
        if n <= self.party.shape[0]:
            return
        self.party = _grow(self.party, n, -1)
        self.t = _grow(self.t, n, -np.inf)
        self.p = _grow(self.p, n, 0.0)
        self.v = _grow(self.v, n, 0.0)
        self.alt = _grow(self.alt, n, 0.0)
        self.air = _grow(self.air, n, False)
        self.lon = _grow(self.lon, n, 0.0)
        self.lat = _grow(self.lat, n, 0.0)
        self.movement = _grow(self.movement, n, -1)
        self.streak = _grow(self.streak, n, 0)
        self.streak_t = _grow(self.streak_t, n, -np.inf)
        self.streak_p = _grow(self.streak_p, n, 0.0)

    def apply(
        self,
        b: Batch,
        max_ground_mps: float,
        max_air_mps: float,
        noise_m: float,
        reset_after: int,
        counters: dict[str, int],
    ) -> Batch:
        """Apply reports in time order per unit; returns the accepted ones (the last per
        unit last). Vectorised in rounds: round r takes each unit's r-th report."""
        if b.unit.size == 0:
            return b
        order = np.lexsort((b.time_s, b.unit))
        b = b.take(order)
        first = np.ones(b.unit.size, np.bool_)
        first[1:] = b.unit[1:] != b.unit[:-1]
        start = np.maximum.accumulate(np.where(first, np.arange(b.unit.size), 0))
        rank = np.arange(b.unit.size) - start
        xyz = self.frame.xyz(b.lon, b.lat)
        accepted: list[IntArray] = []
        for r in range(int(rank.max()) + 1):
            rows = np.flatnonzero(rank == r)
            accepted.append(
                rows[
                    self._round(
                        b, xyz, rows, max_ground_mps, max_air_mps, noise_m, reset_after, counters
                    )
                ]
            )
        keep = np.concatenate(accepted)
        keep.sort()
        return b.take(keep)

    def _round(
        self,
        b: Batch,
        xyz: FloatArray,
        rows: IntArray,
        max_ground_mps: float,
        max_air_mps: float,
        noise_m: float,
        reset_after: int,
        counters: dict[str, int],
    ) -> BoolArray:
        u = b.unit[rows]
        t = b.time_s[rows]
        t_last = self.t[u]
        dup = t == t_last
        old = t < t_last
        counters["duplicate"] += int(dup.sum())
        counters["out_of_order"] += int(old.sum())
        newer = ~(dup | old)
        air = ~np.isnan(b.alt_m[rows])
        vmax = np.where(air, max_air_mps, max_ground_mps)
        p = xyz[rows]
        dt = np.where(newer, t - t_last, 1.0)
        jump = np.linalg.norm(p - self.p[u], axis=1)
        has_last = np.isfinite(t_last)
        too_fast = has_last & (np.maximum(jump - noise_m, 0.0) > vmax * dt)
        speed_bad = np.nan_to_num(b.speed[rows], nan=0.0) > vmax
        absurd = newer & (too_fast | speed_bad)
        # A unit that really moved (a tracker switched on after a flight) would be stuck
        # for ever behind its old position: `reset_after` absurd reports in a row that are
        # plausible from one another become its new track.
        st_dt = np.maximum(t - self.streak_t[u], 1e-9)
        chain = np.isfinite(self.streak_t[u]) & (
            np.maximum(np.linalg.norm(p - self.streak_p[u], axis=1) - noise_m, 0.0) <= vmax * st_dt
        )
        streak = np.where(chain, self.streak[u] + 1, 1)
        reset = absurd & ~speed_bad & (streak >= reset_after)
        dropped = absurd & ~reset
        counters["absurd"] += int(dropped.sum())
        counters["reset"] += int(reset.sum())
        du = u[dropped]
        self.streak[du] = streak[dropped]
        self.streak_t[du] = t[dropped]
        self.streak_p[du] = p[dropped]
        ok = newer & ~dropped
        au = u[ok]
        self.streak[au] = 0
        self.streak_t[au] = -np.inf
        # Velocity: speed and course when both given; else the difference from the last
        # accepted report (not across a reset, nor over more than 10 minutes); else still.
        ar = rows[ok]
        spd = b.speed[ar]
        crs = b.course[ar]
        given = ~np.isnan(spd) & ~np.isnan(crs)
        v = np.zeros((ar.size, 3))
        if given.any():
            v[given] = self.frame.velocity(
                b.lon[ar][given], b.lat[ar][given], spd[given], crs[given]
            )
        okdt = dt[ok]
        diff = ~given & has_last[ok] & ~reset[ok] & (okdt <= 600.0)
        if diff.any():
            v[diff] = (p[ok][diff] - self.p[au[diff]]) / okdt[diff][:, None]
        self.v[au] = v
        self.t[au] = t[ok]
        self.p[au] = p[ok]
        alt = b.alt_m[ar]
        self.air[au] = ~np.isnan(alt)
        self.alt[au] = np.nan_to_num(alt, nan=0.0)
        self.lon[au] = b.lon[ar]
        self.lat[au] = b.lat[ar]
        mv = b.movement[ar]
        # A report without a movement keeps the unit's known movement (trackers that do not
        # carry it report under the assignment they were given).
        self.movement[au] = np.where(mv >= 0, mv, self.movement[au])
        counters["accepted"] += int(ok.sum())
        out: BoolArray = ok
        return out

    def positions_at(self, units: IntArray, now: float) -> FloatArray:
        """Frame positions extrapolated linearly from each unit's last report to `now`."""
        out: FloatArray = self.p[units] + self.v[units] * (now - self.t[units])[:, None]
        return out

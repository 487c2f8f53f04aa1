"""Space dealt among several monitors (docs/live.md, "Partitions").

The world is cut into cells of `cell_deg` x `cell_deg` degrees, and each cell belongs to
one of `parts` partitions (by a hash of the cell, so neighbouring cells seldom share one).
A monitor process holds some partitions and sees only the reports routed to them:

- **routing**: a report goes to the partition of every cell within its *reach* of its
  position, and to its unit's *home* partition (a hash of `party/unit`);
- **reach**: H + margin + (2 x look-ahead + 3 x stale time-out) x 1.2 x its speed, where
  the speed is the reported one when speed and course are both given (the monitor then
  uses them), else the fastest plausible for its kind (ground or air: the monitor then
  derives the velocity from positions and drops anything faster as absurd);
- **who answers**: an alert about one unit (deviation, intrusion, stale) is answered by
  the unit's home partition, which gets every report of the unit; an alert about a pair
  by the partition of the cell of the unit with the smaller reach (then the smaller
  name). Two units that can come within H over the look-ahead are at most H + (look-ahead
  + stale time-out) x (speed a + speed b) apart, which is within the faster one's reach:
  that partition gets the reports of both, also those of the first moments after the
  condition ended (3 x stale time-out), so it closes the alert as one monitor would.

With one partition everything is one monitor's, as without partitions. Pure: no I/O.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.model.positions import Alert, AlertType, PositionReport

PAIR_TYPES = frozenset({AlertType.PROXIMITY, AlertType.PREDICTED_PROXIMITY})
MAX_PARTS = 62
"""A batch's partitions are bits of one signed 64-bit column."""
MARGIN_M = 2_000.0
_SPEED_FACTOR = 1.2
_M_PER_DEG = 110_000.0
"""Metres per degree of latitude, rounded down (so a reach in degrees errs wide)."""
_LAT_LIMIT = 89.0

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Partitioning:
    parts: int = 1
    cell_deg: float = 2.0
    h_m: float = 1_000.0
    look_ahead_s: float = 120.0
    stale_timeout_s: float = 60.0
    max_ground_mps: float = 100.0
    max_air_mps: float = 700.0

    def __post_init__(self) -> None:
        if not 1 <= self.parts <= MAX_PARTS:
            raise ValueError(f"monitor partitions must be from 1 to {MAX_PARTS}")
        if not 0.01 <= self.cell_deg <= 90.0:
            raise ValueError("monitor cell_deg must be from 0.01 to 90 degrees")

    @property
    def plan(self) -> str:
        """What every process on one store must agree on, as text."""
        return (
            f"{self.parts}x{self.cell_deg:g}deg;h={self.h_m:g};la={self.look_ahead_s:g};"
            f"st={self.stale_timeout_s:g};v={self.max_ground_mps:g}/{self.max_air_mps:g}"
        )

    @property
    def every(self) -> int:
        """The mask of all partitions."""
        return (1 << self.parts) - 1

    def home(self, unit: str) -> int:
        """The partition that answers for `party/unit` alone."""
        if self.parts == 1:
            return 0
        return _crc(unit) % self.parts

    def cell_part(self, i: int, j: int) -> int:
        """The partition of cell (row i, column j)."""
        return ((i * 73_856_093) ^ (j * 19_349_663)) % self.parts

    def cell_of(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.cell_deg), self._wrap(math.floor(lon / self.cell_deg))

    def _wrap(self, j: int) -> int:
        """Column j as the same column west of the antimeridian when it lies east of it."""
        first = math.floor(-180.0 / self.cell_deg)
        return (j - first) % math.ceil(360.0 / self.cell_deg) + first

    def reach_m(self, r: PositionReport) -> float:
        return float(
            self._reach(
                np.array([math.nan if r.speed_mps is None else r.speed_mps]),
                np.array([math.nan if r.course_deg is None else r.course_deg]),
                np.array([r.alt_m is not None]),
            )[0]
        )

    def _reach(
        self,
        speed: npt.NDArray[np.float64],
        course: npt.NDArray[np.float64],
        air: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        given = ~np.isnan(speed) & ~np.isnan(course)
        vmax = np.where(air, self.max_air_mps, self.max_ground_mps)
        s = np.where(given, np.minimum(np.nan_to_num(speed), vmax), vmax)
        horizon = 2.0 * self.look_ahead_s + 3.0 * self.stale_timeout_s
        out: npt.NDArray[np.float64] = self.h_m + MARGIN_M + horizon * _SPEED_FACTOR * s
        return out

    def routes(self, reports: Sequence[PositionReport]) -> list[int]:
        """Each report's partitions, as a bit mask."""
        if self.parts == 1:
            return [1] * len(reports)
        n = len(reports)
        lat = np.fromiter((r.lat for r in reports), float, n)
        lon = np.fromiter((r.lon for r in reports), float, n)
        speed = np.fromiter(
            (math.nan if r.speed_mps is None else r.speed_mps for r in reports), float, n
        )
        course = np.fromiter(
            (math.nan if r.course_deg is None else r.course_deg for r in reports), float, n
        )
        air = np.fromiter((r.alt_m is not None for r in reports), bool, n)
        homes = [self.home(f"{r.party}/{r.unit}") for r in reports]
        return self._routes(lat, lon, speed, course, air, homes)

    def routes_columns(
        self,
        party: str,
        units: Sequence[str],
        lat: npt.NDArray[np.float64],
        lon: npt.NDArray[np.float64],
        alt_m: npt.NDArray[np.float64],
        speed_mps: npt.NDArray[np.float64],
        course_deg: npt.NDArray[np.float64],
    ) -> list[int]:
        """`routes` of one party's reports given as columns (NaN: absent), without report
        objects: the same masks."""
        if self.parts == 1:
            return [1] * len(units)
        homes = [self.home(f"{party}/{u}") for u in units]
        return self._routes(lat, lon, speed_mps, course_deg, ~np.isnan(alt_m), homes)

    def _routes(
        self,
        lat: npt.NDArray[np.float64],
        lon: npt.NDArray[np.float64],
        speed: npt.NDArray[np.float64],
        course: npt.NDArray[np.float64],
        air: npt.NDArray[np.bool_],
        homes: list[int],
    ) -> list[int]:
        n = len(homes)
        reach = self._reach(speed, course, air)
        dlat = reach / _M_PER_DEG
        coslat = np.cos(np.radians(np.minimum(np.abs(lat) + dlat, _LAT_LIMIT)))
        dlon = dlat / coslat
        c = self.cell_deg
        i0 = np.floor((lat - dlat) / c).astype(np.int64)
        i1 = np.floor((lat + dlat) / c).astype(np.int64)
        j0 = np.floor((lon - dlon) / c).astype(np.int64)
        j1 = np.floor((lon + dlon) / c).astype(np.int64)
        single = (i0 == i1) & (j0 == j1)
        first = math.floor(-180.0 / c)
        columns = math.ceil(360.0 / c)
        own = ((i0 * 73_856_093) ^ (((j0 - first) % columns + first) * 19_349_663)) % self.parts
        home = np.fromiter(homes, np.int64, n)
        masks = (np.int64(1) << home) | (np.int64(1) << own)
        multi = np.flatnonzero(~single)
        if multi.size:
            # A report whose reach spans several cells: its home and every cell's partition
            # (all partitions past 4 x parts cells), the cells of all such reports at once.
            rows = i1[multi] - i0[multi] + 1
            cols = j1[multi] - j0[multi] + 1
            cells = rows * cols
            wide = cells > 4 * self.parts
            masks[multi[wide]] = self.every
            few, count, cols = multi[~wide], cells[~wide], cols[~wide]
            if few.size:
                starts = np.cumsum(count) - count
                within = np.arange(int(count.sum())) - np.repeat(starts, count)
                width = np.repeat(cols, count)
                i = np.repeat(i0[few], count) + within // width
                j = np.repeat(j0[few], count) + within % width
                part = ((i * 73_856_093) ^ (((j - first) % columns + first) * 19_349_663)) % (
                    self.parts
                )
                cell_bits = np.bitwise_or.reduceat(np.int64(1) << part, starts)
                masks[few] = (np.int64(1) << home[few]) | cell_bits
        out: list[int] = masks.tolist()
        return out

    def answers(self, alert: Alert, latest: Callable[[str], PositionReport | None]) -> int:
        """The partition that answers for `alert`, from the latest report of each of its
        units that the caller has (`latest("party/unit")`, None when it has none)."""
        if self.parts == 1:
            return 0
        if alert.type in PAIR_TYPES:
            known = [(self.reach_m(r), u, r) for u in alert.units if (r := latest(u)) is not None]
            if known:
                r = min(known, key=lambda k: (k[0], k[1]))[2]
                return self.cell_part(*self.cell_of(r.lat, r.lon))
        return self.home(alert.units[0])


@functools.lru_cache(maxsize=1 << 18)
def _crc(unit: str) -> int:
    return zlib.crc32(unit.encode())


def bits(mask: int) -> list[int]:
    """The partitions of a mask."""
    return [p for p in range(MAX_PARTS) if mask >> p & 1]

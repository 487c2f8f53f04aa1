"""Movement plans as flat arrays of timed segments (Earth-centred and geodetic ends).

This is the one place movements become numbers: waypoints are densified (geo.densify),
converted to Earth-centred metres, and laid out one row per segment. Zero-length and
zero-duration segments are kept: a stationary unit is a segment that does not move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deconflict.geo.densify import densify_track
from deconflict.geo.ellipsoid import MEAN_RADIUS_M, FloatArray, to_ecef
from deconflict.model import Movement

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SegmentBatch:
    """Segments of several movements, row i belonging to movement `owner[i]`."""

    p0: FloatArray
    """(n, 3) Earth-centred start, metres."""
    p1: FloatArray
    """(n, 3) Earth-centred end, metres."""
    t: FloatArray
    """(n, 2) start and end, epoch seconds."""
    ll: FloatArray
    """(n, 4) lon0, lat0, lon1, lat1, degrees."""
    owner: IntArray
    """(n,) index of the movement in the batch."""

    def __len__(self) -> int:
        return int(self.owner.shape[0])

    def boxes(self, margin_m: FloatArray, margin_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Inflated (x, y, z, t) boxes; margins are per row. The chord's sag below the
        geodesic is added so the box holds the whole geodesic."""
        chord2 = np.einsum("ij,ij->i", self.p1 - self.p0, self.p1 - self.p0)
        pad = margin_m + chord2 / (8.0 * MEAN_RADIUS_M) + 1.0
        lo = np.empty((len(self), 4))
        hi = np.empty((len(self), 4))
        lo[:, :3] = np.minimum(self.p0, self.p1) - pad[:, None]
        hi[:, :3] = np.maximum(self.p0, self.p1) + pad[:, None]
        lo[:, 3] = self.t[:, 0] - margin_s
        hi[:, 3] = self.t[:, 1] + margin_s
        return lo, hi


def build_segments(movements: Sequence[Movement]) -> SegmentBatch:
    """All segments of `movements`, vectorised over the whole batch."""
    counts = np.fromiter((len(m.positions) for m in movements), np.int64, len(movements))
    total = int(counts.sum())
    lonlat = np.fromiter(
        (c for m in movements for p in m.positions for c in p[:2]), np.float64, 2 * total
    ).reshape(total, 2)
    times = np.fromiter((t for m in movements for t in m.times_s), np.float64, total)
    owner_pt = np.repeat(np.arange(len(movements)), counts)
    is_leg = owner_pt[1:] == owner_pt[:-1]
    lon, lat, t, new_index = densify_track(lonlat[:, 0], lonlat[:, 1], times, is_leg)
    # Owner of each densified point: points inserted after input point i belong to its owner.
    owner_new = np.empty(lon.shape[0], dtype=np.int64)
    marks = np.zeros(lon.shape[0], dtype=np.int64)
    marks[new_index] = 1
    owner_new[:] = owner_pt[np.cumsum(marks) - 1]
    xyz = to_ecef(lon, lat)
    keep = np.flatnonzero(owner_new[1:] == owner_new[:-1])
    return SegmentBatch(
        p0=xyz[keep],
        p1=xyz[keep + 1],
        t=np.stack([t[keep], t[keep + 1]], axis=1),
        ll=np.stack([lon[keep], lat[keep], lon[keep + 1], lat[keep + 1]], axis=1),
        owner=owner_new[keep],
    )

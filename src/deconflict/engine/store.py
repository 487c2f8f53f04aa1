"""The movement segments of the index: columns of timed segments, their hash grid, and
which rows belong to which declaration. Removal marks rows dead; once the dead outnumber
the live, the store is rebuilt (amortised O(1) per removal). Knows no parties or rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from deconflict.engine.arrays import Column
from deconflict.engine.grid import HashGrid, TooManyCells
from deconflict.engine.pairs import Side
from deconflict.engine.segments import SegmentBatch
from deconflict.geo.ellipsoid import FloatArray

IntArray = npt.NDArray[np.int64]

_COLUMNS: dict[str, tuple[type, tuple[int, ...]]] = {
    "p0": (np.float64, (3,)),
    "p1": (np.float64, (3,)),
    "t": (np.float64, (2,)),
    "ll": (np.float64, (4,)),
    "slot": (np.int64, ()),
    "lo": (np.float64, (4,)),
    "hi": (np.float64, (4,)),
}
_MIN_DEAD_TO_COMPACT = 10_000


class SegmentStore:
    """Rows of segments with their inflated (x, y, z, t) boxes, indexed by a HashGrid."""

    def __init__(self, min_cell_m: float, cell_m: float | None, cell_s: float | None) -> None:
        self._min_cell_m = min_cell_m
        self._cell = (cell_m, cell_s)
        self._cols = {name: Column(dtype, shape) for name, (dtype, shape) in _COLUMNS.items()}
        self._ranges: dict[int, tuple[int, int]] = {}
        self.dead = 0
        """Rows that belong to removed declarations, not yet compacted away."""
        self._grid: HashGrid | None = None
        self._sized_at = 0
        """Rows when the cells were last chosen: they are chosen again, from the data, each
        time the store has grown fourfold (geometric, so amortised O(1) per row)."""
        self.t_min = math.inf
        """Earliest time any box reaches (never shrinks on removal: only a bound)."""
        self.t_max = -math.inf

    def col(self, name: str) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = self._cols[name].view
        return out

    @property
    def slots(self) -> IntArray:
        out: IntArray = self._cols["slot"].view
        return out

    @property
    def rows(self) -> int:
        return self._cols["slot"].size

    def add(
        self, seg: SegmentBatch, slots: IntArray, margin_m: FloatArray, margin_s: FloatArray
    ) -> None:
        """Store the segments of `len(slots)` movements; `seg.owner` indexes `slots`, and
        margins are per segment row."""
        lo, hi = seg.boxes(margin_m, margin_s)
        if self._grid is None:
            self._grid = HashGrid(*self._cell_size(lo, hi))
            self._sized_at = len(seg)
        start = self.rows
        values = {
            "p0": seg.p0,
            "p1": seg.p1,
            "t": seg.t,
            "ll": seg.ll,
            "slot": slots[seg.owner],
            "lo": lo,
            "hi": hi,
        }
        for name, column in self._cols.items():
            column.extend(values[name])
        # Owners are contiguous and in batch order.
        bounds = np.searchsorted(seg.owner, np.arange(len(slots) + 1))
        for i, slot in enumerate(slots.tolist()):
            self._ranges[slot] = (start + int(bounds[i]), start + int(bounds[i + 1]))
        self._grid.insert(np.arange(start, start + len(seg)), lo, hi)
        if self.rows > 4 * max(self._sized_at, 1000):
            self._compact()
        if len(seg):
            self.t_min = min(self.t_min, float(lo[:, 3].min()))
            self.t_max = max(self.t_max, float(hi[:, 3].max()))

    def _cell_size(self, lo: FloatArray, hi: FloatArray) -> tuple[float, float]:
        """Cells about twice the median box: each box spans ~1.5 cells per axis."""
        cell_m, cell_s = self._cell
        if cell_m is None:
            ext = np.median((hi[:, :3] - lo[:, :3]).max(axis=1)) if len(lo) >= 100 else 0.0
            cell_m = float(np.clip(2 * ext, self._min_cell_m, 200_000))
        if cell_s is None:
            ext_t = np.median(hi[:, 3] - lo[:, 3]) if len(lo) >= 100 else 0.0
            cell_s = float(np.clip(2 * ext_t, 3600, 7 * 86400))
        return cell_m, cell_s

    def remove(self, slot: int) -> None:
        rng = self._ranges.pop(slot, None)
        if rng is None:
            return
        self.dead += rng[1] - rng[0]
        if self.dead > max(_MIN_DEAD_TO_COMPACT, self.rows - self.dead):
            self._compact()

    def _compact(self) -> None:
        """Drop dead rows and rebuild the grid, with cells chosen again from the live rows."""
        live = sorted(self._ranges.items(), key=lambda kv: kv[1][0])
        keep = (
            np.concatenate([np.arange(a, b) for _, (a, b) in live])
            if live
            else np.zeros(0, dtype=np.int64)
        )
        for name, column in list(self._cols.items()):
            dtype, shape = _COLUMNS[name]
            fresh = Column(dtype, shape, max(1024, keep.size))
            fresh.extend(column.view[keep])
            self._cols[name] = fresh
        pos = 0
        for slot, (a, b) in live:
            self._ranges[slot] = (pos, pos + b - a)
            pos += b - a
        self.dead = 0
        lo, hi = self.col("lo"), self.col("hi")
        self._grid = HashGrid(*self._cell_size(lo, hi))
        self._sized_at = keep.size
        self._grid.insert(np.arange(keep.size), lo, hi)

    def batch_of(self, slot: int) -> SegmentBatch:
        a, b = self._ranges[slot]
        c = self._cols
        return SegmentBatch(
            c["p0"].view[a:b],
            c["p1"].view[a:b],
            c["t"].view[a:b],
            c["ll"].view[a:b],
            np.zeros(b - a, dtype=np.int64),
        )

    def candidates(self, lo: FloatArray, hi: FloatArray) -> tuple[IntArray, IntArray]:
        """(query box, row) pairs whose boxes may overlap; may repeat and include dead rows."""
        if self._grid is None or self.rows == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        try:
            return self._grid.candidates(lo, hi)
        except TooManyCells:
            # A box wider than the grid is worth: test every row against it instead.
            slo, shi = self.col("lo"), self.col("hi")
            qs, cs = [], []
            for i in range(lo.shape[0]):
                hit = np.flatnonzero(np.all((slo <= hi[i]) & (shi >= lo[i]), axis=1))
                qs.append(np.full(hit.size, i, dtype=np.int64))
                cs.append(hit.astype(np.int64))
            return np.concatenate(qs), np.concatenate(cs)

    def co_cell_pairs(self) -> Iterator[tuple[IntArray, IntArray]]:
        if self._grid is not None:
            yield from self._grid.co_cell_pairs()

    def side(self, rows: IntArray, uncertainty_s: FloatArray) -> Side:
        """One side of candidate pairs: stored rows, with each row's time uncertainty."""
        c = self._cols
        return Side(
            c["p0"].view[rows],
            c["p1"].view[rows],
            c["t"].view[rows],
            c["ll"].view[rows],
            uncertainty_s,
        )

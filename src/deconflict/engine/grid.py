"""A uniform hash grid over (x, y, z, t): Earth-centred metres and epoch seconds.

Each item (a movement segment) is registered in every cell its inflated box overlaps;
inserting is O(cells of the box), so the index grows one declaration at a time without
rebuilds. Cell keys are packed into 63 bits with wrap-around: two far-apart cells may share
a key, which only adds candidates that the exact box test then drops, never loses one.
Removed items are not unregistered here; the engine filters them and compacts.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_MAX_CELLS_PER_BOX = 4096


class TooManyCells(Exception):
    """A query box spans more cells than it is worth enumerating: scan instead."""


class HashGrid:
    """Item ids by 4-D cell. Not thread-safe; the engine serialises writers."""

    def __init__(self, cell_m: float, cell_s: float) -> None:
        self.cell = np.array([cell_m, cell_m, cell_m, cell_s], dtype=np.float64)
        self._cells: dict[int, array[int]] = {}

    def _cell_ranges(self, lo: FloatArray, hi: FloatArray) -> tuple[IntArray, IntArray]:
        ilo = np.floor(lo / self.cell).astype(np.int64)
        ihi = np.floor(hi / self.cell).astype(np.int64)
        return ilo, ihi

    def _keys(self, lo: FloatArray, hi: FloatArray, limit: int | None) -> tuple[IntArray, IntArray]:
        """(keys, box index) of every cell each box overlaps; O(total cells)."""
        ilo, ihi = self._cell_ranges(lo, hi)
        span = ihi - ilo + 1
        counts = np.prod(span, axis=1)
        if limit is not None and counts.size and int(counts.max()) > limit:
            raise TooManyCells
        total = int(counts.sum())
        box = np.repeat(np.arange(lo.shape[0]), counts)
        offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        keys = np.zeros(total, dtype=np.int64)
        for dim, bits in ((0, 16), (1, 16), (2, 16), (3, 15)):
            s = span[box, dim]
            idx = ilo[box, dim] + offset % s
            offset //= s
            keys = (keys << bits) | (idx & ((1 << bits) - 1))
        return keys, box

    def insert(self, ids: IntArray, lo: FloatArray, hi: FloatArray) -> None:
        """Register items `ids` with boxes lo/hi ((n, 4) each)."""
        if ids.size == 0:
            return
        keys, box = self._keys(lo, hi, None)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        item = ids[box[order]].astype(np.int32)
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        ends = np.append(starts[1:], keys.size)
        cells = self._cells
        for key, a, b in zip(keys[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
            chunk = item[a:b].tobytes()
            bucket = cells.get(key)
            if bucket is None:
                bucket = cells[key] = array("i")
            bucket.frombytes(chunk)

    def candidates(self, lo: FloatArray, hi: FloatArray) -> tuple[IntArray, IntArray]:
        """(box index, item id) pairs for items sharing a cell with each query box.

        Pairs may repeat; cost is O(cells of the boxes + items found). Raises TooManyCells
        when one box spans more cells than a scan of everything would cost.
        """
        limit = min(_MAX_CELLS_PER_BOX, max(64, 4 * len(self._cells)))
        keys, box = self._keys(lo, hi, limit)
        uniq, inverse = np.unique(keys, return_inverse=True)
        get = self._cells.get
        found = [get(k) for k in uniq.tolist()]
        lengths = np.fromiter((0 if f is None else len(f) for f in found), np.int64, len(found))
        if not lengths.any():
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        flat = np.concatenate([np.frombuffer(f, dtype=np.int32) for f in found if f])
        starts = np.cumsum(lengths) - lengths
        per = lengths[inverse]
        total = int(per.sum())
        q = np.repeat(box, per)
        pos = np.repeat(starts[inverse] - (np.cumsum(per) - per), per) + np.arange(total)
        return q, flat[pos].astype(np.int64)

    def co_cell_pairs(self, max_pairs: int = 4_000_000) -> Iterator[tuple[IntArray, IntArray]]:
        """Chunks of (i, j) item pairs that share a cell, each cell's pairs once (i before j
        in the cell). A pair sharing several cells comes once per cell."""
        batch: list[array[int]] = []
        batch_pairs = 0
        for bucket in self._cells.values():
            m = len(bucket)
            if m < 2:
                continue
            batch.append(bucket)
            batch_pairs += m * (m - 1) // 2
            if batch_pairs >= max_pairs:
                yield self._pairs_of(batch)
                batch, batch_pairs = [], 0
        if batch:
            yield self._pairs_of(batch)

    @staticmethod
    def _pairs_of(buckets: list[array[int]]) -> tuple[IntArray, IntArray]:
        lengths = np.fromiter((len(b) for b in buckets), np.int64, len(buckets))
        flat = np.concatenate([np.frombuffer(b, dtype=np.int32) for b in buckets]).astype(np.int64)
        starts = np.cumsum(lengths) - lengths
        # For the entry at position p of a cell of size m: pair it with p+1 .. m-1.
        cell = np.repeat(np.arange(lengths.size), lengths)
        pos = np.arange(flat.size) - starts[cell]
        reps = lengths[cell] - 1 - pos
        left = np.repeat(np.arange(flat.size), reps)
        right = left + 1 + (np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps))
        return flat[left], flat[right]

"""Growable columnar numpy arrays: append in O(1) amortised, read as one contiguous view."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class Column:
    """One growable array with a fixed dtype and trailing shape."""

    def __init__(self, dtype: Any, shape: tuple[int, ...] = (), capacity: int = 1024) -> None:
        self._data: npt.NDArray[Any] = np.zeros((capacity, *shape), dtype=dtype)
        self.size = 0

    def extend(self, values: npt.ArrayLike) -> tuple[int, int]:
        """Append rows; returns the (start, stop) they occupy."""
        values = np.asarray(values, dtype=self._data.dtype)
        n = values.shape[0]
        need = self.size + n
        if need > self._data.shape[0]:
            cap = max(need, 2 * self._data.shape[0])
            grown = np.zeros((cap, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        start, self.size = self.size, need
        return start, need

    @property
    def view(self) -> npt.NDArray[Any]:
        return self._data[: self.size]

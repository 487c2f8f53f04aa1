"""Bounds on what one declaration file may hold, so a hostile or broken file is refused
before it costs memory or CPU. Holds only the numbers; never reads input itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Documented defaults an operator can change (CLI flags, service settings)."""

    max_bytes: int = 64 * 1024 * 1024
    """Largest declaration file, bytes; checked before the file is read."""
    max_features: int = 100_000
    """Most features in one file."""
    max_positions: int = 10_000
    """Most positions in one movement, or in all rings of one polygon together."""
    max_buffer_m: float = 100_000
    """Largest `buffer_m`, metres."""
    max_uncertainty_s: float = 7 * 86400
    """Largest `time_uncertainty_s`, seconds (a week)."""
    max_speed_kmh: float = 5000
    """Largest `speed_kmh` of a movement declared by departure and speed."""


DEFAULT_LIMITS = Limits()
"""The documented defaults, shared so every caller agrees on them."""

"""Bounds on what one declaration file, and one service request, may hold, so a hostile or
broken input is refused before it costs memory or CPU. Holds only the numbers; never reads
input itself (`bounds.check_bounds` applies those on a declaration's area and times).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

_COUNTS = frozenset(
    {
        "max_bytes",
        "max_features",
        "max_positions",
        "max_page",
        "default_page",
        "max_track_bytes",
        "max_reports",
        "max_message_bytes",
        "max_batch_reports",
        "max_name_chars",
    }
)
"""Limits that count things, so must be whole numbers."""


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
    max_zone_area_km2: float = 250_000.0
    """Largest area of a zone or polygon site, km², geodesic on WGS84 (holes subtracted,
    `buffer_m` not added)."""
    max_plan_duration_s: float = 30 * 86400.0
    """Longest plan, seconds (30 days): a movement's last time minus its first; a site's or
    zone's `valid_to` minus `valid_from` when both are given (open-ended validity is not
    bounded)."""
    max_lead_s: float = 366 * 86400.0
    """How far after now a declaration may start, seconds (366 days): a movement's first
    time, a site's or zone's `valid_from`."""
    max_page: int = 500
    """Most results one API page may return, whatever the caller asks for."""
    default_page: int = 100
    """Results on one API page when the caller does not say; at most `max_page`."""
    max_track_bytes: int = 256 * 1024 * 1024
    """Largest track file for replay (CSV, GPX, GeoJSON, CoT), bytes; checked before reading."""
    max_reports: int = 5_000_000
    """Most position reports in one track file."""
    max_message_bytes: int = 64 * 1024
    """Largest single network message, bytes: one CoT event, one OwnTracks JSON message, one
    OsmAnd query; a CoT stream holding more than this without ending an event is cut."""
    max_batch_reports: int = 10_000
    """Most reports in one network batch (an HTTP array, one read of a CoT stream)."""
    max_name_chars: int = 128
    """Longest unit id or movement id in a position report, characters."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            whole = field.name in _COUNTS
            kind = "a whole number" if whole else "a finite number"
            if (
                isinstance(value, bool)
                or not isinstance(value, int if whole else int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ValueError(f"limit {field.name} must be {kind} above 0, not {value!r}")
        if self.default_page > self.max_page:
            raise ValueError(
                f"limit default_page ({self.default_page}) must not be more than "
                f"max_page ({self.max_page})"
            )


DEFAULT_LIMITS = Limits()
"""The documented defaults, shared so every caller agrees on them."""

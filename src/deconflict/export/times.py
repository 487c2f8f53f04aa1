"""Epoch seconds to the ISO 8601 UTC text every output shows (`2020-08-25T09:00:00Z`).

One formatter for the JSON wire and the CLI tables, so both print the same instant the same
way. Never uses the local zone.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_time(epoch_s: float) -> str:
    """ISO 8601 in UTC with a Z; milliseconds only when they are not zero.

    Rounded to the millisecond: engine times come out of float arithmetic, and a residue
    like 09:00:00.0000001 would otherwise print as a sub-second part nobody declared.
    """
    if not math.isfinite(epoch_s):
        raise ValueError(f"cannot format {epoch_s!r} as a time")
    seconds, millis = divmod(round(epoch_s * 1000), 1000)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def format_time_or_none(epoch_s: float | None) -> str | None:
    """As format_time, with None for an open end (None or ±infinity)."""
    if epoch_s is None or math.isinf(epoch_s):
        return None
    return format_time(epoch_s)

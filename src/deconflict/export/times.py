"""Epoch seconds to the ISO 8601 UTC text every output shows (`2020-08-25T09:00:00Z`).

One formatter for the JSON wire, the CLI tables and exported declaration files, so all print
the same instant the same way. Never uses the local zone.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from fractions import Fraction

_EPOCH_DAY = date(1970, 1, 1)
_DAYS: dict[int, str] = {}
"""Day number since 1970-01-01 -> its ISO date: reads format a dozen times each, most of
them on a few days, and the date is the dear part of the text (datetime arithmetic)."""
_DAYS_KEPT = 50_000


def _day(days: int) -> str:
    text = _DAYS.get(days)
    if text is None:
        # date.isoformat pads years before 1000 to four digits (strftime's %Y does not).
        text = (_EPOCH_DAY + timedelta(days=days)).isoformat()
        if len(_DAYS) < _DAYS_KEPT:
            _DAYS[days] = text
    return text


def format_time(epoch_s: float, *, exact: bool = False) -> str:
    """ISO 8601 in UTC with a Z; sub-second digits only when they are not zero.

    By default rounded to the millisecond: engine times come out of float arithmetic, and a
    residue like 09:00:00.0000001 would otherwise print as a sub-second part nobody declared.
    With `exact`, rounded to the microsecond instead (3 or 6 digits, as few as suffice), the
    finest an ISO 8601 time is read back at: a time parsed from a file prints as text that
    parses back to the very same float, which exported declaration files need.
    """
    if not math.isfinite(epoch_s):
        raise ValueError(f"cannot format {epoch_s!r} as a time")
    if exact:
        # Exact rational arithmetic: epoch_s * 1e6 in floats can be off by a microsecond
        # far from 1970, and the text must name the microsecond nearest the float itself.
        micros = round(Fraction(epoch_s) * 1_000_000)
        seconds, fraction = divmod(micros, 1_000_000)
        digits = 6
        if fraction % 1000 == 0:
            fraction, digits = fraction // 1000, 3
    else:
        seconds, fraction = divmod(round(epoch_s * 1000), 1000)
        digits = 3
    days, second = divmod(seconds, 86_400)
    try:
        day = _day(days)
    except OverflowError:
        raise ValueError(f"cannot format {epoch_s!r} as a time in years 1 to 9999") from None
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    if fraction:
        return f"{day}T{hour:02d}:{minute:02d}:{second:02d}.{fraction:0{digits}d}Z"
    return f"{day}T{hour:02d}:{minute:02d}:{second:02d}Z"


def format_time_or_none(epoch_s: float | None) -> str | None:
    """As format_time, with None for an open end (None or ±infinity)."""
    if epoch_s is None or math.isinf(epoch_s):
        return None
    return format_time(epoch_s)

"""ISO 8601 times with a zone offset, parsed to epoch seconds (SPEC section 2).

Refuses naive times: a time without a zone is ambiguous by hours in the field.
Never guesses a zone, never reads the clock.
"""

from __future__ import annotations

from datetime import datetime

from deconflict.ingest.fields import RuleBroken, describe

_MAX_TIME_CHARS = 64
"""No sensible ISO 8601 time is longer; refuse before parsing anything bigger."""

_EXAMPLE = "like 2020-08-25T09:00:00Z or 2020-08-25T12:00:00+03:00"


def parse_time(value: object, name: str) -> float:
    """`value` as epoch seconds, or RuleBroken saying what is wrong with `name`."""
    if not isinstance(value, str):
        raise RuleBroken(f"{name} must be an ISO 8601 time {_EXAMPLE}, not {describe(value)}")
    if len(value) > _MAX_TIME_CHARS:
        raise RuleBroken(f"{name} is {len(value)} characters long, too long for a time {_EXAMPLE}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RuleBroken(f"{name} {value!r} is not an ISO 8601 time; write it {_EXAMPLE}") from None
    if parsed.utcoffset() is None:
        raise RuleBroken(
            f"{name} {value!r} is a naive time without a zone offset, so it is ambiguous; "
            f"add Z for UTC or an offset, {_EXAMPLE}"
        )
    return parsed.timestamp()

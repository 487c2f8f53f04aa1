"""Conflicts and zone crossings as the JSON objects of SPEC section 3.

Rounds for people and diffs (0.01 m, 7 decimal degrees ~ 1 cm), never for decisions: the
engine's own numbers stay unrounded. Field names and order are the contract; change SPEC first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from deconflict.export.times import format_time, format_time_or_none
from deconflict.model import Conflict, Crossing

DISTANCE_DECIMALS = 2
"""min_distance_m to the centimetre."""
DEGREE_DECIMALS = 7
"""Longitude and latitude to about a centimetre."""


def _rounded(value: float, decimals: int) -> float:
    # Adding 0.0 turns -0.0 into 0.0, so a rounding residue never prints as "-0.0".
    return round(value, decimals) + 0.0


def conflict_to_wire(conflict: Conflict) -> dict[str, Any]:
    """`{a, b, party_a, party_b, start, end, min_distance_m, at: [lon, lat]}`."""
    lon, lat = conflict.at
    return {
        "a": conflict.a,
        "b": conflict.b,
        "party_a": conflict.party_a,
        "party_b": conflict.party_b,
        "start": format_time(conflict.start_s),
        "end": format_time(conflict.end_s),
        "min_distance_m": _rounded(conflict.min_distance_m, DISTANCE_DECIMALS),
        "at": [_rounded(lon, DEGREE_DECIMALS), _rounded(lat, DEGREE_DECIMALS)],
    }


def crossing_to_wire(crossing: Crossing) -> dict[str, Any]:
    """`{zone, zone_party, zone_type, movement, movement_party, start, end}`."""
    return {
        "zone": crossing.zone,
        "zone_party": crossing.zone_party,
        "zone_type": str(crossing.zone_type),
        "movement": crossing.movement,
        "movement_party": crossing.movement_party,
        "start": format_time_or_none(crossing.start_s),
        "end": format_time_or_none(crossing.end_s),
    }


def conflicts_json(conflicts: Iterable[Conflict]) -> str:
    """One JSON array of conflict objects, as `check --format json` prints it."""
    return json.dumps([conflict_to_wire(c) for c in conflicts], indent=2, allow_nan=False)

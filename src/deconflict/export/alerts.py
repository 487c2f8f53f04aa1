"""Alerts on the wire: one alert event as a line of `replay --format jsonl` and as the
`alert` of a stream event (SPEC section 5), times in ISO 8601 UTC."""

from __future__ import annotations

from typing import Any

from deconflict.export.times import format_time
from deconflict.model.positions import Alert


def alert_json(a: Alert) -> dict[str, Any]:
    """One alert event as SPEC section 5 writes it; fields that do not apply are None."""
    return {
        "alert": a.alert,
        "event": a.event.value,
        "type": a.type.value,
        "time": format_time(a.time_s),
        "units": list(a.units),
        "parties": list(a.parties),
        "distance_m": a.distance_m,
        "cpa_time": None if a.cpa_time_s is None else format_time(a.cpa_time_s),
        "cpa_distance_m": a.cpa_distance_m,
        "declarations": list(a.declarations),
    }

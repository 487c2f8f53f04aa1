"""What units report and what the tactical monitor says about them (SPEC section 5):
position reports, alert kinds and alert events.

It holds plain values; it must never hold parsing (deconflict.ingest.positions) or the
monitor's state (deconflict.engine.monitor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class PositionReport:
    """One report of one unit: where it was at a moment, as its tracker said."""

    unit: str
    """The unit's id, unique within its party."""
    party: str
    """The party the unit belongs to (set from the reporting credentials, never trusted
    from the report itself)."""
    time_s: float
    """When the unit was there (report time, not arrival time), epoch seconds."""
    lon: float
    lat: float
    alt_m: float | None = None
    """Altitude, metres above mean sea level; None for a ground unit."""
    speed_mps: float | None = None
    """Ground speed, m/s, if the tracker gave it."""
    course_deg: float | None = None
    """Course over ground, degrees clockwise from true north, if given."""
    movement: str | None = None
    """Id of the party's declaration (movement) the unit moves under, if any."""
    source: str = ""
    """Where it came from (http, cot, owntracks, osmand, csv, gpx, geojson), for counts."""

    @property
    def key(self) -> tuple[str, str]:
        """(party, unit): a unit's identity across parties."""
        return (self.party, self.unit)

    def is_finite(self) -> bool:
        """Time and place are real numbers (NaN and infinities are absurd reports)."""
        values = [self.time_s, self.lon, self.lat]
        values += [v for v in (self.alt_m, self.speed_mps, self.course_deg) if v is not None]
        return all(math.isfinite(v) for v in values)


class AlertType(StrEnum):
    PROXIMITY = "proximity"
    PREDICTED_PROXIMITY = "predicted_proximity"
    DEVIATION = "deviation"
    INTRUSION = "intrusion"
    STALE = "stale"


class AlertEvent(StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Alert:
    """One line of `replay --format jsonl` and of the stream (SPEC section 5): an alert
    opening, updating or closing. Fields that do not apply are None."""

    alert: str
    """Stable id of the alert across its open, updates and close."""
    event: AlertEvent
    type: AlertType
    time_s: float
    """Report time at which this event happened, epoch seconds."""
    units: tuple[str, ...]
    """The units involved, as `party/unit`, sorted."""
    parties: tuple[str, ...]
    """Every party involved (owners of the units, and of the site or zone intruded)."""
    distance_m: float | None = None
    """Current horizontal distance (proximity, intrusion) or deviation from plan, metres."""
    cpa_time_s: float | None = None
    """Time of closest approach (predicted proximity), epoch seconds."""
    cpa_distance_m: float | None = None
    """Distance at closest approach (predicted proximity), metres."""
    declarations: tuple[str, ...] = ()
    """Declarations involved, as `party/id` (the movement deviated from, the site or zone
    intruded)."""

"""What the engine finds: conflicts (SPEC section 3) and zone crossings."""

from __future__ import annotations

from dataclasses import dataclass

from deconflict.model.declarations import ZoneType


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two declarations of different parties that may come within the separation minima
    during one maximal interval of time. `(party_a, a) < (party_b, b)`."""

    a: str
    """Id of the first declaration."""
    b: str
    """Id of the second declaration."""
    party_a: str
    """Party of the first declaration."""
    party_b: str
    """Party of the second declaration."""
    start_s: float
    """Start of the interval during which the conflict holds, epoch seconds."""
    end_s: float
    """End of that interval, epoch seconds (equal to start for an instant)."""
    min_distance_m: float
    """Least horizontal distance, metres, between what they may occupy, buffers included
    (0 when they may touch)."""
    at: tuple[float, float]
    """(lon, lat) of the midpoint of the closest approach."""


@dataclass(frozen=True, slots=True)
class Crossing:
    """A movement that passes through a corridor or ceasefire zone: reported, not a conflict."""

    zone: str
    """Id of the zone."""
    zone_party: str
    """Party that declared the zone."""
    zone_type: ZoneType
    """`corridor` or `ceasefire`."""
    movement: str
    """Id of the movement."""
    movement_party: str
    """Party of the movement."""
    start_s: float
    """When the movement may first be inside, epoch seconds."""
    end_s: float
    """When it may last be inside, epoch seconds."""

"""Declarations: what a party says it will do (movement) or hold (site, zone).

Times are seconds since the Unix epoch (UTC) as floats, so the engine never converts
per comparison; positions are (lon, lat) degrees on WGS84. Objects are immutable and
already valid: the ingest layer refuses anything that breaks SPEC section 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeAlias

import shapely


class DeclarationKind(StrEnum):
    MOVEMENT = "movement"
    SITE = "site"
    ZONE = "zone"


class ZoneType(StrEnum):
    RESTRICTED = "restricted"
    """Entering it (touching counts) is a conflict."""
    CORRIDOR = "corridor"
    """Agreed passage; crossings are reported, never a conflict."""
    CEASEFIRE = "ceasefire"
    """Area under a ceasefire; crossings are reported, never a conflict."""


class DeclarationKey(NamedTuple):
    """A declaration's identity: ids are unique within their party only."""

    party: str
    id: str

    def __str__(self) -> str:
        return f"{self.party}/{self.id}"


@dataclass(frozen=True, eq=False)
class Movement:
    """A unit's planned route with times (patrol, convoy, evacuation, flight)."""

    id: str
    """Unique within its party."""
    party: str
    """The declaring party."""
    positions: tuple[tuple[float, float], ...]
    """Waypoints as (lon, lat) degrees; at least two."""
    times_s: tuple[float, ...]
    """Epoch seconds, one per waypoint, non-decreasing. Between two waypoints the unit moves
    at constant speed along the geodesic."""
    alt_min_m: float = 0.0
    """Bottom of the vertical band the unit occupies, metres above ground."""
    alt_max_m: float = 5.0
    """Top of the vertical band, metres above ground."""
    buffer_m: float = 0.0
    """Half-width occupied around the route, metres."""
    time_uncertainty_s: float = 0.0
    """The unit may be up to this many seconds early or late on its plan."""
    properties: dict[str, Any] = field(default_factory=dict)
    """Every other property of the feature, kept as given (name, notes, emergency...)."""

    kind = DeclarationKind.MOVEMENT

    @property
    def key(self) -> DeclarationKey:
        return DeclarationKey(self.party, self.id)

    @property
    def start_s(self) -> float:
        return self.times_s[0]

    @property
    def end_s(self) -> float:
        return self.times_s[-1]


@dataclass(frozen=True, eq=False)
class _Area:
    id: str
    """Unique within its party."""
    party: str
    """The declaring party."""
    geometry: shapely.Point | shapely.Polygon
    """Point or Polygon in (lon, lat) degrees; polygon edges are geodesics."""
    valid_from_s: float | None = None
    """Start of validity, epoch seconds; None: since always."""
    valid_to_s: float | None = None
    """End of validity, epoch seconds; None: for ever."""
    alt_min_m: float = 0.0
    """Bottom of the vertical band, metres above ground."""
    alt_max_m: float = 5.0
    """Top of the vertical band, metres above ground (math.inf: unbounded)."""
    buffer_m: float = 0.0
    """Distance occupied around the geometry, metres."""
    properties: dict[str, Any] = field(default_factory=dict)
    """Every other property of the feature, kept as given."""

    @property
    def key(self) -> DeclarationKey:
        return DeclarationKey(self.party, self.id)

    @property
    def start_s(self) -> float:
        return -math.inf if self.valid_from_s is None else self.valid_from_s

    @property
    def end_s(self) -> float:
        return math.inf if self.valid_to_s is None else self.valid_to_s


@dataclass(frozen=True, eq=False)
class Site(_Area):
    """A static place to be protected (hospital, aid warehouse, base)."""

    kind = DeclarationKind.SITE


@dataclass(frozen=True, eq=False)
class Zone(_Area):
    """An area with a rule and a time window."""

    zone_type: ZoneType = ZoneType.RESTRICTED
    """What the zone means for movements that enter it."""
    alt_max_m: float = math.inf

    kind = DeclarationKind.ZONE


Declaration: TypeAlias = Movement | Site | Zone


def vertical_gap_m(a: Declaration, b: Declaration) -> float:
    """Vertical distance between two altitude bands; 0 when they overlap."""
    return max(0.0, max(a.alt_min_m, b.alt_min_m) - min(a.alt_max_m, b.alt_max_m))

"""One GeoJSON Feature to one declaration (Movement, Site or Zone), per SPEC section 2.

Collects every rule a feature breaks instead of stopping at the first, so an operator fixes
a file in one pass. Never returns a half-checked declaration: problems or an object, not both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import shapely

from deconflict.errors import Problem
from deconflict.ingest.fields import RuleBroken, describe, find_non_finite, number, shown
from deconflict.ingest.geometry import point, polygon, positions
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.plans import listed_times, times_at_speed
from deconflict.ingest.times import parse_time
from deconflict.model import Declaration, DeclarationKind, Movement, Site, Zone, ZoneType

T = TypeVar("T")

_PARTY = re.compile(r"[A-Za-z0-9_-]{1,32}")
_MAX_ID_CHARS = 128

_COMMON = frozenset({"id", "party", "kind", "alt_min_m", "alt_max_m", "buffer_m"})
_ONLY_FOR: dict[str, frozenset[DeclarationKind]] = {
    "times": frozenset({DeclarationKind.MOVEMENT}),
    "departure": frozenset({DeclarationKind.MOVEMENT}),
    "speed_kmh": frozenset({DeclarationKind.MOVEMENT}),
    "time_uncertainty_s": frozenset({DeclarationKind.MOVEMENT}),
    "valid_from": frozenset({DeclarationKind.SITE, DeclarationKind.ZONE}),
    "valid_to": frozenset({DeclarationKind.SITE, DeclarationKind.ZONE}),
    "zone_type": frozenset({DeclarationKind.ZONE}),
}
_KNOWN = _COMMON | _ONLY_FOR.keys()
_GEOMETRY_TYPES = {
    DeclarationKind.MOVEMENT: ("LineString",),
    DeclarationKind.SITE: ("Point", "Polygon"),
    DeclarationKind.ZONE: ("Polygon",),
}


class _Reader:
    """Reads one feature, recording each broken rule as a Problem."""

    def __init__(self, index: int, source: str | None, limits: Limits) -> None:
        self.index = index
        self.source = source
        self.limits = limits
        self.id: str | None = None
        self.problems: list[Problem] = []

    def fail(self, rule: str) -> None:
        self.problems.append(Problem(self.index, self.id, rule, self.source))

    def read(self, feature: object) -> Declaration | None:
        if not isinstance(feature, Mapping):
            self.fail(f"a feature must be a GeoJSON Feature object, not {describe(feature)}")
            return None
        props = feature.get("properties")
        if isinstance(props, Mapping):
            # Read the id first, so every later problem names it.
            self.id = self._id(props, feature.get("id"))
        if feature.get("type") != "Feature":
            self.fail(f'its type must be "Feature", not {describe(feature.get("type"))}')
        if not isinstance(props, Mapping):
            self.fail(
                f"its properties must be an object holding id, party and kind, "
                f"not {describe(props)}"
            )
            return None
        party = self._party(props.get("party"))
        kind = self._kind(props.get("kind"))
        buffer_m = self._try(
            lambda: _optional_number(
                props.get("buffer_m"),
                "buffer_m",
                0.0,
                maximum=self.limits.max_buffer_m,
                limit="max_buffer_m",
            )
        )
        if kind is None:
            return None
        for key in sorted(props.keys() & _ONLY_FOR.keys()):
            if kind not in _ONLY_FOR[key] and props[key] is not None:
                allowed = " and ".join(sorted(k.value + "s" for k in _ONLY_FOR[key]))
                self.fail(
                    f"{key} applies to {allowed} only, not to a {kind.value}; remove it or fix kind"
                )
        extra = {k: v for k, v in props.items() if k not in _KNOWN}
        bad = find_non_finite(extra, "properties")
        if bad:
            self.fail(f"{bad} is NaN or Infinity, which JSON does not allow; use a number or null")
        if kind is DeclarationKind.MOVEMENT:
            return self._movement(props, feature.get("geometry"), party, buffer_m, extra)
        return self._area(props, feature.get("geometry"), kind, party, buffer_m, extra)

    def _movement(
        self,
        props: Mapping[str, Any],
        geometry: object,
        party: str | None,
        buffer_m: float | None,
        extra: dict[str, Any],
    ) -> Movement | None:
        coords = self._coordinates(geometry, DeclarationKind.MOVEMENT)
        route = (
            None
            if coords is None
            else self._try(
                lambda: positions(coords[1], "the route", min_count=2, limits=self.limits)
            )
        )
        band = self._band(props, DeclarationKind.MOVEMENT, route.altitudes_m if route else None)
        times = self._movement_times(props, route.lonlat if route else None)
        uncertainty = self._try(
            lambda: _optional_number(
                props.get("time_uncertainty_s"),
                "time_uncertainty_s",
                0.0,
                maximum=self.limits.max_uncertainty_s,
                limit="max_uncertainty_s",
            )
        )
        if (
            self.problems
            or self.id is None
            or party is None
            or route is None
            or band is None
            or times is None
            or uncertainty is None
            or buffer_m is None
        ):
            return None
        return Movement(
            id=self.id,
            party=party,
            positions=tuple(route.lonlat),
            times_s=tuple(times),
            alt_min_m=band[0],
            alt_max_m=band[1],
            buffer_m=buffer_m,
            time_uncertainty_s=uncertainty,
            properties=extra,
        )

    def _area(
        self,
        props: Mapping[str, Any],
        geometry: object,
        kind: DeclarationKind,
        party: str | None,
        buffer_m: float | None,
        extra: dict[str, Any],
    ) -> Site | Zone | None:
        coords = self._coordinates(geometry, kind)
        shape: tuple[shapely.Point | shapely.Polygon, list[float] | None] | None = None
        if coords is not None:
            gtype, value = coords
            shape = self._try(
                lambda: point(value) if gtype == "Point" else polygon(value, self.limits)
            )
        band = self._band(props, kind, shape[1] if shape else None)
        window = self._validity(props)
        zone_type = (
            self._zone_type(props.get("zone_type"))
            if kind is DeclarationKind.ZONE
            else ZoneType.RESTRICTED
        )
        if (
            self.problems
            or self.id is None
            or party is None
            or shape is None
            or band is None
            or window is None
            or zone_type is None
            or buffer_m is None
        ):
            return None
        common: dict[str, Any] = dict(
            id=self.id,
            party=party,
            geometry=shape[0],
            valid_from_s=window[0],
            valid_to_s=window[1],
            alt_min_m=band[0],
            alt_max_m=band[1],
            buffer_m=buffer_m,
            properties=extra,
        )
        if kind is DeclarationKind.SITE:
            return Site(**common)
        return Zone(**common, zone_type=zone_type)

    def _try(self, check: Callable[[], T]) -> T | None:
        try:
            return check()
        except RuleBroken as broken:
            self.fail(broken.rule)
            return None

    def _id(self, props: Mapping[str, Any], feature_id: object) -> str | None:
        value = props.get("id")
        if value is None and isinstance(feature_id, str):
            # RFC 7946 lets a Feature carry its own "id"; accept it where properties lack one.
            value = feature_id
        if not isinstance(value, str) or not value.strip():
            self.fail(f"id must be a non-empty text unique within its party, not {describe(value)}")
            return None
        if len(value) > _MAX_ID_CHARS:
            self.fail(f"id is {len(value)} characters long; it must be at most {_MAX_ID_CHARS}")
            return None
        if not value.isprintable():
            # Invisible in tables and logs, and a way to forge output lines: refuse.
            self.fail(f"id {value!r} holds control characters; use printable text only")
            return None
        if feature_id is not None and feature_id != value:
            self.id = value
            self.fail(
                f"the Feature's own id {shown(feature_id)} differs from properties.id "
                f"{value!r}; give one id, in properties"
            )
        return value

    def _party(self, value: object) -> str | None:
        if isinstance(value, str) and _PARTY.fullmatch(value):
            return value
        self.fail(f"party must be 1 to 32 letters, digits, '_' or '-', not {describe(value)}")
        return None

    def _kind(self, value: object) -> DeclarationKind | None:
        if value is None:
            self.fail('kind is missing; it must be "movement", "site" or "zone"')
            return None
        if isinstance(value, str) and value in {k.value for k in DeclarationKind}:
            return DeclarationKind(value)
        self.fail(f'kind {shown(value)} is unknown; it must be "movement", "site" or "zone"')
        return None

    def _coordinates(self, geometry: object, kind: DeclarationKind) -> tuple[str, object] | None:
        """(geometry type, raw coordinates) when the type suits the kind, else None."""
        allowed = _GEOMETRY_TYPES[kind]
        expected = " or ".join(allowed)
        if not isinstance(geometry, Mapping):
            self.fail(f"a {kind.value} needs a {expected} geometry, not {describe(geometry)}")
            return None
        gtype = geometry.get("type")
        if gtype not in allowed:
            self.fail(f"a {kind.value} must have a {expected} geometry, not {describe(gtype)}")
            return None
        return str(gtype), geometry.get("coordinates")

    def _band(
        self, props: Mapping[str, Any], kind: DeclarationKind, altitudes: list[float] | None
    ) -> tuple[float, float] | None:
        low, high = props.get("alt_min_m"), props.get("alt_max_m")
        # A route drawn at 120 m must not sit in the ground band: coordinate altitudes set the
        # band when none is given. Zones keep their unbounded default, because tools often
        # write z = 0 on every vertex and a zone would silently shrink to the ground.
        if low is None and high is None and altitudes and kind is not DeclarationKind.ZONE:
            lowest, highest = min(altitudes), max(altitudes)
            if lowest < 0:
                self.fail(
                    f"the coordinates give altitude {lowest:g} m, but altitudes are metres "
                    "above ground, 0 or more; fix them or give alt_min_m and alt_max_m"
                )
                return None
            return lowest, highest
        default_high = math.inf if kind is DeclarationKind.ZONE else 5.0
        bottom = self._try(lambda: _optional_number(low, "alt_min_m", 0.0))
        top = self._try(lambda: _optional_number(high, "alt_max_m", default_high))
        if bottom is None or top is None:
            return None
        if bottom > top:
            default = " by default" if high is None else ""
            self.fail(
                f"alt_min_m ({bottom:g} m) is above alt_max_m ({top:g} m{default}); "
                "the bottom of the vertical band must not be above its top"
            )
            return None
        return bottom, top

    def _movement_times(
        self, props: Mapping[str, Any], route: list[tuple[float, float]] | None
    ) -> list[float] | None:
        times = props.get("times")
        departure, speed = props.get("departure"), props.get("speed_kmh")
        if times is not None and (departure is not None or speed is not None):
            self.fail("a movement gives either times or departure with speed_kmh, not both")
            return None
        if times is None and departure is None and speed is None:
            self.fail(
                "a movement needs times (one per position) or departure with speed_kmh, "
                "and it has neither"
            )
            return None
        if times is not None:
            return self._try(lambda: listed_times(times, route, self.limits))
        start = self._try(lambda: parse_time(departure, "departure"))
        kmh = self._try(
            lambda: number(
                speed,
                "speed_kmh",
                above=0.0,
                maximum=self.limits.max_speed_kmh,
                limit="max_speed_kmh",
            )
        )
        if start is None or kmh is None or route is None:
            return None
        return times_at_speed(route, start, kmh)

    def _validity(self, props: Mapping[str, Any]) -> tuple[float | None, float | None] | None:
        start = end = None
        if props.get("valid_from") is not None:
            start = self._try(lambda: parse_time(props["valid_from"], "valid_from"))
            if start is None:
                return None
        if props.get("valid_to") is not None:
            end = self._try(lambda: parse_time(props["valid_to"], "valid_to"))
            if end is None:
                return None
        if start is not None and end is not None and start > end:
            self.fail(
                f"valid_from {props['valid_from']!r} is after valid_to "
                f"{props['valid_to']!r}; the validity must not end before it starts"
            )
            return None
        return start, end

    def _zone_type(self, value: object) -> ZoneType | None:
        if isinstance(value, str) and value in {z.value for z in ZoneType}:
            return ZoneType(value)
        what = "missing" if value is None else f"{shown(value)}, which is unknown"
        self.fail(f'zone_type is {what}; it must be "restricted", "corridor" or "ceasefire"')
        return None


def _optional_number(
    value: object,
    name: str,
    default: float,
    *,
    maximum: float | None = None,
    limit: str | None = None,
) -> float:
    if value is None:
        return default
    return number(value, name, minimum=0.0, maximum=maximum, limit=limit)


def read_feature(
    feature: object, index: int, *, source: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> tuple[Declaration | None, list[Problem]]:
    """The declaration a feature holds and no problems, or None and every problem found."""
    reader = _Reader(index, source, limits)
    declaration = reader.read(feature)
    return declaration, reader.problems

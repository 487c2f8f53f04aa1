"""Declarations back to GeoJSON (RFC 7946, SPEC section 2): the inverse of
`deconflict.ingest.geojson.parse_declarations`, so what was read can be written and read again.

Pure conversions to plain JSON-ready dicts and lists: never writes files, never validates
what it is given beyond refusing values JSON cannot hold.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import shapely

from deconflict.export.times import format_time
from deconflict.model import Declaration, Movement, Policy, Site, Zone

__all__ = ["RESERVED_PROPERTIES", "declaration_to_feature", "declarations_to_collection"]

RESERVED_PROPERTIES = frozenset(
    {
        "id", "party", "kind", "alt_min_m", "alt_max_m", "buffer_m",
        "times", "departure", "speed_kmh", "time_uncertainty_s",
        "valid_from", "valid_to", "zone_type",
    }
)
"""Property names SPEC section 2 gives a meaning. A declaration's extra `properties` never
override them: written back, such a key would be read as a field (or refused), not kept."""

_COLLECTION_MEMBERS = frozenset({"type", "features", "policy", "bbox"})


def declaration_to_feature(decl: Declaration) -> dict[str, Any]:
    """One Movement, Site or Zone as a GeoJSON Feature that parses back to an equal declaration.

    Properties: `id`, `party`, `kind`, the declaration's own fields, then its extra
    `properties` (deep-copied, reserved names skipped). Times are ISO 8601 UTC to the
    microsecond; a zone's unbounded top (infinity) is left out, which reads back as unbounded.
    Raises ValueError for a value JSON cannot hold (a non-finite number where one is needed).
    """
    props: dict[str, Any] = {"id": decl.id, "party": decl.party, "kind": decl.kind.value}
    props["alt_min_m"] = _finite(decl, "alt_min_m", decl.alt_min_m)
    if not (isinstance(decl, Zone) and decl.alt_max_m == math.inf):
        props["alt_max_m"] = _finite(decl, "alt_max_m", decl.alt_max_m)
    props["buffer_m"] = _finite(decl, "buffer_m", decl.buffer_m)
    geometry: dict[str, Any]
    if isinstance(decl, Movement):
        props["times"] = [_time(decl, "times", t) for t in decl.times_s]
        props["time_uncertainty_s"] = _finite(
            decl, "time_uncertainty_s", decl.time_uncertainty_s
        )
        geometry = {
            "type": "LineString",
            "coordinates": [[float(lon), float(lat)] for lon, lat in decl.positions],
        }
    else:
        if decl.valid_from_s is not None:
            props["valid_from"] = _time(decl, "valid_from", decl.valid_from_s)
        if decl.valid_to_s is not None:
            props["valid_to"] = _time(decl, "valid_to", decl.valid_to_s)
        if isinstance(decl, Zone):
            props["zone_type"] = decl.zone_type.value
        geometry = _area_geometry(decl)
    for key, value in decl.properties.items():
        if key not in RESERVED_PROPERTIES:
            props[key] = copy.deepcopy(value)
    return {"type": "Feature", "properties": props, "geometry": geometry}


def declarations_to_collection(
    decls: Iterable[Declaration],
    policy: Policy | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A FeatureCollection of `decls` in order, with the `policy` foreign member when given
    and the other foreign members of `metadata` (name, description...; those named like
    RFC 7946's own members or `policy` are skipped). Parses back to the same set."""
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    for key, value in (metadata or {}).items():
        if key not in _COLLECTION_MEMBERS:
            collection[key] = copy.deepcopy(value)
    if policy is not None:
        collection["policy"] = {
            "horizontal_m": policy.horizontal_m,
            "vertical_m": policy.vertical_m,
        }
    collection["features"] = [declaration_to_feature(d) for d in decls]
    return collection


def _area_geometry(decl: Site | Zone) -> dict[str, Any]:
    shape = decl.geometry
    if shape.is_empty:
        raise ValueError(f"{decl.kind.value} {decl.party}/{decl.id} has an empty geometry")
    if isinstance(shape, shapely.Point):
        return {"type": "Point", "coordinates": _xy(shape)[0]}
    if isinstance(shape, shapely.Polygon):
        rings = [shape.exterior, *shape.interiors]
        return {"type": "Polygon", "coordinates": [_xy(ring) for ring in rings]}
    raise ValueError(
        f"{decl.kind.value} {decl.party}/{decl.id} has a {shape.geom_type} geometry; "
        "only Point and Polygon can be written"
    )


def _xy(shape: shapely.Geometry) -> list[list[float]]:
    """[lon, lat] lists (never tuples, never a third coordinate), O(n) in numpy."""
    coords: list[list[float]] = shapely.get_coordinates(shape).tolist()
    return coords


def _finite(decl: Declaration, name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(
            f"{decl.kind.value} {decl.party}/{decl.id} has {name} {value!r}, "
            "which JSON cannot hold"
        )
    return float(value)


def _time(decl: Declaration, name: str, epoch_s: float) -> str:
    try:
        return format_time(epoch_s, exact=True)
    except ValueError as e:
        raise ValueError(f"{decl.kind.value} {decl.party}/{decl.id}: {name}: {e}") from None

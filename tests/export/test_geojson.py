"""Declarations back to GeoJSON (SPEC section 2): what the exporter writes, the parser reads
back as the same declarations, for random theatres, hand cases of each kind and the bundled
scenarios."""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
from typing import Any

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.export.geojson import (
    RESERVED_PROPERTIES,
    declaration_to_feature,
    declarations_to_collection,
)
from deconflict.export.times import format_time
from deconflict.ingest import load_declarations, parse_declarations
from deconflict.ingest.features import _KNOWN
from deconflict.model import Declaration, Movement, Policy, Site, Zone, ZoneType
from deconflict.scenarios import list_scenarios, scenario_path
from engine.strategies import PARTIES, frames, movements, sites, zones

T0_S = 1598346000.0  # 2020-08-25T09:00:00Z
SQUARE = ((36.0, 35.0), (36.1, 35.0), (36.1, 35.1), (36.0, 35.1), (36.0, 35.0))
HOLE = ((36.04, 35.04), (36.04, 35.06), (36.06, 35.06), (36.06, 35.04), (36.04, 35.04))


def as_micros(epoch_s: float) -> float:
    """The float a time written to the microsecond reads back as (int / int, correctly
    rounded, as datetime.timestamp computes it)."""
    return round(Fraction(epoch_s) * 1_000_000) / 1_000_000


def round_trip(*decls: Declaration, policy: Policy | None = None) -> tuple[Declaration, ...]:
    text = json.dumps(declarations_to_collection(decls, policy), allow_nan=False)
    return parse_declarations(text).declarations


def assert_same(a: Declaration, b: Declaration) -> None:
    """Every field equal: positions within 1e-9 degrees, times and numbers exact."""
    assert type(a) is type(b)
    assert (a.id, a.party, a.kind) == (b.id, b.party, b.kind)
    assert (a.alt_min_m, a.alt_max_m, a.buffer_m) == (b.alt_min_m, b.alt_max_m, b.buffer_m)
    assert a.properties == b.properties
    if isinstance(a, Movement):
        assert isinstance(b, Movement)
        assert len(a.positions) == len(b.positions)
        for p, q in zip(a.positions, b.positions, strict=True):
            assert math.isclose(p[0], q[0], abs_tol=1e-9) and math.isclose(p[1], q[1], abs_tol=1e-9)
        assert a.times_s == b.times_s
        assert a.time_uncertainty_s == b.time_uncertainty_s
    else:
        assert isinstance(b, Site | Zone)
        assert a.geometry.geom_type == b.geometry.geom_type
        assert shapely.equals_exact(a.geometry, b.geometry, tolerance=1e-9)
        assert (a.valid_from_s, a.valid_to_s) == (b.valid_from_s, b.valid_to_s)
        if isinstance(a, Zone):
            assert isinstance(b, Zone) and a.zone_type is b.zone_type


def only_lists(value: object) -> bool:
    """True when no tuple hides anywhere in a JSON-ready value."""
    if isinstance(value, tuple):
        return False
    if isinstance(value, list):
        return all(only_lists(v) for v in value)
    if isinstance(value, dict):
        return all(only_lists(v) for v in value.values())
    return True


# --- strategies: the engine's theatres, made writable (times to the microsecond, ids any
# printable text, extra properties of any JSON shape) ---

idents = st.text(
    st.characters(exclude_categories=("C", "Z"), include_characters=" "), min_size=1, max_size=24
).filter(lambda s: bool(s.strip()))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
extras = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k not in RESERVED_PROPERTIES), json_values, max_size=4
)


@st.composite
def declarations(draw: st.DrawFn, party: str, ident: str) -> Declaration:
    kind = draw(st.sampled_from(["movement", "site", "zone"]))
    decl: Declaration
    if kind == "movement":
        route = draw(movements(draw(frames()), party, ident))
        decl = dataclasses.replace(route, times_s=tuple(as_micros(t) for t in route.times_s))
    else:
        # Areas stay off the antimeridian: a polygon across it is refused by SPEC section 2.
        frame = draw(frames(antimeridian=False))
        area: Site | Zone
        if kind == "site":
            area = draw(sites(frame, party, ident))
        else:
            area = draw(zones(frame, party, ident))
        decl = dataclasses.replace(
            area,
            valid_from_s=None if area.valid_from_s is None else as_micros(area.valid_from_s),
            valid_to_s=None if area.valid_to_s is None else as_micros(area.valid_to_s),
        )
    return dataclasses.replace(decl, properties=draw(extras))


@st.composite
def theatres(draw: st.DrawFn) -> list[Declaration]:
    keys = draw(
        st.lists(st.tuples(st.sampled_from(PARTIES), idents), min_size=1, max_size=6, unique=True)
    )
    return [draw(declarations(party, ident)) for party, ident in keys]


@settings(deadline=None)
@given(theatres(), st.none() | st.builds(Policy, st.floats(1.0, 5e5), st.floats(0.0, 5e4)))
def test_spec_2_exported_declarations_parse_back_equal(
    decls: list[Declaration], policy: Policy | None
) -> None:
    collection = declarations_to_collection(decls, policy)
    text = json.dumps(collection, allow_nan=False)
    parsed = parse_declarations(text)
    assert parsed.policy == policy
    assert len(parsed.declarations) == len(decls)
    for original, back in zip(decls, parsed.declarations, strict=True):
        assert_same(original, back)
    # Writing what was read gives the same text: the format has one way to say each thing.
    assert json.dumps(declarations_to_collection(parsed.declarations, policy)) == text


@pytest.mark.parametrize("name", list_scenarios())
def test_bundled_scenarios_round_trip(name: str) -> None:
    original = load_declarations(scenario_path(name))
    text = json.dumps(
        declarations_to_collection(
            original.declarations, original.policy, metadata=original.metadata
        ),
        allow_nan=False,
        ensure_ascii=False,
    )
    back = parse_declarations(text)
    assert back.policy == original.policy
    assert back.metadata == original.metadata
    assert len(back.declarations) == len(original.declarations)
    for a, b in zip(original.declarations, back.declarations, strict=True):
        assert_same(a, b)


# --- hand cases, one per kind ---


def test_movement_feature() -> None:
    movement = Movement(
        id="convoy-1",
        party="UN",
        positions=((36.0, 35.0), (36.1, 35.05)),
        times_s=(T0_S, T0_S + 3600.25),
        alt_min_m=0.0,
        alt_max_m=5.0,
        buffer_m=50.0,
        time_uncertainty_s=600.0,
        properties={"name": "Aid convoy", "vehicles": 12},
    )
    assert declaration_to_feature(movement) == {
        "type": "Feature",
        "properties": {
            "id": "convoy-1",
            "party": "UN",
            "kind": "movement",
            "alt_min_m": 0.0,
            "alt_max_m": 5.0,
            "buffer_m": 50.0,
            "times": ["2020-08-25T09:00:00Z", "2020-08-25T10:00:00.250Z"],
            "time_uncertainty_s": 600.0,
            "name": "Aid convoy",
            "vehicles": 12,
        },
        "geometry": {"type": "LineString", "coordinates": [[36.0, 35.0], [36.1, 35.05]]},
    }
    (back,) = round_trip(movement)
    assert_same(movement, back)


def test_point_site_writes_only_the_validity_it_has() -> None:
    site = Site(id="hospital", party="MSF", geometry=shapely.Point(36.2, 36.1), valid_from_s=T0_S)
    feature = declaration_to_feature(site)
    assert feature["geometry"] == {"type": "Point", "coordinates": [36.2, 36.1]}
    props = feature["properties"]
    assert props["valid_from"] == "2020-08-25T09:00:00Z"
    assert "valid_to" not in props and "zone_type" not in props and "times" not in props
    assert (props["kind"], props["alt_min_m"], props["alt_max_m"]) == ("site", 0.0, 5.0)
    (back,) = round_trip(site)
    assert_same(site, back)


def test_polygon_site_with_a_hole_is_lists_not_tuples() -> None:
    site = Site(
        id="camp",
        party="UNHCR",
        geometry=shapely.Polygon(SQUARE, [HOLE]),
        valid_from_s=T0_S,
        valid_to_s=T0_S + 86400,
        alt_max_m=50.0,
        buffer_m=200.0,
    )
    feature = declaration_to_feature(site)
    assert feature["geometry"] == {
        "type": "Polygon",
        "coordinates": [[list(p) for p in SQUARE], [list(p) for p in HOLE]],
    }
    assert only_lists(feature)
    (back,) = round_trip(site)
    assert_same(site, back)


def test_spec_2_zone_unbounded_top_is_left_out() -> None:
    zone = Zone(
        id="nfz",
        party="RU",
        geometry=shapely.Polygon(SQUARE),
        valid_to_s=T0_S,
        zone_type=ZoneType.CORRIDOR,
    )
    assert zone.alt_max_m == math.inf
    feature = declaration_to_feature(zone)
    assert "alt_max_m" not in feature["properties"]
    assert feature["properties"]["zone_type"] == "corridor"
    assert "valid_from" not in feature["properties"]
    json.dumps(feature, allow_nan=False)  # JSON has no Infinity: it must not be written
    (back,) = round_trip(zone)
    assert back.alt_max_m == math.inf
    assert_same(zone, back)


def test_zone_bounded_top_is_kept() -> None:
    zone = Zone(id="low", party="RU", geometry=shapely.Polygon(SQUARE), alt_max_m=300.0)
    assert declaration_to_feature(zone)["properties"]["alt_max_m"] == 300.0
    (back,) = round_trip(zone)
    assert_same(zone, back)


def test_extra_properties_never_override_the_declarations_own() -> None:
    site = Site(
        id="s1",
        party="A",
        geometry=shapely.Point(36.0, 35.0),
        properties={"id": "forged", "kind": "zone", "valid_to": "2030-01-01T00:00:00Z",
                    "times": [], "zone_type": "restricted", "name": "kept"},
    )
    props = declaration_to_feature(site)["properties"]
    assert props == {
        "id": "s1", "party": "A", "kind": "site", "alt_min_m": 0.0, "alt_max_m": 5.0,
        "buffer_m": 0.0, "name": "kept",
    }
    assert list(props)[:3] == ["id", "party", "kind"]


def test_reserved_properties_are_the_parsers_known_keys() -> None:
    assert RESERVED_PROPERTIES == _KNOWN


def test_extra_properties_are_copied_not_shared() -> None:
    site = Site(id="s1", party="A", geometry=shapely.Point(36.0, 35.0),
                properties={"contacts": [{"name": "desk"}]})
    feature = declaration_to_feature(site)
    feature["properties"]["contacts"][0]["name"] = "changed"
    assert site.properties == {"contacts": [{"name": "desk"}]}


def test_a_single_feature_parses_back() -> None:
    zone = Zone(id="z", party="B", geometry=shapely.Polygon(SQUARE), zone_type=ZoneType.CEASEFIRE)
    (back,) = parse_declarations(json.dumps(declaration_to_feature(zone))).declarations
    assert_same(zone, back)


def test_collection_policy_and_metadata_members() -> None:
    site = Site(id="s1", party="A", geometry=shapely.Point(36.0, 35.0))
    plain = declarations_to_collection([site])
    assert set(plain) == {"type", "features"} and plain["type"] == "FeatureCollection"
    full = declarations_to_collection(
        [site],
        Policy(horizontal_m=2000.0, vertical_m=150.0),
        metadata={"name": "test", "type": "ignored", "features": "ignored", "policy": 1},
    )
    assert full["policy"] == {"horizontal_m": 2000.0, "vertical_m": 150.0}
    assert full["name"] == "test" and full["type"] == "FeatureCollection"
    assert len(full["features"]) == 1
    back = parse_declarations(json.dumps(full))
    assert back.policy == Policy(2000.0, 150.0) and back.metadata == {"name": "test"}


def test_movement_times_from_speed_come_back_within_half_a_microsecond() -> None:
    """A plan given by departure and speed has times at no whole microsecond; ISO 8601 is
    read to the microsecond, so those are written to the nearest one, and writing what was
    read back changes nothing more."""
    doc = {
        "type": "Feature",
        "properties": {"id": "m", "party": "A", "kind": "movement",
                       "departure": "2020-08-25T09:00:00Z", "speed_kmh": 37.0},
        "geometry": {"type": "LineString",
                     "coordinates": [[36.0, 35.0], [36.0137, 35.0191], [36.1, 35.1]]},
    }
    (original,) = parse_declarations(doc).declarations
    assert isinstance(original, Movement)
    (back,) = round_trip(original)
    assert isinstance(back, Movement)
    assert all(abs(a - b) <= 0.5e-6 for a, b in zip(original.times_s, back.times_s, strict=True))
    (again,) = round_trip(back)
    assert isinstance(again, Movement) and again.times_s == back.times_s


def test_values_json_cannot_hold_are_refused() -> None:
    site = Site(id="s", party="A", geometry=shapely.Point(36.0, 35.0), alt_max_m=math.inf)
    with pytest.raises(ValueError, match="alt_max_m inf"):
        declaration_to_feature(site)
    movement = Movement(id="m", party="A", positions=((0.0, 0.0), (1.0, 1.0)),
                        times_s=(T0_S, math.nan))
    with pytest.raises(ValueError, match="times"):
        declaration_to_feature(movement)


@pytest.mark.parametrize(
    ("epoch_s", "text"),
    [
        (T0_S, "2020-08-25T09:00:00Z"),
        (T0_S + 0.5, "2020-08-25T09:00:00.500Z"),
        (T0_S + 0.123456, "2020-08-25T09:00:00.123456Z"),
        (T0_S + 0.0004, "2020-08-25T09:00:00.000400Z"),
        (-1e-6, "1969-12-31T23:59:59.999999Z"),
        (T0_S + 0.9999996, "2020-08-25T09:00:01Z"),
    ],
)
def test_format_time_exact_keeps_microseconds(epoch_s: float, text: str) -> None:
    assert format_time(epoch_s, exact=True) == text


@given(st.integers(-62_135_596_800 * 10**6, 253_402_300_799 * 10**6))
def test_exact_times_read_back_as_the_same_float(micros: int) -> None:
    """Every time a file can hold (years 1 to 9999, to the microsecond) survives."""
    epoch_s = micros / 1_000_000
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": {"id": "s", "party": "A", "kind": "site",
                       "valid_from": format_time(epoch_s, exact=True)},
        "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
    }
    (site,) = parse_declarations(feature).declarations
    assert isinstance(site, Site) and site.valid_from_s == epoch_s

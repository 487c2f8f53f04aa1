"""Declaration files in (SPEC section 2): every rule refused with its own test, valid input
turned into the right domain objects."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import shapely
from pyproj import Geod

import deconflict.ingest.geojson as geojson_module
from deconflict.errors import DeconflictError, InvalidDeclaration, LimitExceeded, NotFound, Problem
from deconflict.ingest import (
    DeclarationSet,
    Limits,
    load_declarations,
    merge_sets,
    parse_declarations,
)
from deconflict.model import Movement, Policy, Site, Zone, ZoneType

T0 = "2020-08-25T09:00:00Z"
T1 = "2020-08-25T10:00:00Z"
T0_S = 1598346000.0
SQUARE = [[[36.0, 35.0], [36.1, 35.0], [36.1, 35.1], [36.0, 35.1], [36.0, 35.0]]]


def movement(
    id: str = "m1",
    party: str = "A",
    coords: Any = ((36.0, 35.0), (36.1, 35.0)),
    **props: Any,
) -> dict[str, Any]:
    if "times" not in props and "departure" not in props and "speed_kmh" not in props:
        props["times"] = [T0, T1]
    props = {k: v for k, v in props.items() if v is not ...}
    return {
        "type": "Feature",
        "properties": {"id": id, "party": party, "kind": "movement", **props},
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]},
    }


def site(id: str = "s1", party: str = "B", geometry: Any = None, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"id": id, "party": party, "kind": "site", **props},
        "geometry": geometry or {"type": "Point", "coordinates": [36.05, 35.05]},
    }


def zone(id: str = "z1", party: str = "C", coords: Any = None, **props: Any) -> dict[str, Any]:
    props.setdefault("zone_type", "restricted")
    return {
        "type": "Feature",
        "properties": {"id": id, "party": party, "kind": "zone", **props},
        "geometry": {"type": "Polygon", "coordinates": coords or SQUARE},
    }


def collection(*features: dict[str, Any], **members: Any) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features), **members})


def problems(data: str | bytes | dict[str, Any], **kwargs: Any) -> list[Problem]:
    with pytest.raises(InvalidDeclaration) as caught:
        parse_declarations(data, source="test.geojson", **kwargs)
    return caught.value.problems


def only_problem(data: str | dict[str, Any], **kwargs: Any) -> Problem:
    found = problems(data, **kwargs)
    assert len(found) == 1, found
    return found[0]


def assert_problem(problem: Problem, index: int | None, id: str | None, *words: str) -> None:
    assert (problem.index, problem.id, problem.source) == (index, id, "test.geojson")
    for word in words:
        assert word in problem.rule, (word, problem.rule)


# --- each rule of SPEC section 2, refused -------------------------------------------------


def test_spec_2_kind_is_required() -> None:
    feature = movement()
    del feature["properties"]["kind"]
    assert_problem(only_problem(collection(site(), feature)), 1, "m1", "kind", "missing")


def test_spec_2_kind_must_be_known() -> None:
    feature = movement()
    feature["properties"]["kind"] = "convoy"
    assert_problem(only_problem(collection(feature)), 0, "m1", "kind", "'convoy'", "unknown")


def test_spec_2_movement_geometry_is_a_linestring() -> None:
    feature = movement()
    feature["geometry"] = {"type": "Point", "coordinates": [36.0, 35.0]}
    assert_problem(only_problem(collection(feature)), 0, "m1", "movement", "LineString")


def test_spec_2_zone_geometry_is_a_polygon() -> None:
    feature = zone()
    feature["geometry"] = {"type": "Point", "coordinates": [36.0, 35.0]}
    assert_problem(only_problem(collection(feature)), 0, "z1", "zone", "Polygon")


def test_spec_2_movement_has_at_least_two_positions() -> None:
    feature = movement(coords=[(36.0, 35.0)], times=[T0])
    assert_problem(only_problem(collection(feature)), 0, "m1", "at least 2")


def test_spec_2_times_one_per_position() -> None:
    feature = movement(times=[T0, T1, "2020-08-25T11:00:00Z"])
    assert_problem(only_problem(collection(feature)), 0, "m1", "times", "3 times", "2 positions")


def test_spec_2_times_must_not_decrease() -> None:
    feature = movement(coords=[(36.0, 35.0), (36.1, 35.0), (36.2, 35.0)], times=[T0, T1, T0])
    assert_problem(
        only_problem(collection(feature)), 0, "m1", "times must not decrease", "times[2]"
    )


def test_spec_2_times_need_a_zone_offset() -> None:
    feature = movement(times=["2020-08-25T09:00:00", T1])
    assert_problem(only_problem(collection(feature)), 0, "m1", "times[0]", "zone offset")


def test_spec_2_times_are_iso_8601() -> None:
    feature = movement(times=["25/08/2020 09:00", T1])
    assert_problem(only_problem(collection(feature)), 0, "m1", "times[0]", "ISO 8601")


def test_spec_2_coordinates_are_finite_nan() -> None:
    text = collection(movement()).replace("[36.1, 35.0]", "[NaN, 35.0]")
    assert "NaN" in text
    assert_problem(only_problem(text), 0, "m1", "position 1", "longitude", "NaN", "finite")


def test_spec_2_coordinates_are_finite_infinity() -> None:
    text = collection(movement()).replace("[36.1, 35.0]", "[36.1, -Infinity]")
    assert_problem(only_problem(text), 0, "m1", "position 1", "latitude", "finite")


def test_spec_2_coordinates_are_finite_in_parsed_objects() -> None:
    doc = json.loads(collection(movement()))
    doc["features"][0]["geometry"]["coordinates"][0][0] = math.nan
    assert_problem(only_problem(doc), 0, "m1", "position 0", "finite")


def test_spec_2_coordinates_are_finite_huge_numbers() -> None:
    text = collection(movement()).replace("[36.1, 35.0]", "[36.1, 1e400]")
    assert_problem(only_problem(text), 0, "m1", "position 1", "latitude", "finite")
    text = collection(movement()).replace("[36.1, 35.0]", "[36.1, 1" + "0" * 400 + "]")
    assert_problem(only_problem(text), 0, "m1", "position 1", "latitude", "401 digits", "finite")


def test_spec_2_latitude_within_90() -> None:
    feature = movement(coords=[(36.0, 35.0), (36.1, 95.0)])
    assert_problem(only_problem(collection(feature)), 0, "m1", "position 1", "latitude 95")


def test_spec_2_longitude_within_180() -> None:
    feature = movement(coords=[(-181.0, 35.0), (36.1, 35.0)])
    assert_problem(only_problem(collection(feature)), 0, "m1", "position 0", "longitude -181")


def test_spec_2_coordinates_are_numbers_not_booleans() -> None:
    feature = movement(coords=[(36.0, True), (36.1, 35.0)])
    assert_problem(only_problem(collection(feature)), 0, "m1", "latitude", "boolean")


def test_spec_2_polygon_must_not_cross_itself() -> None:
    bowtie = [[[36.0, 35.0], [36.1, 35.1], [36.1, 35.0], [36.0, 35.1], [36.0, 35.0]]]
    assert_problem(
        only_problem(collection(zone(coords=bowtie))), 0, "z1", "not valid", "Self-intersection"
    )


def test_spec_2_polygon_across_the_antimeridian_must_be_split() -> None:
    # RFC 7946 3.1.9: read as lon/lat this ring would wrap 359.8 degrees round the Earth.
    across = [[[179.9, 0.0], [-179.9, 0.0], [-179.9, 0.1], [179.9, 0.1], [179.9, 0.0]]]
    assert_problem(
        only_problem(collection(zone(coords=across))), 0, "z1", "antimeridian", "split"
    )


def test_spec_2_polygon_rings_are_closed() -> None:
    open_ring = [[[36.0, 35.0], [36.1, 35.0], [36.1, 35.1], [36.0, 35.1]]]
    assert_problem(only_problem(collection(zone(coords=open_ring))), 0, "z1", "not closed")


def test_spec_2_polygon_rings_have_four_positions() -> None:
    short = [[[36.0, 35.0], [36.1, 35.0], [36.0, 35.0]]]
    assert_problem(only_problem(collection(zone(coords=short))), 0, "z1", "at least 4")


def test_spec_2_polygon_holes_inside_outer_ring() -> None:
    hole_outside = [*SQUARE, [[37.0, 35.0], [37.1, 35.0], [37.1, 35.1], [37.0, 35.0]]]
    assert_problem(only_problem(collection(zone(coords=hole_outside))), 0, "z1", "not valid")


def test_spec_2_buffer_must_not_be_negative() -> None:
    assert_problem(
        only_problem(collection(movement(buffer_m=-5))), 0, "m1", "buffer_m", "-5", "0 or more"
    )


def test_spec_2_buffer_is_a_number_not_a_boolean() -> None:
    assert_problem(only_problem(collection(site(buffer_m=True))), 0, "s1", "buffer_m", "boolean")


def test_spec_2_buffer_within_limit() -> None:
    found = only_problem(collection(site(buffer_m=100_001)))
    assert_problem(found, 0, "s1", "buffer_m", "max_buffer_m")


def test_spec_2_id_unique_within_its_party() -> None:
    found = only_problem(collection(movement(id="x"), site(id="y"), site(id="x", party="A")))
    assert_problem(found, 2, "x", "already declared", "feature 0", "unique")


def test_spec_2_same_id_in_different_parties_is_fine() -> None:
    parsed = parse_declarations(collection(movement(id="x", party="A"), site(id="x", party="B")))
    assert [d.key for d in parsed.declarations] == [("A", "x"), ("B", "x")]


def test_spec_2_id_is_a_non_empty_text() -> None:
    assert_problem(only_problem(collection(site(id=""))), 0, None, "id", "non-empty")
    assert_problem(only_problem(collection(site(id=7))), 0, None, "id", "number 7")


def test_spec_2_id_at_most_128_characters() -> None:
    assert_problem(only_problem(collection(site(id="x" * 129))), 0, None, "id", "128")


def test_spec_2_id_is_printable() -> None:
    found = only_problem(collection(site(id="s1\nfeature 9: all clear")))
    assert_problem(found, 0, None, "control characters")


def test_spec_2_party_is_a_name() -> None:
    found = only_problem(collection(site(party="Red Cross")))
    assert_problem(found, 0, "s1", "party", "letters, digits")
    assert_problem(only_problem(collection(site(party="x" * 33))), 0, "s1", "party")


def test_spec_2_zone_type_must_be_known() -> None:
    found = only_problem(collection(zone(zone_type="no-fly")))
    assert_problem(found, 0, "z1", "zone_type", "'no-fly'", "restricted", "corridor", "ceasefire")


def test_spec_2_zone_type_is_required() -> None:
    feature = zone()
    del feature["properties"]["zone_type"]
    assert_problem(only_problem(collection(feature)), 0, "z1", "zone_type", "missing")


def test_spec_2_times_and_departure_not_both() -> None:
    feature = movement(times=[T0, T1], departure=T0, speed_kmh=40)
    assert_problem(only_problem(collection(feature)), 0, "m1", "times", "departure", "not both")


def test_spec_2_times_or_departure_needed() -> None:
    feature = movement(times=...)
    assert_problem(only_problem(collection(feature)), 0, "m1", "times", "departure", "neither")


def test_spec_2_departure_needs_speed() -> None:
    feature = movement(times=..., departure=T0)
    assert_problem(only_problem(collection(feature)), 0, "m1", "speed_kmh", "number")


def test_spec_2_speed_above_zero() -> None:
    feature = movement(times=..., departure=T0, speed_kmh=0)
    assert_problem(only_problem(collection(feature)), 0, "m1", "speed_kmh", "more than 0")


def test_spec_2_speed_within_limit() -> None:
    feature = movement(times=..., departure=T0, speed_kmh=5001)
    assert_problem(only_problem(collection(feature)), 0, "m1", "speed_kmh", "max_speed_kmh")


def test_spec_2_time_uncertainty_not_negative() -> None:
    found = only_problem(collection(movement(time_uncertainty_s=-1)))
    assert_problem(found, 0, "m1", "time_uncertainty_s", "0 or more")


def test_spec_2_time_uncertainty_within_limit() -> None:
    found = only_problem(collection(movement(time_uncertainty_s=8 * 86400)))
    assert_problem(found, 0, "m1", "time_uncertainty_s", "max_uncertainty_s")


def test_spec_2_altitude_band_bottom_not_above_top() -> None:
    found = only_problem(collection(movement(alt_min_m=100)))
    assert_problem(found, 0, "m1", "alt_min_m", "alt_max_m", "default")


def test_spec_2_altitude_band_not_negative() -> None:
    assert_problem(only_problem(collection(site(alt_min_m=-3))), 0, "s1", "alt_min_m")


def test_spec_2_validity_must_not_end_before_it_starts() -> None:
    found = only_problem(collection(site(valid_from=T1, valid_to=T0)))
    assert_problem(found, 0, "s1", "valid_from", "after valid_to")


def test_spec_2_movement_properties_only_on_movements() -> None:
    found = only_problem(collection(site(times=[T0])))
    assert_problem(found, 0, "s1", "times", "movements only")


def test_spec_2_feature_type_is_feature() -> None:
    feature = site()
    feature["type"] = "Thing"
    assert_problem(only_problem(collection(feature)), 0, "s1", '"Feature"', "'Thing'")


def test_spec_2_properties_is_an_object() -> None:
    feature = site()
    feature["properties"] = None
    assert_problem(only_problem(collection(feature)), 0, None, "properties", "object")


def test_spec_2_every_problem_is_reported_at_once() -> None:
    found = problems(
        collection(
            movement(buffer_m=-1, times=["2020-08-25T09:00:00", T1]),
            site(),
            zone(zone_type="nope", coords=[[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]),
        )
    )
    assert [(p.index, p.id) for p in found] == [(0, "m1"), (0, "m1"), (2, "z1"), (2, "z1")]
    assert "buffer_m" in found[0].rule and "zone offset" in found[1].rule
    assert {"zone_type" in p.rule for p in found[2:]} == {True, False}


def test_spec_2_bad_json_names_line_and_column() -> None:
    found = only_problem('{"type": "FeatureCollection",\n  "features": [}')
    assert_problem(found, None, None, "not valid JSON", "line 2", "column 16")


def test_spec_2_file_is_a_feature_collection() -> None:
    found = only_problem(json.dumps({"type": "Topology"}))
    assert_problem(found, None, None, "FeatureCollection", "'Topology'")
    assert_problem(only_problem("[]"), None, None, "FeatureCollection", "list")


def test_spec_2_invalid_declaration_message_names_each_problem() -> None:
    with pytest.raises(InvalidDeclaration) as caught:
        parse_declarations(collection(site(buffer_m=-1), site(id="s2", party="x y")), source="f")
    assert caught.value.exit_code == 2
    assert "2 problems" in caught.value.message
    assert "f: feature 0 (id 's1'): buffer_m" in caught.value.message


def test_spec_2_nan_in_extra_properties_is_refused() -> None:
    text = collection(site(note=1.0)).replace('"note": 1.0', '"note": NaN')
    assert_problem(only_problem(text), 0, "s1", "properties.note", "NaN")


# --- policy ------------------------------------------------------------------------------


def test_spec_2_policy_is_read() -> None:
    parsed = parse_declarations(collection(site(), policy={"horizontal_m": 500, "vertical_m": 0}))
    assert parsed.policy == Policy(horizontal_m=500, vertical_m=0)


def test_spec_2_policy_defaults_per_member() -> None:
    parsed = parse_declarations(collection(site(), policy={"horizontal_m": 500}))
    assert parsed.policy == Policy(horizontal_m=500, vertical_m=300)
    assert parse_declarations(collection(site())).policy is None


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ({"horizontal_m": 0}, ["horizontal_m", "more than 0"]),
        ({"vertical_m": -1}, ["vertical_m", "0 or more"]),
        ({"horizontal_m": True}, ["horizontal_m", "boolean"]),
        ({"horizontal": 500}, ["unknown", "horizontal"]),
        (1000, ["policy", "object"]),
    ],
)
def test_spec_2_policy_minima_are_numbers(policy: Any, words: list[str]) -> None:
    assert_problem(only_problem(collection(site(), policy=policy)), None, None, *words)


# --- limits ------------------------------------------------------------------------------


def test_spec_2_oversize_file_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.geojson"
    with open(path, "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: no disk used, and nothing worth reading

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the over-size file was opened")

    monkeypatch.setattr(geojson_module, "open", no_reading, raising=False)
    began = time.perf_counter()
    with pytest.raises(LimitExceeded) as caught:
        load_declarations(path)
    assert time.perf_counter() - began < 0.5
    assert "max_bytes" in caught.value.message and "67,108,864" in caught.value.message
    assert str(path) in caught.value.message


def test_spec_2_oversize_text_refused() -> None:
    with pytest.raises(LimitExceeded, match="max_bytes"):
        parse_declarations(collection(site()), limits=Limits(max_bytes=100))


def test_spec_2_too_many_features_refused() -> None:
    with pytest.raises(LimitExceeded, match="max_features = 2"):
        parse_declarations(
            collection(site(), site(id="s2"), site(id="s3")), limits=Limits(max_features=2)
        )


def test_spec_2_too_many_positions_refused() -> None:
    route = [(36.0 + i / 1000, 35.0) for i in range(11)]
    feature = movement(coords=route, times=[T0] * 11)
    route_problem, times_problem = problems(collection(feature), limits=Limits(max_positions=10))
    assert_problem(route_problem, 0, "m1", "route has 11 positions", "max_positions = 10")
    assert_problem(times_problem, 0, "m1", "times gives 11 times", "max_positions = 10")
    ring = [[[36.0 + i / 100, 35.0 + (i % 2) / 100] for i in range(10)] + [[36.0, 35.0]]]
    found = only_problem(collection(zone(coords=ring)), limits=Limits(max_positions=10))
    assert_problem(found, 0, "z1", "11 positions", "max_positions = 10")


# --- valid input -------------------------------------------------------------------------


def test_spec_2_departure_and_speed_give_times_along_the_geodesic() -> None:
    route = [(36.0, 35.0), (36.1, 35.0), (36.1, 35.3), (35.5, 35.9)]
    feature = movement(coords=route, times=..., departure="2020-08-25T12:00:00+03:00", speed_kmh=72)
    [m] = parse_declarations(collection(feature)).declarations
    assert isinstance(m, Movement)
    geod = Geod(ellps="WGS84")
    expected, along = [T0_S], 0.0
    for (lon1, lat1), (lon2, lat2) in zip(route, route[1:], strict=False):
        along += geod.inv(lon1, lat1, lon2, lat2)[2]
        expected.append(T0_S + along / 20.0)  # 72 km/h = 20 m/s
    assert m.times_s == pytest.approx(expected, abs=1e-6)
    assert m.positions == tuple(route)


def test_spec_2_times_with_offsets_are_epoch_seconds() -> None:
    feature = movement(times=["2020-08-25T12:00:00+03:00", "2020-08-25T10:00:00.5Z"])
    [m] = parse_declarations(collection(feature)).declarations
    assert isinstance(m, Movement)
    assert m.times_s == (T0_S, T0_S + 3600.5)


def test_spec_2_defaults() -> None:
    parsed = parse_declarations(collection(movement(), site(), zone()))
    m, s, z = parsed.declarations
    assert isinstance(m, Movement) and isinstance(s, Site) and isinstance(z, Zone)
    assert (m.alt_min_m, m.alt_max_m, m.buffer_m, m.time_uncertainty_s) == (0, 5, 0, 0)
    assert (s.alt_min_m, s.alt_max_m, s.buffer_m, s.valid_from_s, s.valid_to_s) == (
        0,
        5,
        0,
        None,
        None,
    )
    assert (z.alt_min_m, z.alt_max_m, z.zone_type) == (0, math.inf, ZoneType.RESTRICTED)
    assert parsed.policy is None and parsed.metadata == {}


def test_spec_2_altitude_band_from_coordinates() -> None:
    route = [(36.0, 35.0, 120), (36.1, 35.0, 150), (36.2, 35.0, 130)]
    [m] = parse_declarations(collection(movement(coords=route, times=[T0, T0, T1]))).declarations
    assert (m.alt_min_m, m.alt_max_m) == (120, 150)
    assert m.positions == ((36.0, 35.0), (36.1, 35.0), (36.2, 35.0))  # type: ignore[union-attr]


def test_spec_2_explicit_altitude_band_wins_over_coordinates() -> None:
    route = [(36.0, 35.0, 120), (36.1, 35.0, 150)]
    feature = movement(coords=route, alt_max_m=400)
    [m] = parse_declarations(collection(feature)).declarations
    assert (m.alt_min_m, m.alt_max_m) == (0, 400)


def test_spec_2_zone_ignores_coordinate_altitudes() -> None:
    ring = [[[*p, 0.0] for p in SQUARE[0]]]
    [z] = parse_declarations(collection(zone(coords=ring))).declarations
    assert (z.alt_min_m, z.alt_max_m) == (0, math.inf)


def test_spec_2_site_point_and_polygon_with_hole() -> None:
    hole = [[36.04, 35.04], [36.06, 35.04], [36.06, 35.06], [36.04, 35.04]]
    polygon = {"type": "Polygon", "coordinates": [*SQUARE, hole]}
    parsed = parse_declarations(
        collection(site(), site(id="s2", geometry=polygon, valid_from=T0, valid_to=T1))
    )
    point, area = parsed.declarations
    assert isinstance(point, Site) and isinstance(area, Site)
    assert point.geometry.equals(shapely.Point(36.05, 35.05))
    assert isinstance(area.geometry, shapely.Polygon) and len(area.geometry.interiors) == 1
    assert (area.valid_from_s, area.valid_to_s) == (T0_S, T0_S + 3600)


def test_spec_2_extra_properties_are_kept() -> None:
    feature = movement(emergency=True, name="Convoy 7", buffer_m=50)
    [m] = parse_declarations(collection(feature)).declarations
    assert m.properties == {"emergency": True, "name": "Convoy 7"}
    assert m.buffer_m == 50


def test_spec_2_foreign_members_are_metadata() -> None:
    text = collection(site(), name="Al-Malikiyah", sources=["a"], bbox=[0, 0, 1, 1])
    parsed = parse_declarations(text, source="x.geojson")
    assert parsed.metadata == {"name": "Al-Malikiyah", "sources": ["a"]}
    assert parsed.source == "x.geojson"
    assert parsed.origin(0).index == 0 and parsed.origin(0).source == "x.geojson"


def test_spec_2_nan_in_foreign_members_is_refused() -> None:
    text = collection(site(), stats={"area": 1.0}).replace('"area": 1.0', '"area": Infinity')
    assert_problem(only_problem(text), None, None, "member stats.area", "NaN or Infinity")


def test_spec_2_an_empty_collection_is_valid() -> None:
    assert parse_declarations(collection()).declarations == ()


def test_spec_2_a_single_feature_is_accepted() -> None:
    parsed = parse_declarations(json.dumps(site()))
    assert [d.id for d in parsed.declarations] == ["s1"]
    assert parsed.policy is None


def test_spec_2_feature_id_member_stands_in_for_properties_id() -> None:
    feature = site()
    feature["id"] = feature["properties"].pop("id")
    [s] = parse_declarations(collection(feature)).declarations
    assert s.id == "s1"
    feature["properties"]["id"] = "other"
    assert_problem(only_problem(collection(feature)), 0, "other", "differs")


def test_spec_2_bytes_and_mappings_are_accepted() -> None:
    text = collection(site())
    assert parse_declarations(text.encode()).declarations[0].id == "s1"
    assert parse_declarations(json.loads(text)).declarations[0].id == "s1"


# --- files and merging -------------------------------------------------------------------


def test_load_declarations_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    path.write_text(collection(site()))
    parsed = load_declarations(path)
    assert parsed.source == str(path) and len(parsed.declarations) == 1


def test_load_declarations_names_problems_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    path.write_text(collection(site(buffer_m=-1)))
    with pytest.raises(InvalidDeclaration) as caught:
        load_declarations(path)
    assert caught.value.problems[0].source == str(path)


def test_load_declarations_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        load_declarations(tmp_path / "nope.geojson")


def test_load_declarations_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DeconflictError, match="directory"):
        load_declarations(tmp_path)


def _set(text: str, source: str) -> DeclarationSet:
    return parse_declarations(text, source=source)


def test_merge_sets_keeps_all_declarations_and_origins() -> None:
    merged = merge_sets([_set(collection(site()), "a"), _set(collection(movement()), "b")])
    assert [d.key for d in merged.declarations] == [("B", "s1"), ("A", "m1")]
    assert [(o.source, o.index) for o in merged.origins] == [("a", 0), ("b", 0)]


def test_spec_2_id_unique_within_its_party_across_files() -> None:
    with pytest.raises(InvalidDeclaration) as caught:
        merge_sets([_set(collection(site()), "a"), _set(collection(movement(), site()), "b")])
    [problem] = caught.value.problems
    assert (problem.source, problem.index, problem.id) == ("b", 1, "s1")
    assert "already declared" in problem.rule and "a (feature 0)" in problem.rule


def test_merge_sets_refuses_disagreeing_policies() -> None:
    a = _set(collection(site(), policy={"horizontal_m": 500}), "a")
    b = _set(collection(movement(), policy={"horizontal_m": 800}), "b")
    with pytest.raises(InvalidDeclaration) as caught:
        merge_sets([a, b])
    [problem] = caught.value.problems
    assert (problem.source, problem.index) == ("b", None)
    assert "policy" in problem.rule and "500" in problem.rule and "800" in problem.rule


def test_merge_sets_takes_the_one_policy_given() -> None:
    a = _set(collection(site(), policy={"horizontal_m": 500}), "a")
    b = _set(collection(movement()), "b")
    assert merge_sets([a, b]).policy == Policy(horizontal_m=500)
    assert merge_sets([b, b.__class__((), None, {})]).policy is None

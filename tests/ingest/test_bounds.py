"""Service limits on declarations' extent (Limits.max_zone_area_km2, max_plan_duration_s,
max_lead_s): known answers, each limit hit and just not hit, the message an operator reads."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import shapely
from pyproj import Geod

from deconflict.errors import LimitExceeded
from deconflict.ingest.bounds import area_km2, check_bounds
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.model import Declaration, Movement, Site, Zone

DAY_S = 86400.0
NOW_S = 1598346000.0  # 2020-08-25T09:00:00Z
GEOD = Geod(ellps="WGS84")
EQUATOR_BOX = shapely.box(0.0, 0.0, 1.0, 1.0)


def movement(start_s: float = NOW_S, duration_s: float = 3600.0, id: str = "m1") -> Movement:
    return Movement(
        id=id,
        party="A",
        positions=((36.0, 35.0), (36.1, 35.0)),
        times_s=(start_s, start_s + duration_s),
    )


def zone(
    geometry: shapely.Polygon = EQUATOR_BOX,
    valid_from_s: float | None = NOW_S,
    valid_to_s: float | None = NOW_S + DAY_S,
    id: str = "z1",
) -> Zone:
    return Zone(
        id=id, party="B", geometry=geometry, valid_from_s=valid_from_s, valid_to_s=valid_to_s
    )


def refused(
    decls: list[Declaration], limits: Limits = DEFAULT_LIMITS, source: str | None = None
) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as caught:
        check_bounds(decls, NOW_S, limits, source)
    return caught.value


def details(error: LimitExceeded) -> list[dict[str, object]]:
    assert isinstance(error.details, list)
    return error.details


# --- area ---


def test_area_of_one_degree_box_at_the_equator() -> None:
    expected_m2, _ = GEOD.polygon_area_perimeter([0, 1, 1, 0], [0, 0, 1, 1])
    assert area_km2(EQUATOR_BOX) == pytest.approx(abs(expected_m2) / 1e6, rel=1e-12)
    assert area_km2(EQUATOR_BOX) == pytest.approx(12_308.78, abs=0.01)


def test_area_is_the_same_whatever_the_winding_and_holes_subtract() -> None:
    hole = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75), (0.25, 0.25)]
    outer = list(EQUATOR_BOX.exterior.coords)
    hole_km2 = area_km2(shapely.Polygon(hole))
    for shell in (outer, outer[::-1]):
        for ring in (hole, hole[::-1]):
            assert area_km2(shapely.Polygon(shell, [ring])) == pytest.approx(
                area_km2(EQUATOR_BOX) - hole_km2, rel=1e-12
            )


def test_zone_area_over_the_limit_is_refused() -> None:
    area = area_km2(EQUATOR_BOX)
    error = refused([zone()], Limits(max_zone_area_km2=12_000.0))
    assert error.details == [
        {"index": 0, "id": "z1", "limit": "max_zone_area_km2", "value": area,
         "limit_value": 12_000.0}
    ]
    assert error.message == (
        "Feature 0 (id 'z1'): zone area 12,309 km² is over the limit max_zone_area_km2 = "
        "12,000 km²; split the zone or ask the operator to raise the limit."
    )
    assert error.code == "limit_exceeded" and error.http_status == 413


def test_zone_area_at_or_just_under_the_limit_passes_just_over_does_not() -> None:
    area = area_km2(EQUATOR_BOX)
    check_bounds([zone()], NOW_S, Limits(max_zone_area_km2=area))
    check_bounds([zone()], NOW_S, Limits(max_zone_area_km2=area * (1 + 1e-9)))
    error = refused([zone()], Limits(max_zone_area_km2=area * (1 - 1e-9)))
    # Shown with enough decimals not to read the same as the limit.
    shown = re.search(r"zone area ([\d,.]+) km² is over the limit max_zone_area_km2 = ([\d,.]+)",
                      error.message)
    assert shown is not None and shown[1] != shown[2]


def test_default_area_limit_takes_a_large_zone() -> None:
    check_bounds([zone(shapely.box(36.0, 30.0, 40.0, 34.0))], NOW_S)  # ~165,000 km²
    error = refused([zone(shapely.box(35.0, 30.0, 41.0, 36.0))])  # ~370,000 km²
    assert "max_zone_area_km2 = 250,000 km²" in error.message


def test_polygon_sites_are_bounded_points_are_not() -> None:
    limits = Limits(max_zone_area_km2=100.0)
    polygon_site = Site(id="s1", party="C", geometry=EQUATOR_BOX)
    error = refused([polygon_site], limits)
    assert error.message.startswith("Feature 0 (id 's1'): site area 12,309 km² is over")
    assert "split the site" in error.message
    check_bounds([Site(id="s2", party="C", geometry=shapely.Point(0.0, 0.0))], NOW_S, limits)


# --- duration ---


def test_movement_of_exactly_the_longest_plan_passes() -> None:
    check_bounds([movement(duration_s=30 * DAY_S)], NOW_S)


def test_movement_one_second_too_long_is_refused() -> None:
    error = refused([movement(duration_s=30 * DAY_S + 1)])
    assert error.message == (
        "Feature 0 (id 'm1'): movement plan of 30 days 1 second (first to last time) is over "
        "the limit max_plan_duration_s = 30 days; split it into shorter declarations or ask "
        "the operator to raise the limit."
    )
    assert error.details == [
        {"index": 0, "id": "m1", "limit": "max_plan_duration_s", "value": 30 * DAY_S + 1,
         "limit_value": 30 * DAY_S}
    ]


def test_validity_duration_is_bounded_only_when_both_ends_are_given() -> None:
    limits = Limits(max_plan_duration_s=36 * 3600.0)
    check_bounds([zone(valid_to_s=NOW_S + 36 * 3600)], NOW_S, limits)
    error = refused([zone(valid_to_s=NOW_S + 36 * 3600 + 60)], limits)
    assert (
        "zone validity of 1 day 12 hours 1 minute (valid_from to valid_to) is over the limit "
        "max_plan_duration_s = 1 day 12 hours;" in error.message
    )
    check_bounds([zone(valid_from_s=None, valid_to_s=NOW_S + 400 * DAY_S)], NOW_S, limits)
    check_bounds([zone(valid_from_s=NOW_S - 400 * DAY_S, valid_to_s=None)], NOW_S, limits)


# --- lead ---


def test_movement_starting_at_the_longest_lead_passes_a_second_later_does_not() -> None:
    check_bounds([movement(start_s=NOW_S + 366 * DAY_S)], NOW_S)
    error = refused([movement(start_s=NOW_S + 366 * DAY_S + 1)])
    assert error.message == (
        "Feature 0 (id 'm1'): movement start (first time) 366 days 1 second after now is over "
        "the limit max_lead_s = 366 days; submit it nearer the time or ask the operator to "
        "raise the limit."
    )
    assert details(error)[0]["limit"] == "max_lead_s"


def test_zone_lead_counts_from_valid_from_and_open_start_has_none() -> None:
    far = NOW_S + 400 * DAY_S
    error = refused([zone(valid_from_s=far, valid_to_s=far + DAY_S)])
    assert "zone start (valid_from) 400 days after now" in error.message
    check_bounds([zone(valid_from_s=None, valid_to_s=far)], NOW_S)


def test_past_plans_have_no_lead_to_bound() -> None:
    check_bounds([movement(start_s=NOW_S - 1000 * DAY_S)], NOW_S)


# --- the error ---


def test_every_offender_is_in_details_the_first_in_the_message() -> None:
    decls: list[Declaration] = [
        movement(id="ok"),
        zone(id="wide", valid_to_s=NOW_S + 40 * DAY_S),
        movement(id="late", start_s=NOW_S + 400 * DAY_S),
        zone(id="fine", geometry=shapely.box(0, 0, 0.1, 0.1)),
    ]
    error = refused(decls, Limits(max_zone_area_km2=1000.0), "plans.geojson")
    assert error.message.startswith("plans.geojson: feature 1 (id 'wide'): zone area 12,309 km²")
    assert error.message.endswith("raise the limit (2 more over a limit: see details).")
    assert [(d["index"], d["id"], d["limit"]) for d in details(error)] == [
        (1, "wide", "max_zone_area_km2"),
        (1, "wide", "max_plan_duration_s"),
        (2, "late", "max_lead_s"),
    ]


@pytest.mark.parametrize(
    "decl",
    [
        zone(shapely.box(35.0, 30.0, 41.0, 36.0)),
        movement(duration_s=31 * DAY_S),
        movement(start_s=NOW_S + 500.5 * DAY_S),
    ],
)
def test_message_is_one_sentence(decl: Declaration) -> None:
    message = refused([decl]).message
    assert message.endswith(".") and ". " not in message and "\n" not in message


def test_nothing_over_returns_none_and_changes_nothing() -> None:
    decls: list[Declaration] = [movement(), zone()]
    before = [dataclasses.astuple(d) for d in decls]
    assert check_bounds(decls, NOW_S) is None  # type: ignore[func-returns-value]
    assert check_bounds([], NOW_S) is None  # type: ignore[func-returns-value]
    assert [dataclasses.astuple(d) for d in decls] == before


# --- the limits themselves ---


def test_new_limit_defaults() -> None:
    limits = Limits()
    assert limits.max_zone_area_km2 == 250_000.0
    assert limits.max_plan_duration_s == 30 * DAY_S
    assert limits.max_lead_s == 366 * DAY_S
    assert (limits.max_page, limits.default_page) == (500, 100)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Limits)])
@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_every_limit_must_be_positive_and_finite(name: str, bad: float) -> None:
    changes: dict[str, object] = {name: bad}
    if name == "max_page":
        changes["default_page"] = 1  # so only the value under test is wrong
    with pytest.raises(ValueError, match=f"limit {name} must be"):
        Limits(**changes)  # type: ignore[arg-type]


def test_counts_must_be_whole_and_default_page_within_max_page() -> None:
    with pytest.raises(ValueError, match="max_page must be a whole number"):
        Limits(max_page=10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="default_page"):
        Limits(max_page=50)
    assert Limits(max_page=50, default_page=50).default_page == 50

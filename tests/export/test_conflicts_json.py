"""The wire shape of a conflict (SPEC section 3) and the one time format all outputs share."""

from __future__ import annotations

import json
import math

import pytest

from deconflict.export.conflicts import conflict_to_wire, conflicts_json, crossing_to_wire
from deconflict.export.times import format_time, format_time_or_none
from deconflict.model import Conflict, Crossing, ZoneType

T0_S = 1598346000.0  # 2020-08-25T09:00:00Z


def conflict(**changes: object) -> Conflict:
    fields: dict[str, object] = dict(
        a="m1",
        b="m2",
        party_a="A",
        party_b="B",
        start_s=T0_S,
        end_s=T0_S + 90,
        min_distance_m=123.456789,
        at=(36.123456789, 35.987654321),
    )
    fields.update(changes)
    return Conflict(**fields)  # type: ignore[arg-type]


def test_spec_3_conflict_object_fields_in_order() -> None:
    wire = conflict_to_wire(conflict())
    assert list(wire) == ["a", "b", "party_a", "party_b", "start", "end", "min_distance_m", "at"]
    assert wire == {
        "a": "m1",
        "b": "m2",
        "party_a": "A",
        "party_b": "B",
        "start": "2020-08-25T09:00:00Z",
        "end": "2020-08-25T09:01:30Z",
        "min_distance_m": 123.46,
        "at": [36.1234568, 35.9876543],
    }


def test_spec_3_sub_second_kept_only_when_not_zero() -> None:
    wire = conflict_to_wire(conflict(start_s=T0_S + 0.25, end_s=T0_S + 60.0000001))
    assert (wire["start"], wire["end"]) == ("2020-08-25T09:00:00.250Z", "2020-08-25T09:01:00Z")


def test_spec_3_touching_is_zero_not_minus_zero() -> None:
    wire = conflict_to_wire(conflict(min_distance_m=-0.0000001, at=(-0.00000001, 0.0)))
    assert json.dumps(wire["min_distance_m"]) == "0.0"
    assert json.dumps(wire["at"]) == "[0.0, 0.0]"


def test_spec_3_conflicts_json_is_one_array() -> None:
    text = conflicts_json([conflict(), conflict(a="m3")])
    parsed = json.loads(text)
    assert isinstance(parsed, list) and [c["a"] for c in parsed] == ["m1", "m3"]
    assert json.loads(conflicts_json([])) == []


def test_crossing_wire_object() -> None:
    crossing = Crossing(
        zone="z1",
        zone_party="C",
        zone_type=ZoneType.CORRIDOR,
        movement="m1",
        movement_party="A",
        start_s=T0_S,
        end_s=T0_S + 1.5,
    )
    assert crossing_to_wire(crossing) == {
        "zone": "z1",
        "zone_party": "C",
        "zone_type": "corridor",
        "movement": "m1",
        "movement_party": "A",
        "start": "2020-08-25T09:00:00Z",
        "end": "2020-08-25T09:00:01.500Z",
    }


@pytest.mark.parametrize(
    ("epoch_s", "text"),
    [
        (T0_S, "2020-08-25T09:00:00Z"),
        (T0_S + 0.5, "2020-08-25T09:00:00.500Z"),
        (T0_S + 0.9996, "2020-08-25T09:00:01Z"),
        (0.0, "1970-01-01T00:00:00Z"),
        (-1.5, "1969-12-31T23:59:58.500Z"),
    ],
)
def test_format_time_is_iso_8601_utc(epoch_s: float, text: str) -> None:
    assert format_time(epoch_s) == text


def test_format_time_refuses_open_ends() -> None:
    with pytest.raises(ValueError):
        format_time(math.inf)
    assert format_time_or_none(math.inf) is None and format_time_or_none(None) is None

"""The wire shape of a conflict (SPEC section 3) and the one time format all outputs share."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _by_datetime(epoch_s: float, exact: bool) -> str:
    """The formula format_time used before it kept day texts: datetime arithmetic whole."""
    if exact:
        seconds, fraction = divmod(round(Fraction(epoch_s) * 1_000_000), 1_000_000)
        digits = 6
        if fraction % 1000 == 0:
            fraction, digits = fraction // 1000, 3
    else:
        seconds, fraction = divmod(round(epoch_s * 1000), 1000)
        digits = 3
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    text = (epoch + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()
    return f"{text}.{fraction:0{digits}d}Z" if fraction else f"{text}Z"


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=-62_135_596_800.0, max_value=253_402_300_799.0),
        st.integers(min_value=-62_135_596_800, max_value=253_402_300_799).map(float),
        st.floats(min_value=1.5e9, max_value=2.1e9),
    ),
    st.booleans(),
)
def test_format_time_equals_datetime_arithmetic(epoch_s: float, exact: bool) -> None:
    """Every time from year 1 to 9999, formatted as the datetime formula does it."""
    try:
        expected = _by_datetime(epoch_s, exact)
    except OverflowError:  # rounds past 9999-12-31T23:59:59.999
        with pytest.raises(ValueError, match="years 1 to 9999"):
            format_time(epoch_s, exact=exact)
        return
    assert format_time(epoch_s, exact=exact) == expected
    assert format_time(epoch_s, exact=exact) == expected  # the day text as kept


def test_format_time_refuses_years_outside_1_to_9999() -> None:
    for epoch_s in (-62_135_596_801.0, 253_402_300_800.0, 1e15, -1e15):
        with pytest.raises(ValueError, match="years 1 to 9999"):
            format_time(epoch_s)

"""`canonical_json` (the fast path, also the entries' `fast_canonical`) on number-heavy
values (GeoJSON coordinates, disclosures' portions, signed request bodies): byte for byte
what the general encoder (`general_canonical_json`, here `reference`) writes, the same
refusals, and the bulk check of arrays (`_items_plain`) decides exactly as the
item-by-item check it replaced."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.record.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    _plain,
    canonical_json,
)
from deconflict.record.canonical import general_canonical_json as reference
from deconflict.record.entries import build_entry, fast_canonical
from deconflict.record.errors import NotCanonical


def _old_plain(value: object, depth: int) -> bool:
    """`_plain` as it was before arrays were checked in bulk (commit 69c68d4)."""
    if type(value) is dict:
        if depth >= MAX_DEPTH:
            return False
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is float:
                a = abs(v)
                if not (1e-4 <= a < 1e16) or a.is_integer():
                    return False
            elif tv is int:
                if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                    return False
            elif not _old_plain(v, depth + 1):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        if depth >= MAX_DEPTH:
            return False
        for v in value:
            tv = type(v)
            if tv is float:
                a = abs(v)
                if not (1e-4 <= a < 1e16) or a.is_integer():
                    return False
            elif tv is not str and not _old_plain(v, depth + 1):
                return False
        return True
    if type(value) is str or type(value) is bool or value is None:
        return True
    if type(value) is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    if type(value) is float:
        a = abs(value)
        return 1e-4 <= a < 1e16 and not a.is_integer()
    return False


class _Int(int):
    pass


class _Float(float):
    def __repr__(self) -> str:
        return "1.5"


_EDGE_FLOATS = [
    0.0,
    -0.0,
    1e-4,
    -1e-4,
    9.99e-5,
    1e16,
    9.999999999999998e15,
    1e21,
    35.0,
    -35.0,
    41.123456,
    -73.5,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    5e-324,
]
_number = (
    st.floats()
    | st.floats(-180, 180)
    | st.sampled_from(_EDGE_FLOATS)
    | st.integers(-(2**60), 2**60)
    | st.integers(-1000, 1000)
    | st.sampled_from([MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, True])
)
_coord = st.floats(-180, 180).filter(lambda x: not x.is_integer()).map(lambda x: round(x, 6))
_position = st.lists(_coord, min_size=2, max_size=3) | st.lists(_number, min_size=2, max_size=3)
_scalar = _number | st.none() | st.text(max_size=4) | st.sampled_from(["é", "\ud800", "Z"])
_array = st.recursive(
    st.lists(_position, max_size=6) | st.lists(_scalar, max_size=6) | st.tuples(_coord, _coord),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
    max_leaves=8,
)
_value = st.recursive(
    _array | _scalar,
    lambda inner: (
        st.dictionaries(st.text(max_size=3) | st.just("\U0001f600"), inner, max_size=3)
        | st.lists(inner, max_size=3)
    ),
    max_leaves=6,
)


def _encoded(fn: Any, value: Any) -> bytes | str:
    try:
        return bytes(fn(value))
    except NotCanonical as exc:
        return str(exc)


@settings(max_examples=400, deadline=None)
@given(value=_value)
def test_the_fast_encoder_writes_coordinates_as_canonical_json(value: Any) -> None:
    assert _encoded(fast_canonical, value) == _encoded(reference, value)


@settings(max_examples=400, deadline=None)
@given(value=_value, depth=st.sampled_from([0, 1, 3]))
def test_the_bulk_check_of_arrays_decides_as_the_item_by_item_one(value: Any, depth: int) -> None:
    assert _plain(value, depth) == _old_plain(value, depth)


@settings(max_examples=100, deadline=None)
@given(coordinates=st.lists(st.lists(_coord, min_size=2, max_size=2), min_size=2, max_size=40))
def test_a_feature_commits_to_its_canonical_json(coordinates: list[list[float]]) -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coordinates},
        "properties": {"id": "move-1", "times": ["2026-11-24T06:00:00Z"] * len(coordinates)},
    }
    raw, contents = build_entry(3, b"\x02" * 32, 1.7e9, "sealed", "", {}, {"sealed": feature})
    assert contents[0].content == reference(feature)
    assert raw == reference(
        {
            "v": 1,
            "index": 3,
            "prev": "02" * 32,
            "at": "2023-11-14T22:13:20.000Z",
            "type": "sealed",
            "by": "",
            "data": {},
            "commit": {"sealed": contents[0].commitment_hex},
        }
    )


@pytest.mark.parametrize(
    "value",
    [
        [[1.5, 2.5], [3.5, math.nan]],
        [[1.5, 2.5], [3.5, math.inf]],
        [[1.5, 2.5], [3.5, -math.inf]],
        [[1.5, 2.5], [3.5, 4.0]],
        [[1.5, 2.5], [3.5, 1e-5]],
        [[1.5, 2.5], [3.5, 1e17]],
        [[1e308, 1e308], [1e308, 1.5]],
        [[1.5, 2.5], [3, MAX_SAFE_INTEGER + 1]],
        [[1.5, _Float(2.5)]],
        [[1.5, 2.5], [_Int(3), 4]],
        [[1.5, 2.5], (3.5, 4.5)],
    ],
)
def test_arrays_the_standard_encoder_would_get_wrong_are_not_plain(value: Any) -> None:
    assert _plain(value, 0) == _old_plain(value, 0)
    assert _encoded(fast_canonical, value) == _encoded(reference, value)


def test_deep_arrays_are_refused_at_the_same_depth() -> None:
    for levels in (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1):
        deep: Any = [1.5, 2.5]
        for _ in range(levels - 1):
            deep = [deep, [0.5]]
        assert _plain(deep, 0) == _old_plain(deep, 0)
        assert _encoded(canonical_json, deep) == _encoded(reference, deep)


def test_a_portion_beside_integral_altitudes_is_canonical_json() -> None:
    """A disclosure's portion (`declaration_to_feature`): integral floats in properties
    send it through `_ready`, whose arrays are kept as they are when plain."""
    coordinates = [[41.123456 + k / 1000, 36.5 + k / 999] for k in range(20)]
    ring = [[41.5, 36.5], [41.6, 36.5], [41.6, 36.0], [41.5, 36.5]]  # 36.0 is integral
    for geometry in (
        {"type": "LineString", "coordinates": coordinates},
        {"type": "Polygon", "coordinates": [ring]},
        {"type": "Point", "coordinates": (41.5, 36.25)},
    ):
        props = {"alt_min_m": 0.0, "alt_max_m": 150.0, "buffer_m": 500.0, "times": ["t"] * 3}
        portion = {"portion": [{"type": "Feature", "properties": props, "geometry": geometry}]}
        assert fast_canonical(portion) == reference(portion)
        assert canonical_json(portion) == reference(portion)


@settings(max_examples=300, deadline=None)
@given(value=_value)
def test_canonical_json_is_the_general_encoder_byte_for_byte(value: Any) -> None:
    assert fast_canonical is canonical_json
    assert _encoded(canonical_json, value) == _encoded(reference, value)


def test_a_signed_request_body_is_encoded_as_the_general_encoder_does() -> None:
    """What `service.auth.signed_message` signs: a FeatureCollection of movements."""
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [[41.25 + k / 7, 36.5 - k / 11] for k in range(50)],
            },
            "properties": {"id": f"m-{i}", "times": ["2026-12-08T00:00:00Z"] * 50, "alt": 120},
        }
        for i in range(3)
    ]
    body = {"type": "FeatureCollection", "features": features, "policy": {"vertical_m": 300.0}}
    value = {"method": "POST", "path": "/v1/declarations", "body": body}
    assert canonical_json(value) == reference(value)

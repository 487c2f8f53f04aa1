"""SPEC §6 / DESIGN "The record": entries are canonical JSON — one byte string per value.

Numbers follow RFC 8785 (its Appendix B vectors are in vectors.py); the rest is checked
against the rule written in deconflict.record.canonical.
"""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconflict.record import NotCanonical, canonical_json, format_number, parse_canonical
from deconflict.record.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, JSONValue

from .vectors import RFC8785_NUMBERS


def test_spec_6_canonical_json_sorts_keys_and_drops_spaces() -> None:
    value: JSONValue = {"b": [1, 2.5, None, True, False], "a": {"z": "x", "y": []}, "é": "ü\n"}
    assert canonical_json(value) == (
        '{"a":{"y":[],"z":"x"},"b":[1,2.5,null,true,false],"é":"ü\\n"}'.encode()
    )


@pytest.mark.parametrize(("bits", "expected"), RFC8785_NUMBERS)
def test_spec_6_numbers_are_written_as_rfc_8785(bits: str, expected: str) -> None:
    (x,) = struct.unpack(">d", bytes.fromhex(bits))
    assert format_number(x) == expected
    assert canonical_json([x]) == f"[{expected}]".encode()


def test_integral_floats_and_integers_are_one_number() -> None:
    assert canonical_json(1.0) == canonical_json(1) == b"1"
    assert canonical_json(-0.0) == b"0"
    assert canonical_json(MAX_SAFE_INTEGER) == str(MAX_SAFE_INTEGER).encode()


def test_keys_sort_by_utf16_code_units_as_rfc_8785() -> None:
    # RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    encoded = canonical_json(dict.fromkeys(keys, 0)).decode()
    order = [k for k, _ in json.loads(encoded, object_pairs_hook=list)]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_only_quotes_backslashes_and_controls_are_escaped() -> None:
    assert canonical_json('a"b\\c\x01\x1f\u2028\u007f/é') == (
        '"a\\"b\\\\c\\u0001\\u001f\u2028\u007f/é"'.encode()
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"a": [1, math.nan]}, r"\$\['a'\]\[1\]"),
        (math.inf, "not a JSON number"),
        (-math.inf, "not a JSON number"),
        (MAX_SAFE_INTEGER + 1, "2\\^53"),
        (-(2**60), "2\\^53"),
        ({1: "x"}, "not a string"),
        (b"bytes", "bytes is not a JSON value"),
        ({"s": {1, 2}}, "set is not a JSON value"),
        ("\ud800", "surrogate"),
    ],
)
def test_values_another_reader_would_misread_are_refused(value: object, words: str) -> None:
    with pytest.raises(NotCanonical, match=words):
        canonical_json(value)  # type: ignore[arg-type]


def test_nesting_is_bounded() -> None:
    deep: JSONValue = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(NotCanonical, match="nesting"):
        canonical_json(deep)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b"[1.0]",
        b"[1E3]",
        b'{"a":1,"a":1}',
        b"[NaN]",
        b"\xef\xbb\xbf[]",
        b'"\\u00e9"',
        b"[1,]",
        b"\xff",
    ],
)
def test_non_canonical_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(NotCanonical):
        parse_canonical(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_spec_6_canonical_json_reads_back_to_the_same_value_and_bytes(value: JSONValue) -> None:
    data = canonical_json(value)
    # A reader that holds every number as a double (JavaScript) gets the value back.
    assert json.loads(data, parse_int=float) == value
    assert parse_canonical(data) == value
    assert canonical_json(parse_canonical(data)) == data


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_reads_back_exactly(x: float) -> None:
    assert float(format_number(x)) == x


def test_large_integral_doubles_read_back_as_doubles() -> None:
    data = canonical_json([2.0**53, 2.0**60, 1e21])
    assert data == b"[9007199254740992,1152921504606847000,1e+21]"
    assert parse_canonical(data) == [2.0**53, 2.0**60, 1e21]
    with pytest.raises(NotCanonical):  # digits that are not the double's shortest form
        parse_canonical(b"[1152921504606846976]")

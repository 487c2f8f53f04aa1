"""A batch's rows encoded once (ingest.positions.rows) give exactly the bytes of the
general encoders: the canonical JSON the record hashes, and the queue's json.dumps text."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.ingest.limits import Limits
from deconflict.ingest.positions.batch import plain_batch
from deconflict.ingest.positions.rows import encode_rows
from deconflict.model.positions import PositionReport
from deconflict.record.canonical import Canonical, canonical_json
from deconflict.record.entries import build_entry, fast_canonical
from deconflict.service.live import report_json

T = 1_598_342_400.0

# Every spelling canonical JSON and repr disagree on: integral, tiny, huge, signed zero.
odd_numbers = st.sampled_from(
    [0.0, -0.0, 35.0, -12.0, 1e-5, 9.99e-5, 1e-4, 1e15, 1e16, 1.5e16, 1e21, 1e22, 5e-324, 2.0**53]
)
numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), odd_numbers)
texts = st.text(min_size=1, max_size=8)  # non-ASCII, quotes, backslashes, controls


@st.composite
def columns(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 6))

    def column(optional: bool, same: bool = False) -> np.ndarray[Any, Any]:
        if same:  # one time for the whole batch
            return np.full(n, draw(numbers))
        items = st.one_of(st.none(), numbers) if optional else numbers
        return np.array(
            [math.nan if v is None else v for v in draw(st.lists(items, min_size=n, max_size=n))]
        )

    return {
        "units": draw(st.lists(texts, min_size=n, max_size=n)),
        "time_s": column(False, same=draw(st.booleans())),
        "lat": column(False),
        "lon": column(False),
        "alt_m": column(True),
        "speed_mps": column(True),
        "course_deg": column(True),
        "movements": draw(st.lists(st.one_of(st.none(), texts), min_size=n, max_size=n)),
        "source": draw(st.sampled_from(["http", "cöt"])),
    }


def reports_of(c: dict[str, Any]) -> list[PositionReport]:
    def value(a: np.ndarray[Any, Any], i: int) -> float | None:
        v = float(a[i])
        return None if math.isnan(v) else v

    return [
        PositionReport(
            c["units"][i],
            "blue",
            float(c["time_s"][i]),
            float(c["lon"][i]),
            float(c["lat"][i]),
            value(c["alt_m"], i),
            value(c["speed_mps"], i),
            value(c["course_deg"], i),
            c["movements"][i],
            c["source"],
        )
        for i in range(len(c["units"]))
    ]


@settings(max_examples=250, deadline=None)
@given(columns())
def test_rows_are_the_bytes_of_the_general_encoders(c: dict[str, Any]) -> None:
    rows = [report_json(r) for r in reports_of(c)]
    found = encode_rows(**c)
    assert found is not None
    assert found.record.raw == canonical_json(rows) == fast_canonical(rows)
    assert found.queue == json.dumps(rows, separators=(",", ":"))


def test_a_lone_surrogate_is_left_to_the_general_encoder() -> None:
    one = np.array([T])
    args = dict(lat=one, lon=one, alt_m=one, speed_mps=one, course_deg=one)
    assert encode_rows(["a\ud800"], one, movements=[None], source="http", **args) is None


def test_a_plain_batch_comes_with_its_rows() -> None:
    doc = [
        {"unit": "a", "time": T, "lat": 1.5, "lon": 2, "speed_mps": 0.0, "course_deg": 360.0},
        {"unit": "é", "time": int(T), "lat": -90, "lon": 180.0, "alt_m": None, "movement": "m"},
    ]
    batch = plain_batch(doc, "blue", Limits())
    assert batch is not None and batch.rows is not None
    rows = [report_json(r) for r in batch.reports]
    assert batch.rows.record.raw == canonical_json(rows)
    assert batch.rows.queue == json.dumps(rows, separators=(",", ":"))


def test_an_encoded_part_is_written_as_is_in_an_entry() -> None:
    rows: list[Any] = [{"unit": "a", "time": T, "lat": 1.0, "alt_m": None}]
    inner = {
        "type": "positions",
        "by": "blue",
        "data": {"reports": 1},
        "contents": {"reports": rows},
    }
    spliced = {**inner, "contents": {"reports": Canonical(canonical_json(rows))}}
    assert canonical_json(spliced) == fast_canonical(spliced) == canonical_json(inner)
    entry, contents = build_entry(1, b"\0" * 32, T, "sealed", "", {}, {"sealed": spliced})
    assert contents[0].content == canonical_json(inner)
    _, alone = build_entry(1, b"\0" * 32, T, "sealed", "", {}, {"r": Canonical(b"[1]")})
    assert alone[0].content == b"[1]"

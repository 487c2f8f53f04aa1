"""The column-wise check of an HTTP batch (ingest.positions.batch) against the
report-by-report one: for every batch it takes, the same reports; anything the
report-by-report check refuses, it does not take."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.errors import DeconflictError
from deconflict.ingest.limits import Limits
from deconflict.ingest.positions.batch import plain_batch, plain_reports
from deconflict.record.canonical import canonical_json
from deconflict.service.core import Service, Settings
from deconflict.service.live import check_reports, report_json

LIMITS = Limits()
T = 1_598_342_400.0

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-(10**20), 10**20),
    # just outside (and on) each bound: lat, lon, course, speed (5000 km/h), alt, time
    st.sampled_from([-90.5, 90.5, -180.5, 180.5, 360.0, 360.5, -0.5, 1388.9, 1389.0]),
    st.sampled_from([-1000.5, 100_000.5, T - 1e9, 4.2e9, 1e300, -0.0]),
)
odd: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.just(10**400), st.just([])
)
valid = st.fixed_dictionaries(
    {
        "unit": st.text(
            st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=10
        ),
        "time": st.one_of(st.floats(T, T + 1e6), st.integers(int(T), int(T) + 10**6)),
        "lat": st.floats(-90, 90),
        "lon": st.floats(-180, 180),
    },
    optional={
        "alt_m": st.one_of(st.none(), st.floats(-1000, 100_000)),
        "speed_mps": st.one_of(st.none(), st.floats(0, 1000), st.integers(0, 1000)),
        "course_deg": st.one_of(st.none(), st.floats(0, 360)),
        "movement": st.one_of(st.none(), st.text(min_size=1, max_size=10)),
        "party": st.just("blue"),
    },
)


@st.composite
def spoiled(draw: st.DrawFn) -> dict[str, Any]:
    """A valid report with one member changed to anything at all, or an unknown one."""
    item = dict(draw(valid))
    key = draw(st.sampled_from([*item, "extra", "alt_m", "course_deg"]))
    item[key] = draw(st.one_of(odd, numbers))
    if draw(st.booleans()):
        item.pop(draw(st.sampled_from(sorted(item))), None)
    return item


SVC = cast(Service, SimpleNamespace(settings=Settings()))
"""What the checks read of the service: its limits."""


def slow(doc: list[Any]) -> list[Any] | str:
    """What the report-by-report check makes of `doc`: its reports or its refusal."""
    try:
        return check_reports(doc, "blue", SVC)
    except DeconflictError as e:
        return str(e)


def is_plain(d: dict[str, Any]) -> bool:
    """Numbers as JSON numbers (the report-by-report check also takes numeric text)."""
    return all(type(d.get(k, 0.0)) in (int, float) for k in ("time", "lat", "lon")) and all(
        type(d.get(k)) in (int, float, type(None)) for k in ("alt_m", "speed_mps", "course_deg")
    )


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(valid, valid, valid, valid, spoiled()), min_size=1, max_size=4))
def test_the_column_check_takes_only_what_the_report_check_takes(
    doc: list[dict[str, Any]],
) -> None:
    doc = json.loads(json.dumps(doc))  # as the route parses it
    fast = plain_reports(doc, "blue", LIMITS)
    want = slow(doc)
    if fast is not None:
        assert not isinstance(want, str), want
        assert fast == want
        for a, b in zip(fast, want, strict=True):  # ints made floats alike
            for name in ("time_s", "lat", "lon", "alt_m", "speed_mps", "course_deg"):
                x, y = getattr(a, name), getattr(b, name)
                assert type(x) is type(y) and x == y, (name, x, y)
    elif not isinstance(want, str) and all(is_plain(d) for d in doc):
        raise AssertionError("a plain, valid batch must take the fast path")
    batch = plain_batch(doc, "blue", LIMITS)
    if batch is not None:  # its rows as the record and the queue wrote them one by one
        assert batch.rows is not None
        rows = [report_json(r) for r in batch.reports]
        assert batch.rows.record.raw == canonical_json(rows)
        assert batch.rows.queue == json.dumps(rows, separators=(",", ":"))


def test_a_plain_batch_takes_the_fast_path() -> None:
    doc = [
        {"unit": "a", "time": T, "lat": 1.0, "lon": 2, "speed_mps": 3, "course_deg": 360.0},
        {"unit": "b", "time": int(T), "lat": -90, "lon": 180.0, "alt_m": None, "movement": "m"},
    ]
    fast = plain_reports(doc, "blue", LIMITS)
    assert fast is not None and fast == slow(doc)
    assert fast[0].course_deg == 0.0 and fast[1].movement == "m"
    assert plain_reports([{**doc[0], "time": "2020-08-25T09:00:00Z"}], "blue", LIMITS) is None

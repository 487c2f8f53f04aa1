"""Partition routes of reports whose reach spans several cells, found for all such reports
at once with numpy (engine/partitions.py `_routes`), are those of the cell-by-cell loop it
replaced (kept here as the reference)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.engine.partitions import Partitioning
from deconflict.model.positions import PositionReport


def reference(p: Partitioning, reports: list[PositionReport]) -> list[int]:
    """The routes as the loop computed them, one report and one cell at a time."""
    out = []
    for r in reports:
        reach = p.reach_m(r)
        dlat = reach / 110_000.0
        coslat = math.cos(math.radians(min(abs(r.lat) + dlat, 89.0)))
        dlon = dlat / coslat
        c = p.cell_deg
        i0, i1 = math.floor((r.lat - dlat) / c), math.floor((r.lat + dlat) / c)
        j0, j1 = math.floor((r.lon - dlon) / c), math.floor((r.lon + dlon) / c)
        mask = 1 << p.home(f"{r.party}/{r.unit}")
        if (i1 - i0 + 1) * (j1 - j0 + 1) > 4 * p.parts:
            out.append(p.every)
            continue
        for i in range(i0, i1 + 1):
            for j in range(j0, j1 + 1):
                mask |= 1 << p.cell_part(i, p._wrap(j))
        out.append(mask)
    return out


@st.composite
def report(draw: st.DrawFn) -> PositionReport:
    speed = draw(st.one_of(st.none(), st.floats(0, 800)))
    return PositionReport(
        unit=f"u{draw(st.integers(0, 30))}",
        party=draw(st.sampled_from(["alpha", "beta"])),
        time_s=1.7e9,
        lon=draw(st.one_of(st.floats(-180, 180), st.sampled_from([-180.0, -179.99, 179.99]))),
        lat=draw(st.one_of(st.floats(-90, 90), st.sampled_from([-89.9, 0.0, 88.95, 90.0]))),
        alt_m=draw(st.one_of(st.none(), st.floats(0, 10_000))),
        speed_mps=speed,
        course_deg=None if speed is None else draw(st.floats(0, 360)),
    )


@settings(max_examples=400, deadline=None)
@given(
    st.lists(report(), min_size=1, max_size=20),
    st.integers(1, 62),
    st.sampled_from([0.01, 0.05, 0.3, 1.0, 2.0, 7.5, 90.0]),
)
def test_routes_are_those_of_the_cell_by_cell_loop(
    reports: list[PositionReport], parts: int, cell: float
) -> None:
    p = Partitioning(parts=parts, cell_deg=cell)
    assert p.routes(reports) == reference(p, reports)


def test_a_batch_of_many_multi_cell_reports() -> None:
    p = Partitioning(parts=16, cell_deg=0.3)
    reports = [
        PositionReport(f"u{k}", "alpha", 1.7e9, -179.5 + 0.7 * k, -60 + 0.3 * k, None, 5.0 * k, 90)
        for k in range(500)
    ]
    got = p.routes(reports)
    assert got == reference(p, reports)
    assert len(set(got)) > 20 and p.every in got

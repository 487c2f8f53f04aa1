"""A plain HTTP batch taken as columns (ingest/positions/batch.py `Columns`): the partition
routes and everything the live path does with the batch (answers, alert events, stored
alerts, record entries) are those of the same batch taken as report objects."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.engine.partitions import Partitioning
from deconflict.ingest.limits import Limits
from deconflict.ingest.positions.batch import plain_batch
from deconflict.service import Service
from deconflict.service import parties as party_service
from deconflict.service.auth import OPERATOR_PRINCIPAL, Principal
from deconflict.service.live import live, parse_batch
from deconflict.store.database import Database

NUMBER = st.floats(allow_nan=False, allow_infinity=False)
OPTIONAL = st.one_of(st.none(), st.integers(-5, 5), NUMBER)


@st.composite
def reports(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for k in range(draw(st.integers(1, 12))):
        item: dict[str, Any] = {
            "unit": draw(st.sampled_from(["u1", "u2", "é", f"u{k}"])),
            "time": draw(st.floats(1.6e9, 1.8e9)),
            "lat": draw(st.one_of(st.floats(-90, 90), st.sampled_from([-90, 0, 89.99, 90]))),
            "lon": draw(st.one_of(st.floats(-180, 180), st.sampled_from([-180, 179.999, 180]))),
        }
        for name, values in (
            ("alt_m", st.floats(-400, 20_000)),
            ("speed_mps", st.floats(0, 300)),
            ("course_deg", st.floats(0, 360)),
        ):
            choice = draw(st.sampled_from(["absent", "null", "value"]))
            if choice != "absent":
                item[name] = None if choice == "null" else draw(values)
        out.append(item)
    return out


@settings(max_examples=300, deadline=None)
@given(
    reports(),
    st.integers(1, 62),
    st.sampled_from([0.01, 0.5, 2.0, 45.0, 90.0]),
)
def test_routes_of_columns_are_routes_of_reports(
    doc: list[dict[str, Any]], parts: int, cell: float
) -> None:
    batch = plain_batch(doc, "alpha", Limits())
    assert batch is not None and batch.columns is not None
    p = Partitioning(parts=parts, cell_deg=cell)
    c = batch.columns
    got = p.routes_columns(c.party, c.units, c.lat, c.lon, c.alt_m, c.speed_mps, c.course_deg)
    assert got == p.routes(batch.reports)


@settings(max_examples=100, deadline=None)
@given(reports())
def test_columns_hold_the_values_of_the_reports(doc: list[dict[str, Any]]) -> None:
    batch = plain_batch(doc, "alpha", Limits())
    assert batch is not None and batch.columns is not None
    c = batch.columns

    def same(a: np.ndarray[Any, Any], values: list[float | None]) -> None:
        assert [None if np.isnan(v) else v for v in a.tolist()] == values

    assert c.party == "alpha" and c.units == [r.unit for r in batch.reports]
    assert c.movements == [r.movement for r in batch.reports]
    same(c.time_s, [r.time_s for r in batch.reports])
    same(c.lat, [r.lat for r in batch.reports])
    same(c.lon, [r.lon for r in batch.reports])
    same(c.alt_m, [r.alt_m for r in batch.reports])
    same(c.speed_mps, [r.speed_mps for r in batch.reports])
    same(c.course_deg, [r.course_deg for r in batch.reports])


def traffic(t0: float) -> list[tuple[str, bytes]]:
    """Two parties' units on straight courses, some closing on each other, some naming
    movements nobody declared: batches of both parties, 10 s apart."""
    rng = np.random.default_rng(7)
    n = 40
    lat0 = 45.0 + rng.uniform(-0.05, 0.05, n)
    lon0 = 20.0 + rng.uniform(-0.05, 0.05, n)
    speed = rng.uniform(0, 40, n)
    course = rng.uniform(0, 360, n)
    air = rng.random(n) < 0.3
    out = []
    for step in range(8):
        for party, units in (("alpha", range(0, 20)), ("beta", range(20, 40))):
            doc = []
            for j in units:
                k = 10.0 * step
                rad = np.radians(course[j])
                item: dict[str, Any] = {
                    "unit": f"u{j}",
                    "time": t0 + k + 0.5 * (j % 3),
                    "lat": float(lat0[j] + speed[j] * k * np.cos(rad) / 111_200.0),
                    "lon": float(lon0[j] + speed[j] * k * np.sin(rad) / 78_600.0),
                }
                if j % 4:
                    item["speed_mps"] = float(speed[j])
                    item["course_deg"] = float(course[j])
                if air[j]:
                    item["alt_m"] = 300.0
                if j % 7 == 0:
                    item["movement"] = "m-none"
                doc.append(item)
            out.append((party, json.dumps(doc).encode()))
    return out


def unclocked(payload: str) -> dict[str, Any]:
    """An event's payload without its time of sending."""
    out: dict[str, Any] = json.loads(payload)
    out.pop("at_s")
    return out


def run(path: Path, batches: list[tuple[str, bytes]], columns: bool) -> list[Any]:
    svc = Service(Database(str(path)))
    try:
        for name in ("alpha", "beta"):
            party_service.add_party(svc, OPERATOR_PRINCIPAL, name, "force")
        answers: list[Any] = []
        for party, body in batches:
            batch = parse_batch(svc, body, party)
            assert batch.columns is not None
            who = Principal(party, "t")
            given = batch.columns if columns else None
            answers.append(live(svc).ingest(who, batch.reports, batch.rows, given))
        with svc.read() as repo:
            conn = repo.conn
            for query in (  # what does not hold times of the clock or salts
                "SELECT alert_id, type, parties, units, declarations, alert_json, open, part"
                " FROM alerts ORDER BY alert_id",
                "SELECT recipient, type, payload FROM events ORDER BY seq",
                "SELECT type, by FROM log_entries ORDER BY idx",
                "SELECT c.name, c.content FROM log_contents c JOIN log_entries e"
                " ON e.idx = c.idx WHERE e.type IN ('alert', 'positions') ORDER BY c.idx",
            ):
                answers.append([tuple(r) for r in conn.exec_driver_sql(query).all()])
        answers[-3] = [(to, kind, unclocked(p)) for to, kind, p in answers[-3]]
        return answers
    finally:
        svc.close()


def test_the_live_path_takes_columns_as_it_takes_reports(tmp_path: Path) -> None:
    batches = traffic(float(int(time.time()) - 200))
    with_columns = run(tmp_path / "columns.sqlite", batches, True)
    with_reports = run(tmp_path / "reports.sqlite", batches, False)
    alerts = sum(len(a["alerts"]) for a in with_columns if isinstance(a, dict))
    assert alerts > 0
    assert with_columns == with_reports

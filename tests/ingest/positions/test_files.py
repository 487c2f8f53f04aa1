"""Track files for replay (SPEC section 5 fields): CSV, GPX, GeoJSON, and load_tracks
choosing among them; known answers, per-row problems, hostile inputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from deconflict.errors import InvalidPositions, LimitExceeded
from deconflict.ingest.limits import Limits
from deconflict.ingest.positions import (
    load_tracks,
    parse_csv,
    parse_geojson_tracks,
    parse_gpx,
    report_to_cot,
)
from deconflict.model.positions import PositionReport

T0 = 1598346000.0  # 2020-08-25T09:00:00Z


def test_spec_5_csv_known_answer() -> None:
    text = (
        "unit,party,time,lat,lon,alt_m,speed_mps,course_deg,movement\n"
        "b1,blue,2020-08-25T12:00:00+03:00,36.95,41.85,350,12.5,360,m1\n"
        "\n"
        "b2,blue,1598346001.5,-36.95,-41.85,,,,\n"
    )
    reports = parse_csv(text.encode()).reports
    assert reports == (
        PositionReport("b1", "blue", T0, 41.85, 36.95, 350.0, 12.5, 0.0, "m1", "csv"),
        PositionReport("b2", "blue", T0 + 1.5, -41.85, -36.95, None, None, None, None, "csv"),
    )


def test_csv_party_and_unit_given_by_the_caller() -> None:
    reports = parse_csv("time,lon,lat\n1598346000,1,2\n", party="blue", unit="u").reports
    assert reports[0].key == ("blue", "u") and (reports[0].lon, reports[0].lat) == (1.0, 2.0)
    with pytest.raises(InvalidPositions, match="the header has no 'party' column"):
        parse_csv("unit,time,lat,lon\nu,1598346000,1,2\n")


def test_csv_names_every_bad_row_and_accepts_nothing() -> None:
    text = (
        "unit,party,time,lat,lon,speed_mps\n"
        "a,blue,1598346000,91,41,\n"  # row 2
        "b,red,1598346000,1,1,\n"  # row 3: another party
        "c,blue,2020-08-25T09:00:00,1,1,\n"  # row 4: naive time
        "d,blue,1598346000,nan,1,\n"  # row 5
        "e,blue,1598346000,1,inf,\n"  # row 6
        "f,blue,1598346000000,1,1,\n"  # row 7: milliseconds
        "g,blue,1598346000,1,1,fast\n"  # row 8
        ",blue,1598346000,1,1,\n"  # row 9: no unit
    )
    with pytest.raises(InvalidPositions) as caught:
        parse_csv(text, party="blue")
    error = caught.value
    assert error.count == 8 and "nothing was accepted" in error.message
    rules = {p.item: p.rule for p in error.problems}
    assert rules["row 2"] == "lat is 91, outside -90 to 90"
    assert "differs from the party 'blue'" in rules["row 3"]
    assert "naive time" in rules["row 4"]
    assert "lat must be a finite number" in rules["row 5"]
    assert "lon must be a finite number" in rules["row 6"]
    assert "not milliseconds" in rules["row 7"]
    assert "speed_mps must be a number" in rules["row 8"]
    assert "unit must be a non-empty text" in rules["row 9"]
    with pytest.raises(InvalidPositions, match="row 3: has 5 cells, but the header has 6"):
        parse_csv(text.splitlines()[0] + "\na,b,1,1,1,\nh,blue,1598346000,1,1\n")


def test_csv_refuses_unknown_columns_and_hostile_bytes() -> None:
    with pytest.raises(InvalidPositions, match="column 'speed' is not one of"):
        parse_csv("unit,party,time,lat,lon,speed\n")
    with pytest.raises(InvalidPositions, match="not UTF-8"):
        parse_csv(b"unit,party\n\xff\xfe")
    with pytest.raises(LimitExceeded, match="max_track_bytes"):
        parse_csv(b"x" * 2000, limits=Limits(max_track_bytes=1000))
    many = "unit,party,time,lat,lon\n" + "u,b,1598346000,1,1\n" * 11
    with pytest.raises(LimitExceeded, match="max_reports"):
        parse_csv(many, limits=Limits(max_reports=10))
    with pytest.raises(InvalidPositions, match="not readable as CSV"):
        parse_csv("unit,party,time,lat,lon\n" + '"' + "x" * 200_000 + '"\n')


def test_csv_of_100k_rows_is_fast() -> None:
    head = "unit,party,time,lat,lon,alt_m,speed_mps,course_deg,movement\n"
    rows = "".join(
        f"u{i % 997},blue,{T0 + i},36.{i:06d},41.5,,5.5,{i % 360},m1\n" for i in range(100_000)
    )
    started = time.perf_counter()
    reports = parse_csv((head + rows).encode()).reports
    elapsed = time.perf_counter() - started
    assert len(reports) == 100_000 and reports[-1].time_s == T0 + 99_999
    assert elapsed < 10  # about 0.4 s on an idle core; loose for loaded CI


GPX = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"
 xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
 <wpt lat="36.9" lon="41.8"><time>2020-08-25T08:59:00Z</time><name>cp1</name></wpt>
 <wpt lat="36.9" lon="41.8"><name>no time, not a report</name></wpt>
 <trk><name>blue-1</name><trkseg>
  <trkpt lat="36.95" lon="41.85"><ele>350</ele><time>2020-08-25T09:00:00Z</time></trkpt>
  <trkpt lat="36.96" lon="41.86"><time>2020-08-25T09:00:10Z</time><extensions>
   <gpxtpx:TrackPointExtension><gpxtpx:speed>4.5</gpxtpx:speed>
   <gpxtpx:course>90</gpxtpx:course></gpxtpx:TrackPointExtension></extensions></trkpt>
 </trkseg></trk>
</gpx>"""


def test_gpx_known_answer() -> None:
    reports = parse_gpx(GPX, party="blue").reports
    assert reports == (
        PositionReport("cp1", "blue", T0 - 60, 41.8, 36.9, source="gpx"),
        PositionReport("blue-1", "blue", T0, 41.85, 36.95, 350.0, source="gpx"),
        PositionReport("blue-1", "blue", T0 + 10, 41.86, 36.96, None, 4.5, 90.0, source="gpx"),
    )
    assert {r.unit for r in parse_gpx(GPX, party="blue", unit="x").reports} == {"x"}


def test_gpx_bad_points_and_hostile_xml() -> None:
    bad = GPX.replace(b'lat="36.96"', b'lat="99"').replace(b"<name>blue-1</name>", b"")
    with pytest.raises(InvalidPositions) as caught:
        parse_gpx(bad, party="blue")
    rules = {p.item: p.rule for p in caught.value.problems}
    assert "no <name>" in rules["point 1 of track 1"]
    bomb = b'<!DOCTYPE g [<!ENTITY a "a"><!ENTITY b "&a;&a;">]><gpx>&b;</gpx>'
    with pytest.raises(InvalidPositions, match="DTD"):
        parse_gpx(bomb, party="blue")
    with pytest.raises(InvalidPositions, match="not <gpx>"):
        parse_gpx(b"<kml/>", party="blue")


def _feature(geometry: dict[str, object], **props: object) -> dict[str, object]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_geojson_points_and_timed_linestrings() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            _feature(
                {"type": "Point", "coordinates": [41.85, 36.95, 350]},
                unit="b1",
                party="blue",
                time="2020-08-25T09:00:00Z",
                speed_mps=3,
                course_deg=10,
                movement="m1",
            ),
            _feature(
                {"type": "LineString", "coordinates": [[41, 36], [41.1, 36.1]]},
                unit="b2",
                times=[T0, "2020-08-25T09:00:30Z"],
            ),
        ],
    }
    reports = parse_geojson_tracks(json.dumps(doc), party="blue").reports
    assert reports == (
        PositionReport("b1", "blue", T0, 41.85, 36.95, 350.0, 3.0, 10.0, "m1", "geojson"),
        PositionReport("b2", "blue", T0, 41.0, 36.0, source="geojson"),
        PositionReport("b2", "blue", T0 + 30, 41.1, 36.1, source="geojson"),
    )


def test_geojson_problems_name_features_and_points() -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            _feature({"type": "Point", "coordinates": [41, 95]}, unit="a", time=T0),
            _feature(
                {"type": "LineString", "coordinates": [[41, 36], [true := 1, "x"]]},
                unit="b",
                times=[T0, T0],
            ),
            _feature({"type": "Polygon", "coordinates": []}, unit="c"),
            _feature({"type": "Point", "coordinates": [1, 1]}, unit="d", party="red", time=T0),
        ],
    }
    assert true == 1
    with pytest.raises(InvalidPositions) as caught:
        parse_geojson_tracks(json.dumps(doc), party="blue")
    rules = {p.item: p.rule for p in caught.value.problems}
    assert rules["feature 0"] == "lat is 95, outside -90 to 90"
    assert "lat must be a number" in rules["point 1 of feature 1"]
    assert "Point or a LineString" in rules["feature 2"]
    assert "differs from the party" in rules["feature 3"]
    with pytest.raises(InvalidPositions, match="NaN"):
        parse_geojson_tracks(
            b'{"type": "FeatureCollection", "features": [{"type": "Feature",'
            b'"geometry": {"type": "Point", "coordinates": [NaN, 1]},'
            b'"properties": {"unit": "u", "time": 1598346000}}]}',
            party="b",
        )


def test_load_tracks_by_extension_and_content(tmp_path: Path) -> None:
    report = PositionReport("u1", "blue", T0, 41.0, 36.0, source="cot")
    (tmp_path / "a.csv").write_text("unit,party,time,lat,lon\nu1,blue,1598346000,36,41\n")
    (tmp_path / "a.gpx").write_bytes(GPX)
    (tmp_path / "a.cot").write_bytes(report_to_cot(report) + b"\n" + report_to_cot(report))
    (tmp_path / "noext").write_bytes(GPX)
    assert load_tracks(tmp_path / "a.csv").reports[0].key == ("blue", "u1")
    assert load_tracks(tmp_path / "a.gpx", party="blue").format == "gpx"
    assert load_tracks(tmp_path / "a.cot", party="blue").reports == (report, report)
    assert load_tracks(tmp_path / "noext", party="blue").format == "gpx"
    with pytest.raises(InvalidPositions, match="carries no party"):
        load_tracks(tmp_path / "a.cot")
    with pytest.raises(LimitExceeded, match="max_track_bytes"):
        load_tracks(tmp_path / "a.gpx", party="b", limits=Limits(max_track_bytes=100))

"""`deconflict replay` (SPEC section 5): the Al-Malikiyah demo as tracks, the JSONL line
format, and a plain CSV replay."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from deconflict.cli.main import app

SCENARIOS = Path(__file__).resolve().parents[2] / "src" / "deconflict" / "scenarios"
TRACKS = SCENARIOS / "al-malikiyah-2020-tracks.csv"
PLAN = SCENARIOS / "al-malikiyah-2020.geojson"
KEYS = [
    "alert",
    "event",
    "type",
    "time",
    "units",
    "parties",
    "distance_m",
    "cpa_time",
    "cpa_distance_m",
    "declarations",
]


def test_spec_5_al_malikiyah_replay_raises_predicted_proximity_proximity_deviation() -> None:
    result = CliRunner().invoke(
        app, ["replay", str(TRACKS), "--declarations", str(PLAN), "--format", "jsonl"]
    )
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(list(line) == KEYS for line in lines)
    times = [line["time"] for line in lines]
    assert times == sorted(times)
    opened = [line for line in lines if line["event"] == "open"]
    assert [o["type"] for o in opened][:3] == ["predicted_proximity", "proximity", "deviation"]
    for o in opened[:3]:
        assert o["parties"] == ["RU-FORCES", "US-CJTF"]
    pred, prox, dev = opened[:3]
    assert pred["units"] == ["RU-FORCES/mp-lead-1", "US-CJTF/matv-block-1"]
    assert pred["cpa_time"] is not None and pred["cpa_distance_m"] < 1000
    assert prox["distance_m"] < 1000 and prox["cpa_time"] is None
    assert dev["units"] == ["RU-FORCES/mp-lead-1"]
    assert dev["declarations"] == ["RU-FORCES/mp-patrol-0825"]
    # Every alert closes once the patrol is back on its road and apart.
    closed = {line["alert"] for line in lines if line["event"] == "close"}
    assert {o["alert"] for o in opened} == closed


def test_replay_table_and_a_plain_csv(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text(
        "unit,party,time,lat,lon,alt_m,speed_mps,course_deg,movement\n"
        "a,RU-FORCES,2020-08-25T06:00:00Z,37.0,42.0,,,,\n"
        "b,US-CJTF,2020-08-25T06:00:00Z,37.0,42.005,,,,\n"
        "a,RU-FORCES,2020-08-25T06:00:00Z,37.0,42.0,,,,\n"
    )
    result = CliRunner().invoke(app, ["replay", str(csv), "--declarations", str(PLAN)])
    assert result.exit_code == 1, result.output
    assert "proximity" in result.stdout
    assert "duplicate 1" in result.stderr


def test_replay_without_alerts_exits_0(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text(
        "unit,party,time,lat,lon\n"
        "a,RU-FORCES,2020-08-25T06:00:00Z,37.5,41.0\n"
        "b,US-CJTF,2020-08-25T06:00:00Z,37.5,41.5\n"
    )
    result = CliRunner().invoke(app, ["replay", str(csv), "--declarations", str(PLAN)])
    assert result.exit_code == 0, result.output
    assert "No alerts." in result.stdout

"""`deconflict check` (SPEC section 7): exit codes, stdout for output only, stderr for one line
per problem. The real console script runs as a subprocess; CliRunner covers the quicker cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deconflict.cli.main import app

T0, T1 = "2020-08-25T09:00:00Z", "2020-08-25T10:00:00Z"
EAST = [[36.0, 35.0], [36.1, 35.0]]
WEST = [[36.1, 35.0], [36.0, 35.0]]
FAR_WEST = [[36.1, 36.0], [36.0, 36.0]]  # a degree of latitude (~111 km) north


def movement(id: str, party: str, coords: list[list[float]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"id": id, "party": party, "kind": "movement", "times": [T0, T1], **props},
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def write(path: Path, *features: dict[str, Any], **members: Any) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": list(features), **members})
    )
    return path


@pytest.fixture
def head_on(tmp_path: Path) -> Path:
    """Two parties' convoys meeting head-on halfway, at 09:30."""
    return write(tmp_path / "head-on.geojson", movement("m1", "A", EAST), movement("m2", "B", WEST))


@pytest.fixture
def apart(tmp_path: Path) -> Path:
    return write(
        tmp_path / "apart.geojson", movement("m1", "A", EAST), movement("m2", "B", FAR_WEST)
    )


@pytest.fixture
def invalid(tmp_path: Path) -> Path:
    return write(
        tmp_path / "invalid.geojson",
        movement("m1", "A", EAST),
        movement("m2", "B", WEST, times=["2020-08-25T09:00:00", T1]),
        movement("m3", "B", WEST, buffer_m=-1),
    )


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("deconflict")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "deconflict.cli.main"]
    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


# --- the real console script ----------------------------------------------------------------


def test_spec_7_check_exits_1_and_prints_one_json_array(head_on: Path) -> None:
    result = run("check", head_on, "--format", "json")
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    [conflict] = json.loads(result.stdout)
    assert list(conflict) == [
        "a",
        "b",
        "party_a",
        "party_b",
        "start",
        "end",
        "min_distance_m",
        "at",
    ]
    assert (conflict["a"], conflict["b"], conflict["party_a"], conflict["party_b"]) == (
        "m1",
        "m2",
        "A",
        "B",
    )
    assert conflict["min_distance_m"] == 0.0
    assert conflict["start"] < "2020-08-25T09:30:00Z" < conflict["end"]
    assert conflict["at"] == pytest.approx([36.05, 35.0], abs=1e-3)


def test_spec_7_check_exits_0_without_conflicts(apart: Path) -> None:
    result = run("check", apart, "--format", "json")
    assert (result.returncode, json.loads(result.stdout), result.stderr) == (0, [], "")


def test_spec_7_check_exits_2_on_invalid_input_with_one_line_per_problem(invalid: Path) -> None:
    result = run("check", invalid, "--format", "json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{invalid}: feature 1 (id 'm2'): times[0]")
    assert lines[1].startswith(f"{invalid}: feature 2 (id 'm3'): buffer_m")
    assert "Traceback" not in result.stderr


def test_spec_7_check_debug_shows_the_traceback(invalid: Path) -> None:
    result = run("check", invalid, "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_spec_7_check_missing_file_is_one_sentence(tmp_path: Path) -> None:
    result = run("check", tmp_path / "nope.geojson")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"{tmp_path / 'nope.geojson'}: no such file; check the path"


def test_spec_7_check_refuses_an_oversize_file_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.geojson"
    with open(path, "wb") as f:
        f.truncate(200 * 1024 * 1024)
    began = time.perf_counter()
    result = run("check", path)
    elapsed = time.perf_counter() - began
    assert result.returncode == 2 and result.stdout == ""
    assert "max_bytes" in result.stderr and len(result.stderr.splitlines()) == 1
    assert elapsed < 10  # interpreter start-up included; the refusal itself is milliseconds


def test_spec_7_check_runs_as_a_module(apart: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deconflict.cli.main", "check", str(apart)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "No conflicts" in result.stdout


# --- CliRunner: quicker, in-process ---------------------------------------------------------

runner = CliRunner()


def test_spec_7_check_table_lists_conflicts_and_a_summary(head_on: Path) -> None:
    result = runner.invoke(app, ["check", str(head_on)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    for text in ("m1", "m2", "party_a", "min distance", "0.00 m", "2020-08-25T09:"):
        assert text in result.stdout
    assert "1 conflict among 2 declarations (2 movements) from 1 file" in result.stdout
    assert result.stderr == ""


def test_spec_7_check_same_party_never_conflicts(tmp_path: Path) -> None:
    path = write(
        tmp_path / "one-party.geojson", movement("m1", "A", EAST), movement("m2", "A", WEST)
    )
    result = runner.invoke(app, ["check", str(path), "--format", "json"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_spec_7_check_uses_the_policy_of_the_files(tmp_path: Path) -> None:
    # Parallel routes 0.01 degree of latitude (~1.1 km) apart: clear under the default 1000 m,
    # a conflict under a 2000 m policy.
    north = [[36.0, 35.01], [36.1, 35.01]]
    first = write(tmp_path / "a.geojson", movement("m1", "A", EAST))
    second = write(tmp_path / "b.geojson", movement("m2", "B", north))
    assert runner.invoke(app, ["check", str(first), str(second)]).exit_code == 0
    strict = write(
        tmp_path / "b.geojson", movement("m2", "B", north), policy={"horizontal_m": 2000}
    )
    result = runner.invoke(app, ["check", str(first), str(strict), "--format", "json"])
    assert result.exit_code == 1
    assert [c["b"] for c in json.loads(result.stdout)] == ["m2"]


def test_spec_7_check_reports_problems_of_every_file(tmp_path: Path, invalid: Path) -> None:
    missing = tmp_path / "missing.geojson"
    result = runner.invoke(app, ["check", str(missing), str(invalid)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(str(missing)) and len(lines) == 3


def test_spec_7_check_refuses_a_duplicate_id_across_files(tmp_path: Path, head_on: Path) -> None:
    other = write(tmp_path / "other.geojson", movement("m1", "A", FAR_WEST))
    result = runner.invoke(app, ["check", str(head_on), str(other)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"{other}: feature 0 (id 'm1'): party 'A' already declared")


def test_spec_7_check_shows_zone_crossings(tmp_path: Path) -> None:
    corridor = {
        "type": "Feature",
        "properties": {"id": "c1", "party": "C", "kind": "zone", "zone_type": "corridor"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[36.02, 34.99], [36.03, 34.99], [36.03, 35.01], [36.02, 35.01], [36.02, 34.99]]
            ],
        },
    }
    path = write(tmp_path / "corridor.geojson", movement("m1", "A", EAST), corridor)
    result = runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output  # a corridor raises no conflict
    assert "Zone crossings" in result.stdout and "corridor" in result.stdout
    assert "No conflicts and 1 zone crossing" in result.stdout


def test_spec_7_check_needs_a_file() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2


def test_spec_7_check_table_prints_ids_verbatim(tmp_path: Path) -> None:
    path = write(
        tmp_path / "markup.geojson", movement("[/x]", "A", EAST), movement("[b]y", "B", WEST)
    )
    result = runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "[/x]" in result.stdout and "[b]y" in result.stdout


def test_spec_7_check_keeps_its_verdict_when_the_reader_goes_away(tmp_path: Path) -> None:
    # 100 routes per party a few metres apart: ~10,000 conflicts, far more than a pipe buffers.
    routes = [
        movement(f"m{i}", "AB"[i % 2], [[36.0, 35.0 + i * 1e-5], [36.1, 35.0 + i * 1e-5]])
        for i in range(200)
    ]
    path = write(tmp_path / "crowded.geojson", *routes)
    script = Path(sys.executable).with_name("deconflict")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "deconflict.cli.main"]
    with subprocess.Popen(
        [*command, "check", str(path), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(1) == b"["
        process.stdout.close()  # like `| head -c 1`
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 1
    assert b"Traceback" not in stderr and b"Error" not in stderr, stderr

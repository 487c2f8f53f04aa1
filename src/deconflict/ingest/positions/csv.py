"""Track files in CSV (SPEC section 5 fields as the header) to position reports.

Columns: `unit,party,time,lat,lon` then optional `alt_m,speed_mps,course_deg,movement`, in
any order; `time` is epoch seconds or ISO 8601 with a zone. Numbers are checked a column at
a time with numpy (O(n), about a second per million rows); only rows that break a rule take
the slow per-row path that names the rule. Never returns part of a file.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.reports import (
    MAX_ALT_M,
    MAX_TIME_S,
    MIN_ALT_M,
    MIN_TIME_S,
    Problems,
    TrackFile,
    check_count,
    check_size,
    from_text,
    name_text,
    party_name,
    report,
    time_value,
)
from deconflict.model.positions import PositionReport

__all__ = ["COLUMNS", "parse_csv"]

COLUMNS = ("unit", "party", "time", "lat", "lon", "alt_m", "speed_mps", "course_deg", "movement")
_NUMBERS = ("lat", "lon", "alt_m", "speed_mps", "course_deg")
_OPTIONAL = frozenset({"alt_m", "speed_mps", "course_deg", "movement"})

Floats = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]


def parse_csv(
    data: bytes | str,
    *,
    party: str | None = None,
    unit: str | None = None,
    source: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrackFile:
    """Every row of a CSV track file as a report, or InvalidPositions naming each bad row
    (rows are numbered as lines, the header being row 1).

    `party`: the party the file is replayed for; a `party` column may then be left out, and
    a row naming another party is refused. `unit`: used when there is no `unit` column."""
    check_size(len(data), limits.max_track_bytes, "max_track_bytes", source or "the CSV input")
    problems = Problems(source)
    if party is not None:
        party = party_name(party, "the party given for the file")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            problems.add(None, f"not UTF-8 text (byte {e.start} cannot be decoded)")
            problems.raise_any()
            raise AssertionError("unreachable") from None
    else:
        text = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        columns = _columns(header, party, unit, problems)
        problems.raise_any()
        # One past the limit tells an over-long file without holding all of it.
        rows = list(itertools.islice(reader, limits.max_reports + 1))
    except csv.Error as e:
        problems.add(f"row {reader.line_num}", f"not readable as CSV ({e})")
        problems.raise_any()
        raise AssertionError("unreachable") from None
    numbers: Sequence[int] = range(2, len(rows) + 2)
    if not all(rows):  # blank lines are skipped, yet rows keep their numbers
        numbers = [n for n, row in zip(numbers, rows, strict=True) if row]
        rows = [row for row in rows if row]
    check_count(len(rows), limits.max_reports, "max_reports", source or "the CSV input")
    width = len(header)
    if set(map(len, rows)) - {width}:
        for n, row in zip(numbers, rows, strict=True):
            if len(row) != width:
                problems.add(f"row {n}", f"has {len(row)} cells, but the header has {width}")
    problems.raise_any()
    transposed = list(zip(*rows, strict=True)) if rows else [()] * width
    cells = {name: list(transposed[i]) for name, i in columns.items()}
    return TrackFile(_reports(cells, numbers, party, unit, problems, limits), source, "csv")


def _columns(
    header: list[str], party: str | None, unit: str | None, problems: Problems
) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        if name not in COLUMNS:
            shown = name if len(name) <= 40 else name[:37] + "..."
            problems.add("row 1", f"column {shown!r} is not one of {', '.join(COLUMNS)}")
        elif name in columns:
            problems.add("row 1", f"column {name!r} appears twice")
        else:
            columns[name] = i
    needed = ["time", "lat", "lon"]
    needed += [] if party else ["party"]
    needed += [] if unit else ["unit"]
    for name in needed:
        if name not in columns and header:
            problems.add("row 1", f"the header has no {name!r} column")
    if not header:
        problems.add(None, "the file is empty; it needs a header like " + ",".join(COLUMNS[:5]))
    return columns


def _reports(
    cells: dict[str, list[str]],
    numbers: Sequence[int],
    party: str | None,
    unit: str | None,
    problems: Problems,
    limits: Limits,
) -> tuple[PositionReport, ...]:
    count = len(numbers)
    bad: Flags = np.zeros(count, dtype=bool)
    values: dict[str, Floats] = {}
    present: dict[str, Flags] = {}
    for name in ("time", *_NUMBERS):
        if name in cells:
            values[name], present[name], unreadable = _floats(cells[name], name)
            bad |= unreadable
    ok = np.ones(count, dtype=bool)
    for name, low, high in (
        ("time", MIN_TIME_S, MAX_TIME_S),
        ("lat", -90.0, 90.0),
        ("lon", -180.0, 180.0),
        ("alt_m", MIN_ALT_M, MAX_ALT_M),
        ("speed_mps", 0.0, limits.max_speed_kmh / 3.6),
        ("course_deg", 0.0, 360.0),
    ):
        if name in values:
            v = values[name]
            with np.errstate(invalid="ignore"):
                ok &= ~present[name] | ((v >= low) & (v <= high))
    bad |= ~ok
    # Texts repeat (few units, one party, few movements): check each distinct value once.
    for name in ("unit", "party", "movement"):
        if name in cells:
            bad |= _bad_texts(cells[name], name, party, limits)
    for i in np.flatnonzero(bad).tolist():
        try:
            _one(cells, i, party, unit, limits)
        except RuleBroken as broken:
            problems.add(f"row {numbers[i]}", broken.rule)
    problems.raise_any()
    if "course_deg" in values:
        values["course_deg"] = np.mod(values["course_deg"], 360.0)
    units = cells["unit"] if "unit" in cells else [unit or ""] * count
    parties = cells["party"] if "party" in cells else [party or ""] * count
    movements: Sequence[str | None] = (
        [m or None for m in cells["movement"]] if "movement" in cells else [None] * count
    )
    optional = [
        _with_none(values[name], present[name]) if name in values else [None] * count
        for name in ("alt_m", "speed_mps", "course_deg")
    ]
    return tuple(
        PositionReport(u, p, t, lon, lat, alt, speed, course, m, "csv")
        for u, p, t, lon, lat, alt, speed, course, m in zip(
            units,
            parties,
            values["time"].tolist(),
            values["lon"].tolist(),
            values["lat"].tolist(),
            *optional,
            movements,
            strict=True,
        )
    )


def _floats(column: list[str], name: str) -> tuple[Floats, Flags, Flags]:
    """(values, present, unreadable). Fast path: numpy parses the whole column; on any
    empty or non-numeric cell, per cell, ISO times parsed for `time`."""
    count = len(column)
    try:
        values = np.array(column, dtype=np.float64)
        return values, np.ones(count, dtype=bool), ~np.isfinite(values)
    except ValueError:
        pass
    values = np.full(count, np.nan)
    present = np.ones(count, dtype=bool)
    unreadable = np.zeros(count, dtype=bool)
    for i, cell in enumerate(column):
        try:
            if not cell.strip() and name in _OPTIONAL:
                present[i] = False
            elif name == "time":
                values[i] = time_value(cell, "time")
            else:
                values[i] = from_text(cell, name)
        except RuleBroken:
            unreadable[i] = True
    return values, present, unreadable | (present & ~np.isfinite(values))


def _with_none(values: Floats, present: Flags) -> list[float | None]:
    listed: list[float | None] = list(values.tolist())
    if not present.all():
        for i in np.flatnonzero(~present).tolist():
            listed[i] = None
    return listed


def _bad_texts(column: list[str], name: str, party: str | None, limits: Limits) -> Flags:
    wrong: set[str] = set()
    for value in set(column):
        try:
            if name == "party":
                party_name(value)
                if party is not None and value != party:
                    wrong.add(value)
            elif value or name != "movement":
                name_text(value, name, limits)
        except RuleBroken:
            wrong.add(value)
    if not wrong:
        return np.zeros(len(column), dtype=bool)
    return np.array([value in wrong for value in column], dtype=bool)


def _one(
    cells: dict[str, list[str]], i: int, party: str | None, unit: str | None, limits: Limits
) -> PositionReport:
    """Row `i` the slow way, for its problem's sentence."""

    def cell(name: str) -> str | None:
        value = cells[name][i] if name in cells else None
        return value if value and value.strip() else None

    row_party = cell("party")
    if row_party is not None:
        party_name(row_party)
        if party is not None and row_party != party:
            raise RuleBroken(
                f"party {row_party!r} differs from the party {party!r} the file is loaded for"
            )

    def number(name: str) -> float | None:
        value = cell(name)
        return None if value is None else from_text(value, name)

    lat, lon = number("lat"), number("lon")
    return report(
        unit=cells["unit"][i] if "unit" in cells else unit,
        party=row_party or party or "",
        time_s=time_value(cells["time"][i], "time"),
        lat=from_text(cells["lat"][i], "lat") if lat is None else lat,
        lon=from_text(cells["lon"][i], "lon") if lon is None else lon,
        alt_m=number("alt_m"),
        speed_mps=number("speed_mps"),
        course_deg=number("course_deg"),
        movement=cell("movement"),
        source="csv",
        limits=limits,
    )

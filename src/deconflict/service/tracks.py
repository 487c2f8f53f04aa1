"""Live tracks as a party may see them (`GET /v1/tracks`, docs/api.md): the recent position
reports of its own units, and of another party's unit only while an open alert involving
the caller names it. Reads the store's position queue and alert tables; never writes, and
never records anything (the reports are already in the record, sealed).

Need-to-know (SPEC section 4) for positions follows the record, which opens a batch of
reports to the reporting party alone: the operator and observers are shown no party's
units (an observer named by a party sees its plans, not where its units are), and a party
sees another's unit only as far as an alert it is in already tells it that the unit is near.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from deconflict.errors import InvalidRequest
from deconflict.export.times import format_time
from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.positions.reports import time_value
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.store import alerts as alert_store
from deconflict.store import schema as t

DEFAULT_WINDOW_S = 600.0
"""Without `since`, the reports accepted in the last this long."""
KEEP_S = 600.0
"""How far back an answer reaches: what the store's queue is sure to keep
(service/live.py QUEUE_KEEP_S); an earlier `since` is moved up to it."""
MAX_UNITS = 500
"""Units in one answer at most: those that reported most recently."""
MAX_REPORTS = 120
"""Reports per unit at most: its latest."""
MAX_BATCHES = 20_000
"""Queued batches read for one answer at most, the newest first (a bound on the work)."""

_Q = t.position_queue.c


@dataclass
class _Track:
    party: str
    unit: str
    since_s: float
    """Reports of batches accepted before this are not shown (another party's unit: the
    opening of the earliest open alert naming it), except one: `before`."""
    reports: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    before: bool = False
    """Whether its last report before `since_s` was taken already."""
    full: bool = False
    """It has MAX_REPORTS reports from newer batches than the ones left to read."""


def parse_since(value: str | None, now_s: float) -> float:
    """`since` (epoch seconds or ISO 8601 with a zone) as epoch seconds, or the default."""
    if value is None or value == "":
        return now_s - DEFAULT_WINDOW_S
    try:
        since = time_value(value, "since")
    except RuleBroken as broken:
        raise InvalidRequest(
            f"{broken.rule}; give since as epoch seconds or an ISO 8601 time with a zone."
        ) from None
    if not math.isfinite(since):
        raise InvalidRequest("since must be a finite time, epoch seconds or ISO 8601.")
    return since


def split_unit(name: str) -> tuple[str, str]:
    """An alert's `party/unit` as (party, unit); a unit's own name may hold '/'."""
    party, _, unit = name.partition("/")
    return party, unit


class _Times:
    """format_time for many report times: the text of each whole second is made once
    (format_time was most of an answer's cost: 24,000 reports, 0.3 s)."""

    def __init__(self) -> None:
        self._seconds: dict[int, str] = {}

    def __call__(self, time_s: float) -> str:
        seconds, fraction = divmod(round(time_s * 1000), 1000)
        text = self._seconds.get(seconds)
        if text is None:
            text = self._seconds[seconds] = format_time(float(seconds))[:-1]
        return f"{text}.{fraction:03d}Z" if fraction else f"{text}Z"


def _wire(r: dict[str, Any], own: bool) -> tuple[float, dict[str, Any]]:
    """(time, the report as shown); the time is formatted once the track is cut."""
    return float(r["time"]), {
        "time": None,
        "lat": r["lat"],
        "lon": r["lon"],
        "alt_m": r.get("alt_m"),
        "speed_mps": r.get("speed_mps"),
        "course_deg": r.get("course_deg"),
        # Another party's movement id names a declaration the caller may not see.
        "movement": r.get("movement") if own else None,
    }


def tracks(svc: Service, who: Principal, since: str | None = None) -> dict[str, Any]:
    """The caller's view of the recent tracks: {"tracks": [{party, unit, reports}], "until",
    "since", "truncated"}. Cost: one read of the alerts open for the caller and of at most
    MAX_BATCHES queued batches of the parties it may see, O(reports read)."""
    now = svc.now()
    start = max(parse_since(since, now), now - KEEP_S)
    out: dict[str, Any] = {
        "tracks": [],
        "since": format_time(min(start, now)),
        "until": format_time(now),
        "truncated": False,
    }
    if who.is_operator or start > now:
        return out
    with svc.read() as repo:
        conn = repo.conn
        shown: dict[tuple[str, str], float] = {}
        """Another party's units the caller may see -> from when (the alert's opening)."""
        for alert in alert_store.open_of(conn, who.party):
            for name in alert.units:
                key = split_unit(name)
                if key[0] != who.party:
                    shown[key] = min(shown.get(key, math.inf), alert.opened_s)
        parties = sorted({who.party} | {p for p, _ in shown})
        rows = conn.execute(
            select(_Q.seq, _Q.party, _Q.at_s, _Q.reports)
            .where(_Q.at_s >= start, _Q.party.in_(parties))
            .order_by(_Q.seq.desc())
            .limit(MAX_BATCHES + 1)
        ).all()
    if len(rows) > MAX_BATCHES:
        rows = rows[:MAX_BATCHES]
        out["truncated"] = True
    found: dict[tuple[str, str], _Track] = {}
    for row in rows:  # newest first
        own = row.party == who.party
        latest_before: dict[str, dict[str, Any]] = {}
        touched: dict[tuple[str, str], _Track] = {}
        for r in json.loads(row.reports):
            key = (row.party, str(r["unit"]))
            track = found.get(key)
            if track is None:
                if own:
                    since_s = -math.inf
                elif key in shown:
                    since_s = shown[key]
                else:
                    continue
                if len(found) >= MAX_UNITS:
                    out["truncated"] = True
                    continue
                track = found[key] = _Track(key[0], key[1], since_s)
            if track.full:
                continue
            touched[key] = track
            if row.at_s >= track.since_s:
                track.reports.append(_wire(r, own))
            elif not track.before:
                # The unit's position when the alert opened: what the alert was computed from.
                best = latest_before.get(key[1])
                if best is None or float(r["time"]) > float(best["time"]):
                    latest_before[key[1]] = r
        for unit, r in latest_before.items():
            track = found[(row.party, unit)]
            track.before = True
            track.reports.append(_wire(r, own))
        for track in touched.values():
            if not track.full and len(track.reports) >= MAX_REPORTS:
                # Older batches add nothing once a unit has its latest MAX_REPORTS.
                track.reports.sort(key=lambda x: x[0])
                del track.reports[:-MAX_REPORTS]
                track.full = True
    result = []
    iso = _Times()
    for track in found.values():
        if not track.reports:
            continue
        by_time = dict(track.reports)  # one report per time (a duplicate adds nothing)
        reports = []
        for time_s in sorted(by_time)[-MAX_REPORTS:]:
            reports.append({**by_time[time_s], "time": iso(time_s)})
        result.append({"party": track.party, "unit": track.unit, "reports": reports})
    result.sort(key=lambda x: (x["party"] != who.party, x["party"], x["unit"]))
    out["tracks"] = result
    return out

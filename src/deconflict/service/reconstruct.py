"""Incident reconstruction (issue 4): from the record alone, what happened at a place
during a time window, and the evidence a third party can check offline.

`build_report` reads every entry of the store with sealed ones opened (the operator's
store holds the sealed contents), and selects:

- every declaration version whose geometry comes within the radius of the place during
  the window (a movement by the legs whose planned times, widened by its time
  uncertainty, overlap the window), with its clearance history (`declaration.*`,
  `response`, `escalation`, `disclosure` entries for it) and its state at the incident;
- every unit's reports in the window within radius + margin (from `positions` entries);
- the alert events (`alert` entries) that name those declarations or units, with an event
  in the window; the messages (`message*` entries) that reference those declarations;
- who deviated from what was cleared and when: the monitor's deviation alerts, and a
  direct check of each report against the cleared route of the movement it names;
- the closest approach between each pair of units of different parties.

Every fact cites the entries it comes from; each cited entry is given with its exact
text, its sealed content and salt (so its commitment can be opened) and its inclusion
proof against one signed checkpoint. `verify_bundle` checks a written bundle offline.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from deconflict.errors import InvalidRequest
from deconflict.export.times import format_time
from deconflict.record import (
    NoteSigner,
    inclusion_proof_from,
    leaf_hash,
    parse_canonical,
    parse_checkpoint,
    verify_checkpoint,
    verify_commitment,
    verify_inclusion,
)
from deconflict.record.errors import (
    BadCommitment,
    BadKey,
    BadProof,
    BadSignature,
    MalformedNote,
    NotCanonical,
)
from deconflict.record.note import NoteVerifier
from deconflict.service import record as rec
from deconflict.service.core import Service
from deconflict.store.log import LogReader

FORMAT = "deconflict-incident-report/1"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
CHECKPOINT = "checkpoint.txt"
KEY = "log-key.pub"

CLEARED = frozenset({"cleared", "active"})
OFF_ROUTE_M = 100.0
"""A report farther than this beyond its movement's buffer is off its cleared route."""


@dataclass(frozen=True)
class Query:
    """Where and when: a place (lon, lat), a radius, and the window at ± window_s."""

    at_s: float
    lon: float
    lat: float
    radius_m: float
    window_s: float
    margin_m: float = 1000.0
    """Reports this far beyond the radius are kept too (a unit just outside is context)."""

    @property
    def start_s(self) -> float:
        return self.at_s - self.window_s

    @property
    def end_s(self) -> float:
        return self.at_s + self.window_s

    def to_json(self) -> dict[str, Any]:
        return {
            "at": format_time(self.at_s),
            "near": {"lon": self.lon, "lat": self.lat},
            "radius_m": self.radius_m,
            "window_s": self.window_s,
            "from": format_time(self.start_s),
            "to": format_time(self.end_s),
            "margin_m": self.margin_m,
        }


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Local:
    """An azimuthal equidistant projection centred on the place: metres east, north."""

    def __init__(self, lon: float, lat: float) -> None:
        proj = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
        self._fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def geom(self, g: BaseGeometry) -> BaseGeometry:
        def fwd(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            x, y = self._fwd.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(g, fwd)


# -- reading the record ----------------------------------------------------------------


def _ref(data: Mapping[str, Any]) -> tuple[str, str]:
    return str(data.get("party")), str(data.get("id"))


def _feature(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = entry.get("contents", {}).get("feature")
    if raw is None:
        return None
    doc = json.loads(raw) if isinstance(raw, str) else raw
    return doc if isinstance(doc, dict) else None


def _times(props: Mapping[str, Any]) -> list[float]:
    return [parse_time(str(t)) for t in props.get("times") or []]


def _legs_in_window(
    feature: Mapping[str, Any], query: Query, local: Local
) -> tuple[BaseGeometry | None, float]:
    """The declaration's geometry (local metres) that counts in the window, and its
    buffer; None when its time does not meet the window."""
    props = feature.get("properties") or {}
    geom = local.geom(shape(feature["geometry"]))
    buffer_m = float(props.get("buffer_m") or 0.0)
    if props.get("kind") == "movement":
        times = _times(props)
        u = float(props.get("time_uncertainty_s") or 0.0)
        coords = list(geom.coords) if isinstance(geom, LineString) else []
        if not times or len(times) != len(coords):
            return (
                geom
                if times and times[0] - u <= query.end_s and times[-1] + u >= query.start_s
                else None
            ), buffer_m
        legs = []
        for i in range(len(coords) - 1):
            if times[i] - u <= query.end_s and times[i + 1] + u >= query.start_s:
                legs.append(LineString([coords[i], coords[i + 1]]))
        if len(coords) == 1 and times[0] - u <= query.end_s and times[0] + u >= query.start_s:
            legs.append(Point(coords[0]))
        if not legs:
            return None, buffer_m
        from shapely.ops import unary_union

        return unary_union(legs), buffer_m
    start = props.get("valid_from")
    end = props.get("valid_to")
    if start is not None and parse_time(str(start)) > query.end_s:
        return None, buffer_m
    if end is not None and parse_time(str(end)) < query.start_s:
        return None, buffer_m
    return geom, buffer_m


@dataclass
class _Citations:
    indices: set[int] = field(default_factory=set)

    def cite(self, *idx: int) -> list[int]:
        self.indices.update(idx)
        return sorted(set(idx))


def _decl_history(
    entries: Sequence[Mapping[str, Any]], key: tuple[str, str]
) -> list[Mapping[str, Any]]:
    out = []
    for e in entries:
        t = str(e["type"])
        data = e.get("data", {})
        if (t.startswith("declaration") or t in ("response", "escalation", "disclosure")) and (
            _ref(data) == key
        ):
            out.append(e)
    return out


def _event(e: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(e.get("data", {}))
    contents = e.get("contents", {})
    ev: dict[str, Any] = {"index": e["index"], "at": e["at"], "type": e["type"], "by": e["by"]}
    if e["type"] == "declaration.state":
        ev.update({"version": data.get("version"), "from": data.get("from"), "to": data.get("to")})
        if "reason" in contents:
            ev["reason"] = contents["reason"]
    elif e["type"] == "response":
        ev.update({"version": data.get("version"), "answer": data.get("answer")})
        if "reason" in contents:
            ev["reason"] = contents["reason"]
    elif e["type"] == "declaration":
        ev.update({"version": data.get("version"), "state": data.get("state")})
    elif e["type"] == "disclosure":
        ev.update({"version": data.get("version"), "to": data.get("to")})
    else:
        ev["data"] = data
    return ev


def _state_at(history: Sequence[Mapping[str, Any]], at_s: float) -> tuple[str | None, str | None]:
    """The clearance state at `at_s` and when the declaration was last cleared before it."""
    state: str | None = None
    cleared_at: str | None = None
    for e in history:
        if parse_time(str(e["at"])) > at_s:
            break
        if e["type"] == "declaration":
            state = str(e["data"].get("state"))
        elif e["type"] == "declaration.state":
            state = str(e["data"].get("to"))
        else:
            continue
        if state in CLEARED and cleared_at is None:
            cleared_at = str(e["at"])
        elif state not in CLEARED:
            cleared_at = None
    return state, cleared_at


# -- the report ------------------------------------------------------------------------


def build_report(svc: Service, query: Query, signer: NoteSigner | None) -> dict[str, Any]:
    """The incident report (see the module's docstring) as a JSON document."""
    entries = rec.read_entries(svc)
    local = Local(query.lon, query.lat)
    cites = _Citations()
    declarations, routes = _declarations(entries, query, local, cites)
    refs = {f"{d['party']}/{d['id']}" for d in declarations}
    tracks = _tracks(entries, query, local, cites)
    units = {t["unit_ref"] for t in tracks}
    alerts = _alerts(entries, query, refs, units, cites)
    messages = _messages(entries, refs, cites)
    deviations = _deviations(alerts, tracks, routes, entries, query, local, cites)
    approaches = _closest(tracks)
    for a in approaches:
        cites.cite(*a["entries"])
    evidence, checkpoint = _evidence(svc, signer, cites.indices)
    return {
        "format": FORMAT,
        "query": query.to_json(),
        "checkpoint": checkpoint,
        "declarations": declarations,
        "tracks": [{k: v for k, v in t.items() if k != "unit_ref"} for t in tracks],
        "alerts": alerts,
        "deviations": deviations,
        "closest_approaches": approaches,
        "messages": messages,
        "entries": evidence,
    }


def _declarations(
    entries: Sequence[Mapping[str, Any]], query: Query, local: Local, cites: _Citations
) -> tuple[list[dict[str, Any]], dict[tuple[str, str, int], tuple[BaseGeometry, float]]]:
    out: list[dict[str, Any]] = []
    routes: dict[tuple[str, str, int], tuple[BaseGeometry, float]] = {}
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for e in entries:
        if e["type"] != "declaration":
            continue
        feature = _feature(e)
        if feature is None:
            continue
        data = e["data"]
        key = _ref(data)
        version = int(data.get("version", 0))
        whole = local.geom(shape(feature["geometry"]))
        buffer_m = float((feature.get("properties") or {}).get("buffer_m") or 0.0)
        routes[(key[0], key[1], version)] = (whole, buffer_m)
        legs, buffer_m = _legs_in_window(feature, query, local)
        if legs is None:
            continue
        distance = float(legs.distance(Point(0.0, 0.0))) - buffer_m
        if distance > query.radius_m:
            continue
        d = seen.get(key)
        if d is None:
            history = _decl_history(entries, key)
            state, cleared_at = _state_at(history, query.at_s)
            d = {
                "party": key[0],
                "id": key[1],
                "kind": data.get("kind"),
                "state_at_incident": state,
                "cleared": state in CLEARED,
                "cleared_since": cleared_at,
                "versions": [],
                "history": [_event(h) for h in history],
            }
            cites.cite(*(h["index"] for h in history))
            seen[key] = d
            out.append(d)
        d["versions"].append(
            {
                "version": version,
                "index": e["index"],
                "at": e["at"],
                "distance_m": round(max(distance, 0.0), 1),
                "feature": feature,
            }
        )
        cites.cite(e["index"])
    return out, routes


def _tracks(
    entries: Sequence[Mapping[str, Any]], query: Query, local: Local, cites: _Citations
) -> list[dict[str, Any]]:
    limit = query.radius_m + query.margin_m
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        if e["type"] != "positions":
            continue
        party = str(e["data"].get("party"))
        for r in e.get("contents", {}).get("reports") or []:
            t = float(r["time"])
            if not query.start_s <= t <= query.end_s:
                continue
            x, y = local.xy(float(r["lon"]), float(r["lat"]))
            if math.hypot(x, y) > limit:
                continue
            by_unit.setdefault((party, str(r["unit"])), []).append(
                {
                    "time": format_time(t),
                    "t": t,
                    "lon": r["lon"],
                    "lat": r["lat"],
                    "alt_m": r.get("alt_m"),
                    "movement": r.get("movement"),
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "entry": e["index"],
                }
            )
    out = []
    for (party, unit), points in sorted(by_unit.items()):
        points.sort(key=lambda p: p["t"])
        idx = cites.cite(*(p["entry"] for p in points))
        out.append(
            {
                "party": party,
                "unit": unit,
                "unit_ref": f"{party}/{unit}",
                "movements": sorted({str(p["movement"]) for p in points if p["movement"]}),
                "first": points[0]["time"],
                "last": points[-1]["time"],
                "points": points,
                "entries": idx,
            }
        )
    return out


def _alerts(
    entries: Sequence[Mapping[str, Any]],
    query: Query,
    refs: set[str],
    units: set[str],
    cites: _Citations,
) -> list[dict[str, Any]]:
    events = []
    for e in entries:
        if e["type"] != "alert":
            continue
        a = e.get("contents", {}).get("alert")
        if not isinstance(a, dict):
            continue
        if not (set(a.get("declarations", ())) & refs or set(a.get("units", ())) & units):
            continue
        events.append({**a, "index": e["index"], "logged_at": e["at"]})
    in_window = {
        a["alert"] for a in events if query.start_s <= parse_time(a["time"]) <= query.end_s
    }
    out = [a for a in events if a["alert"] in in_window]
    out.sort(key=lambda a: (parse_time(a["time"]), a["index"]))
    cites.cite(*(a["index"] for a in out))
    acks = [
        e
        for e in entries
        if e["type"] == "alert.acknowledged" and e["data"].get("alert") in in_window
    ]
    for e in acks:
        out.append(
            {
                "alert": e["data"]["alert"],
                "event": "acknowledged",
                "by": e["by"],
                "time": e["at"],
                "index": e["index"],
                "logged_at": e["at"],
            }
        )
        cites.cite(e["index"])
    return out


def _messages(
    entries: Sequence[Mapping[str, Any]], refs: set[str], cites: _Citations
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ids: set[str] = set()
    for e in entries:
        t = str(e["type"])
        data = e.get("data", {})
        if t == "message":
            named = {f"{r.get('party')}/{r.get('id')}" for r in data.get("refs") or []}
            if not named & refs:
                continue
            ids.add(str(data.get("message")))
            out.append(
                {
                    "message": data.get("message"),
                    "from": data.get("from"),
                    "to": data.get("to"),
                    "at": e["at"],
                    "refs": data.get("refs"),
                    "text": e.get("contents", {}).get("text"),
                    "index": e["index"],
                    "events": [],
                }
            )
            cites.cite(e["index"])
        elif t.startswith("message.") and str(data.get("message")) in ids:
            for m in out:
                if m["message"] == data.get("message"):
                    m["events"].append(
                        {"type": t, "by": e["by"], "at": e["at"], "index": e["index"]}
                    )
                    cites.cite(e["index"])
    return out


def _deviations(
    alerts: Sequence[Mapping[str, Any]],
    tracks: Sequence[Mapping[str, Any]],
    routes: Mapping[tuple[str, str, int], tuple[BaseGeometry, float]],
    entries: Sequence[Mapping[str, Any]],
    query: Query,
    local: Local,
    cites: _Citations,
) -> list[dict[str, Any]]:
    """Deviation alerts as intervals (unit, movement, from, to, largest distance), and
    runs of reports off the cleared route of the movement they name (direct check)."""
    out: list[dict[str, Any]] = []
    spans: dict[str, dict[str, Any]] = {}
    for a in alerts:
        if a.get("type") != "deviation":
            continue
        s = spans.get(a["alert"])
        if s is None:
            s = spans[a["alert"]] = {
                "source": "alert",
                "alert": a["alert"],
                "units": a["units"],
                "parties": sorted({u.split("/", 1)[0] for u in a["units"]}),
                "declarations": a["declarations"],
                "from": a["time"],
                "to": None,
                "max_distance_m": a.get("distance_m"),
                "entries": [],
            }
            out.append(s)
        s["entries"].append(a["index"])
        if a.get("distance_m") is not None:
            s["max_distance_m"] = max(s["max_distance_m"] or 0.0, a["distance_m"])
        if a.get("event") == "close":
            s["to"] = a["time"]
    # Direct check: which version of each movement was current and cleared at a time.
    versions: dict[tuple[str, str], list[tuple[float, int, str | None]]] = {}
    for e in entries:
        if e["type"] == "declaration":
            k = _ref(e["data"])
            versions.setdefault(k, []).append(
                (parse_time(str(e["at"])), int(e["data"].get("version", 0)), e["data"].get("state"))
            )
        elif e["type"] == "declaration.state":
            k = _ref(e["data"])
            versions.setdefault(k, []).append(
                (parse_time(str(e["at"])), int(e["data"].get("version", 0)), e["data"].get("to"))
            )
    for track in tracks:
        run: dict[str, Any] | None = None
        for p in track["points"]:
            mv = p.get("movement")
            off = None
            if mv:
                hist = versions.get((track["party"], str(mv)), [])
                pos = bisect.bisect_right([h[0] for h in hist], p["t"])
                current = hist[pos - 1] if pos else None
                if current is not None and current[2] in CLEARED:
                    route = routes.get((track["party"], str(mv), current[1]))
                    if route is not None:
                        beyond = float(route[0].distance(Point(p["x"], p["y"]))) - route[1]
                        off = beyond if beyond > OFF_ROUTE_M else None
            if off is not None:
                if run is None:
                    run = {
                        "source": "route_check",
                        "units": [track["unit_ref"]],
                        "parties": [track["party"]],
                        "declarations": [f"{track['party']}/{mv}"],
                        "from": p["time"],
                        "to": p["time"],
                        "max_distance_m": round(off, 1),
                        "entries": [],
                    }
                    out.append(run)
                run["to"] = p["time"]
                run["max_distance_m"] = max(run["max_distance_m"], round(off, 1))
                if p["entry"] not in run["entries"]:
                    run["entries"].append(p["entry"])
            else:
                run = None
    for dev in out:
        cites.cite(*dev["entries"])
    return out


def _closest(tracks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each pair of units of different parties, their closest approach over the time
    both were reported (positions interpolated linearly between reports)."""
    out: list[dict[str, Any]] = []
    for i, a in enumerate(tracks):
        for b in tracks[i + 1 :]:
            if a["party"] == b["party"]:
                continue
            best = _closest_pair(a["points"], b["points"])
            if best is None:
                continue
            t, dist, pa, pb, ea, eb = best
            out.append(
                {
                    "units": [a["unit_ref"], b["unit_ref"]],
                    "parties": [a["party"], b["party"]],
                    "time": format_time(t),
                    "distance_m": round(dist, 1),
                    "positions": [pa, pb],
                    "entries": sorted(set(ea + eb)),
                }
            )
    out.sort(key=lambda c: c["distance_m"])
    return out


def _at(
    points: Sequence[Mapping[str, Any]], ts: Sequence[float], t: float
) -> tuple[float, float, list[int]]:
    j = bisect.bisect_left(ts, t)
    if j < len(ts) and ts[j] == t:
        return points[j]["x"], points[j]["y"], [points[j]["entry"]]
    p, q = points[j - 1], points[j]
    f = (t - p["t"]) / (q["t"] - p["t"])
    return p["x"] + f * (q["x"] - p["x"]), p["y"] + f * (q["y"] - p["y"]), [p["entry"], q["entry"]]


def _closest_pair(
    pa: Sequence[Mapping[str, Any]], pb: Sequence[Mapping[str, Any]]
) -> tuple[float, float, dict[str, Any], dict[str, Any], list[int], list[int]] | None:
    ta = [p["t"] for p in pa]
    tb = [p["t"] for p in pb]
    lo, hi = max(ta[0], tb[0]), min(ta[-1], tb[-1])
    if lo > hi:
        return None
    times = sorted({t for t in ta + tb if lo <= t <= hi})
    best = None
    for t in times:
        xa, ya, ea = _at(pa, ta, t)
        xb, yb, eb = _at(pb, tb, t)
        d = math.hypot(xa - xb, ya - yb)
        if best is None or d < best[1]:
            best = (
                t,
                d,
                {"x": round(xa, 1), "y": round(ya, 1)},
                {"x": round(xb, 1), "y": round(yb, 1)},
                ea,
                eb,
            )
    return best


# -- evidence: proofs against one signed checkpoint ------------------------------------


def _evidence(
    svc: Service, signer: NoteSigner | None, cited: Iterable[int]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    indices = sorted(set(cited))
    with svc.read() as repo:
        head = LogReader(repo.conn).latest_checkpoint()
    need = (indices[-1] + 1) if indices else 1
    if head is None or head.tree_size < need:
        if signer is None:
            raise InvalidRequest(
                "No signed checkpoint covers the cited entries, and no log key was given "
                "to sign one."
            )
        head = rec.checkpoint_now(svc, signer)
    checkpoint, _ = parse_checkpoint(head.note)
    out = []
    with svc.read() as repo:
        reader = LogReader(repo.conn)
        for index in indices:
            stored = reader.entry(index)
            proof = inclusion_proof_from(reader.nodes, index, head.tree_size)
            item: dict[str, Any] = {
                "index": index,
                "entry": stored.entry.decode(),
                "leaf_hash": leaf_hash(stored.entry).hex(),
                "inclusion": [h.hex() for h in proof],
            }
            for c in reader.contents(index):
                if c.name == "sealed":
                    item["sealed"] = {"salt": c.salt.hex(), "content": c.content.decode()}
            out.append(item)
    return out, {
        "id": head.checkpoint_id,
        "origin": checkpoint.origin,
        "tree_size": head.tree_size,
        "root_hash": checkpoint.root_hash.hex(),
        "note": head.note,
    }


# -- the bundle ------------------------------------------------------------------------


def write_bundle(report: Mapping[str, Any], verifier: NoteVerifier, out: Path) -> list[Path]:
    """Write report.json, report.html, the checkpoint note and the log's verifier key."""
    from deconflict.service.reconstruct_html import render_html

    out.mkdir(parents=True, exist_ok=True)
    files = [out / REPORT_JSON, out / REPORT_HTML, out / CHECKPOINT, out / KEY]
    files[0].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    files[1].write_text(render_html(report), encoding="utf-8")
    files[2].write_text(str(report["checkpoint"]["note"]), encoding="utf-8")
    files[3].write_text(str(verifier) + "\n", encoding="ascii")
    return files


@dataclass
class BundleCheck:
    """What `verify_bundle` found: ok when `problems` is empty."""

    entries: int = 0
    tree_size: int = 0
    readable: bool = True
    """False when the bundle's files cannot be read at all."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(folder: str | Path, key: str | None = None) -> BundleCheck:
    """Check a bundle offline: the checkpoint against the log's key (`key`, else the
    bundle's log-key.pub, which the reader should compare with the key it trusts), every
    cited entry's inclusion proof against the checkpoint's root, and every sealed content
    against the entry's commitment."""
    path = Path(folder)
    check = BundleCheck()
    try:
        report = json.loads((path / REPORT_JSON).read_text(encoding="utf-8"))
        note = (path / CHECKPOINT).read_text(encoding="utf-8")
        verifier = NoteVerifier.parse((key or (path / KEY).read_text(encoding="ascii")).strip())
    except (OSError, ValueError, BadKey) as exc:
        check.problems.append(f"the bundle cannot be read: {exc}")
        check.readable = False
        return check
    try:
        head = verify_checkpoint(note, verifier).checkpoint
    except (BadSignature, MalformedNote, BadKey) as exc:
        check.problems.append(f"the checkpoint is not signed by the log key: {exc}")
        return check
    check.tree_size = head.tree_size
    if report.get("checkpoint", {}).get("note") != note:
        check.problems.append("report.json names another checkpoint than checkpoint.txt.")
    for item in report.get("entries", []):
        check.entries += 1
        index = item.get("index")
        try:
            raw = str(item["entry"]).encode()
            entry = parse_canonical(raw)
            if not isinstance(entry, dict) or entry.get("index") != index:
                raise BadProof("the entry's own index is not the one cited")
            verify_inclusion(
                leaf_hash(raw),
                int(index),
                head.tree_size,
                [bytes.fromhex(h) for h in item["inclusion"]],
                head.root_hash,
            )
            sealed = item.get("sealed")
            if sealed is not None:
                commit = entry.get("commit", {})
                if not isinstance(commit, dict) or "sealed" not in commit:
                    raise BadCommitment("the entry commits to no sealed content")
                verify_commitment(
                    str(commit["sealed"]),
                    bytes.fromhex(sealed["salt"]),
                    str(sealed["content"]).encode(),
                )
        except (BadProof, BadCommitment, NotCanonical, KeyError, TypeError, ValueError) as exc:
            check.problems.append(f"entry {index}: {exc}")
    return check

"""Cursor-on-Target (CoT) XML to position reports and back: single events, files and TCP
streams of events sent back to back (the TAK server convention), and CoT for TAK clients
from reports and alerts.

Parses with defusedxml only. Never takes a party from an event: CoT has none, and the
party is that of the connection's credentials or the caller.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from deconflict.errors import LimitExceeded, ReportProblem
from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.ingest.positions.reports import (
    MAX_PROBLEMS,
    Problems,
    TrackFile,
    check_size,
    from_text,
    party_name,
    refuse,
    report,
)
from deconflict.ingest.positions.xml import local, parse_xml
from deconflict.ingest.times import parse_time
from deconflict.model.positions import Alert, AlertEvent, PositionReport

__all__ = [
    "ALERT_CANCEL_TYPE",
    "ALERT_TYPE",
    "CotStream",
    "alert_to_cot",
    "parse_cot",
    "parse_cot_event",
    "report_to_cot",
]

UNKNOWN = 9999999.0
"""CoT's value for an unknown hae, ce or le."""
ALERT_TYPE = "b-a-o-tbl"
"""CoT type of an alert that opens or updates: the TAK alert type ATAK and WinTAK raise to
the user (a caller may choose another, such as `b-a-g` for a geofence breach)."""
ALERT_CANCEL_TYPE = "b-a-o-can"
"""CoT type of an alert that closes: TAK's alert cancel."""
_END = b"</event>"


def parse_cot_event(
    data: bytes | str | ET.Element,
    *,
    party: str,
    limits: Limits = DEFAULT_LIMITS,
) -> PositionReport | None:
    """One CoT event as a report of `party`; None for an event that is not a position (a
    type not starting with `a-`: pings, chat, markers). RuleBroken names a broken rule."""
    if isinstance(data, ET.Element):
        event = data
    else:
        if len(data) > limits.max_message_bytes:
            raise RuleBroken(
                f"the event is {len(data):,} bytes, more than the limit max_message_bytes = "
                f"{limits.max_message_bytes:,}"
            )
        event = parse_xml(data, "the event")
    if local(event.tag) != "event":
        raise RuleBroken(f"the root element is <{local(event.tag)[:40]}>, not a CoT <event>")
    kind = event.get("type", "")
    if not kind.startswith("a-"):
        return None
    point = event.find("point")
    if point is None:
        raise RuleBroken("the event has no <point>")
    time = event.get("time")
    if time is None:
        raise RuleBroken("the event has no time attribute")
    hae = _attribute(point, "hae", "point hae")
    detail = event.find("detail")
    track = detail.find("track") if detail is not None else None
    ours = detail.find("deconflict") if detail is not None else None
    return report(
        unit=event.get("uid"),
        party=party,
        time_s=parse_time(time, "time"),
        lat=_required(point, "lat"),
        lon=_required(point, "lon"),
        alt_m=None if hae is None or hae >= UNKNOWN else hae,
        speed_mps=_attribute(track, "speed", "track speed"),
        course_deg=_attribute(track, "course", "track course"),
        movement=ours.get("movement") if ours is not None else None,
        source="cot",
        limits=limits,
    )


class CotStream:
    """Reads a TCP stream of CoT events sent back to back: `feed` takes the bytes as they
    arrive and returns the reports of every event completed so far.

    A broken event is counted and kept in `problems` (the last MAX_PROBLEMS) without
    stopping the stream; a stream that holds more than `max_message_bytes` without ending
    an event raises LimitExceeded, after which the connection should be closed."""

    def __init__(
        self, *, party: str, limits: Limits = DEFAULT_LIMITS, source: str = "cot stream"
    ) -> None:
        self.party = _checked_party(party, source)
        self.limits = limits
        self.source = source
        self.events = 0
        """Events completed so far (positions, others and broken ones)."""
        self.skipped = 0
        """Events that were not positions (pings, chat, markers)."""
        self.problems: list[ReportProblem] = []
        self.refused = 0
        """Broken events."""
        self._buffer = bytearray()
        self._scan = 0

    def feed(self, data: bytes) -> list[PositionReport]:
        self._buffer += data
        found: list[PositionReport] = []
        while True:
            end = self._event_end()
            if end < 0:
                self._check_pending()
                return found
            chunk = bytes(self._buffer[:end]).lstrip()
            del self._buffer[:end]
            self._scan = 0
            self.events += 1
            try:
                one = parse_cot_event(chunk, party=self.party, limits=self.limits)
            except RuleBroken as broken:
                self._problem(broken.rule)
                continue
            if one is None:
                self.skipped += 1
            else:
                found.append(one)

    def _event_end(self) -> int:
        """Index just past the first complete event, or -1. An event ends at `</event>`,
        or at its own start tag's `/>` (pings such as takPong have no children)."""
        start = self._buffer.find(b"<event")
        if start >= 0:
            close = self._buffer.find(b">", start)
            if close < 0:
                return -1
            if self._buffer[close - 1 : close] == b"/":
                return close + 1
        end = self._buffer.find(_END, self._scan)
        if end < 0:
            # Keep the tail where a split end tag may start; the cost is O(new bytes).
            self._scan = max(0, len(self._buffer) - len(_END) + 1)
            return -1
        return end + len(_END)

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet complete (whitespace stripped)."""
        return bytes(self._buffer).strip()

    def _check_pending(self) -> None:
        head = self._buffer.lstrip()[:1]
        if head == b"\xbf":
            self._buffer.clear()
            raise refuse(
                "the stream speaks TAK protocol version 1 (protobuf), which is not read; "
                "configure the client for XML (protocol version 0)",
                self.source,
            )
        if head and head != b"<":
            self._buffer.clear()
            raise refuse("the stream is not CoT XML (it does not start with '<')", self.source)
        size = len(self._buffer)
        if size > self.limits.max_message_bytes:
            self._buffer.clear()
            self._scan = 0
            raise LimitExceeded(
                f"{self.source}: an event runs past {size:,} bytes without ending, more than "
                f"the limit max_message_bytes = {self.limits.max_message_bytes:,}",
                details={"limit": "max_message_bytes", "value": self.limits.max_message_bytes},
            )

    def _problem(self, rule: str) -> None:
        self.refused += 1
        if len(self.problems) >= MAX_PROBLEMS:
            del self.problems[0]
        self.problems.append(ReportProblem(f"event {self.events}", rule, self.source))


def parse_cot(
    data: bytes | str,
    *,
    party: str,
    source: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> TrackFile:
    """Every position event of a CoT document (one event, or events back to back as a TAK
    server logs them), or InvalidPositions naming each broken event (numbered from 1)."""
    what = source or "the CoT input"
    check_size(len(data), limits.max_track_bytes, "max_track_bytes", what)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    # The whole input is one message here; each event is still bounded by max_message_bytes.
    stream = CotStream(
        party=party,
        limits=limits,
        source=source or "cot",
    )
    problems = Problems(source)
    reports: list[PositionReport] = []
    try:
        reports = stream.feed(raw)
    except LimitExceeded as e:
        problems.add(f"event {stream.events + 1}", e.message.split(": ", 1)[-1])
    for problem in stream.problems:
        problems.add(problem.item, problem.rule)
    problems.count += stream.refused - len(stream.problems)
    if stream.pending:
        problems.add(f"event {stream.events + 1}", "the input ends in the middle of an event")
    if not stream.events and not problems.count:
        problems.add(None, "the input holds no CoT <event>")
    problems.raise_any()
    return TrackFile(tuple(reports), source, "cot")


def report_to_cot(
    position: PositionReport, *, cot_type: str = "a-f-G", stale_s: float = 120.0
) -> bytes:
    """A report as one CoT event (uid = unit, how = machine GPS) for TAK clients; the
    movement goes in a <deconflict> detail so it comes back when read again."""
    event = _event(position.unit, cot_type, "m-g", position.time_s, stale_s)
    alt = UNKNOWN if position.alt_m is None else position.alt_m
    _point(event, position.lat, position.lon, alt)
    detail = ET.SubElement(event, "detail")
    if position.speed_mps is not None or position.course_deg is not None:
        track = ET.SubElement(detail, "track")
        if position.speed_mps is not None:
            track.set("speed", repr(position.speed_mps))
        if position.course_deg is not None:
            track.set("course", repr(position.course_deg))
    ET.SubElement(detail, "contact", callsign=f"{position.party}/{position.unit}")
    if position.movement is not None:
        ET.SubElement(detail, "deconflict", movement=position.movement)
    return _bytes(event)


def alert_to_cot(
    alert: Alert,
    *,
    lat: float,
    lon: float,
    stale_s: float = 300.0,
    cot_type: str = ALERT_TYPE,
) -> bytes:
    """An alert event as one CoT event placed at (lat, lon), such as the midpoint of its
    units: `cot_type` when it opens or updates, ALERT_CANCEL_TYPE when it closes. The uid
    is stable per alert, so a TAK client replaces its marker rather than adding one."""
    kind = ALERT_CANCEL_TYPE if alert.event == AlertEvent.CLOSE else cot_type
    event = _event(f"deconflict-alert-{alert.alert}", kind, "m-f", alert.time_s, stale_s)
    _point(event, lat, lon, UNKNOWN)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", callsign=f"deconflict {alert.type.value}")
    ours = ET.SubElement(
        detail,
        "deconflict",
        alert=alert.alert,
        event=alert.event.value,
        type=alert.type.value,
        units=" ".join(alert.units),
        parties=" ".join(alert.parties),
    )
    for name in ("distance_m", "cpa_time_s", "cpa_distance_m"):
        value = getattr(alert, name)
        if value is not None:
            ours.set(name, repr(float(value)))
    if alert.declarations:
        ours.set("declarations", " ".join(alert.declarations))
    remarks = ET.SubElement(detail, "remarks")
    remarks.text = _remarks(alert)
    return _bytes(event)


def _bytes(event: ET.Element) -> bytes:
    written: bytes = ET.tostring(event, encoding="utf-8", xml_declaration=True)
    return written


def _remarks(alert: Alert) -> str:
    words = f"{alert.type.value.replace('_', ' ')} {alert.event.value}: {', '.join(alert.units)}"
    if alert.distance_m is not None:
        words += f", {alert.distance_m:.0f} m"
    if alert.cpa_distance_m is not None and alert.cpa_time_s is not None:
        words += f", closest {alert.cpa_distance_m:.0f} m at {_cot_time(alert.cpa_time_s)}"
    return words


def _event(uid: str, kind: str, how: str, time_s: float, stale_s: float) -> ET.Element:
    if not math.isfinite(stale_s) or stale_s <= 0:
        raise ValueError(f"stale_s must be a finite number above 0, not {stale_s!r}")
    return ET.Element(
        "event",
        version="2.0",
        uid=uid,
        type=kind,
        how=how,
        time=_cot_time(time_s),
        start=_cot_time(time_s),
        stale=_cot_time(time_s + stale_s),
    )


def _point(event: ET.Element, lat: float, lon: float, hae: float) -> None:
    ET.SubElement(
        event,
        "point",
        lat=repr(lat),
        lon=repr(lon),
        hae=repr(hae),
        ce=repr(UNKNOWN),
        le=repr(UNKNOWN),
    )


def _cot_time(time_s: float) -> str:
    """xs:dateTime in UTC to the millisecond, as TAK writes it."""
    moment = datetime.fromtimestamp(round(time_s, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _required(point: ET.Element, name: str) -> float:
    value = _attribute(point, name, f"point {name}")
    if value is None:
        raise RuleBroken(f"the event's <point> has no {name}")
    return value


def _attribute(element: ET.Element | None, name: str, shown: str) -> float | None:
    if element is None:
        return None
    value = element.get(name)
    return None if value is None else from_text(value, shown)


def _checked_party(party: str, source: str) -> str:
    try:
        return party_name(party)
    except RuleBroken as broken:
        raise refuse(broken.rule, source) from None

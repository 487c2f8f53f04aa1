"""The live path through the service (SPEC section 5): position reports of one party in,
alerts out to every party involved, both in the record.

`LiveMonitor` owns one `engine.monitor.Monitor` built from the live declarations of the
store: every site and zone not in a final state, and the movements that count as cleared
plans, those whose clearance state is `cleared` or `active` (a movement still waiting for
answers, or objected, is no plan to deviate from; a report naming it counts as
`unknown_movement`). When that set changes (checked on every batch and tick, by the
(party, id, version, state) of the live rows), the monitor is rebuilt and primed with each
unit's last two reports; an alert the new monitor opens again keeps its id, one it does not
is closed, and one it opens anew is sent as opened.

Each batch is applied under the service's write lock, and in the same transaction:
one sealed `positions` entry (the reports as committed contents, opened to the reporting
party only), one sealed `alert` entry per alert event (opened to the parties involved), and
an `alert` event to every party involved (stream and webhooks). Alerts live in memory (open
ones and the last `KEEP_CLOSED` closed ones, for acknowledgements); a restart starts with
none open, and the record keeps every one.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deconflict.engine.monitor import Monitor, MonitorSettings
from deconflict.errors import InvalidPositions, InvalidRequest, NotFound, ReportProblem
from deconflict.export.alerts import alert_json
from deconflict.export.times import format_time
from deconflict.ingest.fields import NonFinite, RuleBroken, describe
from deconflict.ingest.positions.reports import check_count, from_json, report, time_value
from deconflict.model.declarations import Declaration, Movement
from deconflict.model.positions import Alert, AlertEvent, PositionReport
from deconflict.record.canonical import JSONValue
from deconflict.service import record
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.events import emit
from deconflict.store.repository import Repository

log = logging.getLogger("deconflict.live")

CLEARED_STATES = frozenset({"cleared", "active"})
"""Clearance states in which a movement is a plan the monitor holds units to."""
KEEP_CLOSED = 10_000
"""Closed alerts kept in memory so their parties can still acknowledge them."""
REPORT_FIELDS = frozenset(
    {"unit", "time", "lat", "lon", "alt_m", "speed_mps", "course_deg", "movement", "party"}
)
_SOURCE = "the batch"


def report_json(r: PositionReport) -> dict[str, JSONValue]:
    """A report as committed in the record (SPEC section 5 field names)."""
    return {
        "unit": r.unit,
        "time": r.time_s,
        "lat": r.lat,
        "lon": r.lon,
        "alt_m": r.alt_m,
        "speed_mps": r.speed_mps,
        "course_deg": r.course_deg,
        "movement": r.movement,
        "source": r.source,
    }


# -- the HTTP batch --------------------------------------------------------------------


def parse_batch(svc: Service, raw: bytes, party: str) -> list[PositionReport]:
    """The reports of a JSON array body, all or none: InvalidPositions names the first bad
    item by its index; LimitExceeded past `max_batch_reports`. A `party` member naming
    another party than the caller's is refused (a unit cannot report for another party)."""
    limits = svc.settings.limits
    try:
        doc = json.loads(raw, parse_constant=NonFinite)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest(
            "The body is not valid JSON; send a JSON array of position reports."
        ) from None
    if not isinstance(doc, list):
        raise InvalidRequest(
            f"The body must be a JSON array of position reports, not {describe(doc)}."
        )
    check_count(len(doc), limits.max_batch_reports, "max_batch_reports", "the batch")
    out: list[PositionReport] = []
    for i, item in enumerate(doc):
        try:
            out.append(_item(item, party, svc))
        except RuleBroken as broken:
            raise InvalidPositions([ReportProblem(f"report {i}", broken.rule, _SOURCE)]) from None
    return out


def _item(item: object, party: str, svc: Service) -> PositionReport:
    if not isinstance(item, dict):
        raise RuleBroken(f"a report must be a JSON object, not {describe(item)}")
    extra = sorted(str(k)[:40] for k in set(item) - REPORT_FIELDS)
    if extra:
        raise RuleBroken(f"unknown member {extra[0]!r}; a report has {', '.join(_ORDER)}")
    for name in ("unit", "time", "lat", "lon"):
        if name not in item:
            raise RuleBroken(f"the report has no {name!r}")
    if "party" in item and item["party"] != party:
        raise RuleBroken(
            f"party {describe(item['party'])} is not the caller's; a party reports only its own"
            " units"
        )

    def optional(name: str) -> float | None:
        return None if item.get(name) is None else from_json(item[name], name)

    return report(
        unit=item["unit"],
        party=party,
        time_s=time_value(item["time"], "time"),
        lat=from_json(item["lat"], "lat"),
        lon=from_json(item["lon"], "lon"),
        alt_m=optional("alt_m"),
        speed_mps=optional("speed_mps"),
        course_deg=optional("course_deg"),
        movement=item.get("movement"),
        source="http",
        limits=svc.settings.limits,
    )


_ORDER = ("unit", "time", "lat", "lon", "alt_m", "speed_mps", "course_deg", "movement")


# -- the monitor in the service --------------------------------------------------------


@dataclass
class _Kept:
    """An alert as last sent, and who acknowledged it."""

    last: Alert
    acked: dict[str, float] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.last.event != AlertEvent.CLOSE


def _match(a: Alert) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return (a.type.value, a.units, a.declarations)


class LiveMonitor:
    """The service's tactical monitor. Every method that changes state takes
    `svc.db.lock` (the writer lock), so batches, ticks and rebuilds never interleave."""

    def __init__(self, svc: Service, settings: MonitorSettings | None = None) -> None:
        self.svc = svc
        self.settings = settings or MonitorSettings()
        self._monitor: Monitor | None = None
        self._fingerprint: tuple[tuple[str, str, int, str], ...] | None = None
        self._recent: dict[tuple[str, str], list[PositionReport]] = {}
        """(party, unit) -> its last two reports, to prime a rebuilt monitor."""
        self._alerts: OrderedDict[str, _Kept] = OrderedDict()
        self._remap: dict[str, str] = {}
        """Id the current monitor gives -> id first sent (alerts kept across a rebuild)."""
        self._closed = 0

    # -- declarations ---------------------------------------------------------------

    def _declarations(self, repo: Repository) -> tuple[Any, list[Declaration]]:
        rows = [r for r in repo.live() if r.kind != "movement" or r.state in CLEARED_STATES]
        rows.sort(key=lambda r: (r.party, r.id, r.version))
        fingerprint = tuple((r.party, r.id, r.version, r.state) for r in rows)
        if fingerprint == self._fingerprint:
            return fingerprint, []
        return fingerprint, [self.svc.declaration(r) for r in rows]

    def _refresh(self, repo: Repository) -> list[Alert]:
        """Rebuild the monitor when the live declarations changed; the alert events that
        the change itself causes (see the module's docstring)."""
        fingerprint, decls = self._declarations(repo)
        if fingerprint == self._fingerprint and self._monitor is not None:
            return []
        monitor = Monitor(self.svc.settings.policy, decls, self.settings)
        self._fingerprint = fingerprint
        first = self._monitor is None
        self._monitor = monitor
        self._remap = {}
        primed = [r for rs in self._recent.values() for r in rs]
        if first and not primed:
            return []
        log.info(
            "declarations changed: monitor rebuilt with %d declarations",
            len([d for d in decls if isinstance(d, Movement)]),
        )
        opened = monitor.ingest(primed) + monitor.flush() if primed else []
        now_open = {}
        for a in opened:
            if a.event == AlertEvent.OPEN:
                now_open[_match(a)] = a
            elif a.event == AlertEvent.CLOSE:
                now_open.pop(_match(a), None)
        out: list[Alert] = []
        for key, kept in list(self._alerts.items()):
            if not kept.open:
                continue
            again = now_open.pop(_match(kept.last), None)
            if again is not None:
                self._remap[again.alert] = key
            else:
                last = kept.last
                out.append(
                    Alert(
                        last.alert,
                        AlertEvent.CLOSE,
                        last.type,
                        max(last.time_s, max((a.time_s for a in opened), default=last.time_s)),
                        last.units,
                        last.parties,
                        declarations=last.declarations,
                    )
                )
        out += now_open.values()
        return out

    # -- writing ----------------------------------------------------------------------

    def ingest(self, who: Principal, reports: Sequence[PositionReport]) -> dict[str, Any]:
        """Apply one party's batch (already checked); log it, and send its alerts."""
        if who.is_operator:
            raise InvalidRequest("The operator has no units; a party reports its own units.")
        svc = self.svc
        with svc.db.lock, svc.write() as repo:
            now = svc.now()
            events = self._refresh(repo)
            assert self._monitor is not None
            for r in reports:
                kept = self._recent.setdefault(r.key, [])
                kept.append(r)
                if len(kept) > 2:
                    kept.sort(key=lambda x: x.time_s)
                    del kept[0]
            if reports:
                record.append(
                    repo,
                    now,
                    "positions",
                    who.party,
                    {"party": who.party, "reports": len(reports)},
                    {"reports": [report_json(r) for r in reports]},
                )
            events += self._monitor.ingest(list(reports), now_s=now)
            sent = self._send(repo, events, now)
            counters = dict(self._monitor.counters)
        return {
            "accepted": len(reports),
            "alerts": [alert_json(a) for a in sent if who.party in a.parties],
            "counters": counters,
        }

    def advance(self) -> int:
        """Time passes (the Ticker): evaluate due ticks, close and open by time alone."""
        svc = self.svc
        with svc.db.lock:
            if self._monitor is None and not self._recent:
                return 0
            with svc.write() as repo:
                now = svc.now()
                events = self._refresh(repo)
                assert self._monitor is not None
                events += self._monitor.advance(now)
                return len(self._send(repo, events, now))

    def _send(self, repo: Repository, events: list[Alert], now: float) -> list[Alert]:
        out = []
        for a in sorted(events, key=lambda e: e.time_s):
            alert_id = self._remap.get(a.alert, a.alert)
            if alert_id != a.alert:
                event = AlertEvent.UPDATE if a.event == AlertEvent.OPEN else a.event
                a = Alert(
                    alert_id,
                    event,
                    a.type,
                    a.time_s,
                    a.units,
                    a.parties,
                    a.distance_m,
                    a.cpa_time_s,
                    a.cpa_distance_m,
                    a.declarations,
                )
            self._keep(a)
            line = alert_json(a)
            record.append(
                repo,
                now,
                "alert",
                record.SERVICE,
                {"alert": a.alert, "event": a.event.value, "parties": list(a.parties)},
                {"alert": line},
            )
            for party in a.parties:
                emit(repo, party, "alert", now, {"alert": line})
            out.append(a)
        return out

    def _keep(self, a: Alert) -> None:
        kept = self._alerts.get(a.alert)
        if kept is None:
            self._alerts[a.alert] = _Kept(a)
        else:
            kept.last = a
        if a.event == AlertEvent.CLOSE:
            self._alerts.move_to_end(a.alert)
            self._closed += 1
            while self._closed > KEEP_CLOSED:
                oldest = next((k for k, v in self._alerts.items() if not v.open), None)
                if oldest is None:
                    break
                del self._alerts[oldest]
                self._closed -= 1

    # -- reading and acknowledging -----------------------------------------------------

    def view(self, kept: _Kept) -> dict[str, Any]:
        return {
            **alert_json(kept.last),
            "open": kept.open,
            "acknowledged_by": {p: format_time(t) for p, t in sorted(kept.acked.items())},
        }

    def open_alerts(self, who: Principal) -> dict[str, Any]:
        with self.svc.db.lock:
            items = [
                self.view(k)
                for k in self._alerts.values()
                if k.open and who.party in k.last.parties
            ]
        return {"alerts": items}

    def acknowledge(self, who: Principal, alert_id: str) -> dict[str, Any]:
        svc = self.svc
        with svc.db.lock:
            kept = self._alerts.get(alert_id)
            if kept is None or who.party not in kept.last.parties:
                raise NotFound("No alert involving you has that id; see GET /v1/alerts.")
            if who.party in kept.acked:
                return self.view(kept)
            with svc.write() as repo:
                now = svc.now()
                record.append(
                    repo,
                    now,
                    "alert.acknowledged",
                    who.party,
                    {"alert": alert_id, "parties": list(kept.last.parties)},
                )
                kept.acked[who.party] = now
                payload = {"alert": alert_id, "by": who.party}
                for party in kept.last.parties:
                    if party != who.party:
                        emit(repo, party, "alert.acknowledged", now, payload)
            return self.view(kept)


def live(svc: Service) -> LiveMonitor:
    """The service's LiveMonitor, made on first use."""
    found = getattr(svc, "live", None)
    if isinstance(found, LiveMonitor):
        return found
    with _MAKE:
        found = getattr(svc, "live", None)
        if not isinstance(found, LiveMonitor):
            found = LiveMonitor(svc)
            svc.live = found
        return found


_MAKE = threading.Lock()


class Ticker:
    """A thread that lets time pass for the monitor every `period_s` (stale units,
    hysteresis closes, ticks whose reports are all in)."""

    def __init__(self, svc: Service, period_s: float = 1.0) -> None:
        self.svc = svc
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deconflict-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                live(self.svc).advance()
            except Exception:  # keep the ticker alive; the error is in the log
                log.exception("live tick failed")
            self._stop.wait(self.period_s)

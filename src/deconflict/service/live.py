"""The live path through the service (SPEC section 5): position reports of one party in,
alerts out to every party involved, both in the record.

`LiveMonitor` owns one `engine.monitor.Monitor` built from the live declarations of the
store: every site and zone not in a final state, and the movements that count as cleared
plans, those whose clearance state is `cleared` or `active` (a movement still waiting for
answers, or objected, is no plan to deviate from; a report naming it counts as
`unknown_movement`). That set follows the store's declaration changes (checked on every
batch and tick); when it changes, the monitor is rebuilt and primed with each unit's last
two reports (while no unit has reported, at the next batch); an alert the new monitor opens
again keeps its id, one it does not is closed, and one it opens anew is sent as opened.

Each batch is applied under the service's write lock, and in the same transaction:
one sealed `positions` entry (the reports as committed contents, opened to the reporting
party only), one sealed `alert` entry per alert event (opened to the parties involved), an
`alert` event to every party involved (stream and webhooks), and the alert's new state in
the store (store/alerts.py), which `GET /v1/alerts` and acknowledgements read, whichever
process serves them. Tracks stay in this process's memory: a monitor made on a store with
open alerts (a restart) follows them, continues those it finds again under their ids, and
closes the others once it has seen their units (`LiveMonitor._settle`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deconflict.engine.monitor import Monitor, MonitorSettings
from deconflict.engine.partitions import Partitioning
from deconflict.errors import InvalidPositions, InvalidRequest, NotFound, ReportProblem
from deconflict.export.alerts import alert_json
from deconflict.export.times import format_time
from deconflict.ingest.fields import NonFinite, RuleBroken, describe
from deconflict.ingest.positions.batch import FIELDS, CheckedBatch, Columns, plain_batch
from deconflict.ingest.positions.reports import check_count, from_json, report, time_value
from deconflict.ingest.positions.rows import Rows
from deconflict.model.declarations import Movement
from deconflict.model.positions import Alert, AlertEvent, AlertType, PositionReport
from deconflict.record.canonical import JSONValue
from deconflict.service import record
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.events import emit
from deconflict.store import alerts as alert_store
from deconflict.store import queue
from deconflict.store.repository import DeclarationRow, Repository

log = logging.getLogger("deconflict.live")

CLEARED_STATES = frozenset({"cleared", "active"})
"""Clearance states in which a movement is a plan the monitor holds units to."""
KEEP_CLOSED = 10_000
"""Closed alerts kept in the store so their parties can still acknowledge them..."""
KEEP_CLOSED_S = 86_400.0
"""... for at most this long after they closed."""
PRUNE_EVERY_S = 60.0
LEASE_S = 5.0
"""With several processes on one store, each monitoring process holds its partitions this
long past each renewal (at most once a second); when it dies, the others take its
partitions over within this long."""
CHECK_S = 1.0
"""How often a process renews its partitions and sees who else takes part, seconds."""
QUEUE_KEEP_S = 600.0
"""Applied position batches stay in the store's queue this long, seconds."""
"""Forgetting closed alerts runs at most this often per process."""
DRAIN_BATCHES = 500
"""Queued batches read at a time when applying the queue."""
REPORT_FIELDS = FIELDS
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


def parse_batch(svc: Service, raw: bytes, party: str) -> CheckedBatch:
    """The reports of a JSON array body, all or none: InvalidPositions names the first bad
    item by its index; LimitExceeded past `max_batch_reports`. A `party` member naming
    another party than the caller's is refused (a unit cannot report for another party).
    A plain batch (the usual one) comes with its rows encoded, outside the writer lock."""
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
    plain = plain_batch(doc, party, limits)
    return plain if plain is not None else CheckedBatch(check_reports(doc, party, svc))


def check_reports(doc: list[Any], party: str, svc: Service) -> list[PositionReport]:
    """The reports of a parsed batch checked one by one; InvalidPositions names the first
    bad one (`plain_batch` takes the common case faster, column by column)."""
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


def _queued(item: dict[str, Any], party: str, svc: Service) -> PositionReport:
    """A report as `report_json` wrote it to the queue (checked when it was accepted)."""
    return report(
        unit=item["unit"],
        party=party,
        time_s=float(item["time"]),
        lat=float(item["lat"]),
        lon=float(item["lon"]),
        alt_m=item.get("alt_m"),
        speed_mps=item.get("speed_mps"),
        course_deg=item.get("course_deg"),
        movement=item.get("movement"),
        source=str(item.get("source") or "http"),
        limits=svc.settings.limits,
    )


# -- the monitor in the service --------------------------------------------------------


@dataclass
class _Adopted:
    """An alert open in the store when this monitor was made (a restart), which this
    monitor has not found again yet: it has no tracks of the time before."""

    last: Alert
    since_s: float
    """When it was loaded (service clock)."""
    seen: dict[str, float] = field(default_factory=dict)
    """Its units that reported since, as `party/unit` -> latest report time."""


def _match(a: Alert) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return (a.type.value, a.units, a.declarations)


def _closing(last: Alert, time_s: float) -> Alert:
    return Alert(
        last.alert,
        AlertEvent.CLOSE,
        last.type,
        time_s,
        last.units,
        last.parties,
        declarations=last.declarations,
    )


def _as(a: Alert, alert_id: str, event: AlertEvent) -> Alert:
    """`a` under another id or as another event."""
    return Alert(
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


def _from_line(text: str) -> Alert:
    """An alert event back from its SPEC section 5 line (as the store keeps it)."""
    d = json.loads(text)
    cpa = d["cpa_time"]
    return Alert(
        d["alert"],
        AlertEvent(d["event"]),
        AlertType(d["type"]),
        time_value(d["time"], "time"),
        tuple(d["units"]),
        tuple(d["parties"]),
        d["distance_m"],
        None if cpa is None else time_value(cpa, "cpa_time"),
        d["cpa_distance_m"],
        tuple(d["declarations"]),
    )


def _watched(row: DeclarationRow) -> bool:
    """Whether the monitor watches against a live declaration: sites and zones always,
    movements once cleared (one still waiting for answers, or objected, is no plan)."""
    return row.kind != "movement" or row.state in CLEARED_STATES


def _version_state(row: DeclarationRow | None) -> tuple[int, str] | None:
    return None if row is None else (row.version, row.state)


def _line(a: Alert) -> str:
    return json.dumps(alert_json(a), separators=(",", ":"))


class LiveMonitor:
    """The service's tactical monitor. Every method that changes state takes
    `svc.db.lock` (the writer lock), so batches, ticks and rebuilds never interleave.
    Alerts themselves live in the store (store/alerts.py): each event is written there in
    the transaction that logs it, and reads and acknowledgements go to the store."""

    def __init__(self, svc: Service, settings: MonitorSettings | None = None) -> None:
        self.svc = svc
        self.settings = settings or svc.settings.monitor
        self._monitor: Monitor | None = None
        self._plans: dict[tuple[str, str], DeclarationRow] = {}
        """The declarations the monitor watches against, by (party, id): every live site
        and zone, and the movements in a cleared state; kept up to date from the store's
        declaration changes (engine_changes), not read whole each time."""
        self._plans_at = -1
        """The store's declaration change `_plans` is as of (-1: not read yet)."""
        self._plans_changed = True
        """`_plans` changed since the monitor was built."""
        self._recent: dict[tuple[str, str], tuple[PositionReport, ...]] = {}
        """(party, unit) -> its last two reports, the latest last: to prime a rebuilt
        monitor, and to tell which partition answers for a pair alert."""
        self._open: dict[str, Alert] = {}
        """The open alerts this monitor follows: id -> its last event."""
        self._by_match: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}
        """_match of each followed alert -> its id: an alert found again keeps its id."""
        self._adopted: dict[str, _Adopted] = {}
        self._watch: dict[str, set[str]] = {}
        """`party/unit` -> the adopted alerts it is in."""
        self._remap: dict[str, str] = {}
        """Id the current monitor gives -> id first sent (alerts kept across a rebuild)."""
        self._pruned_s = -math.inf
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"
        """Who this monitor is among the store's monitoring processes."""
        s = svc.settings
        self.parts = Partitioning(
            parts=s.monitor_partitions,
            cell_deg=s.monitor_cell_deg,
            h_m=s.policy.horizontal_m,
            look_ahead_s=self.settings.look_ahead_s,
            stale_timeout_s=self.settings.stale_timeout_s,
            max_ground_mps=self.settings.max_ground_speed_mps,
            max_air_mps=self.settings.max_air_speed_mps,
        )
        self._held: dict[int, int] = {}
        """The partitions this process holds -> the last queued batch applied for each."""
        self._mask = 0
        self._checked_s = -math.inf
        self._refused: str | None = None
        self.wake = threading.Event()
        """Set when other processes queued batches (the Follower): the Ticker runs at once."""
        self._queue_pruned_s = -math.inf

    def _reset(self) -> None:
        """Start afresh, as a restarted service does: this process just took the monitor
        lease, and what the last holder knew of the alerts is in the store."""
        self._monitor = None
        self._plans = {}
        self._plans_at = -1
        self._plans_changed = True
        self._recent = {}
        self._open = {}
        self._by_match = {}
        self._adopted = {}
        self._watch = {}
        self._remap = {}
        self._load()

    def _load(self) -> None:
        """Follow the alerts of its partitions open in the store: a restarted service, or
        one taking partitions over, continues or closes them rather than opening them
        again."""
        svc = self.svc
        with svc.read() as repo:
            rows = alert_store.all_open(repo.conn, sorted(self._held))
        now = svc.now()
        for row in rows:
            a = _from_line(row.alert_json)
            self._follow(a)
            self._adopted[a.alert] = _Adopted(a, now)
            for unit in a.units:
                self._watch.setdefault(unit, set()).add(a.alert)
        if rows:
            log.info("%d open alerts in the store", len(rows))

    def _follow(self, a: Alert) -> None:
        old = self._open.pop(a.alert, None)
        if old is not None and self._by_match.get(_match(old)) == a.alert:
            del self._by_match[_match(old)]
        if a.event != AlertEvent.CLOSE:
            self._open[a.alert] = a
            self._by_match[_match(a)] = a.alert

    def _unadopt(self, alert_id: str) -> None:
        found = self._adopted.pop(alert_id, None)
        if found is not None:
            for unit in found.last.units:
                ids = self._watch.get(unit)
                if ids is not None:
                    ids.discard(alert_id)
                    if not ids:
                        del self._watch[unit]

    # -- declarations ---------------------------------------------------------------

    def _sync_plans(self, repo: Repository) -> None:
        """Bring `_plans` up to the store: the declarations changed since it was last
        brought up (engine_changes), read one by one; the whole live set only the first
        time or when the store pruned changes this monitor had not seen. Reading every
        live declaration at each change cost 1.4 s at 100,000 stored, under the writer
        lock, once a second while submissions came in."""
        if self._plans_at >= 0:
            seen, keys = repo.changes_after(self._plans_at)
            if not keys:
                return
            first = repo.first_change()
            if first is not None and first <= self._plans_at + 1:  # none pruned past us
                rows = {(r.party, r.id): r for r in repo.current_keys(keys)}
                for key in keys:
                    row = rows.get(key)
                    now = row if row is not None and row.live and _watched(row) else None
                    if _version_state(self._plans.get(key)) != _version_state(now):
                        self._plans_changed = True
                        if now is None:
                            del self._plans[key]
                        else:
                            self._plans[key] = now
                self._plans_at = seen
                return
            log.info("store changed beyond the kept changes: reading every declaration")
        at = repo.last_change()
        plans = {(r.party, r.id): r for r in repo.live() if _watched(r)}
        if {k: _version_state(r) for k, r in plans.items()} != {
            k: _version_state(r) for k, r in self._plans.items()
        }:
            self._plans_changed = True
        self._plans, self._plans_at = plans, at

    def _idle(self) -> bool:
        """No unit was ever reported to this monitor and it follows no alert: there is
        nothing to evaluate, so a rebuild may wait for the first batch."""
        return not self._recent and not self._open and not self._adopted

    def _refresh(self, repo: Repository, *, build: bool = True) -> list[Alert]:
        """Rebuild the monitor when the live declarations changed; the alert events that
        the change itself causes (see the module's docstring). Whether anything changed
        is one read of the store's last declaration change: reading every live
        declaration for each batch made a batch cost grow with the store (120 ms at
        10,000 declarations, bench/scale.py)."""
        current = repo.last_change() == self._plans_at
        if current and self._monitor is not None and not self._plans_changed:
            return []
        if not current:
            self._sync_plans(repo)
        if not self._plans_changed and self._monitor is not None:
            return []
        if not build:  # `_plans` is kept up to date; the monitor is built when needed
            return []
        rows = sorted(self._plans.values(), key=lambda r: (r.party, r.id, r.version))
        decls = [self.svc.declaration(r) for r in rows]
        monitor = Monitor(self.svc.settings.policy, decls, self.settings)
        self._plans_changed = False
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
        latest = max((a.time_s for a in opened), default=-math.inf)
        for key, last in list(self._open.items()):
            again = now_open.pop(_match(last), None)
            if again is not None:
                self._remap[again.alert] = key
                self._unadopt(key)
            elif key not in self._adopted:  # an adopted one waits for its units (_settle)
                out.append(_closing(last, max(last.time_s, latest)))
        out += now_open.values()
        return out

    # -- writing ----------------------------------------------------------------------

    def ingest(
        self,
        who: Principal,
        reports: Sequence[PositionReport],
        rows: Rows | None = None,
        columns: Columns | None = None,
    ) -> dict[str, Any]:
        """Apply one party's batch (already checked); log it, and send its alerts. `rows`
        and `columns`, when the caller has them, are the reports already encoded and as
        columns (parse_batch): the routing and the monitor then take the columns.

        The batch is logged and queued in the store, in one transaction; the process
        holding the monitor lease applies the queue in order (several processes may share
        the store). When that is this process, as it always is when it is alone, it does
        so at once and answers with the batch's alerts; otherwise they come within a
        tick, as events."""
        if who.is_operator:
            raise InvalidRequest("The operator has no units; a party reports its own units.")
        svc = self.svc
        mine: list[Alert] = []
        counters: dict[str, int] = {}
        # Outside the writer lock: what depends on the reports alone.
        content: JSONValue
        queued: list[dict[str, Any]] | str
        if rows is None:
            content = queued = [report_json(r) for r in reports]
        else:
            content, queued = rows.record, rows.queue
        if columns is None:
            masks = self.parts.routes(reports)
        else:
            c = columns
            masks = self.parts.routes_columns(
                c.party, c.units, c.lat, c.lon, c.alt_m, c.speed_mps, c.course_deg
            )
        union = 0
        for m in set(masks):
            union |= m
        with svc.db.lock, svc.write() as repo:
            now = svc.now()
            seq = None
            if reports:
                record.append(
                    repo,
                    now,
                    "positions",
                    who.party,
                    {"party": who.party, "reports": len(reports)},
                    {"reports": content},
                )
                seq = queue.enqueue(repo.conn, who.party, now, queued, union)
            if self._hold(repo, now):
                mine = self._drain(repo, now, seq, reports, masks, columns)
            if self._monitor is not None:
                counters = dict(self._monitor.counters)
        return {
            "accepted": len(reports),
            "alerts": [alert_json(a) for a in mine if who.party in a.parties],
            "counters": counters,
        }

    def _feed(
        self, reports: Sequence[PositionReport], now: float, columns: Columns | None = None
    ) -> list[Alert]:
        """Feed one batch to the monitor (made by `_refresh`); the alert events it
        raises, to send. `columns`, when given, are `reports` as columns (the monitor takes
        them without converting the reports)."""
        assert self._monitor is not None
        recent = self._recent
        for r in reports:
            key = (r.party, r.unit)
            kept = recent.get(key)
            if kept is None:
                recent[key] = (r,)
                continue
            last = kept[-1]
            if r.time_s >= last.time_s:
                recent[key] = (last, r)
            elif len(kept) == 1 or r.time_s > kept[0].time_s:
                recent[key] = (r, last)
        if self._watch:
            self._saw(reports)
        if columns is None:
            return self._monitor.ingest(list(reports), now_s=now)
        c = columns
        return self._monitor.ingest_columns(
            [c.party] * len(c.units),
            c.units,
            c.time_s,
            c.lon,
            c.lat,
            c.alt_m,
            c.speed_mps,
            c.course_deg,
            c.movements,
            now_s=now,
        )

    # -- several processes: the queue and the lease -----------------------------------

    def _hold(self, repo: Repository, now: float) -> bool:
        """Take part, and hold this process's share of the partitions (at most once per
        CHECK_S; in between the holding stands, as leases last LEASE_S). A monitor whose
        partitions changed starts afresh, as a restarted one does."""
        if 0.0 <= now - self._checked_s < CHECK_S:
            return bool(self._held)
        self._checked_s = now
        p = self.parts
        h = queue.hold(repo.conn, self.owner, p.plan, p.parts, now, LEASE_S)
        if h.refused != self._refused:
            self._refused = h.refused
            if h.refused:
                log.error(
                    "not monitoring: %s, this one with %s (docs/live.md, Partitions)",
                    h.refused,
                    p.plan,
                )
        changed = set(h.held) != set(self._held)
        self._held = h.held
        if changed:
            self._mask = sum(1 << q for q in h.held)
            log.info(
                "monitoring %d of %d partitions (%d processes take part)",
                len(h.held),
                p.parts,
                h.members,
            )
            self._reset()
        return bool(self._held)

    def _drain(
        self,
        repo: Repository,
        now: float,
        mine: int | None = None,
        mine_reports: Sequence[PositionReport] = (),
        mine_masks: Sequence[int] = (),
        mine_columns: Columns | None = None,
    ) -> list[Alert]:
        """Apply every queued batch of this process's partitions after their cursors, in
        order, with the reports routed to them; the alerts of batch `mine` (whose reports,
        `mine_reports`, their partitions, `mine_masks`, and columns, `mine_columns`, need not
        be read back)."""
        # Idle (no unit reported yet), the monitor is built only for a batch to feed.
        build = mine is not None or self._monitor is None or not self._idle()
        sent = self._send(repo, self._refresh(repo, build=build), now)
        out = sent if mine is None else []
        held = self._held
        every = self.parts.every
        start = cursor = min(held.values())
        mask = None if self._mask == every else self._mask
        more = True
        while more:
            batches = queue.batches(repo.conn, cursor, DRAIN_BATCHES, parts=mask)
            # Fewer than asked for: none is left (no other writer adds any in this write
            # transaction), so no query to find none.
            more = len(batches) == DRAIN_BATCHES
            for b in batches:
                cursor = b.seq
                want = 0
                for q, done in held.items():
                    if b.seq > done:
                        want |= 1 << q
                if not want:
                    continue
                masks: Sequence[int] | None = None
                columns = None
                if b.seq == mine and mine_reports:
                    reports = list(mine_reports)
                    masks = mine_masks
                    columns = mine_columns
                else:
                    reports = [_queued(r, b.party, self.svc) for r in b.reports]
                if want != every:
                    masks = masks or self.parts.routes(reports)
                    reports = [r for r, m in zip(reports, masks, strict=True) if m & want]
                    columns = None  # some routed elsewhere: the reports kept
                if reports and (self._monitor is None or self._plans_changed):
                    out += self._send(repo, self._refresh(repo), now)  # built for this batch
                found = self._send(repo, self._feed(reports, now, columns), now) if reports else []
                if b.seq == mine:
                    out = found
        if cursor != start:
            queue.advance(repo.conn, self.owner, cursor)
            for q in held:
                held[q] = max(held[q], cursor)
        if now - self._queue_pruned_s > PRUNE_EVERY_S:
            self._queue_pruned_s = now
            queue.prune(repo.conn, now - QUEUE_KEEP_S, self.parts.parts)
        return out

    def release(self) -> None:
        """Give up this process's partitions (the service stops), so the others take them
        at once rather than after LEASE_S."""
        svc = self.svc
        with svc.db.lock, svc.write() as repo:
            queue.release(repo.conn, self.owner)

    def advance(self) -> int:
        """Time passes (the Ticker): evaluate due ticks, close and open by time alone
        (only the lease holder, after applying the queue)."""
        svc = self.svc
        with svc.db.lock:
            with svc.write() as repo:
                now = svc.now()
                if not self._hold(repo, now):
                    return 0
                self._drain(repo, now)
                # With no unit reported and no alert followed, time passing changes
                # nothing: once built (at start, so the first batch does not wait for
                # it), the monitor is not rebuilt for each change of declarations (at
                # 100,000 stored a rebuild took 0.1-0.8 s under the writer lock).
                build = self._monitor is None or not self._idle()
                events = self._refresh(repo, build=build)
                if self._monitor is not None:
                    events += self._monitor.advance(now)
                sent = self._send(repo, events, now)
                if self._adopted:
                    sent += self._send(repo, self._settle(repo, now), now)
                return len(sent)

    def _latest(self, unit: str) -> PositionReport | None:
        """The latest report of `party/unit` this monitor has."""
        party, _, name = unit.partition("/")
        kept = self._recent.get((party, name))
        return None if kept is None else kept[-1]

    def apply_queued(self) -> int:
        """Apply the batches other processes queued for this process's partitions (the
        Follower saw some); time does not pass (that is `advance`)."""
        svc = self.svc
        with svc.db.lock, svc.write() as repo:
            now = svc.now()
            if not self._hold(repo, now):
                return 0
            return len(self._drain(repo, now))

    def _saw(self, reports: Sequence[PositionReport]) -> None:
        for r in reports:
            unit = f"{r.party}/{r.unit}"
            for alert_id in self._watch.get(unit, ()):
                seen = self._adopted[alert_id].seen
                seen[unit] = max(seen.get(unit, -math.inf), r.time_s)

    def _settle(self, repo: Repository, now: float) -> list[Alert]:
        """Close the adopted alerts that this monitor, started without their history, did
        not find again, as the monitor would: a stale unit's alert at its next report;
        another once all its units reported, the tick of the last is evaluated, and that
        report is `hysteresis_s` past the alert's last event; any but a stale one after
        `stale_timeout_s + hysteresis_s` without all its units (silent units take no part).
        One that another process sent an event for since is left to that process."""
        s = self.settings
        out: list[Alert] = []
        for alert_id, ad in list(self._adopted.items()):
            last = ad.last
            at: float | None = None
            if last.type == AlertType.STALE:
                if ad.seen:
                    at = min(ad.seen.values())
            else:
                if len(ad.seen) == len(last.units):
                    latest = max(ad.seen.values())
                    evaluated = (math.floor(latest / s.tick_s) + 1) * s.tick_s + s.arrival_grace_s
                    if latest >= last.time_s + s.hysteresis_s and now >= evaluated:
                        at = latest
                if at is None and now >= ad.since_s + s.stale_timeout_s + s.hysteresis_s:
                    at = max(last.time_s, now)
            if at is None:
                continue
            self._unadopt(alert_id)
            row = alert_store.get(repo.conn, alert_id)
            if row is None or not row.open or row.updated_s > ad.since_s:
                self._follow(_closing(last, at))  # closed or followed elsewhere
                continue
            out.append(_closing(last, at))
        return out

    def _send(self, repo: Repository, events: list[Alert], now: float) -> list[Alert]:
        out = []
        closed = False
        split = self.parts.parts > 1
        for a in sorted(events, key=lambda e: e.time_s):
            part = self.parts.answers(a, self._latest) if split else 0
            if part not in self._held:
                continue  # another partition answers for it (see Partitions)
            alert_id = self._remap.get(a.alert)
            if alert_id is None and (
                a.event == AlertEvent.OPEN or (split and a.alert not in self._open)
            ):
                # The same alert found again: adopted at a restart, open in the store through
                # another process, or opened by another partition that answered for it until
                # now. It keeps its id; an update or close of one with none open in the store
                # opens it, or is dropped.
                alert_id = self._by_match.get(_match(a)) or alert_store.find_open(repo.conn, a)
                if alert_id is not None:
                    self._remap[a.alert] = alert_id
                elif a.event == AlertEvent.CLOSE:
                    continue
                elif a.event != AlertEvent.OPEN:
                    a = _as(a, a.alert, AlertEvent.OPEN)
            if alert_id is not None and alert_id != a.alert:
                event = AlertEvent.UPDATE if a.event == AlertEvent.OPEN else a.event
                a = _as(a, alert_id, event)
            self._unadopt(a.alert)
            known = self._open.get(a.alert)
            self._follow(a)
            line = alert_json(a)
            alert_store.save(repo.conn, a, _line(a), now, known, part)
            closed = closed or a.event == AlertEvent.CLOSE
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
        if closed and now - self._pruned_s >= PRUNE_EVERY_S:
            self._pruned_s = now
            gone = alert_store.prune(repo.conn, now - KEEP_CLOSED_S, KEEP_CLOSED)
            if gone:
                log.info("forgot %d closed alerts", gone)
        return out

    # -- reading and acknowledging -----------------------------------------------------

    @staticmethod
    def view(row: alert_store.AlertRow, acked: dict[str, float]) -> dict[str, Any]:
        """An alert as GET /v1/alerts shows it: its last event, open, acknowledgements."""
        return {
            **json.loads(row.alert_json),
            "open": row.open,
            "acknowledged_by": {p: format_time(t) for p, t in sorted(acked.items())},
        }

    def open_alerts(self, who: Principal) -> dict[str, Any]:
        with self.svc.read() as repo:
            rows = alert_store.open_of(repo.conn, who.party)
            acks = alert_store.acks(repo.conn, [r.alert_id for r in rows])
        return {"alerts": [self.view(r, acks.get(r.alert_id, {})) for r in rows]}

    def acknowledge(self, who: Principal, alert_id: str) -> dict[str, Any]:
        """Idempotent: a party's second acknowledgement changes nothing. Only a party of
        the alert may; to any other the alert does not exist."""
        svc = self.svc
        with svc.read() as repo:
            row = alert_store.get(repo.conn, alert_id)
            acked = {} if row is None else alert_store.acks(repo.conn, [alert_id])
        if row is None or who.party not in row.parties:
            raise NotFound("No alert involving you has that id; see GET /v1/alerts.")
        if who.party in acked.get(alert_id, {}):
            return self.view(row, acked[alert_id])
        with svc.db.lock, svc.write() as repo:
            row = alert_store.get(repo.conn, alert_id)
            if row is None:  # forgot after it closed, since the read above
                raise NotFound("No alert involving you has that id; see GET /v1/alerts.")
            now = svc.now()
            if alert_store.acknowledge(repo.conn, alert_id, who.party, now):
                record.append(
                    repo,
                    now,
                    "alert.acknowledged",
                    who.party,
                    {"alert": alert_id, "parties": list(row.parties)},
                )
                payload = {"alert": alert_id, "by": who.party}
                for party in row.parties:
                    if party != who.party:
                        emit(repo, party, "alert.acknowledged", now, payload)
            acked = alert_store.acks(repo.conn, [alert_id])
        return self.view(row, acked.get(alert_id, {}))


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
        live(self.svc).wake.set()
        self._thread.join(timeout=5)
        found = self.svc.live
        if isinstance(found, LiveMonitor):
            try:
                found.release()
            except Exception:  # stopping anyway; the lease lapses by itself
                log.exception("could not give up the monitor lease")

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            monitor = live(self.svc)
            monitor.wake.clear()
            try:
                if time.monotonic() >= due:
                    due = time.monotonic() + self.period_s
                    monitor.advance()
                else:
                    monitor.apply_queued()
            except Exception:  # keep the ticker alive; the error is in the log
                log.exception("live tick failed")
            # Time passes every period; batches that other processes queued are applied at
            # once (the Follower wakes it), without letting time pass: a tick is evaluated
            # when a later report arrives or its time has come, never between two batches.
            monitor.wake.wait(max(0.0, due - time.monotonic()))

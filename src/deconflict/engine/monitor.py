"""The tactical monitor (SPEC section 5): position reports in, alert events out.

Reports are applied in report-time order and evaluated once per tick of report time
(`tick_s`), so a replay and a live run give the same alerts. A tick is evaluated when a
report of a later tick arrives, or when `advance`/`flush` says its reports are all in. Pure:
no I/O, no clock; the caller passes arrival times when it has them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from deconflict.engine.alertbook import AlertBook
from deconflict.engine.conformance import TOLERANCE_M, Areas, Routes
from deconflict.engine.proximity import find_pairs
from deconflict.engine.tracks import COUNTERS, Batch, Frame, IntArray, Tracks
from deconflict.geo.ellipsoid import FloatArray
from deconflict.model import Declaration, Movement, Policy, Site, Zone
from deconflict.model.positions import Alert, AlertType, PositionReport

_NONE = -1e300  # stands for an absent optional number while columns are built


@dataclass(frozen=True)
class MonitorSettings:
    """Tunables of the monitor; defaults are documented in docs/live.md."""

    look_ahead_s: float = 120.0
    """How far ahead predicted proximity extrapolates (SPEC default)."""
    hysteresis_s: float = 30.0
    """An alert closes when its condition has not held for this long."""
    update_interval_s: float = 10.0
    """At most one update event per alert per this many seconds (and only on a change)."""
    tick_s: float = 1.0
    """Report-time granularity of evaluation."""
    arrival_grace_s: float = 2.0
    """`advance(now)` evaluates a tick only once `now` is this far past its end, so reports
    delayed in transit still count in their own tick."""
    corridor_tolerance_m: float = 100.0
    """Added to a movement's `buffer_m` before a unit counts as off its route (GPS error,
    road width)."""
    time_tolerance_s: float = 60.0
    """Added to a movement's `time_uncertainty_s` before a unit counts as off its time plan."""
    stale_timeout_s: float = 60.0
    """A unit silent for longer is stale (if under an active movement) and no longer
    extrapolated for proximity."""
    max_ground_speed_mps: float = 100.0
    """Fastest plausible unit without altitude (360 km/h); faster jumps are absurd."""
    max_air_speed_mps: float = 700.0
    """Fastest plausible unit with altitude (about Mach 2)."""
    position_noise_m: float = 50.0
    """Tracker noise forgiven before a jump's speed is judged (short intervals)."""
    absurd_reset_reports: int = 3
    """This many absurd reports in a row, plausible from one another, become the track."""
    future_tolerance_s: float = 5.0
    """A report dated later than the arrival time plus this is dropped (clock error)."""
    cell_speed_mps: float = 0.0
    """Grid cells are at least H + 2 x look-ahead x this (performance only). At 0 the speed
    classes of engine.proximity decide: H + 2 x look-ahead x the fastest unit of a class."""


class Monitor:
    """Live alerts from position reports, against one set of declarations and a policy."""

    def __init__(
        self,
        policy: Policy,
        declarations: Sequence[Declaration],
        settings: MonitorSettings | None = None,
        assignments: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        """`assignments` maps (party, unit) to the id of the party's movement the unit is
        cleared under, for trackers whose reports do not carry it."""
        self.policy = policy
        self.settings = settings or MonitorSettings()
        self.declarations = list(declarations)
        self.movements = [d for d in self.declarations if isinstance(d, Movement)]
        self.movement_index = {(m.party, m.id): k for k, m in enumerate(self.movements)}
        self.assignments = dict(assignments or {})
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        """Reports received, accepted and dropped by rule (see docs/live.md)."""
        self.book = AlertBook(self.settings.hysteresis_s, self.settings.update_interval_s)
        self.book.pairs.describe = self._describe_pair
        s = self.settings
        self.cell_m = (
            policy.horizontal_m + 2.0 * s.look_ahead_s * s.cell_speed_mps
            if s.cell_speed_mps > 0
            else 0.0
        )
        self._tracks: Tracks | None = None
        self._routes: Routes | None = None
        self._areas: Areas | None = None
        self._tick: int | None = None
        self._tick_time = -math.inf
        self._reporters: list[IntArray] = []
        self._dev = np.zeros(0)
        self._intr: dict[int, list[tuple[int, float]]] = {}
        centre = _centre(self.declarations)
        if centre is not None:
            self._start(Frame(*centre))

    def _start(self, frame: Frame) -> None:
        self._tracks = Tracks(frame)
        self._routes = Routes(self.movements, frame)
        areas = [d for d in self.declarations if isinstance(d, Site | Zone)]
        self._areas = Areas(areas, frame)
        self._area_party: list[int] = []

    @property
    def units(self) -> int:
        """Units known (reported at least once)."""
        return 0 if self._tracks is None else self._tracks.n

    # -- ingestion ------------------------------------------------------------------

    def ingest(self, reports: Sequence[PositionReport], now_s: float | None = None) -> list[Alert]:
        """Apply reports (any order); return the alert events of every tick completed by
        them, in time order. `now_s` is the arrival time, when known: reports dated after
        it by more than `future_tolerance_s` are dropped."""
        n = len(reports)
        self.counters["received"] += n
        if n == 0:
            return []
        t = np.fromiter((r.time_s for r in reports), np.float64, n)
        lon = np.fromiter((r.lon for r in reports), np.float64, n)
        lat = np.fromiter((r.lat for r in reports), np.float64, n)
        alt = np.fromiter((_NONE if r.alt_m is None else r.alt_m for r in reports), np.float64, n)
        spd = np.fromiter(
            (_NONE if r.speed_mps is None else r.speed_mps for r in reports), np.float64, n
        )
        crs = np.fromiter(
            (_NONE if r.course_deg is None else r.course_deg for r in reports), np.float64, n
        )

        def keys_of(rows: IntArray) -> tuple[list[tuple[str, str]], list[str | None]]:
            kept = reports if rows.size == n else [reports[k] for k in rows.tolist()]
            return [(r.party, r.unit) for r in kept], [r.movement for r in kept]

        return self._ingest(t, lon, lat, alt, spd, crs, keys_of, now_s)

    def ingest_columns(
        self,
        party: Sequence[str],
        unit: Sequence[str],
        time_s: FloatArray,
        lon: FloatArray,
        lat: FloatArray,
        alt_m: FloatArray | None = None,
        speed_mps: FloatArray | None = None,
        course_deg: FloatArray | None = None,
        movement: Sequence[str | None] | None = None,
        now_s: float | None = None,
    ) -> list[Alert]:
        """`ingest` of reports given as columns (row k is one report, fields as in
        `PositionReport`), without report objects: the same rules, counters and events.
        An absent optional value is NaN here (None in a report; a column left out is
        absent throughout), so a NaN altitude, speed or course is absent, not invalid;
        infinities are invalid as in `ingest`."""
        n = len(party)
        self.counters["received"] += n
        if n == 0:
            return []

        def column(a: FloatArray | None) -> FloatArray:
            if a is None:
                return np.full(n, _NONE)
            v = np.asarray(a, np.float64)
            if v.shape != (n,):
                raise ValueError("columns of different lengths")
            return np.where(np.isnan(v), _NONE, v)

        t, x, y = (np.asarray(c, np.float64) for c in (time_s, lon, lat))
        if len(unit) != n or t.shape != (n,) or x.shape != (n,) or y.shape != (n,):
            raise ValueError("columns of different lengths")
        if movement is not None and len(movement) != n:
            raise ValueError("columns of different lengths")

        def keys_of(rows: IntArray) -> tuple[list[tuple[str, str]], list[str | None]]:
            if rows.size == n:
                keys = list(zip(party, unit, strict=True))
                return keys, [None] * n if movement is None else list(movement)
            pick = rows.tolist()
            mids = [None] * rows.size if movement is None else [movement[k] for k in pick]
            return [(party[k], unit[k]) for k in pick], mids

        return self._ingest(
            t, x, y, column(alt_m), column(speed_mps), column(course_deg), keys_of, now_s
        )

    def _ingest(
        self,
        t: FloatArray,
        lon: FloatArray,
        lat: FloatArray,
        alt: FloatArray,
        spd: FloatArray,
        crs: FloatArray,
        keys_of: Callable[[IntArray], tuple[list[tuple[str, str]], list[str | None]]],
        now_s: float | None,
    ) -> list[Alert]:
        """Columns of n reports (absent values `_NONE`) in; `keys_of(rows)` gives the
        (party, unit) and movement id of the rows kept."""
        s = self.settings
        n = t.size
        with np.errstate(invalid="ignore"):
            ok = (
                np.isfinite(t)
                & (np.abs(lat) <= 90.0)
                & (np.abs(lon) <= 180.0)
                & (np.isfinite(alt) & ((alt == _NONE) | ((alt > -1000.0) & (alt < 100_000.0))))
                & (np.isfinite(spd) & ((spd == _NONE) | (spd >= 0.0)))
                & np.isfinite(crs)
            )
        self.counters["invalid"] += int(n - ok.sum())
        if now_s is not None:
            future = ok & (t > now_s + s.future_tolerance_s)
            self.counters["future"] += int(future.sum())
            ok &= ~future
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return []
        if self._tracks is None:
            self._start(Frame(float(lon[rows[0]]), float(lat[rows[0]])))
        tracks = self._tracks
        assert tracks is not None
        keys, mids = keys_of(rows)
        movement = self._movements(mids, keys)
        units = tracks.unit_ids(keys)
        if self._dev.shape[0] < tracks.n:
            grown = np.full(max(tracks.n, 2 * self._dev.shape[0]), np.nan)
            grown[: self._dev.shape[0]] = self._dev
            self._dev = grown

        def col(a: FloatArray) -> FloatArray:
            v = a[rows]
            return np.where(v == _NONE, np.nan, v)

        batch = Batch(units, t[rows], lon[rows], lat[rows], col(alt), col(spd), col(crs), movement)
        order = np.argsort(batch.time_s, kind="stable")
        batch = batch.take(order)
        tick = np.floor(batch.time_s / s.tick_s).astype(np.int64)
        events: list[Alert] = []
        if self._tick is not None:
            late = tick < self._tick
            if late.any():
                self.counters["late"] += int(late.sum())
                self._apply(batch.take(np.flatnonzero(late)), reporters=False)
                keep = np.flatnonzero(~late)
                batch, tick = batch.take(keep), tick[keep]
        if tick.size:
            bounds = np.flatnonzero(np.diff(tick)) + 1
            for chunk in np.split(np.arange(tick.size), bounds):
                k = int(tick[chunk[0]])
                if self._tick is not None and k > self._tick:
                    events += self._evaluate()
                self._tick = k
                self._apply(batch.take(chunk), reporters=True)
        events.sort(key=lambda a: a.time_s)
        return events

    def _movements(self, mids: list[str | None], keys: list[tuple[str, str]]) -> IntArray:
        """Index of each report's movement (its own id `mids[k]`, else its unit's
        assignment), -1 for none; Python runs only for the reports that have one."""
        out = np.full(len(mids), -1, np.int64)
        if self.assignments:
            get = self.assignments.get
            mids = [get(key) if m is None else m for m, key in zip(mids, keys, strict=True)]
        if mids.count(None) == len(mids):
            return out
        for k, mid in enumerate(mids):
            if mid is None:
                continue
            m = self.movement_index.get((keys[k][0], mid))
            if m is None:
                self.counters["unknown_movement"] += 1
            else:
                out[k] = m
        return out

    def _apply(self, batch: Batch, reporters: bool) -> None:
        s = self.settings
        assert self._tracks is not None
        acc = self._tracks.apply(
            batch,
            s.max_ground_speed_mps,
            s.max_air_speed_mps,
            s.position_noise_m,
            s.absurd_reset_reports,
            self.counters,
        )
        if acc.unit.size:
            if reporters:
                self._tick_time = max(self._tick_time, float(acc.time_s.max()))
            self._reporters.append(acc.unit)

    # -- time -----------------------------------------------------------------------

    def advance(self, now_s: float) -> list[Alert]:
        """Time passes without reports (`now_s` is the arrival clock): evaluate the open
        tick once its grace is over, close alerts whose hysteresis ran out, open stale."""
        s = self.settings
        events: list[Alert] = []
        if self._tick is not None and now_s >= (self._tick + 1) * s.tick_s + s.arrival_grace_s:
            events += self._evaluate()
        if now_s > self._tick_time:
            events += self.book.close_due(now_s)
            events += self._stale(now_s)
        events.sort(key=lambda a: a.time_s)
        return events

    def flush(self) -> list[Alert]:
        """Evaluate the open tick now (end of a replay: no more reports will come)."""
        return self._evaluate()

    # -- evaluation -----------------------------------------------------------------

    def _evaluate(self) -> list[Alert]:
        tracks = self._tracks
        if tracks is None or not self._reporters or not math.isfinite(self._tick_time):
            self._reporters = []
            return []
        assert self._routes is not None and self._areas is not None
        s = self.settings
        # Within 1 mm of a minimum counts as keeping it (docs/conflicts.md).
        h, v = self.policy.horizontal_m - TOLERANCE_M, self.policy.vertical_m - TOLERANCE_M
        now = self._tick_time
        reported = np.zeros(tracks.n, np.bool_)
        for r in self._reporters:
            reported[r] = True
        reporters = np.flatnonzero(reported)
        self._reporters = []
        events = self.book.close_due(now)
        book = self.book
        name = self._unit_name
        # A stale unit that reports again is no longer stale: close at its report time.
        stale = [k[1] for k in book.open if isinstance(k, tuple) and k[0] is AlertType.STALE]
        for u in sorted(u for u in stale if reported[u]):
            ev = book.close((AlertType.STALE, u), float(tracks.t[u]))
            if ev is not None:
                events.append(ev)
        self._conformance(reporters)
        n = tracks.n
        active = np.flatnonzero(tracks.t[:n] >= now - s.stale_timeout_s)
        p = tracks.positions_at(active, now)
        pairs = find_pairs(
            active,
            p,
            tracks.v[active],
            tracks.alt[active],
            tracks.party[active],
            h,
            v,
            s.look_ahead_s,
            self.cell_m,
        )
        movement = tracks.movement
        prox = pairs.distance_m < h
        kind = prox.astype(np.int64)  # PairAlerts.KINDS: 0 predicted, 1 proximity
        values = np.empty((pairs.i.size, 3))
        values[:, 0] = np.round(pairs.distance_m, 1)
        values[:, 1] = np.where(prox, np.nan, np.round(now + pairs.cpa_dt_s, 1))
        values[:, 2] = np.where(prox, np.nan, np.round(pairs.cpa_distance_m, 1))
        events += book.pairs.hold(
            now, kind, pairs.i, pairs.j, movement[pairs.i], movement[pairs.j], values
        )
        # Parties a deviating unit is close to (the few units with a deviation only).
        partners: dict[int, set[str]] = {}
        dev = ~np.isnan(self._dev[:n])
        if dev.any() and pairs.i.size:
            near = dev[pairs.i] | dev[pairs.j]
            for i, j in zip(pairs.i[near].tolist(), pairs.j[near].tolist(), strict=True):
                partners.setdefault(i, set()).add(tracks.keys[j][0])
                partners.setdefault(j, set()).add(tracks.keys[i][0])
        recent = tracks.t[:n] >= now - s.stale_timeout_s
        for u in np.flatnonzero(recent & ~np.isnan(self._dev[:n])).tolist():
            m = int(movement[u])
            party = tracks.keys[u][0]
            ev = book.hold(
                (AlertType.DEVIATION, u, m),
                now,
                AlertType.DEVIATION,
                (name(u),),
                {party} | partners.get(u, set()),
                (self._movement_name(m),),
                distance_m=round(float(self._dev[u]), 1),
            )
            if ev is not None:
                events.append(ev)
        for u, hits in self._intr.items():
            if not recent[u]:
                continue
            for k, dist in hits:
                area = self._areas.decls[k]
                ev = book.hold(
                    (AlertType.INTRUSION, u, k),
                    now,
                    AlertType.INTRUSION,
                    (name(u),),
                    {tracks.keys[u][0], area.party},
                    (str(area.key),),
                    distance_m=round(dist, 1),
                )
                if ev is not None:
                    events.append(ev)
        events += self._stale(now)
        events.sort(key=lambda a: a.time_s)
        return events

    def _conformance(self, reporters: IntArray) -> None:
        """Deviation and intrusion of the units that reported this tick, kept per unit
        until their next report."""
        tracks = self._tracks
        routes, areas = self._routes, self._areas
        assert tracks is not None and routes is not None and areas is not None
        s = self.settings
        self._dev[reporters] = np.nan
        m = tracks.movement[reporters]
        t = tracks.t[reporters]
        on = m >= 0
        on[on] = routes.active(m[on], t[on], s.time_tolerance_s)
        u = reporters[on]
        if u.size:
            d = routes.off_plan_m(tracks.movement[u], tracks.p[u], tracks.t[u], s.time_tolerance_s)
            limit = routes.buffer[tracks.movement[u]] + s.corridor_tolerance_m + TOLERANCE_M
            off = d > limit
            self._dev[u[off]] = d[off] - routes.buffer[tracks.movement[u[off]]]
        if self._intr:
            reported = np.zeros(tracks.n, np.bool_)
            reported[reporters] = True
            self._intr = {u: h for u, h in self._intr.items() if not reported[u]}
        if not areas.items:
            return
        # Parties first seen after the areas were indexed: refresh their numbers.
        self._area_party = [tracks.party_index.get(a.party, -1) for a in areas.decls]
        for row, k, dist in areas.intrusions(
            self.policy.horizontal_m,
            self.policy.vertical_m,
            tracks.party[reporters],
            self._area_party,
            tracks.p[reporters],
            tracks.lon[reporters],
            tracks.lat[reporters],
            tracks.alt[reporters],
            t,
        ):
            self._intr.setdefault(int(reporters[row]), []).append((k, dist))

    def _stale(self, now: float) -> list[Alert]:
        """Units under an active movement silent for longer than the timeout, opened at the
        moment the timeout ran out."""
        tracks, routes = self._tracks, self._routes
        if tracks is None or routes is None:
            return []
        s = self.settings
        n = tracks.n
        m = tracks.movement[:n]
        cand = np.flatnonzero((m >= 0) & (tracks.t[:n] + s.stale_timeout_s < now))
        if cand.size == 0:
            return []
        since = tracks.t[cand] + s.stale_timeout_s
        mm = m[cand]
        live = routes.active(mm, since, 0.0) & routes.active(mm, np.full(cand.size, now), 0.0)
        out = []
        for u, t0 in zip(cand[live].tolist(), since[live].tolist(), strict=True):
            ev = self.book.hold(
                (AlertType.STALE, u),
                now,
                AlertType.STALE,
                (self._unit_name(u),),
                {tracks.keys[u][0]},
                (self._movement_name(int(m[u])),),
                since_s=t0,
            )
            if ev is not None:
                out.append(ev)
        return out

    def _describe_pair(
        self, kind: AlertType, i: int, j: int, mi: int, mj: int
    ) -> tuple[tuple[str, ...], set[str], tuple[str, ...]]:
        """Units, parties and declarations of a pair alert (movements as it opened)."""
        assert self._tracks is not None
        keys, names = self._tracks.keys, self._tracks.names
        a, b = names[i], names[j]
        units = (a, b) if a <= b else (b, a)
        if mi < 0 and mj < 0:
            decl: tuple[str, ...] = ()
        else:
            decl = tuple(sorted(self._movement_name(m) for m in (mi, mj) if m >= 0))
        return units, {keys[i][0], keys[j][0]}, decl

    def _unit_name(self, u: int) -> str:
        assert self._tracks is not None
        return self._tracks.names[u]

    def _movement_name(self, m: int) -> str:
        return str(self.movements[m].key)


def _centre(declarations: Sequence[Declaration]) -> tuple[float, float] | None:
    """A theatre centre: the mean of the declarations' points (None when there are none)."""
    pts: list[tuple[float, float]] = []
    for d in declarations:
        if isinstance(d, Movement):
            pts.extend((p[0], p[1]) for p in d.positions)
        else:
            c = d.geometry.centroid
            pts.append((c.x, c.y))
    if not pts:
        return None
    a = np.asarray(pts)
    return float(a[:, 0].mean()), float(a[:, 1].mean())

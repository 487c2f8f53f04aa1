"""Open alerts of the tactical monitor and their life: open, update, close with hysteresis
(SPEC section 5). Times are report times, so a replay gives the same events as live.

It knows nothing of geometry: the monitor says which conditions hold at a time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from deconflict.engine.tracks import IntArray
from deconflict.geo.ellipsoid import FloatArray
from deconflict.model.positions import Alert, AlertEvent, AlertType


@dataclass
class _Open:
    alert: str
    type: AlertType
    units: tuple[str, ...]
    parties: set[str]
    declarations: tuple[str, ...]
    last_held_s: float
    last_event_s: float
    values: tuple[float | None, float | None, float | None] = (None, None, None)
    emitted: tuple[float | None, float | None, float | None] = field(default=(None, None, None))


def alert_id(kind: AlertType, units: tuple[str, ...], extra: tuple[str, ...], t: float) -> str:
    """Stable id: the same condition opening at the same report time has the same id in a
    replay and live."""
    text = "|".join((kind.value, *units, *extra, repr(float(t))))
    return f"{kind.value}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


class AlertBook:
    """Alerts by condition key. An alert closes at `last held + hysteresis_s` when its
    condition has not held since; an update is sent at most every `update_interval_s`, and
    only when a value or the parties changed."""

    def __init__(self, hysteresis_s: float, update_interval_s: float) -> None:
        self.hysteresis_s = hysteresis_s
        self.update_interval_s = update_interval_s
        self.open: dict[Hashable, _Open] = {}
        """Alerts other than between two units (deviation, intrusion, stale)."""
        self.pairs = PairAlerts(hysteresis_s, update_interval_s)
        """Proximity and predicted proximity, held as arrays."""

    def __len__(self) -> int:
        """Open alerts of every kind."""
        return len(self.open) + len(self.pairs)

    def hold(
        self,
        key: Hashable,
        now: float,
        kind: AlertType,
        units: tuple[str, ...],
        parties: set[str],
        declarations: tuple[str, ...],
        distance_m: float | None = None,
        cpa_time_s: float | None = None,
        cpa_distance_m: float | None = None,
        since_s: float | None = None,
    ) -> Alert | None:
        """The condition `key` holds at `now` (and since `since_s`, if earlier): the open
        or update event, if any."""
        values = (distance_m, cpa_time_s, cpa_distance_m)
        st = self.open.get(key)
        if st is None:
            t0 = now if since_s is None else since_s
            st = _Open(
                alert_id(kind, units, declarations, t0),
                kind,
                units,
                set(parties),
                declarations,
                now,
                t0,
                values,
                values,
            )
            self.open[key] = st
            return self._event(st, AlertEvent.OPEN, t0)
        st.last_held_s = now
        st.values = values
        grew = not parties <= st.parties
        st.parties |= parties
        if grew or (now - st.last_event_s >= self.update_interval_s and values != st.emitted):
            st.last_event_s = now
            st.emitted = values
            return self._event(st, AlertEvent.UPDATE, now)
        return None

    def close_due(self, now: float, strict: bool = True) -> list[Alert]:
        """Close alerts whose hysteresis ran out before `now` (at `now` too if not strict),
        each at the time it ran out."""
        out = []
        for key, st in list(self.open.items()):
            end = st.last_held_s + self.hysteresis_s
            if end < now or (not strict and end <= now):
                del self.open[key]
                out.append(self._event(st, AlertEvent.CLOSE, end))
        return out + self.pairs.close_due(now, strict)

    def close(self, key: Hashable, at: float) -> Alert | None:
        """Close at once (a stale unit that reported again)."""
        st = self.open.pop(key, None)
        return None if st is None else self._event(st, AlertEvent.CLOSE, at)

    @staticmethod
    def _event(st: _Open, event: AlertEvent, t: float) -> Alert:
        d, ct, cd = st.values
        return Alert(
            alert=st.alert,
            event=event,
            type=st.type,
            time_s=t,
            units=st.units,
            parties=tuple(sorted(st.parties)),
            distance_m=d,
            cpa_time_s=ct,
            cpa_distance_m=cd,
            declarations=st.declarations,
        )


PAIR_DTYPE = np.dtype(
    [
        ("key", np.int64),
        ("i", np.int64),
        ("j", np.int64),
        ("mi", np.int64),
        ("mj", np.int64),
        ("t0", np.float64),
        ("held", np.float64),
        ("event", np.float64),
        ("val", np.float64, 3),
        ("emit", np.float64, 3),
    ]
)
"""One open pair alert: key (unit i, unit j, kind), the units' movements when it opened
(-1: none), open time, last held, last event, current and last sent values (NaN: None)."""

PairDescriber = Callable[
    [AlertType, int, int, int, int], tuple[tuple[str, ...], set[str], tuple[str, ...]]
]
"""(kind, i, j, movement of i, of j) -> (units, parties, declarations) of a pair alert."""


def pair_key(kind: IntArray, i: IntArray, j: IntArray) -> IntArray:
    """Condition key of pair alerts: i, j < 2^31, kind 0 or 1."""
    out: IntArray = (i << 32) | (j << 1) | kind
    return out


class PairAlerts:
    """Open alerts between two units (proximity and predicted proximity), as one
    structured array sorted by key: holding, updating and closing are array operations, and
    Python runs only for the events. The rules are `AlertBook.hold`'s: a pair alert's
    parties never change (its two units'), so an update is sent when a value changed and
    `update_interval_s` has passed since the last event."""

    KINDS = (AlertType.PREDICTED_PROXIMITY, AlertType.PROXIMITY)

    def __init__(self, hysteresis_s: float, update_interval_s: float) -> None:
        self.hysteresis_s = hysteresis_s
        self.update_interval_s = update_interval_s
        self.rows = np.zeros(0, PAIR_DTYPE)
        self.describe: PairDescriber | None = None

    def __len__(self) -> int:
        return int(self.rows.size)

    def hold(
        self,
        now: float,
        kind: IntArray,
        i: IntArray,
        j: IntArray,
        mi: IntArray,
        mj: IntArray,
        values: FloatArray,
    ) -> list[Alert]:
        """The conditions (kind, i, j) hold at `now` with `values` ((n, 3), NaN for None);
        keys must be distinct. Returns open and update events, by key."""
        if i.size == 0:
            return []
        key = pair_key(kind, i, j)
        order = np.argsort(key, kind="stable")
        key, kind, i, j, mi, mj, values = (
            key[order],
            kind[order],
            i[order],
            j[order],
            mi[order],
            mj[order],
            values[order],
        )
        rows = self.rows
        pos = np.searchsorted(rows["key"], key)
        found = pos < rows.size
        found[found] = rows["key"][pos[found]] == key[found]
        at = pos[found]
        rows["held"][at] = now
        rows["val"][at] = values[found]
        emit = rows["emit"][at]
        vals = values[found]
        same = ((vals == emit) | (np.isnan(vals) & np.isnan(emit))).all(axis=1)
        due = (now - rows["event"][at] >= self.update_interval_s) & ~same
        upd = at[due]
        rows["event"][upd] = now
        rows["emit"][upd] = rows["val"][upd]
        new = ~found
        add = np.zeros(int(new.sum()), PAIR_DTYPE)
        add["key"], add["i"], add["j"] = key[new], i[new], j[new]
        add["mi"], add["mj"] = mi[new], mj[new]
        add["t0"] = add["held"] = add["event"] = now
        add["val"] = add["emit"] = values[new]
        events = [self._event(r, AlertEvent.UPDATE, now) for r in rows[upd]]
        events += [self._event(r, AlertEvent.OPEN, now) for r in add]
        if add.size:
            merged = np.concatenate([rows, add])
            self.rows = merged[np.argsort(merged["key"], kind="stable")]
        return events

    def close_due(self, now: float, strict: bool = True) -> list[Alert]:
        """Close alerts whose hysteresis ran out before `now` (at `now` too if not strict)."""
        if self.rows.size == 0:
            return []
        end = self.rows["held"] + self.hysteresis_s
        due = (end < now) | ((end <= now) & (not strict))
        if not due.any():
            return []
        gone = self.rows[due]
        self.rows = self.rows[~due]
        return [
            self._event(r, AlertEvent.CLOSE, float(t))
            for r, t in zip(gone, (gone["held"] + self.hysteresis_s).tolist(), strict=True)
        ]

    def _event(self, r: np.void, event: AlertEvent, t: float) -> Alert:
        assert self.describe is not None
        kind = self.KINDS[int(r["key"]) & 1]
        units, parties, decl = self.describe(
            kind, int(r["i"]), int(r["j"]), int(r["mi"]), int(r["mj"])
        )
        t0 = float(r["t0"])
        d, ct, cd = (None if math.isnan(x) else x for x in r["val"].tolist())
        return Alert(
            alert=alert_id(kind, units, decl, t0),
            event=event,
            type=kind,
            time_s=t,
            units=units,
            parties=tuple(sorted(parties)),
            distance_m=d,
            cpa_time_s=ct,
            cpa_distance_m=cd,
            declarations=decl,
        )

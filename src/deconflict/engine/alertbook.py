"""Open alerts of the tactical monitor and their life: open, update, close with hysteresis
(SPEC section 5). Times are report times, so a replay gives the same events as live.

It knows nothing of geometry: the monitor says which conditions hold at a time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

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
    value = _VALUES[kind]
    text = "|".join((value, *units, *extra, repr(float(t))))
    return f"{value}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


_VALUES = {k: k.value for k in AlertType}  # enum .value is slow in the event loops


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


PAIR_INT = ("key", "i", "j", "mi", "mj")
PAIR_FLOAT = ("t0", "held", "event")
PAIR_VALUES = ("val", "emit")
"""Columns of the open pair alerts: key (unit i, unit j, kind), the units' movements when
it opened (-1: none); open time, last held, last event; current and last sent values,
(n, 3) each (NaN: None)."""

PairDescriber = Callable[
    [AlertType, int, int, int, int], tuple[tuple[str, ...], set[str], tuple[str, ...]]
]
"""(kind, i, j, movement of i, of j) -> (units, parties, declarations) of a pair alert."""


def pair_key(kind: IntArray, i: IntArray, j: IntArray) -> IntArray:
    """Condition key of pair alerts: i, j < 2^31, kind 0 or 1."""
    out: IntArray = (i << 32) | (j << 1) | kind
    return out


class PairAlerts:
    """Open alerts between two units (proximity and predicted proximity), as columns sorted
    by key: holding, updating and closing are array operations, and Python runs only for
    the events. The rules are `AlertBook.hold`'s: a pair alert's parties never change (its
    two units'), so an update is sent when a value changed and `update_interval_s` has
    passed since the last event."""

    KINDS = (AlertType.PREDICTED_PROXIMITY, AlertType.PROXIMITY)

    def __init__(self, hysteresis_s: float, update_interval_s: float) -> None:
        self.hysteresis_s = hysteresis_s
        self.update_interval_s = update_interval_s
        self.cols: dict[str, npt.NDArray[Any]] = {
            **{f: np.zeros(0, np.int64) for f in PAIR_INT},
            **{f: np.zeros(0) for f in PAIR_FLOAT},
            **{f: np.zeros((0, 3)) for f in PAIR_VALUES},
        }
        self.describe: PairDescriber | None = None

    def __len__(self) -> int:
        return int(self.cols["key"].size)

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
        if key.size > 1 and not bool((key[1:] > key[:-1]).all()):
            order = np.argsort(key, kind="stable")
            key, kind, i, j = key[order], kind[order], i[order], j[order]
            mi, mj, values = mi[order], mj[order], values[order]
        c = self.cols
        pos = np.searchsorted(c["key"], key)
        found = pos < c["key"].size
        found[found] = c["key"][pos[found]] == key[found]
        at = pos[found]
        c["held"][at] = now
        vals = values[found]
        c["val"][at] = vals
        emit = c["emit"][at]
        same = ((vals == emit) | (np.isnan(vals) & np.isnan(emit))).all(axis=1)
        due = (now - c["event"][at] >= self.update_interval_s) & ~same
        upd = at[due]
        c["event"][upd] = now
        c["emit"][upd] = vals[due]
        events = self._events({f: c[f][upd] for f in c}, AlertEvent.UPDATE, [now] * upd.size)
        new = np.flatnonzero(~found)
        if new.size:
            t = np.full(new.size, now)
            add: dict[str, npt.NDArray[Any]] = {
                "key": key[new],
                "i": i[new],
                "j": j[new],
                "mi": mi[new],
                "mj": mj[new],
            }
            add.update(t0=t, held=t, event=t, val=values[new], emit=values[new])
            events += self._events(add, AlertEvent.OPEN, [now] * new.size)
            # Both sorted by key: insert in place of a merge and sort, O(alerts).
            where = pos[new]
            for f in c:
                c[f] = np.insert(c[f], where, add[f], axis=0)
        return events

    def close_due(self, now: float, strict: bool = True) -> list[Alert]:
        """Close alerts whose hysteresis ran out before `now` (at `now` too if not strict)."""
        c = self.cols
        if c["key"].size == 0:
            return []
        end = c["held"] + self.hysteresis_s
        due = (end < now) | ((end <= now) & (not strict))
        if not due.any():
            return []
        gone = {f: a[due] for f, a in c.items()}
        keep = ~due
        for f in c:
            c[f] = c[f][keep]
        return self._events(gone, AlertEvent.CLOSE, end[due].tolist())

    def _events(
        self, rows: dict[str, npt.NDArray[Any]], event: AlertEvent, times: list[float]
    ) -> list[Alert]:
        """One event per row of `rows` (columns as in `cols`), at `times`."""
        describe = self.describe
        assert describe is not None
        out = []
        for key, i, j, mi, mj, t0, val, t in zip(
            rows["key"].tolist(),
            rows["i"].tolist(),
            rows["j"].tolist(),
            rows["mi"].tolist(),
            rows["mj"].tolist(),
            rows["t0"].tolist(),
            rows["val"].tolist(),
            times,
            strict=True,
        ):
            kind = self.KINDS[key & 1]
            units, parties, decl = describe(kind, i, j, mi, mj)
            d, ct, cd = val
            out.append(
                Alert(
                    alert=alert_id(kind, units, decl, t0),
                    event=event,
                    type=kind,
                    time_s=t,
                    units=units,
                    parties=tuple(sorted(parties)),
                    distance_m=None if math.isnan(d) else d,
                    cpa_time_s=None if math.isnan(ct) else ct,
                    cpa_distance_m=None if math.isnan(cd) else cd,
                    declarations=decl,
                )
            )
        return out

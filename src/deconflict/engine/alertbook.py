"""Open alerts of the tactical monitor and their life: open, update, close with hysteresis
(SPEC section 5). Times are report times, so a replay gives the same events as live.

It knows nothing of geometry: the monitor says which conditions hold at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass, field

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
        return out

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

"""Live alerts in the store: each alert's last event, the parties of the open ones and who
acknowledged it, so every service process on the store, and one restarted, answers for
the same alerts (docs/live.md, "In the service"). Queries only, over one connection: the
rules of an alert's life are the monitor's (service/live.py).

Acknowledgements are rows of their own (`alert_acks`, one per alert and party), not a JSON
column: two parties acknowledging at once, through two processes, each insert a row and
neither overwrites the other, and the primary key makes an acknowledgement idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, or_, select, update

from deconflict.model.positions import Alert, AlertEvent
from deconflict.store import schema as t

_a, _ap, _ack = t.alerts.c, t.alert_parties.c, t.alert_acks.c
_CHUNK = 500
"""Ids per IN (...) list: far below SQLite's and PostgreSQL's bound-parameter limits."""


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One stored alert: its last event and whether it is open."""

    alert_id: str
    type: str
    parties: tuple[str, ...]
    units: tuple[str, ...]
    declarations: tuple[str, ...]
    alert_json: str
    """The last event as its SPEC section 5 line (JSON text)."""
    open: bool
    opened_s: float
    """When the alert was first stored (service clock, epoch seconds)."""
    updated_s: float
    """When its last event was stored."""
    part: int = 0
    """The partition of space that answers for it (service/live.py, "Partitions")."""


def dump(values: Iterable[str]) -> str:
    """A list of names as the compact JSON text the columns hold (compared as text)."""
    return json.dumps(list(values), separators=(",", ":"))


def _row(r: Row[Any]) -> AlertRow:
    m = r._mapping
    return AlertRow(
        alert_id=m["alert_id"],
        type=m["type"],
        parties=tuple(json.loads(m["parties"])),
        units=tuple(json.loads(m["units"])),
        declarations=tuple(json.loads(m["declarations"])),
        alert_json=m["alert_json"],
        open=bool(m["open"]),
        opened_s=m["opened_s"],
        updated_s=m["updated_s"],
        part=int(m["part"]),
    )


# Statements of the live path (one batch may carry many events), built once.
_PREVIOUS = select(_a.parties, _a.open).where(_a.alert_id == bindparam("id"))
_INSERT = insert(t.alerts)
_UPDATE = update(t.alerts).where(_a.alert_id == bindparam("id"))
"""Executed with the columns to set as parameters beside `id`."""
_UPDATE_HELD = (
    update(t.alerts)
    .where(_a.alert_id == bindparam("id"), _a.open.is_(True), _a.parties == bindparam("p"))
    .values(
        alert_json=bindparam("alert_json"), updated_s=bindparam("updated_s"), part=bindparam("pt")
    )
)
"""An update of an open alert whose parties stay: only its last event and time change."""
_ADD_PARTY = insert(t.alert_parties)
_DROP_PARTIES = delete(t.alert_parties).where(_ap.alert_id == bindparam("id"))
_GET = select(t.alerts).where(_a.alert_id == bindparam("id"))
_OPEN_OF = (
    select(t.alerts)
    .join(t.alert_parties, _ap.alert_id == _a.alert_id)
    .where(_ap.party == bindparam("party"))
    .order_by(_a.opened_s, _a.alert_id)
)
_SAME = select(_a.alert_id).where(
    _a.units == bindparam("units"),
    _a.type == bindparam("type"),
    _a.declarations == bindparam("declarations"),
    _a.open.is_(True),
)
_ACKED = select(_ack.party).where(_ack.alert_id == bindparam("id"), _ack.party == bindparam("p"))


def save(
    conn: Connection,
    a: Alert,
    line: str,
    now: float,
    known: Alert | None = None,
    part: int = 0,
) -> None:
    """Store one event of an alert (`line`: its SPEC section 5 JSON text) as the alert's
    last: the alert opens, changes or closes; `part` answers for it now. `known`: its last
    event as the caller believes it stored; an update that keeps the parties is then one
    statement, the common case (it checks the belief)."""
    parties = dump(a.parties)
    is_open = a.event != AlertEvent.CLOSE
    if known is not None and is_open and known.parties == a.parties:
        params = {"id": a.alert, "p": parties, "alert_json": line, "updated_s": now, "pt": part}
        if conn.execute(_UPDATE_HELD, params).rowcount == 1:
            return
    prev = conn.execute(_PREVIOUS, {"id": a.alert}).first()
    values = {
        "type": a.type.value,
        "parties": parties,
        "units": dump(a.units),
        "declarations": dump(a.declarations),
        "alert_json": line,
        "open": is_open,
        "updated_s": now,
        "part": part,
    }
    if prev is None:
        conn.execute(_INSERT, {"alert_id": a.alert, "opened_s": now, **values})
    else:
        conn.execute(_UPDATE, {"id": a.alert, **values})
    was_open, had = (False, "") if prev is None else (bool(prev.open), str(prev.parties))
    if was_open and (not is_open or had != parties):
        conn.execute(_DROP_PARTIES, {"id": a.alert})
        was_open = False
    if is_open and not was_open:
        conn.execute(_ADD_PARTY, [{"party": p, "alert_id": a.alert} for p in a.parties])


def get(conn: Connection, alert_id: str) -> AlertRow | None:
    found = conn.execute(_GET, {"id": alert_id}).first()
    return None if found is None else _row(found)


def open_of(conn: Connection, party: str) -> list[AlertRow]:
    """The open alerts that involve `party`, oldest first (one index range)."""
    return [_row(r) for r in conn.execute(_OPEN_OF, {"party": party})]


def all_open(conn: Connection, parts: Sequence[int] | None = None) -> list[AlertRow]:
    """Every open alert (of the partitions `parts`, if given), oldest first (a monitor
    starting on the store, or taking partitions over)."""
    stmt = select(t.alerts).where(_a.open.is_(True)).order_by(_a.opened_s, _a.alert_id)
    if parts is not None:
        stmt = stmt.where(_a.part.in_(list(parts)))
    return [_row(r) for r in conn.execute(stmt)]


def find_open(conn: Connection, a: Alert) -> str | None:
    """The id of an open alert of the same type, units and declarations as `a`, if any:
    the same alert, found again by a monitor that did not open it."""
    found = conn.execute(
        _SAME,
        {"units": dump(a.units), "type": a.type.value, "declarations": dump(a.declarations)},
    ).first()
    return None if found is None else str(found.alert_id)


def acks(conn: Connection, alert_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """alert id -> {party: when it acknowledged}, for the alerts given."""
    out: dict[str, dict[str, float]] = {}
    for k in range(0, len(alert_ids), _CHUNK):
        chunk = list(alert_ids[k : k + _CHUNK])
        rows = conn.execute(select(t.alert_acks).where(_ack.alert_id.in_(chunk)))
        for r in rows:
            out.setdefault(r.alert_id, {})[r.party] = r.at_s
    return out


def acknowledge(conn: Connection, alert_id: str, party: str, at_s: float) -> bool:
    """Record that `party` acknowledged the alert; False if it already had (nothing
    written). Call in a write transaction: writes of all processes are one sequence."""
    if conn.execute(_ACKED, {"id": alert_id, "p": party}).first() is not None:
        return False
    conn.execute(insert(t.alert_acks).values(alert_id=alert_id, party=party, at_s=at_s))
    return True


def prune(conn: Connection, before_s: float, keep: int) -> int:
    """Forget closed alerts stored before `before_s`, and all but the `keep` most recently
    closed; their acknowledgements with them (the record keeps every event). The number
    forgotten."""
    closed = _a.open.is_(False)
    nth = conn.execute(
        select(_a.updated_s).where(closed).order_by(_a.updated_s.desc()).offset(keep).limit(1)
    ).scalar()
    old = (
        _a.updated_s < before_s
        if nth is None
        else or_(_a.updated_s < before_s, _a.updated_s <= nth)
    )
    gone = and_(closed, old)
    conn.execute(delete(t.alert_acks).where(_ack.alert_id.in_(select(_a.alert_id).where(gone))))
    return int(conn.execute(delete(t.alerts).where(gone)).rowcount)

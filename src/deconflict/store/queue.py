"""Position batches between service processes: any process appends the batches it
accepts to `position_queue` (in the same transaction as their record entry); the one
process that holds `monitor_lease` applies them in order and moves the lease's cursor.
All of it runs inside write transactions, so it is ordered by the store's writer lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from deconflict.store import schema as t

_LEASE = t.monitor_lease.c
_QUEUE = t.position_queue.c


@dataclass(frozen=True, slots=True)
class Lease:
    owned: bool
    """True when the caller holds the lease now."""
    cursor: int
    """The last batch the holder applied."""
    taken: bool
    """True when the caller did not hold it before this call (it must rebuild its state)."""


@dataclass(frozen=True, slots=True)
class Batch:
    seq: int
    party: str
    at_s: float
    reports: list[dict[str, Any]]


def enqueue(conn: Connection, party: str, at_s: float, reports: list[dict[str, Any]]) -> int:
    """Append one batch; its sequence number."""
    result = conn.execute(
        insert(t.position_queue).values(
            party=party, at_s=at_s, reports=json.dumps(reports, separators=(",", ":"))
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def lease(conn: Connection, owner: str, now_s: float, ttl_s: float) -> Lease:
    """Hold or take the monitor lease when it is `owner`'s or has lapsed; renew it."""
    row = conn.execute(
        select(_LEASE.owner, _LEASE.until_s, _LEASE.cursor).where(_LEASE.id == 1)
    ).one()
    mine = row.owner == owner
    if not mine and row.until_s >= now_s:
        return Lease(False, int(row.cursor), False)
    conn.execute(
        update(t.monitor_lease).where(_LEASE.id == 1).values(owner=owner, until_s=now_s + ttl_s)
    )
    return Lease(True, int(row.cursor), not mine)


def release(conn: Connection, owner: str) -> None:
    """Give the lease up (a process stopping), so another takes it at once."""
    conn.execute(
        update(t.monitor_lease)
        .where(_LEASE.id == 1, _LEASE.owner == owner)
        .values(owner=None, until_s=0.0)
    )


def batches(conn: Connection, after: int, limit: int, since_s: float | None = None) -> list[Batch]:
    """Batches after `after` in order (with `since_s`, only those accepted since then)."""
    q = select(t.position_queue).where(_QUEUE.seq > after)
    if since_s is not None:
        q = q.where(_QUEUE.at_s >= since_s)
    rows = conn.execute(q.order_by(_QUEUE.seq).limit(limit)).all()
    return [Batch(int(r.seq), r.party, float(r.at_s), json.loads(r.reports)) for r in rows]


def advance(conn: Connection, cursor: int) -> None:
    conn.execute(update(t.monitor_lease).where(_LEASE.id == 1).values(cursor=cursor))


def prune(conn: Connection, cursor: int, before_s: float) -> None:
    """Forget applied batches accepted before `before_s`."""
    conn.execute(delete(t.position_queue).where(_QUEUE.seq <= cursor, _QUEUE.at_s < before_s))

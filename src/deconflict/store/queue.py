"""Position batches between service processes: any process appends the batches it
accepts to `position_queue` (in the same transaction as their record entry), with the bits
of the partitions of space they have reports for; the processes that take part in
monitoring are `monitor_members`, and deal the partitions among themselves: each holds
the `monitor_lease` rows of its share, applies the batches of its partitions in order and
moves their cursors (service/live.py, "Partitions"). All of it runs inside write
transactions, so it is ordered by the store's writer lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from deconflict.store import schema as t

_LEASE = t.monitor_lease.c
_QUEUE = t.position_queue.c
_MEMBER = t.monitor_members.c


@dataclass(frozen=True, slots=True)
class Batch:
    seq: int
    party: str
    at_s: float
    text: str
    """The reports as stored: a JSON list (parsed on demand: the process that accepted a
    batch has its reports already)."""

    @property
    def reports(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = json.loads(self.text)
        return out


def enqueue(
    conn: Connection,
    party: str,
    at_s: float,
    reports: list[dict[str, Any]] | str,
    parts: int = 1,
) -> int:
    """Append one batch with reports for the partitions of mask `parts` (the reports, or
    the JSON text of their list as `json.dumps(reports, separators=(",", ":"))` writes
    it); its sequence number."""
    text = reports if isinstance(reports, str) else json.dumps(reports, separators=(",", ":"))
    result = conn.execute(
        insert(t.position_queue).values(party=party, at_s=at_s, reports=text, parts=parts)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True, slots=True)
class Holding:
    held: dict[int, int]
    """The partitions the caller holds now -> the last batch applied for each."""
    members: int
    """How many processes take part (live, with the caller's plan)."""
    refused: str | None = None
    """Why the caller takes no part: another live process has another plan."""


def hold(
    conn: Connection, owner: str, plan: str, parts: int, now_s: float, ttl_s: float
) -> Holding:
    """Take part in monitoring until `now_s + ttl_s`, and hold this process's share of the
    `parts` partitions: the live members (sorted by name) deal partition p to member
    p mod n. Renews what the caller holds of its share, takes what of it is free or lapsed,
    and gives up what is no longer its share (the member it now goes to takes it at its
    next call). The live members must agree on `plan` (the partitioning); when they do
    not, the plan of the first by name wins and the others take no part."""
    until = now_s + ttl_s
    found = conn.execute(
        update(t.monitor_members).where(_MEMBER.owner == owner).values(until_s=until, plan=plan)
    )
    if found.rowcount == 0:
        conn.execute(insert(t.monitor_members).values(owner=owner, until_s=until, plan=plan))
    live = conn.execute(
        select(_MEMBER.owner, _MEMBER.plan).where(_MEMBER.until_s >= now_s).order_by(_MEMBER.owner)
    ).all()
    if live[0].plan != plan:
        mine = {int(r.id) - 1 for r in _rows(conn) if r.owner == owner}
        for p in mine:
            _give_up(conn, owner, p)
        return Holding({}, 0, f"process {live[0].owner} monitors with partitions {live[0].plan}")
    members = [r.owner for r in live if r.plan == plan]
    me = members.index(owner)
    rows = {int(r.id) - 1: r for r in _rows(conn)}
    missing = [p for p in range(parts) if p not in rows]
    if missing:
        start = conn.execute(select(func.max(_QUEUE.seq))).scalar() or 0
        conn.execute(
            insert(t.monitor_lease),
            [{"id": p + 1, "owner": None, "until_s": 0.0, "cursor": start} for p in missing],
        )
        rows = {int(r.id) - 1: r for r in _rows(conn)}
    held: dict[int, int] = {}
    for p, r in rows.items():
        share = p < parts and p % len(members) == me
        if r.owner == owner and not share:
            _give_up(conn, owner, p)
        elif share and (r.owner == owner or r.owner is None or r.until_s < now_s):
            held[p] = int(r.cursor)
    if held:
        lease = _LEASE.id.in_([p + 1 for p in held])
        conn.execute(update(t.monitor_lease).where(lease).values(owner=owner, until_s=until))
    return Holding(held, len(members))


def _rows(conn: Connection) -> list[Any]:
    return list(conn.execute(select(_LEASE.id, _LEASE.owner, _LEASE.until_s, _LEASE.cursor)).all())


def _give_up(conn: Connection, owner: str, part: int) -> None:
    conn.execute(
        update(t.monitor_lease)
        .where(_LEASE.id == part + 1, _LEASE.owner == owner)
        .values(owner=None, until_s=0.0)
    )


def release(conn: Connection, owner: str) -> None:
    """Give every partition up and leave (a process stopping), so the others take them at
    once."""
    conn.execute(
        update(t.monitor_lease).where(_LEASE.owner == owner).values(owner=None, until_s=0.0)
    )
    conn.execute(delete(t.monitor_members).where(_MEMBER.owner == owner))


def batches(
    conn: Connection,
    after: int,
    limit: int,
    since_s: float | None = None,
    parts: int | None = None,
) -> list[Batch]:
    """Batches after `after` in order (with `since_s`, only those accepted since then;
    with `parts`, only those with reports for a partition of that mask)."""
    q = select(t.position_queue).where(_QUEUE.seq > after)
    if since_s is not None:
        q = q.where(_QUEUE.at_s >= since_s)
    if parts is not None:
        q = q.where(_QUEUE.parts.op("&")(parts) != 0)
    rows = conn.execute(q.order_by(_QUEUE.seq).limit(limit)).all()
    return [Batch(int(r.seq), r.party, float(r.at_s), r.reports) for r in rows]


def advance(conn: Connection, owner: str, cursor: int) -> None:
    """Every partition `owner` holds has applied the batches up to `cursor`."""
    conn.execute(
        update(t.monitor_lease)
        .where(_LEASE.owner == owner, _LEASE.cursor < cursor)
        .values(cursor=cursor)
    )


def prune(conn: Connection, before_s: float, parts: int) -> None:
    """Forget batches that each of the `parts` partitions applied and that were accepted
    before `before_s`; and members long gone."""
    done = conn.execute(select(func.min(_LEASE.cursor)).where(_LEASE.id <= parts)).scalar() or 0
    conn.execute(delete(t.position_queue).where(_QUEUE.seq <= done, _QUEUE.at_s < before_s))
    conn.execute(delete(t.monitor_members).where(_MEMBER.until_s < before_s))

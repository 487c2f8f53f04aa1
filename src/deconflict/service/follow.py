"""Following the store: what other processes (or commands) on the same store wrote.

A deployment may run several service processes on one store (`serve --workers N`, or
several machines on one PostgreSQL). Each process keeps an engine of the live
declarations in memory and wakes its own event streams when it writes; the Follower makes
the writes of the others count too. Every `period_s` it reads two numbers from the store,
the last event's sequence number, the last declaration change's and the last queued
position batch's, and when they moved it wakes this process's event listeners (SSE,
WebSocket, webhooks), brings the engine up to date (Service.catch_up) and lets the live
monitor apply the batches of its partitions at once (rather than at its next tick).
Writes catch up by themselves before they compute anything; the Follower keeps reads and
streams fresh between writes.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from deconflict.service.core import Service
from deconflict.service.workers import Periodic
from deconflict.store import schema as t
from deconflict.store.repository import Repository

KEEP_CHANGES = 100_000
"""Declaration changes kept in the store; a process further behind reloads them all."""
PRUNE_EVERY_S = 600.0


class Follower(Periodic):
    name = "deconflict-follower"

    def __init__(self, svc: Service, period_s: float | None = None) -> None:
        super().__init__(svc.settings.follow_interval_s if period_s is None else period_s)
        self.svc = svc
        self._events = -1
        self._batches = -1
        self._pruned = time.monotonic()

    def round(self) -> bool:
        svc = self.svc
        with svc.db.read() as conn:
            events = conn.execute(select(func.max(t.events.c.seq))).scalar() or 0
            batches = conn.execute(select(func.max(t.position_queue.c.seq))).scalar() or 0
            changes = Repository(conn).last_change()
        if changes > svc.seen_change:
            svc.catch_up()
        if batches != self._batches:
            first = self._batches < 0
            self._batches = int(batches)
            monitor = getattr(svc, "live", None)
            if not first and monitor is not None:
                monitor.wake.set()
        if events != self._events:
            first = self._events < 0
            self._events = int(events)
            if not first:
                svc.hub.publish()
        if time.monotonic() - self._pruned > PRUNE_EVERY_S:
            self._pruned = time.monotonic()
            with svc.db.lock, svc.db.write() as conn:
                Repository(conn).prune_changes(KEEP_CHANGES)
        return False

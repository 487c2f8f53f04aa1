"""Events: what each party is told, stored per recipient in the order it happened, then
offered to live streams and queued for the recipient's webhooks. A party only ever reads
its own events, and a payload names only what its recipient may know (SPEC section 4).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from typing import Any

from deconflict.store.repository import Repository

EVENT_TYPES = (
    "declaration.submitted",
    "declaration.state",
    "notification",
    "response",
    "escalation",
    "message",
    "message.acknowledged",
    "message.escalated",
)
"""Every kind of event a party can receive (alerts join them with live tracks)."""


def emit(
    repo: Repository, recipient: str, kind: str, at_s: float, payload: Mapping[str, Any]
) -> int:
    """Store one event for `recipient` and queue it for its webhooks; returns its sequence
    number (the SSE id). Runs inside the writer's transaction, so an event exists exactly
    when the change that caused it does."""
    body = json.dumps(
        {"type": kind, "at_s": at_s, **payload}, sort_keys=True, separators=(",", ":")
    )
    seq = repo.insert_event(recipient, kind, at_s, body)
    for hook in repo.webhooks_of(recipient):
        repo.add_delivery(hook.hook_id, seq, at_s)
    return seq


class EventHub:
    """Wakes live streams (in any event loop or thread) when new events are committed.
    Holds no events itself: subscribers read them from the store by sequence number, so a
    missed wake-up costs latency, never an event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._cond = threading.Condition()
        self.version = 0

    def publish(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, ev in waiters:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # its loop is closed
                pass
        with self._cond:
            self.version += 1
            self._cond.notify_all()

    def subscribe(self) -> Subscription:
        """A subscription for the running event loop. Take it before reading the store:
        a publish between the read and the wait then still wakes the reader."""
        sub = Subscription(self, asyncio.get_running_loop())
        with self._lock:
            self._waiters.add((sub.loop, sub.event))
        return sub

    def _drop(self, sub: Subscription) -> None:
        with self._lock:
            self._waiters.discard((sub.loop, sub.event))

    def wait_sync(self, seen: int, timeout_s: float) -> int:
        """Block a thread until the version passes `seen` or `timeout_s` elapses."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != seen, timeout_s)
            return self.version


class Subscription:
    """One live stream's wake-up flag."""

    def __init__(self, hub: EventHub, loop: asyncio.AbstractEventLoop) -> None:
        self.hub = hub
        self.loop = loop
        self.event = asyncio.Event()

    async def wait(self, timeout_s: float) -> bool:
        """True when woken by a publish, False after `timeout_s`."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
        # that arrives as the wait ends (a publish), and the cancelled stream goes on.
        try:
            async with asyncio.timeout(timeout_s):
                await self.event.wait()
        except TimeoutError:
            return False
        self.event.clear()
        return True

    def close(self) -> None:
        self.hub._drop(self)

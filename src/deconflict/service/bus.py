"""The NATS bus (`serve --bus nats://host:port`, docs/scale.md "The bus").

The store stays the truth: every accepted input and decision is committed there first,
under the writer lock, with its record entry. The bus carries what other processes and
other systems need to hear of it at once:

- **Wake-ups** (core NATS, subject `deconflict.<origin>.wake`): after each commit a process
  says so; every process of the deployment then follows the store at once (its event
  streams, webhooks and engine) instead of at its next poll (service/follow.py).
- **Durable feeds** (JetStream): the position batches of the store's queue on
  `deconflict.<origin>.positions.<party>` (stream `DECONFLICT_<ORIGIN>_POSITIONS`) and each
  party's alert events on `deconflict.<origin>.alerts.<party>` (stream
  `DECONFLICT_<ORIGIN>_ALERTS`). The store's rows are the outbox: a relay in every process
  publishes the rows after the last one the stream holds, each with the message id of its
  row (`Nats-Msg-Id`), so JetStream keeps each row once even when two processes relay at
  once or one dies between publishing and moving on. A consumer (a TAK gateway, an
  analysis cell, a partitioned monitor) reads them with its own durable consumer.

Each process runs the bus client on its own thread with its own asyncio loop; the rest
of the service calls it from ordinary threads and never waits on NATS: a bus that is down
delays feeds and wake-ups (the follower's poll still runs), never a request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import select

from deconflict.errors import DeconflictError
from deconflict.service.workers import Periodic
from deconflict.store import schema as t

log = logging.getLogger("deconflict.bus")

BATCH = 500
"""Rows relayed per round and feed."""
SEQ_HEADER = "Deconflict-Seq"
"""The store row a feed message comes from (its sequence number in its table)."""


def subject_token(name: str) -> str:
    """A NATS subject token from a name: letters, digits, - and _ kept, others as _."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


def streams_of(origin: str) -> dict[str, str]:
    """The JetStream stream of each feed of the deployment with log origin `origin`."""
    stem = subject_token(origin).upper().replace("-", "_")
    return {feed: f"DECONFLICT_{stem}_{feed.upper()}" for feed in ("positions", "alerts")}


class BusUnavailable(DeconflictError):
    """The NATS server of --bus cannot be reached."""

    code = "bus_unavailable"
    http_status = 503
    exit_code = 2


def check_bus(url: str, timeout_s: float = 5.0) -> None:
    """Refuse, in one sentence, a bus that cannot be reached or has no JetStream."""

    async def quiet(_exc: Exception) -> None:
        pass  # the refusal below says it once

    async def probe() -> None:
        import nats

        nc = await nats.connect(
            url,
            connect_timeout=timeout_s,
            max_reconnect_attempts=0,
            allow_reconnect=False,
            error_cb=quiet,
        )
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout_s * 2))
    except Exception as exc:
        raise BusUnavailable(
            f"The bus {url} cannot be reached or has no JetStream ({type(exc).__name__}); "
            "start NATS with -js or fix --bus."
        ) from None


class NatsBus:
    """A NATS connection of one service process (see the module's docstring)."""

    def __init__(self, url: str, origin: str) -> None:
        self.url = url
        self.origin = subject_token(origin)
        self.prefix = f"deconflict.{self.origin}"
        self.streams = streams_of(origin)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="deconflict-bus")
        self._thread.daemon = True
        self._nc: Any = None
        self._js: Any = None
        self._on_wake: Callable[[], None] | None = None
        self.connected = threading.Event()

    # -- life ---------------------------------------------------------------------------

    def start(self, on_wake: Callable[[], None], timeout_s: float = 10.0) -> None:
        """Connect, make the streams, listen for wake-ups; raises if NATS cannot be
        reached within `timeout_s` (the service refuses to start on a bad --bus)."""
        self._on_wake = on_wake
        self._thread.start()
        self._call(self._connect(), timeout_s)

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self._call(self._close(), 5.0)
            except Exception:  # stopping anyway
                log.exception("closing the NATS connection failed")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def _call(self, coro: Any, timeout_s: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout_s)

    async def _connect(self) -> None:
        import nats
        from nats.js.api import StreamConfig

        async def disconnected() -> None:
            log.warning("NATS connection lost; reconnecting")

        async def reconnected() -> None:
            log.info("NATS connection back")

        async def failed(exc: Exception) -> None:
            log.warning("NATS: %s", exc)

        self._nc = await nats.connect(
            self.url,
            name="deconflict",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            allow_reconnect=True,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=failed,
        )
        self._js = self._nc.jetstream()
        for feed, stream in self.streams.items():
            config = StreamConfig(
                name=stream,
                subjects=[f"{self.prefix}.{feed}.>"],
                duplicate_window=300.0,
            )
            try:
                await self._js.add_stream(config)
            except Exception:  # exists with other settings: keep it, update what we can
                await self._js.update_stream(config)
        await self._nc.subscribe(f"{self.prefix}.wake", cb=self._woken)
        self.connected.set()

    async def _close(self) -> None:
        if self._nc is not None:
            await self._nc.drain()

    async def _woken(self, _msg: Any) -> None:
        if self._on_wake is not None:
            self._on_wake()

    # -- wake-ups -----------------------------------------------------------------------

    def wake(self) -> None:
        """Say that this process committed (never waits; dropped while disconnected)."""
        if self._nc is None:
            return

        async def publish() -> None:
            if self._nc is not None and self._nc.is_connected:
                await self._nc.publish(f"{self.prefix}.wake", b"")

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(publish()))

    # -- feeds --------------------------------------------------------------------------

    def last_relayed(self, feed: str) -> int:
        """The store row of the feed's last message (0: none)."""
        return int(self._call(self._last(feed), 10.0))

    async def _last(self, feed: str) -> int:
        info = await self._js.stream_info(self.streams[feed])
        if info.state.messages == 0:
            return 0
        msg = await self._js.get_msg(self.streams[feed], info.state.last_seq)
        return int((msg.headers or {}).get(SEQ_HEADER, 0))

    def publish(self, feed: str, rows: list[tuple[int, str, bytes]]) -> None:
        """Publish (row seq, party, body) in order, each acknowledged by JetStream."""
        self._call(self._publish(feed, rows), 30.0)

    async def _publish(self, feed: str, rows: list[tuple[int, str, bytes]]) -> None:
        for seq, party, body in rows:
            await self._js.publish(
                f"{self.prefix}.{feed}.{subject_token(party)}",
                body,
                headers={"Nats-Msg-Id": f"{feed}-{seq}", SEQ_HEADER: str(seq)},
            )


class Relay(Periodic):
    """Publishes the store's outbox rows to the bus's feeds (see the module docstring):
    position batches from `position_queue`, alert events from `events`."""

    name = "deconflict-relay"

    def __init__(self, svc: Any, bus: NatsBus, period_s: float = 0.5) -> None:
        super().__init__(period_s)
        self.svc = svc
        self.bus = bus
        self._after: dict[str, int] = {}

    def round(self) -> bool:
        more = False
        for feed in ("positions", "alerts"):
            if feed not in self._after:
                self._after[feed] = self.bus.last_relayed(feed)
            rows = self._rows(feed, self._after[feed])
            if rows:
                self.bus.publish(feed, rows)
                self._after[feed] = rows[-1][0]
                more = more or len(rows) == BATCH
        return more

    def _rows(self, feed: str, after: int) -> list[tuple[int, str, bytes]]:
        with self.svc.db.read() as conn:
            if feed == "positions":
                q = t.position_queue.c
                found = conn.execute(
                    select(q.seq, q.party, q.at_s, q.reports)
                    .where(q.seq > after)
                    .order_by(q.seq)
                    .limit(BATCH)
                ).all()
                return [
                    (
                        int(r.seq),
                        r.party,
                        (
                            f'{{"party":{json.dumps(r.party)},"at":{r.at_s!r},'
                            f'"reports":{r.reports}}}'
                        ).encode(),
                    )
                    for r in found
                ]
            e = t.events.c
            found = conn.execute(
                select(e.seq, e.recipient, e.payload)
                .where(e.seq > after, e.type == "alert")
                .order_by(e.seq)
                .limit(BATCH)
            ).all()
            return [(int(r.seq), r.recipient, r.payload.encode()) for r in found]

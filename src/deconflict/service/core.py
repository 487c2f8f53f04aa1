"""The Service object: the store, the engine holding every live declaration, the clock,
the settings and the event hub, plus the one lock that makes each write (engine and
database together) atomic. Use cases live in the modules beside this one.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deconflict.engine import Engine
from deconflict.engine.monitor import MonitorSettings
from deconflict.ingest import parse_declarations
from deconflict.ingest.limits import DEFAULT_LIMITS, Limits
from deconflict.model.clearance import DEFAULT_POLICY, NoticePolicy
from deconflict.model.declarations import Declaration, DeclarationKey
from deconflict.model.policy import Policy
from deconflict.record.note import NoteSigner
from deconflict.service.events import EventHub
from deconflict.store.database import Database
from deconflict.store.log import LogHead
from deconflict.store.repository import DeclarationRow, Repository

if TYPE_CHECKING:
    from deconflict.service.bus import NatsBus
    from deconflict.service.live import LiveMonitor

log = logging.getLogger("deconflict.service")


@dataclass(frozen=True, slots=True)
class Settings:
    """What an operator may tune; every field is documented in docs/api.md."""

    policy: Policy = field(default_factory=Policy)
    """Separation minima of this deployment (SPEC section 3)."""
    notice: NoticePolicy = DEFAULT_POLICY
    """Minimum notice and answer deadlines (SPEC section 4)."""
    limits: Limits = DEFAULT_LIMITS
    """Bounds on declarations and pages."""
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    """The live monitor's tuning (docs/live.md, "Settings"): hysteresis, look-ahead..."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body the API reads, bytes."""
    message_max_chars: int = 4000
    """Longest hotline message text, characters."""
    message_ack_default_s: float = 3600.0
    """Time a recipient has to acknowledge a hotline message unless the sender says."""
    message_ack_max_s: float = 7 * 86400.0
    """Longest acknowledgement window a sender may give."""
    message_ack_min_s: float = 60.0
    """Shortest acknowledgement window a sender may give."""
    incident_rfi_s: float = 72 * 3600.0
    """Time the party an incident is filed against has to give its account (the request
    for information) before the incident is escalated to the operator, seconds."""
    api_threads: int = 8
    """Worker threads that run API calls; more only contend for the interpreter lock
    (with 40, reads were 35 % slower under 50 clients than with 4)."""
    checkpoint_interval_s: float = 10.0
    """How often the service signs a checkpoint of the record when it grew, seconds."""
    log_origin: str = "deconflict"
    """The record's origin: the first line of every checkpoint, the log key's name."""
    max_webhooks: int = 5
    """Webhooks one party may register."""
    webhook_backoff_base_s: float = 5.0
    """Delay before the first retry of a failed webhook delivery, seconds; each later retry
    waits twice as long as the one before (±10 % jitter, at most an hour)."""
    mqtt_url: str = ""
    """MQTT broker to take OwnTracks positions from (`mqtt://host:port`); empty: off. See
    docs/positions.md, "Over MQTT", for the topics and how a message proves its party."""
    follow_interval_s: float = 0.2
    """How often a process polls the store for other processes' writes (events,
    declaration changes), seconds; with a bus it is woken at once as well."""
    bus_url: str = ""
    """NATS server of the deployment's bus (`nats://host:port`, docs/scale.md "The bus"):
    wake-ups between service processes and the durable feeds of positions and alerts;
    empty: off (`serve --bus` sets it too)."""
    monitor_partitions: int = 16
    """Partitions of space that the monitoring processes on one store deal among
    themselves (1 to 62; docs/live.md, "Partitions"). Every process on a store must use
    the same number and cell size."""
    monitor_cell_deg: float = 2.0
    """Side of the cells of the partitions, degrees (0.01 to 90)."""
    cot_host: str = "127.0.0.1"
    """Address the CoT listeners bind to."""
    cot_tcp_port: int = 0
    """TCP port of the CoT stream listener (TAK clients; alerts go back out); 0: off."""
    cot_udp_port: int = 0
    """UDP port of the CoT datagram listener (one event per datagram); 0: off."""
    cot_alert_type: str = "b-a-g"
    """CoT type of an alert sent to TAK clients as it opens or updates (closing is
    `b-a-o-can`). Not `b-a-o-tbl`, which ATAK raises as a 911 emergency."""
    cot_timeout_s: float = 30.0
    """A CoT TCP client must authenticate, and finish each event it starts, within this
    long; a connection silent for 10 times as long is closed, seconds."""
    cot_max_connections: int = 256
    """CoT TCP connections open at once; more are closed at once."""
    ui_tile_url: str = ""
    """XYZ raster tiles drawn under the web map's offline basemap
    (`https://host/{z}/{x}/{y}.png`); empty: none, and the map requests nothing beyond
    this service. Its host is added to the UI's Content-Security-Policy."""

    def __post_init__(self) -> None:
        for name in ("cot_tcp_port", "cot_udp_port"):
            port = getattr(self, name)
            if isinstance(port, int) and not isinstance(port, bool) and not 0 <= port <= 65535:
                raise ValueError(f"{name} must be from 0 (off) to 65535, not {port!r}")
        if self.bus_url and not self.bus_url.startswith(("nats://", "tls://")):
            raise ValueError(f"bus_url must start with nats://, not {self.bus_url[:60]!r}")
        if self.mqtt_url and not self.mqtt_url.startswith("mqtt://"):
            raise ValueError(f"mqtt_url must start with mqtt://, not {self.mqtt_url[:60]!r}")
        if self.ui_tile_url:
            from deconflict.web.tiles import check_tile_url

            check_tile_url(self.ui_tile_url)
        parts, cell = self.monitor_partitions, self.monitor_cell_deg
        if isinstance(parts, int) and not isinstance(parts, bool) and not 1 <= parts <= 62:
            raise ValueError(f"monitor_partitions must be from 1 to 62, not {parts!r}")
        if isinstance(cell, int | float) and not 0.01 <= cell <= 90:
            raise ValueError(f"monitor_cell_deg must be from 0.01 to 90, not {cell!r}")
        every = self.follow_interval_s
        if isinstance(every, bool) or not isinstance(every, int | float) or not 0 < every <= 3600:
            raise ValueError(f"follow_interval_s must be above 0 and at most 3600, not {every!r}")
        base = self.webhook_backoff_base_s
        if (
            isinstance(base, bool)
            or not isinstance(base, int | float)
            or not (math.isfinite(base) and base > 0)
        ):
            raise ValueError(f"webhook_backoff_base_s must be a number above 0, not {base!r}")


class Service:
    """One deployment's state. Thread-safe: writes take `db.lock`, reads do not."""

    def __init__(
        self,
        db: Database,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        log_signer: NoteSigner | None = None,
    ) -> None:
        self.db = db
        self.log_signer = log_signer
        """The key that signs the record's checkpoints; None: no checkpoints are signed."""
        self.settings = settings or Settings()
        self.clock = clock
        self.hub = EventHub()
        self.engine = Engine(self.settings.policy)
        self._parsed: OrderedDict[tuple[str, str, int], Declaration] = OrderedDict()
        self._log_head: LogHead | None = None
        """The record's head as of the last commit (saves reading it back each write)."""
        self.live: LiveMonitor | None = None
        """The tactical monitor of live tracks, made on first use (service.live.live)."""
        self._seen_change = 0
        """The last of the store's `engine_changes` that the engine holds."""
        self.bus: NatsBus | None = None
        """The deployment's bus, when the app runs with one (service/bus.py)."""

        self._load()

    def _load(self) -> None:
        """Index every live declaration (a restart resumes where the store left off)."""
        with self.db.read() as conn:
            repo = Repository(conn)
            seen = repo.last_change()
            decls = [self.declaration(row) for row in repo.live()]
        engine = Engine(self.settings.policy)
        engine.add_many(decls)
        self.engine = engine
        self._seen_change = seen
        log.info("loaded %d live declarations", len(decls))

    def _catch_up(self, repo: Repository) -> None:
        """Make the engine hold what the store holds, after writes by other processes
        (or commands) on the same store: the declarations changed since the engine last
        looked are taken out and their live versions put back. Call under `db.lock`."""
        seen, keys = repo.changes_after(self._seen_change)
        if not keys:
            return
        first = repo.first_change()
        if first is None or first > self._seen_change + 1:  # pruned past us: start over
            log.info("store changed beyond the kept changes: reloading declarations")
            self._load()
            return
        engine = self.engine
        for party, decl_id in keys:
            key = DeclarationKey(party, decl_id)
            if key in engine:
                engine.remove(key)
        rows = [r for r in repo.current_keys(keys) if r.live]
        engine.add_many([self.declaration(r) for r in rows])
        self._seen_change = seen
        log.info("followed %d declarations changed by another process", len(keys))

    @property
    def seen_change(self) -> int:
        return self._seen_change

    def catch_up(self) -> None:
        """Follow other processes' writes now (the store follower calls this)."""
        with self.db.lock, self.db.read() as conn:
            self._catch_up(Repository(conn))

    def now(self) -> float:
        return float(self.clock())

    @contextmanager
    def write(self) -> Iterator[Repository]:
        """One write transaction under the writer lock; listeners are woken after commit."""
        with self.db.write() as conn:
            repo = Repository(conn, self._log_head)
            self._catch_up(repo)
            yield repo
            head = repo.flush_log()
            changed = repo.flush_changes()
        if head is not None:
            self._log_head = head
        if changed is not None:
            # This process's own changes reach the engine after commit, by the steps its
            # use case returns (still under db.lock): nothing else to follow up to here.
            self._seen_change = changed
        self.hub.publish()
        if self.bus is not None:
            self.bus.wake()

    @contextmanager
    def read(self) -> Iterator[Repository]:
        with self.db.read() as conn:
            yield Repository(conn)

    def declaration(self, row: DeclarationRow) -> Declaration:
        """The domain object of a stored version (parsed once, then cached: versions never
        change)."""
        key = (row.party, row.id, row.version)
        found = self._parsed.get(key)
        if found is None:
            found = parse_declarations(row.feature, source="store").declarations[0]
            self._parsed[key] = found
            if len(self._parsed) > 200_000:
                self._parsed.popitem(last=False)
        return found

    def close(self) -> None:
        self.db.close()

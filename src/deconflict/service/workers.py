"""Background workers of the service: one daemon thread each, running a round of work every
period until stopped. A failed round is logged and the next one runs as planned: a worker
never dies of one bad item.
"""

from __future__ import annotations

import logging
import threading


class Periodic:
    """Runs `round()` every `period_s` seconds on its own thread until `stop()`; a round
    that returns True (more work waiting) is followed at once by the next."""

    name = "deconflict-worker"

    def __init__(self, period_s: float, *, first_wait: bool = False) -> None:
        self.period_s = period_s
        self._first_wait = first_wait
        self._stop = threading.Event()
        self._poked = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._log = logging.getLogger(f"deconflict.{self.name}")

    def round(self) -> bool:
        """One round of work; True when more is waiting now."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Run the next round now rather than at the end of the period."""
        self._poked.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._poked.set()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        if self._first_wait and self._stop.wait(self.period_s):
            return
        while not self._stop.is_set():
            try:
                if self.round():
                    continue
            except Exception:  # keep working; the error is in the log
                self._log.exception("%s round failed", self.name)
            self._poked.wait(self.period_s)
            self._poked.clear()

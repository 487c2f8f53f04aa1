"""Deadlines that time alone decides: answers not given in time are escalated, plans not
cleared in time expire, hotline messages not acknowledged are escalated, and so are
incidents whose accused gave no account in time. The due moments live in the store, so a
restarted service picks up exactly where it stopped.
"""

from __future__ import annotations

from deconflict.engine import clearance as flow
from deconflict.service.core import Service
from deconflict.service.declarations import (
    _leave_engine,
    _save,
    announce_escalations,
    announce_state,
)
from deconflict.service.incidents import escalate_due as escalate_incidents
from deconflict.service.messages import escalate_due
from deconflict.service.workers import Periodic
from deconflict.store.codec import clearance_from_json


def tick(svc: Service) -> int:
    """Apply everything due as of now; returns how many items changed."""
    changed = 0
    with svc.db.lock:
        after = []
        with svc.write() as repo:
            now = svc.now()
            for row in repo.due_declarations(now):
                c0 = clearance_from_json(row.clearance)
                c1 = flow.expire_due(c0, now)
                if c1 == c0:
                    continue
                _save(repo, c1)
                announce_escalations(repo, c0, c1, now)
                announce_state(repo, c0.state, c1, now)
                step = _leave_engine(svc, repo, c1)
                if step:
                    after.append(step)
                changed += 1
            changed += escalate_due(repo, now)
            changed += escalate_incidents(repo, now)
        for step in after:
            step()
    return changed


class Scheduler(Periodic):
    """A thread that runs `tick` whenever something falls due (polling at most every
    `period_s`)."""

    name = "deconflict-scheduler"

    def __init__(self, svc: Service, period_s: float = 0.5) -> None:
        super().__init__(period_s)
        self.svc = svc

    def round(self) -> bool:
        tick(self.svc)
        return False

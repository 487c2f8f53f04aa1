"""What the service shows: plain JSON-ready dicts cut to what the viewer may know.
The owner (and the observers it named) see a clearance whole; a notified party sees the
state, its own notification and its own answer; nobody else sees anything of it.
"""

from __future__ import annotations

import math
from typing import Any

from deconflict.export.conflicts import conflict_to_wire
from deconflict.export.times import format_time
from deconflict.model.clearance import Clearance, ClearanceState

ACK_MEANING = (
    "To acknowledge is to confirm receipt and raise no objection; it never grants "
    "permission or guarantees safety."
)
"""Said wherever an acknowledgement is asked for or shown."""


def when(t_s: float | None) -> str | None:
    """ISO time, or None for open-ended and unknown times."""
    return None if t_s is None or not math.isfinite(t_s) else format_time(t_s)


def ref(party: str, decl_id: str, version: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"party": party, "id": decl_id}
    if version is not None:
        out["version"] = version
    return out


def clearance_view(c: Clearance, viewer: str, whole: bool) -> dict[str, Any]:
    """The clearance of one version as `viewer` may see it."""
    out: dict[str, Any] = {
        "declaration": ref(c.key.party, c.key.id, c.version),
        "kind": str(c.kind),
        "state": str(c.state),
        "late": c.late,
        "submitted_at": when(c.submitted_at_s),
    }
    if whole:
        # Only to whole viewers: the plan's start and end say when a unit sets out and
        # arrives, which a party shown the conflicting portion alone does not need.
        out["plan_start"] = when(c.plan_start_s)
        out["plan_end"] = when(c.plan_end_s)
        answers = {r.party: r for r in c.responses}
        out["notice_required_s"] = c.notice_s
        out["notified"] = [
            {
                "party": n.party,
                "reasons": [str(r) for r in n.reasons],
                "deadline": when(n.deadline_s),
                "answer": None if n.party not in answers else str(answers[n.party].kind),
                "escalated": n.party in c.escalated,
            }
            for n in c.notifications
        ]
        out["responses"] = [
            {
                "party": r.party,
                "answer": str(r.kind),
                "reason": r.reason,
                "at": when(r.at_s),
                "signed": r.signature is not None,
            }
            for r in c.responses
        ]
        out["history"] = [
            {
                "from": None if t.from_state is None else str(t.from_state),
                "to": str(t.to_state),
                "by": t.by_party,
                "at": when(t.at_s),
                "reason": t.reason,
                "signed": t.signature is not None,
            }
            for t in c.history
        ]
    else:
        note = c.notification_for(viewer)
        answer = c.response_of(viewer)
        out["your_notification"] = (
            None
            if note is None
            else {
                "reasons": [str(r) for r in note.reasons],
                "your_conflicting_declarations": list(note.conflicting_ids),
                "deadline": when(note.deadline_s),
                "escalated": viewer in c.escalated,
            }
        )
        out["your_answer"] = (
            None
            if answer is None
            else {
                "answer": str(answer.kind),
                "reason": answer.reason,
                "at": when(answer.at_s),
            }
        )
    if c.state in (ClearanceState.NOTIFIED, ClearanceState.OBJECTED):
        out["acknowledgement_means"] = ACK_MEANING
    return out


def conflicts_view(conflicts: Any) -> list[dict[str, Any]]:
    return [conflict_to_wire(c) for c in conflicts]

"""Clearances to and from the JSON text the store keeps. Non-finite times (open-ended
plans) are written as the strings "inf" and "-inf", which JSON can carry."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from deconflict.model.clearance import (
    Clearance,
    ClearanceState,
    NoticeReason,
    Notification,
    Response,
    ResponseKind,
    Transition,
)
from deconflict.model.declarations import DeclarationKey, DeclarationKind


def _t(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _f(x: float | str) -> float:
    return float(x)


def _b(sig: bytes | None) -> str | None:
    return None if sig is None else base64.b64encode(sig).decode()


def _ub(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def clearance_to_dict(c: Clearance) -> dict[str, Any]:
    """A JSON-ready dict holding every field of `c`."""
    return {
        "party": c.key.party,
        "id": c.key.id,
        "version": c.version,
        "kind": str(c.kind),
        "state": str(c.state),
        "submitted_at_s": c.submitted_at_s,
        "plan_start_s": _t(c.plan_start_s),
        "plan_end_s": _t(c.plan_end_s),
        "notice_s": c.notice_s,
        "late": c.late,
        "pending_until_s": _t(c.pending_until_s),
        "active_until_s": _t(c.active_until_s),
        "notifications": [
            {
                "party": n.party,
                "reasons": [str(r) for r in n.reasons],
                "conflicting_ids": list(n.conflicting_ids),
                "notified_at_s": n.notified_at_s,
                "deadline_s": n.deadline_s,
            }
            for n in c.notifications
        ],
        "responses": [
            {
                "party": r.party,
                "kind": str(r.kind),
                "reason": r.reason,
                "at_s": r.at_s,
                "signature": _b(r.signature),
            }
            for r in c.responses
        ],
        "escalated": list(c.escalated),
        "history": [
            {
                "from": None if t.from_state is None else str(t.from_state),
                "to": str(t.to_state),
                "by": t.by_party,
                "at_s": t.at_s,
                "reason": t.reason,
                "signature": _b(t.signature),
            }
            for t in c.history
        ],
    }


def clearance_from_dict(d: dict[str, Any]) -> Clearance:
    """The inverse of `clearance_to_dict`."""
    return Clearance(
        key=DeclarationKey(d["party"], d["id"]),
        version=int(d["version"]),
        kind=DeclarationKind(d["kind"]),
        state=ClearanceState(d["state"]),
        submitted_at_s=float(d["submitted_at_s"]),
        plan_start_s=_f(d["plan_start_s"]),
        plan_end_s=_f(d["plan_end_s"]),
        notice_s=float(d["notice_s"]),
        late=bool(d["late"]),
        pending_until_s=_f(d["pending_until_s"]),
        active_until_s=_f(d["active_until_s"]),
        notifications=tuple(
            Notification(
                n["party"],
                tuple(NoticeReason(r) for r in n["reasons"]),
                tuple(n["conflicting_ids"]),
                float(n["notified_at_s"]),
                float(n["deadline_s"]),
            )
            for n in d["notifications"]
        ),
        responses=tuple(
            Response(
                r["party"],
                ResponseKind(r["kind"]),
                r["reason"],
                float(r["at_s"]),
                _ub(r["signature"]),
            )
            for r in d["responses"]
        ),
        escalated=tuple(d["escalated"]),
        history=tuple(
            Transition(
                None if t["from"] is None else ClearanceState(t["from"]),
                ClearanceState(t["to"]),
                t["by"],
                float(t["at_s"]),
                t["reason"],
                _ub(t["signature"]),
            )
            for t in d["history"]
        ),
    )


def clearance_to_json(c: Clearance) -> str:
    return json.dumps(clearance_to_dict(c), sort_keys=True, separators=(",", ":"))


def clearance_from_json(text: str) -> Clearance:
    return clearance_from_dict(json.loads(text))

"""The clearance workflow of SPEC section 4 as pure functions over immutable `Clearance`
values: submit, respond, activate, complete, withdraw, amend and expire_due. Time is always
passed in; nothing here reads a clock, stores, signs or sends anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from deconflict.errors import DeconflictError, Forbidden, NotFound
from deconflict.model.clearance import (
    DEFAULT_POLICY,
    FINAL_STATES,
    HOUR_S,
    OPERATOR,
    Clearance,
    ClearanceState,
    NoticePolicy,
    NoticeReason,
    Notification,
    Response,
    ResponseKind,
    Transition,
)
from deconflict.model.conflicts import Conflict
from deconflict.model.declarations import Declaration, Movement
from deconflict.model.parties import Party, PartyKind

S = ClearanceState

LEGAL_TRANSITIONS: dict[ClearanceState | None, frozenset[ClearanceState]] = {
    None: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.NOTIFIED, S.CLEARED, S.WITHDRAWN, S.EXPIRED}),
    S.NOTIFIED: frozenset({S.CLEARED, S.OBJECTED, S.WITHDRAWN, S.EXPIRED}),
    S.CLEARED: frozenset({S.ACTIVE, S.WITHDRAWN, S.EXPIRED}),
    # SPEC: "cleared | objected -> active": an objection is on the record, not a veto.
    S.OBJECTED: frozenset({S.ACTIVE, S.WITHDRAWN, S.EXPIRED}),
    S.ACTIVE: frozenset({S.COMPLETED, S.WITHDRAWN, S.EXPIRED}),
}
"""Every transition the workflow may make; the final states have none."""

NOT_AWAITING = "Nothing awaits your answer under that reference; check the reference."
"""Said to a party that was not notified: it must not learn whether the declaration exists."""


class InvalidTransition(DeconflictError):
    """The action is not allowed in the clearance's current state."""

    code = "invalid_transition"
    http_status = 409
    exit_code = 2


class ReasonRequired(DeconflictError):
    """An objection (or going ahead despite one) was given without a reason."""

    code = "reason_required"
    http_status = 422
    exit_code = 2


def _iso(t_s: float) -> str:
    """A moment for a reason text; open-ended times (±inf) say so."""
    if not math.isfinite(t_s):
        return "the end of time" if t_s > 0 else "the start of time"
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _move(
    c: Clearance, to: ClearanceState, by: str, at_s: float, reason: str, sig: bytes | None
) -> Clearance:
    allowed = LEGAL_TRANSITIONS.get(c.state, frozenset())
    if to not in allowed:
        then = f"it may only become {', '.join(sorted(allowed))}" if allowed else "that is final"
        raise InvalidTransition(f"This {c.kind} is {c.state} and cannot become {to}; {then}.")
    step = Transition(c.state, to, by, at_s, reason, sig)
    return replace(c, state=to, history=c.history + (step,))


def _check_clock(c: Clearance, now_s: float) -> None:
    if not math.isfinite(now_s) or (c.history and now_s < c.history[-1].at_s):
        raise ValueError("now_s must be finite and not before the clearance's last transition")


def _notify(
    decl: Declaration, conflicts: Iterable[Conflict], parties: Iterable[Party]
) -> dict[str, tuple[list[NoticeReason], set[str]]]:
    """Who must be notified, why, and which of their declarations conflict."""
    registry = {p.name: p for p in parties}
    owner = registry.get(decl.party)
    if owner is None:
        raise NotFound(f"Party {decl.party!r} is not registered; register it before declaring.")
    out: dict[str, tuple[list[NoticeReason], set[str]]] = {}
    for c in conflicts:
        if (c.party_a, c.a) == decl.key:
            other, other_id = c.party_b, c.b
        elif (c.party_b, c.b) == decl.key:
            other, other_id = c.party_a, c.a
        else:
            raise ValueError("a conflict passed to submit does not involve the declaration")
        if other != decl.party:  # never the owner itself
            out.setdefault(other, ([NoticeReason.CONFLICT], set()))[1].add(other_id)
    if owner.kind is PartyKind.HUMANITARIAN:
        for p in registry.values():
            if p.kind is PartyKind.FORCE and p.name != decl.party:
                out.setdefault(p.name, ([], set()))[0].append(NoticeReason.HUMANITARIAN_TO_FORCE)
    return out


def _open(
    decl: Declaration,
    conflicts: Iterable[Conflict],
    parties: Iterable[Party],
    now_s: float,
    policy: NoticePolicy,
    version: int,
    sig: bytes | None,
) -> Clearance:
    if not math.isfinite(now_s):
        raise ValueError("now_s must be finite")
    notice_s = policy.notice_for(decl)
    start_s, end_s = decl.start_s, decl.end_s
    late = math.isfinite(start_s) and now_s > start_s - notice_s
    notifications = tuple(
        Notification(
            party,
            tuple(reasons),
            tuple(sorted(ids)),
            now_s,
            policy.deadline(now_s, start_s),
        )
        for party, (reasons, ids) in sorted(_notify(decl, conflicts, parties).items())
    )
    if isinstance(decl, Movement):
        last_deadline = max((n.deadline_s for n in notifications), default=start_s)
        pending_until = max(start_s, min(last_deadline, end_s))
    else:
        pending_until = end_s
    said = f"version {version} submitted"
    if late:
        said += (
            f"; late: {max(0.0, start_s - now_s) / HOUR_S:.1f} h before its start, "
            f"{notice_s / HOUR_S:.1f} h of notice required"
        )
    c = Clearance(
        key=decl.key,
        version=version,
        kind=decl.kind,
        state=S.SUBMITTED,
        submitted_at_s=now_s,
        plan_start_s=start_s,
        plan_end_s=end_s,
        notice_s=notice_s,
        late=late,
        pending_until_s=pending_until,
        active_until_s=end_s + policy.active_grace_s,
        notifications=notifications,
        history=(Transition(None, S.SUBMITTED, decl.party, now_s, said, sig),),
    )
    # The submission causes this next step too, so the owner's signature covers it.
    if not notifications:
        return _move(c, S.CLEARED, decl.party, now_s, "no conflicts and nobody to notify", sig)
    names = ", ".join(n.party for n in notifications)
    return _move(c, S.NOTIFIED, decl.party, now_s, f"notified: {names}", sig)


def submit(
    decl: Declaration,
    conflicts: Iterable[Conflict],
    parties: Iterable[Party],
    now_s: float,
    policy: NoticePolicy = DEFAULT_POLICY,
    *,
    signature: bytes | None = None,
) -> Clearance:
    """Open the clearance of `decl` (version 1) given its conflicts from the engine and the
    registered parties. Notifies every other party with a conflicting declaration and, for
    a humanitarian party's declaration, every force; `cleared` at once if nobody is left."""
    return _open(decl, conflicts, parties, now_s, policy, 1, signature)


def expire_due(c: Clearance, now_s: float) -> Clearance:
    """Apply what time alone decides, as of `now_s`, caused by the `OPERATOR`:

    - a notified party whose deadline passed unanswered is escalated to the operator (the
      state does not change: silence is neither acknowledgement nor objection);
    - still submitted or notified after `pending_until_s` (a movement's start, or its last
      deadline if later but not past its end; a site or zone's end of validity): expired;
    - cleared or objected but not activated by the plan's end: expired after it;
    - active and not completed within `active_grace_s` of the plan's end: expired after.

    Transitions are stamped with the moment they fell due, so the history does not depend
    on how often this is called.
    """
    _check_clock(c, now_s)
    if c.state in FINAL_STATES:
        return c
    if c.state in (S.NOTIFIED, S.OBJECTED):
        answered = {r.party for r in c.responses}
        due = sorted(
            (n.deadline_s, n.party)
            for n in c.notifications
            if n.deadline_s < now_s and n.party not in answered and n.party not in c.escalated
        )
        if due:
            c = replace(c, escalated=c.escalated + tuple(p for _, p in due))
    if c.state in (S.SUBMITTED, S.NOTIFIED):
        due_s, why = c.pending_until_s, f"not cleared by {_iso(c.pending_until_s)}"
    elif c.state in (S.CLEARED, S.OBJECTED):
        due_s, why = c.plan_end_s, f"{c.state} but not activated before its planned end"
    else:
        due_s, why = c.active_until_s, "still active long after its planned end"
    if now_s > due_s:  # deadlines and plan times are inclusive
        c = _move(c, S.EXPIRED, OPERATOR, max(due_s, c.history[-1].at_s), why, None)
    return c


def respond(
    c: Clearance,
    party: str,
    kind: ResponseKind | str,
    reason: str,
    now_s: float,
    *,
    signature: bytes | None = None,
) -> Clearance:
    """Record a notified party's answer, once, by its deadline. To acknowledge is to confirm
    receipt and raise no objection; it never grants permission or guarantees safety. An
    objection needs a reason. All acknowledged -> cleared; any objection -> objected."""
    c = expire_due(c, now_s)
    if party == c.owner:
        raise Forbidden("A party does not answer its own declaration.")
    note = c.notification_for(party)
    if note is None:
        raise NotFound(NOT_AWAITING)
    if c.response_of(party) is not None:
        raise InvalidTransition("Your answer is already recorded; each party answers once.")
    if now_s > note.deadline_s:
        raise InvalidTransition(
            f"The deadline to answer passed at {_iso(note.deadline_s)}; your answer was not "
            "recorded. Contact the operator."
        )
    if c.state not in (S.NOTIFIED, S.OBJECTED):
        raise InvalidTransition(f"This {c.kind} is {c.state}; it no longer takes answers.")
    kind = ResponseKind(kind)
    reason = reason.strip()
    if kind is ResponseKind.OBJECT and not reason:
        raise ReasonRequired("An objection needs a reason; say what the conflict is.")
    c = replace(c, responses=c.responses + (Response(party, kind, reason, now_s, signature),))
    if c.state is S.NOTIFIED:
        if kind is ResponseKind.OBJECT:
            return _move(c, S.OBJECTED, party, now_s, f"objected: {reason}", signature)
        if not c.awaiting and all(r.kind is ResponseKind.ACKNOWLEDGE for r in c.responses):
            said = "acknowledged by every notified party (no objection; not a permission)"
            return _move(c, S.CLEARED, party, now_s, said, signature)
    return c


def _owner_move(
    c: Clearance,
    by_party: str,
    now_s: float,
    to: ClearanceState,
    reason: str,
    signature: bytes | None,
) -> Clearance:
    c = expire_due(c, now_s)
    if by_party != c.owner:
        raise Forbidden(f"Only the declaring party may make a declaration {to}.")
    return _move(c, to, by_party, now_s, reason.strip() or str(to), signature)


def activate(
    c: Clearance, by_party: str, now_s: float, reason: str = "", *, signature: bytes | None = None
) -> Clearance:
    """The owner says it is under way. From `cleared`; from `objected` only with a reason
    for going ahead, which stays on the record beside the objection."""
    c = expire_due(c, now_s)
    if c.state is S.OBJECTED and by_party == c.owner and not reason.strip():
        raise ReasonRequired("Going ahead despite an objection needs a reason on the record.")
    return _owner_move(c, by_party, now_s, S.ACTIVE, reason, signature)


def complete(
    c: Clearance, by_party: str, now_s: float, reason: str = "", *, signature: bytes | None = None
) -> Clearance:
    """The owner says an active declaration is over."""
    return _owner_move(c, by_party, now_s, S.COMPLETED, reason, signature)


def withdraw(
    c: Clearance, by_party: str, now_s: float, reason: str = "", *, signature: bytes | None = None
) -> Clearance:
    """The owner takes the declaration back, from any state before completed."""
    return _owner_move(c, by_party, now_s, S.WITHDRAWN, reason, signature)


def amend(
    c: Clearance,
    decl: Declaration,
    conflicts: Iterable[Conflict],
    parties: Iterable[Party],
    now_s: float,
    policy: NoticePolicy = DEFAULT_POLICY,
    *,
    signature: bytes | None = None,
) -> tuple[Clearance, Clearance]:
    """A new version of the same declaration, cleared afresh: returns (old, new). The old
    version keeps its history; if it was still open it is withdrawn as superseded. A
    completed declaration cannot be amended (declare a new one)."""
    if decl.key != c.key:
        raise InvalidTransition("An amendment must keep the party and id of the declaration.")
    old = expire_due(c, now_s)
    if old.state is S.COMPLETED:
        raise InvalidTransition(f"This {c.kind} is completed; declare a new one instead.")
    if old.state not in FINAL_STATES:
        said = f"superseded by version {c.version + 1}"
        old = _move(old, S.WITHDRAWN, decl.party, now_s, said, signature)
    return old, _open(decl, conflicts, parties, now_s, policy, c.version + 1, signature)

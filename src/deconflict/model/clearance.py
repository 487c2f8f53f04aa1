"""The clearance of one declaration version (SPEC section 4): its state, who was notified,
who answered, every transition so far, and the notice policy. Plain immutable values; the
rules that move them live in `deconflict.engine.clearance`; nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from deconflict.model.declarations import Declaration, DeclarationKey, DeclarationKind

HOUR_S = 3600.0


class ClearanceState(StrEnum):
    """Where a declaration version stands in the clearance workflow."""

    SUBMITTED = "submitted"
    """Accepted and its conflicts computed; nobody notified yet."""
    NOTIFIED = "notified"
    """The affected parties are notified and may acknowledge or object."""
    CLEARED = "cleared"
    """Every notified party acknowledged (or nobody had to be notified). Not a permission:
    only that nobody objected."""
    OBJECTED = "objected"
    """At least one notified party objected, with a reason."""
    ACTIVE = "active"
    """The owner says the movement is under way or the site/zone is in force."""
    COMPLETED = "completed"
    """The owner says it is over. Final."""
    WITHDRAWN = "withdrawn"
    """The owner took it back (or replaced it by an amendment). Final."""
    EXPIRED = "expired"
    """Its time passed before it could go on (see `engine.clearance`). Final."""


FINAL_STATES = frozenset(
    {ClearanceState.COMPLETED, ClearanceState.WITHDRAWN, ClearanceState.EXPIRED}
)
"""States a clearance never leaves."""


class ResponseKind(StrEnum):
    """A notified party's answer."""

    ACKNOWLEDGE = "acknowledge"
    """Receipt confirmed and no objection raised. Never a permission or a safety guarantee."""
    OBJECT = "object"
    """An objection; always carries a reason."""


class NoticeReason(StrEnum):
    """Why a party was notified."""

    CONFLICT = "conflict"
    """One of its declarations conflicts with this one (SPEC section 3)."""
    HUMANITARIAN_TO_FORCE = "humanitarian-to-force"
    """It is a force and this is a humanitarian party's declaration."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One party told of a declaration version, and by when it must answer."""

    party: str
    """The notified party's name."""
    reasons: tuple[NoticeReason, ...]
    """Why it was notified: conflict, humanitarian-to-force, or both."""
    conflicting_ids: tuple[str, ...]
    """Ids of the notified party's own declarations that conflict with this one (sorted;
    empty when notified only as a force)."""
    notified_at_s: float
    """When it was notified, epoch seconds."""
    deadline_s: float
    """Last moment, epoch seconds, at which its answer is accepted (inclusive)."""


@dataclass(frozen=True, slots=True)
class Response:
    """A notified party's acknowledgement or objection."""

    party: str
    """The answering party's name."""
    kind: ResponseKind
    """acknowledge or object."""
    reason: str
    """Why (required to object; may be empty to acknowledge)."""
    at_s: float
    """When it was given, epoch seconds."""
    signature: bytes | None = None
    """The party's Ed25519 signature over the response as recorded, when given."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state, and the party that caused it."""

    from_state: ClearanceState | None
    """State before; None for the submission itself."""
    to_state: ClearanceState
    """State after."""
    by_party: str
    """The party that caused it (the operator for deadlines: `OPERATOR`)."""
    at_s: float
    """When, epoch seconds."""
    reason: str
    """Why, in a sentence a field operator understands."""
    signature: bytes | None = None
    """Ed25519 signature of `by_party` over the transition as recorded, when given."""


OPERATOR = "@operator"
"""Who causes transitions that follow from time alone (deadlines, expiry). Not a valid
party name, so it can never be mistaken for one."""


@dataclass(frozen=True, slots=True)
class Clearance:
    """The clearance of one version of one declaration."""

    key: DeclarationKey
    """(party, id) of the declaration; the party is its owner."""
    version: int
    """1 for the first submission, +1 for each amendment."""
    kind: DeclarationKind
    """movement, site or zone."""
    state: ClearanceState
    """Where it stands now (the `to_state` of the last transition)."""
    submitted_at_s: float
    """When this version was submitted, epoch seconds."""
    plan_start_s: float
    """When the declaration starts (movement departure, validity start), epoch seconds;
    -inf when open-ended."""
    plan_end_s: float
    """When it ends, epoch seconds; inf when open-ended."""
    notice_s: float
    """The minimum notice, seconds, that applied to this declaration."""
    late: bool
    """Submitted with less than `notice_s` before `plan_start_s`: accepted, but flagged."""
    pending_until_s: float
    """If still submitted or notified after this moment (epoch seconds), it expires."""
    active_until_s: float
    """If still active after this moment (epoch seconds), it expires; inf for open-ended."""
    notifications: tuple[Notification, ...] = ()
    """Who was notified, sorted by party name."""
    responses: tuple[Response, ...] = ()
    """Answers, in the order given."""
    escalated: tuple[str, ...] = ()
    """Notified parties that let their deadline pass unanswered, in the order escalated to
    the operator."""
    history: tuple[Transition, ...] = ()
    """Every transition of this version, oldest first; only ever appended to."""

    @property
    def owner(self) -> str:
        """The declaring party."""
        return self.key.party

    def notification_for(self, party: str) -> Notification | None:
        """The notification sent to `party`, if any."""
        return next((n for n in self.notifications if n.party == party), None)

    def response_of(self, party: str) -> Response | None:
        """The answer `party` gave, if any."""
        return next((r for r in self.responses if r.party == party), None)

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Notified parties that have not answered yet."""
        answered = {r.party for r in self.responses}
        return tuple(n.party for n in self.notifications if n.party not in answered)


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    """Minimum notice per declaration kind and the rule for response deadlines."""

    movement_notice_s: float = 48 * HOUR_S
    """Minimum notice for a movement, seconds before its first time."""
    emergency_notice_s: float = 24 * HOUR_S
    """Minimum notice for any declaration whose properties say `"emergency": true`."""
    site_notice_s: float = 24 * HOUR_S
    """Minimum notice for a site, seconds before `valid_from` (none when open-ended)."""
    zone_notice_s: float = 24 * HOUR_S
    """Minimum notice for a zone, seconds before `valid_from` (none when open-ended)."""
    response_window_s: float = 24 * HOUR_S
    """A notified party answers within this long after notification..."""
    response_lead_s: float = 1 * HOUR_S
    """...and at the latest this long before the declaration starts..."""
    response_floor_s: float = 1 * HOUR_S
    """...but is never given less than this, even for a late submission."""
    active_grace_s: float = 6 * HOUR_S
    """An active declaration not completed this long after its planned end expires."""

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"notice policy {name} must be a finite number >= 0")

    def notice_for(self, decl: Declaration) -> float:
        """The minimum notice, seconds, that applies to `decl`."""
        base = {
            DeclarationKind.MOVEMENT: self.movement_notice_s,
            DeclarationKind.SITE: self.site_notice_s,
            DeclarationKind.ZONE: self.zone_notice_s,
        }[decl.kind]
        if decl.properties.get("emergency") is True:
            return min(base, self.emergency_notice_s)
        return base

    def deadline(self, notified_at_s: float, plan_start_s: float) -> float:
        """min(notified + window, start - lead), never before notified + floor. An
        open-ended start (-inf) leaves the window alone."""
        latest = notified_at_s + self.response_window_s
        if math.isfinite(plan_start_s):
            latest = min(latest, plan_start_s - self.response_lead_s)
        return max(notified_at_s + self.response_floor_s, latest)


DEFAULT_POLICY = NoticePolicy()

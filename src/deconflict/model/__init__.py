"""Typed domain objects: declarations, policy, conflicts. No I/O here, ever."""

from deconflict.model.conflicts import Conflict, Crossing
from deconflict.model.declarations import (
    Declaration,
    DeclarationKey,
    DeclarationKind,
    Movement,
    Site,
    Zone,
    ZoneType,
)
from deconflict.model.policy import Policy

__all__ = [
    "Conflict",
    "Crossing",
    "Declaration",
    "DeclarationKey",
    "DeclarationKind",
    "Movement",
    "Policy",
    "Site",
    "Zone",
    "ZoneType",
]

from deconflict.model.clearance import (  # noqa: E402
    Clearance,
    ClearanceState,
    NoticePolicy,
    Notification,
    Response,
    ResponseKind,
    Transition,
)
from deconflict.model.parties import Party, PartyKind  # noqa: E402

__all__ += [
    "Clearance",
    "ClearanceState",
    "NoticePolicy",
    "Notification",
    "Party",
    "PartyKind",
    "Response",
    "ResponseKind",
    "Transition",
]

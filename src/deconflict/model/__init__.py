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

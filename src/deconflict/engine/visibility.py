"""Need-to-know (SPEC section 4): what one party may see of a declaration. The whole to its
owner, to observers it named and, if it chose to share it, to every party; to a party it
conflicts with, only the conflicting portions; to anyone else nothing, not even that it
exists. Pure: returns domain objects, never wire formats, and reads no store.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from deconflict.errors import NotFound
from deconflict.geo.ellipsoid import GEOD
from deconflict.model.conflicts import Conflict
from deconflict.model.declarations import (
    Declaration,
    DeclarationKey,
    DeclarationKind,
    Movement,
)
from deconflict.model.parties import Party, PartyKind

NOT_VISIBLE = "No declaration is visible to you under that reference; check the reference."
"""The one message for "does not exist" and "not yours to see", so neither can be told
apart; it names no id and no place."""

DEFAULT_MARGIN_S = 60.0
"""Route shown either side of the conflicting portion, seconds: enough to see where the
unit comes from and goes to, little enough to reveal no more of its plan than that."""


class Access(StrEnum):
    """Why the viewer may see what it sees."""

    OWNER = "owner"
    """It declared it: the whole."""
    OBSERVER = "observer"
    """An observer the owner named: the whole."""
    SHARED = "shared"
    """The owner chose to share this declaration with every party: the whole."""
    NOTIFIED = "notified"
    """A force notified of a humanitarian party's declaration: the whole, since telling
    forces where humanitarian units will be is the point of the notification."""
    CONFLICT = "conflict"
    """One of the viewer's declarations conflicts with it: only the conflicting portions."""


@dataclass(frozen=True, slots=True)
class ShareList:
    """What an owner chose to show beyond need-to-know."""

    observers: frozenset[str] = frozenset()
    """Names of observer parties that see every declaration of the owner whole. A name
    whose party is not of kind `observer` gains nothing from this list."""
    shared_ids: frozenset[str] = frozenset()
    """Ids of the owner's declarations shown whole to every party."""


@dataclass(frozen=True, slots=True)
class VisibleDeclaration:
    """What one viewer may see of one declaration."""

    key: DeclarationKey
    """(party, id) of the declaration."""
    kind: DeclarationKind
    """movement, site or zone."""
    access: Access
    """Why the viewer may see it."""
    whole: bool
    """True when `parts` is the whole declaration as declared, properties included."""
    parts: tuple[Declaration, ...]
    """The declaration itself when whole; otherwise, for a movement, one `Movement` per
    conflicting portion of its route (merged when they overlap, in time order), and for a
    site or zone its geometry, times, band and buffer, all without `properties`."""
    conflicts: tuple[Conflict, ...]
    """The conflicts the viewer may know of: all of the declaration's for its owner, else
    those with the viewer's own declarations."""


def _sides(decl: Declaration, c: Conflict) -> tuple[str, str]:
    """(party, id) of the other declaration in conflict `c`."""
    if (c.party_a, c.a) == decl.key:
        return c.party_b, c.b
    if (c.party_b, c.b) == decl.key:
        return c.party_a, c.a
    raise ValueError("a conflict passed to visible_to does not involve the declaration")


def _at(m: Movement, t_s: float, *, latest: bool) -> tuple[float, float]:
    """Planned position at `t_s` (within the plan), interpolated along the geodesic. Where
    the plan jumps (two waypoints at one time) `latest` picks the later waypoint."""
    times = m.times_s
    i = (bisect_right(times, t_s) if latest else bisect_left(times, t_s)) - 1
    i = min(max(i, 0), len(times) - 2)
    t0, t1 = times[i], times[i + 1]
    frac = 0.0 if t1 <= t0 else min(1.0, max(0.0, (t_s - t0) / (t1 - t0)))
    (lon0, lat0), (lon1, lat1) = m.positions[i], m.positions[i + 1]
    if frac == 0.0 or (lon0, lat0) == (lon1, lat1):
        return m.positions[i]
    if frac == 1.0:
        return m.positions[i + 1]
    az, _, dist = GEOD.inv(lon0, lat0, lon1, lat1)
    lon, lat, _ = GEOD.fwd(lon0, lat0, az, dist * frac)
    return (float(lon), float(lat))


def route_portion(m: Movement, from_s: float, to_s: float) -> Movement | None:
    """The part of `m`'s plan between two times (clipped to the plan), as a Movement with
    the same id, party, band, buffer and uncertainty but no properties; None if empty."""
    t0, t1 = max(from_s, m.start_s), min(to_s, m.end_s)
    if t0 > t1:
        return None
    inner = [k for k, t in enumerate(m.times_s) if t0 < t < t1]
    positions = (
        (_at(m, t0, latest=True),)
        + tuple(m.positions[k] for k in inner)
        + (_at(m, t1, latest=False),)
    )
    times = (t0,) + tuple(m.times_s[k] for k in inner) + (t1,)
    return replace(m, positions=positions, times_s=times, properties={})


def _windows(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of time intervals, in order."""
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def visible_to(
    decl: Declaration,
    conflicts: Iterable[Conflict],
    viewer: Party,
    share: ShareList | None = None,
    *,
    margin_s: float = DEFAULT_MARGIN_S,
    notified_whole: bool = False,
) -> VisibleDeclaration:
    """What `viewer` may see of `decl`, given the declaration's conflicts (from the engine)
    and its owner's share list. Raises NotFound, with a message that names nothing, when
    the viewer may see none of it.

    A movement's conflicting portion is its plan from `start - u - margin_s` to
    `end + u + margin_s` for each conflict interval [start, end] with the viewer, u being
    its time uncertainty: SPEC section 3 lets the unit be anywhere on that stretch while
    the conflict holds, and the margin shows how it arrives and leaves. Cut points are
    interpolated along the geodesic, as the plan itself is.
    """
    share = share or ShareList()
    mine = tuple(conflicts)
    others = [_sides(decl, c) for c in mine]
    theirs = tuple(c for c, (party, _) in zip(mine, others, strict=True) if party == viewer.name)
    if viewer.name == decl.party:
        access, whole = Access.OWNER, True
        theirs = mine
    elif viewer.kind is PartyKind.OBSERVER and viewer.name in share.observers:
        access, whole = Access.OBSERVER, True
    elif decl.id in share.shared_ids:
        access, whole = Access.SHARED, True
    elif notified_whole:
        access, whole = Access.NOTIFIED, True
    elif theirs:
        access, whole = Access.CONFLICT, False
    else:
        raise NotFound(NOT_VISIBLE)
    parts: tuple[Declaration, ...]
    if whole:
        parts = (decl,)
    elif isinstance(decl, Movement):
        pad = decl.time_uncertainty_s + max(0.0, margin_s)
        spans = _windows((c.start_s - pad, c.end_s + pad) for c in theirs)
        cut = (route_portion(decl, lo, hi) for lo, hi in spans)
        parts = tuple(p for p in cut if p is not None)
    else:
        # The conflict is with the area itself: its geometry is what the viewer needs.
        parts = (replace(decl, properties={}),)
    return VisibleDeclaration(decl.key, decl.kind, access, whole, parts, theirs)

"""Merged findings turned into the domain objects users see, in a stable order.

Findings name declarations by slot; a lookup gives them back. Nothing is computed here
beyond ordering each conflict's pair as SPEC section 3 wants: (party_a, a) < (party_b, b).
"""

from __future__ import annotations

from collections.abc import Callable

from deconflict.engine.merge import Findings
from deconflict.model import Conflict, Crossing, Declaration, Zone

Lookup = Callable[[int], Declaration]


def to_conflicts(f: Findings, lookup: Lookup) -> list[Conflict]:
    """One Conflict per row, listed by start time, then parties and ids."""
    out = []
    for k in range(f.a.size):
        da = lookup(int(f.a[k]))
        db = lookup(int(f.b[k]))
        if (db.party, db.id) < (da.party, da.id):
            da, db = db, da
        out.append(
            Conflict(
                a=da.id,
                b=db.id,
                party_a=da.party,
                party_b=db.party,
                start_s=float(f.start[k]),
                end_s=float(f.end[k]),
                min_distance_m=max(0.0, float(f.distance_m[k])),
                at=(float(f.at[k, 0]), float(f.at[k, 1])),
            )
        )
    out.sort(key=lambda c: (c.start_s, c.party_a, c.a, c.party_b, c.b))
    return out


def to_crossings(f: Findings, lookup: Lookup) -> list[Crossing]:
    """One Crossing per row (a zone and a movement, either way round), by start time."""
    out = []
    for k in range(f.a.size):
        d1 = lookup(int(f.a[k]))
        d2 = lookup(int(f.b[k]))
        zone, mov = (d1, d2) if isinstance(d1, Zone) else (d2, d1)
        assert isinstance(zone, Zone)
        out.append(
            Crossing(
                zone=zone.id,
                zone_party=zone.party,
                zone_type=zone.zone_type,
                movement=mov.id,
                movement_party=mov.party,
                start_s=float(f.start[k]),
                end_s=float(f.end[k]),
            )
        )
    out.sort(key=lambda c: (c.start_s, c.zone_party, c.zone, c.movement_party, c.movement))
    return out

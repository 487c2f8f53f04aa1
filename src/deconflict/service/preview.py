"""Checking a draft before submitting it (`POST /v1/declarations/check`): its conflicts
with what the caller may already see, in the wire form of a submission. It writes
nothing, and it must never let a party probe others' plans with drafts (SPEC section 4):
a party's draft is checked only against the portions of others' live declarations that
party is already shown; the operator's against every live declaration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from deconflict.engine import Engine
from deconflict.engine import clearance as flow
from deconflict.errors import Forbidden, InvalidRequest, NotFound
from deconflict.export.conflicts import conflict_to_wire, crossing_to_wire
from deconflict.model.conflicts import Conflict, Crossing
from deconflict.model.declarations import Declaration
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.declarations import parse_body, read_json, visible
from deconflict.service.views import ref
from deconflict.store.repository import Repository

PARTIAL = (
    "Checked only against your own plans and the parts of other parties' plans you may "
    "already see; conflicts with plans you may not see are found only on submission, "
    "which notifies both sides."
)
WHOLE = "Checked against every live declaration (operator)."

_SEP = "\x00"
"""Joins a declaration's id to the number of one of its visible portions inside the
temporary engine, which holds one declaration per (party, id)."""


def _visible_keys(repo: Repository, party: str) -> set[tuple[str, str]]:
    """Others' declarations `party` may see something of: those it conflicts with or was
    notified of, shared ones, and those of owners that named it observer (as GET
    /v1/declarations?scope=visible lists them)."""
    keys = repo.conflicting_with(party)
    keys |= {(n.party, n.id) for n in repo.notified_of(party, open_only=False)}
    keys |= set(repo.shared_current())
    for owner in repo.owners_observed_by(party):
        keys |= {(r.party, r.id) for r in repo.current_of([owner], None, 100_000)}
    return {k for k in keys if k[0] != party}


def _seen_portions(svc: Service, repo: Repository, who: Principal) -> list[Declaration]:
    """Every portion of others' live declarations that `who` is shown, each renamed
    `id<SEP>n` so several portions of one route fit in one engine."""
    out: list[Declaration] = []
    for key in sorted(_visible_keys(repo, who.party)):
        row = repo.current(*key)
        if row is None or not row.live:
            continue
        try:
            seen = visible(svc, repo, who, row)
        except NotFound:
            continue
        out += [replace(p, id=f"{p.id}{_SEP}{n}") for n, p in enumerate(seen.parts)]
    return out


def _original(c: Conflict | Crossing) -> Any:
    """`c` with the portion numbers taken off the ids. The order of a conflict's sides is
    by (party, id), and a party's draft only meets other parties' portions, so removing
    the suffix never changes which side is `a`."""
    if isinstance(c, Conflict):
        return replace(c, a=c.a.split(_SEP)[0], b=c.b.split(_SEP)[0])
    return replace(c, zone=c.zone.split(_SEP)[0], movement=c.movement.split(_SEP)[0])


def _merged(conflicts: Iterable[Conflict]) -> list[Conflict]:
    """Conflicts sorted as the engine reports them, by time then sides."""
    return sorted(conflicts, key=lambda c: (c.start_s, c.party_a, c.a, c.party_b, c.b, c.end_s))


def check(svc: Service, who: Principal, body: bytes) -> dict[str, Any]:
    """The conflicts a draft (Feature or FeatureCollection) would have as far as `who` may
    know now, and what its clearance would start as. Nothing is stored or recorded."""
    doc = read_json(svc, body, "draft")
    now = svc.now()
    found = parse_body(svc, doc, now)
    if not who.is_operator:
        for i, d in enumerate(found.declarations):
            if d.party != who.party:
                raise Forbidden(
                    f"Feature {i} declares for party {d.party!r}; you may only check drafts "
                    f"of {who.party!r}."
                )
    with svc.read() as repo:
        parties = repo.parties()
        portions = [] if who.is_operator else _seen_portions(svc, repo, who)
    names = {p.name for p in parties}
    for i, d in enumerate(found.declarations):
        if d.party not in names:
            raise InvalidRequest(
                f"Feature {i} declares for party {d.party!r}, which is not registered; "
                "check the party name."
            )
    found_of: list[tuple[list[Conflict], list[Crossing]]] = []
    if who.is_operator:
        # The service's engine holds every live declaration; a draft with the id of one is
        # compared as its amendment would be, never with the version it replaces. The
        # writer lock keeps the engine still while it is read.
        with svc.db.lock:
            for d in found.declarations:
                found_of.append((svc.engine.conflicts_of(d), svc.engine.crossings_of(d)))
            seen_count = len(svc.engine)
    else:
        # Own declarations are left out: a party's plans never conflict with each other
        # (SPEC section 3), so they could add nothing.
        engine = Engine(svc.settings.policy)
        engine.add_many(portions)
        seen_count = len({(p.party, p.id.split(_SEP)[0]) for p in portions})
        for d in found.declarations:
            found_of.append((engine.conflicts_of(d), engine.crossings_of(d)))
    out = []
    for d, (raw_conflicts, raw_crossings) in zip(found.declarations, found_of, strict=True):
        conflicts = _merged(_original(c) for c in raw_conflicts)
        crossings = [_original(c) for c in raw_crossings]
        c = flow.submit(d, conflicts, parties, now, svc.settings.notice)
        out.append(
            {
                "declaration": ref(d.party, d.id),
                "kind": str(d.kind),
                "late": c.late,
                "notice_required_s": c.notice_s,
                "would_notify": [n.party for n in c.notifications],
                "conflicts": [conflict_to_wire(x) for x in conflicts],
                "crossings": [crossing_to_wire(x) for x in crossings],
            }
        )
    return {
        "declarations": out,
        "complete": who.is_operator,
        "checked_against": seen_count,
        "note": WHOLE if who.is_operator else PARTIAL,
    }

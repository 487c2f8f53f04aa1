"""Declaring: submit, amend, withdraw, activate, complete and share a declaration; answer
one (acknowledge or object); read what one may see. Each write is one transaction under
the writer lock, with the engine changed only after the store committed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from deconflict.engine import clearance as flow
from deconflict.engine.visibility import NOT_VISIBLE, ShareList, VisibleDeclaration, visible_to
from deconflict.errors import (
    AlreadyExists,
    Forbidden,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    PreconditionRequired,
    StaleVersion,
)
from deconflict.export.geojson import declaration_to_feature
from deconflict.ingest import parse_declarations
from deconflict.ingest.bounds import check_bounds
from deconflict.ingest.geojson import DeclarationSet
from deconflict.model.clearance import (
    FINAL_STATES,
    Clearance,
    ClearanceState,
    NoticeReason,
    Notification,
)
from deconflict.model.conflicts import Conflict
from deconflict.model.declarations import Declaration, DeclarationKey
from deconflict.record.canonical import JSONValue
from deconflict.service import record
from deconflict.service.auth import (
    Principal,
    RequestSignature,
    authenticate,
    signed_message,
    verify_request,
)
from deconflict.service.core import Service
from deconflict.service.events import emit
from deconflict.service.views import ACK_MEANING, clearance_view, conflicts_view, ref, when
from deconflict.store.codec import clearance_from_json, clearance_to_json
from deconflict.store.repository import DeclarationRow, NotificationRow, Repository

S = ClearanceState
Result = tuple[int, dict[str, Any]]


# -- helpers -----------------------------------------------------------------------------


def read_json(svc: Service, body: bytes, what: str) -> JSONValue:
    """The JSON of a request body, within the body limit."""
    limit = svc.settings.max_body_bytes
    if len(body) > limit:
        raise LimitExceeded(
            f"The {what} is {len(body):,} bytes, over the limit max_body_bytes = {limit:,}; "
            "send less at a time."
        )
    try:
        doc: JSONValue = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(
            f"The {what} is not valid JSON ({str(exc)[:80]}); send a JSON document."
        ) from None
    return doc


def parse_body(svc: Service, doc: JSONValue, now_s: float) -> DeclarationSet:
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a GeoJSON Feature or FeatureCollection.")
    found = parse_declarations(doc, source="request", limits=svc.settings.limits)
    if not found.declarations:
        raise InvalidRequest("The FeatureCollection holds no declarations; send at least one.")
    if found.policy is not None and found.policy != svc.settings.policy:
        p = svc.settings.policy
        raise InvalidRequest(
            f"This service separates by {p.horizontal_m:g} m horizontally and "
            f"{p.vertical_m:g} m vertically; remove the policy member or match it."
        )
    check_bounds(found.declarations, now_s, svc.settings.limits, source="request")
    return found


def etag_of(feature: str, version: int) -> str:
    return f'"{version}-{hashlib.sha256(feature.encode()).hexdigest()[:16]}"'


def due_of(c: Clearance) -> float | None:
    """The next moment time alone may change `c` (a deadline or an expiry), or None."""
    if c.state in FINAL_STATES:
        return None
    times: list[float] = []
    if c.state in (S.NOTIFIED, S.OBJECTED):
        answered = {r.party for r in c.responses}
        times += [
            n.deadline_s
            for n in c.notifications
            if n.party not in answered and n.party not in c.escalated
        ]
    if c.state in (S.SUBMITTED, S.NOTIFIED):
        times.append(c.pending_until_s)
    elif c.state in (S.CLEARED, S.OBJECTED):
        times.append(c.plan_end_s)
    else:
        times.append(c.active_until_s)
    finite = [x for x in times if math.isfinite(x)]
    return min(finite) if finite else None


def _new_row(
    decl: Declaration,
    c: Clearance,
    sig: RequestSignature | None,
    shared: bool,
    doc: dict[str, Any] | None = None,
) -> DeclarationRow:
    """The stored row of a new version; `doc` is `declaration_to_feature(decl)` when the
    caller made it already."""
    doc = declaration_to_feature(decl) if doc is None else doc
    feature = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    return DeclarationRow(
        party=decl.party,
        id=decl.id,
        version=c.version,
        kind=str(decl.kind),
        current=True,
        live=c.state not in FINAL_STATES,
        feature=feature,
        shared=shared,
        state=str(c.state),
        late=c.late,
        submitted_s=c.submitted_at_s,
        clearance=clearance_to_json(c),
        due_s=due_of(c),
        etag=etag_of(feature, c.version),
        signature=None if sig is None else sig.signature,
        key_id=None if sig is None else sig.key_id,
    )


def _save(repo: Repository, c: Clearance) -> None:
    repo.update_clearance(
        c.key.party,
        c.key.id,
        c.version,
        clearance=clearance_to_json(c),
        state=str(c.state),
        live=c.state not in FINAL_STATES,
        due_s=due_of(c),
    )


def audience(repo: Repository, c: Clearance) -> tuple[list[str], list[str]]:
    """(whole, partial): who sees this clearance whole (owner, its observers) and who
    only as notified."""
    whole = [c.owner] + [o for o in repo.observers(c.owner) if o != c.owner]
    partial = [n.party for n in c.notifications if n.party not in whole]
    return whole, partial


def announce_state(repo: Repository, old: ClearanceState, c: Clearance, now_s: float) -> None:
    """Tell everyone who knows of `c` that its state changed."""
    if old == c.state:
        return
    last = c.history[-1]
    record.append(
        repo,
        now_s,
        "declaration.state",
        last.by_party,
        {**record.decl_ref(c.key.party, c.key.id, c.version), "from": str(old), "to": str(c.state)},
        {"reason": last.reason} if last.reason else None,
    )
    whole, partial = audience(repo, c)
    base = {
        "declaration": ref(c.key.party, c.key.id, c.version),
        "from": str(old),
        "to": str(c.state),
        "by": last.by_party,
    }
    for p in whole:
        emit(repo, p, "declaration.state", now_s, {**base, "reason": last.reason})
    for p in partial:
        emit(repo, p, "declaration.state", now_s, base)


def announce_escalations(repo: Repository, before: Clearance, c: Clearance, now_s: float) -> None:
    from deconflict.model.clearance import OPERATOR

    for party in c.escalated[len(before.escalated) :]:
        note = c.notification_for(party)
        deadline = None if note is None else note.deadline_s
        record.append(
            repo,
            now_s,
            "escalation",
            OPERATOR,
            {
                **record.decl_ref(c.key.party, c.key.id, c.version),
                "silent": party,
                "deadline": when(deadline),
            },
        )
        payload = {
            "declaration": ref(c.key.party, c.key.id, c.version),
            "party": party,
            "deadline_s": deadline,
            "why": "no answer by the deadline",
        }
        for who in (OPERATOR, c.owner, party):
            emit(repo, who, "escalation", now_s, payload)


def _open_events(
    repo: Repository, c: Clearance, conflicts: Sequence[Conflict], now_s: float
) -> None:
    whole, _ = audience(repo, c)
    summary = {
        "declaration": ref(c.key.party, c.key.id, c.version),
        "kind": str(c.kind),
        "state": str(c.state),
        "late": c.late,
        "conflicts": len(conflicts),
        "notified": [n.party for n in c.notifications],
    }
    for p in whole:
        emit(repo, p, "declaration.submitted", now_s, summary)
    for n in c.notifications:
        if n.party in whole:
            continue
        emit(
            repo,
            n.party,
            "notification",
            now_s,
            {
                "declaration": ref(c.key.party, c.key.id, c.version),
                "kind": str(c.kind),
                "state": str(c.state),
                "late": c.late,
                "reasons": [str(r) for r in n.reasons],
                "your_conflicting_declarations": list(n.conflicting_ids),
                "deadline_s": n.deadline_s,
                "acknowledgement_means": ACK_MEANING,
            },
        )
    repo.insert_notifications(
        [
            NotificationRow(
                c.key.party,
                c.key.id,
                c.version,
                n.party,
                ",".join(str(r) for r in n.reasons),
                n.deadline_s,
                True,
            )
            for n in c.notifications
        ]
    )


def _leave_engine(svc: Service, repo: Repository, c: Clearance) -> Callable[[], None] | None:
    """When `c` reached a final state: drop its conflicts; returns the engine change to
    make after commit."""
    if c.state not in FINAL_STATES:
        return None
    repo.delete_conflicts_of(c.key.party, c.key.id)
    repo.close_notification(c.key.party, c.key.id, c.version)
    key = c.key

    def leave() -> None:
        if key in svc.engine:
            svc.engine.remove(key)

    return leave


def _log_version(
    svc: Service,
    repo: Repository,
    row: DeclarationRow,
    c: Clearance,
    conflicts: Sequence[Conflict],
    sig: RequestSignature | None,
    request: tuple[str, str, JSONValue],
    now_s: float,
    decl: Declaration,
    doc: dict[str, Any] | None = None,
) -> None:
    """The record of a new version: the version (its feature committed, not shown), and
    for every party notified of it, what that party is shown of it (committed too), so
    either side can later prove what was disclosed to whom and when. `doc` is
    `declaration_to_feature(decl)` when the caller made it already (a party shown the
    whole version is shown that)."""
    private, entry_sig = record.signed_request(sig, *request)
    private["feature"] = row.feature.encode()
    private["clearance"] = {
        "notified": [n.party for n in c.notifications],
        "conflicts": len(conflicts),
        "plan_start": when(c.plan_start_s),
        "plan_end": when(c.plan_end_s),
    }
    record.append(
        repo,
        now_s,
        "declaration",
        row.party,
        {
            **record.decl_ref(row.party, row.id, row.version),
            "kind": row.kind,
            "state": row.state,
            "late": row.late,
            "etag": row.etag,
        },
        private,
        entry_sig,
    )
    whole, _ = audience(repo, c)
    for n in c.notifications:
        if n.party in whole:
            continue
        try:
            # Its notification is stored after this entry: it is given here, so a force
            # party notified of a humanitarian movement is recorded as shown it whole.
            seen = visible(svc, repo, Principal(n.party, ""), row, decl, n)
        except NotFound:
            continue  # nothing of it is shown to that party: nothing disclosed
        record.append(
            repo,
            now_s,
            "disclosure",
            record.SERVICE,
            {
                **record.decl_ref(row.party, row.id, row.version),
                "from": row.party,
                "to": n.party,
                "access": str(seen.access),
            },
            {
                "portion": [
                    doc if p is decl and doc is not None else declaration_to_feature(p)
                    for p in seen.parts
                ]
            },
        )


def _stored_order(c: Conflict) -> tuple[float, str, str, str, str]:
    """The order `Repository.conflicts_of` reads conflicts in."""
    return (c.start_s, c.party_a, c.a, c.party_b, c.b)


def written_view(
    row: DeclarationRow, c: Clearance, conflicts: Sequence[Conflict]
) -> dict[str, Any]:
    """`owner_view` of a version just written (current), from what was written instead of
    read back: `c` is the clearance stored in `row`, `conflicts` all of its conflicts."""
    return {
        "declaration": ref(row.party, row.id, row.version),
        "etag": row.etag,
        "shared": row.shared,
        "clearance": clearance_view(c, row.party, whole=True),
        "conflicts": conflicts_view(sorted(conflicts, key=_stored_order)),
    }


def owner_view(svc: Service, repo: Repository, row: DeclarationRow) -> dict[str, Any]:
    c = clearance_from_json(row.clearance)
    return {
        "declaration": ref(row.party, row.id, row.version),
        "etag": row.etag,
        "shared": row.shared,
        "clearance": clearance_view(c, row.party, whole=True),
        "conflicts": conflicts_view(repo.conflicts_of(row.party, row.id)) if row.current else [],
    }


# -- idempotency --------------------------------------------------------------------------


def once(
    svc: Service,
    who: Principal,
    key: str | None,
    request: bytes,
    work: Callable[[Repository], tuple[Result, list[Callable[[], None]]]],
) -> Result:
    """Run `work` in one write transaction, at most once per Idempotency-Key: a retry with
    the same key and body gets the first answer again; with another body, a refusal."""
    digest = hashlib.sha256(request).hexdigest()
    if key is not None and not (0 < len(key) <= 128 and key.isprintable()):
        raise InvalidRequest("The Idempotency-Key must be 1 to 128 printable characters.")
    with svc.db.lock:
        with svc.write() as repo:
            if key is not None:
                seen = repo.idempotent(who.party, key)
                if seen is not None:
                    if seen[0] != digest:
                        raise InvalidRequest(
                            "This Idempotency-Key was used for a different request; use a "
                            "new key for a new request."
                        )
                    return seen[1], json.loads(seen[2])
            (status, body), after = work(repo)
            if key is not None:
                repo.remember(who.party, key, digest, status, json.dumps(body), svc.now())
        for step in after:
            step()
    return status, body


# -- writes --------------------------------------------------------------------------------


def submit(
    svc: Service,
    who: Principal,
    body: bytes,
    *,
    signature: str | None = None,
    idempotency_key: str | None = None,
    path: str = "/v1/declarations",
) -> Result:
    """Submit new declarations (a Feature or a FeatureCollection), all or nothing."""
    if who.is_operator:
        raise Forbidden("The operator does not declare; use a party's token.")
    doc = read_json(svc, body, "declaration")

    def work(repo: Repository) -> tuple[Result, list[Callable[[], None]]]:
        now = svc.now()
        found = parse_body(svc, doc, now)
        for i, d in enumerate(found.declarations):
            if d.party != who.party:
                raise Forbidden(
                    f"Feature {i} declares for party {d.party!r}; you may only declare for "
                    f"{who.party!r}."
                )
            if repo.exists(d.party, d.id):
                raise AlreadyExists(
                    f"You already declared {d.id!r}; amend it with PUT "
                    f"/v1/declarations/{d.party}/{d.id} instead."
                )
        sig = verify_request(repo, who.party, signature, signed_message("POST", path, doc))
        parties = repo.parties()
        out = []
        for d in found.declarations:
            conflicts = svc.engine.conflicts_of(d)
            c = flow.submit(
                d,
                conflicts,
                parties,
                now,
                svc.settings.notice,
                signature=None if sig is None else sig.signature,
            )
            feature = declaration_to_feature(d)
            row = _new_row(d, c, sig, shared=False, doc=feature)
            repo.insert_declaration(row)
            repo.insert_conflicts(conflicts)
            _log_version(svc, repo, row, c, conflicts, sig, ("POST", path, doc), now, d, feature)
            _open_events(repo, c, conflicts, now)
            # A new id: its only conflicts are those just inserted.
            out.append(written_view(row, c, conflicts))
        decls = found.declarations
        return (201, {"declarations": out}), [lambda: svc.engine.add_many(decls)]

    return once(svc, who, idempotency_key, b"POST " + path.encode() + b"\n" + body, work)


def _current_for_owner(
    repo: Repository, who: Principal, party: str, decl_id: str, action: str
) -> DeclarationRow:
    if who.party != party:
        raise Forbidden(f"Only party {party!r} may {action} its declarations.")
    row = repo.current(party, decl_id)
    if row is None:
        raise NotFound(f"You have no declaration {decl_id!r}; check the id.")
    return row


def _check_etag(row: DeclarationRow, if_match: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired(
            f"Name the version you change: send 'If-Match: {row.etag}' (the ETag you read)."
        )
    tags = [t.strip() for t in if_match.split(",")]
    if row.etag not in tags and "*" not in tags:
        raise StaleVersion(
            f"Your If-Match names a version that is no longer current; version {row.version} "
            f"is current (ETag {row.etag}); read it and try again."
        )


def amend(
    svc: Service,
    who: Principal,
    party: str,
    decl_id: str,
    body: bytes,
    *,
    if_match: str | None,
    signature: str | None = None,
    idempotency_key: str | None = None,
) -> Result:
    """A new version of (party, id), cleared afresh; the old one is kept, superseded."""
    path = f"/v1/declarations/{party}/{decl_id}"
    doc = read_json(svc, body, "declaration")

    def work(repo: Repository) -> tuple[Result, list[Callable[[], None]]]:
        now = svc.now()
        row = _current_for_owner(repo, who, party, decl_id, "amend")
        _check_etag(row, if_match)
        found = parse_body(svc, doc, now)
        if len(found.declarations) != 1:
            raise InvalidRequest("An amendment is one Feature, not a collection.")
        d = found.declarations[0]
        if d.key != DeclarationKey(party, decl_id):
            raise InvalidRequest(
                f"The amendment declares {d.party}/{d.id}; it must keep {party}/{decl_id}."
            )
        sig = verify_request(repo, who.party, signature, signed_message("PUT", path, doc))
        old = clearance_from_json(row.clearance)
        conflicts = svc.engine.conflicts_of(d)
        old2, new = flow.amend(
            old,
            d,
            conflicts,
            repo.parties(),
            now,
            svc.settings.notice,
            signature=None if sig is None else sig.signature,
        )
        _save(repo, old2)
        # flow.amend applies what time alone decided on the old version first (escalations
        # the scheduler had not yet made): say so, as every other writer does.
        announce_escalations(repo, old, old2, now)
        announce_state(repo, old.state, old2, now)
        repo.close_notification(party, decl_id, row.version)
        repo.retire_versions(party, decl_id)
        repo.delete_conflicts_of(party, decl_id)
        new_row = _new_row(d, new, sig, shared=row.shared)
        repo.insert_declaration(new_row)
        repo.insert_conflicts(conflicts)
        _log_version(svc, repo, new_row, new, conflicts, sig, ("PUT", path, doc), now, d)
        _open_events(repo, new, conflicts, now)
        view = owner_view(svc, repo, repo.current(party, decl_id))  # type: ignore[arg-type]
        key = d.key

        def reindex() -> None:
            if key in svc.engine:
                svc.engine.remove(key)
            if new.state not in FINAL_STATES:
                svc.engine.add(d)

        return (200, view), [reindex]

    return once(svc, who, idempotency_key, b"PUT " + path.encode() + b"\n" + body, work)


OWNER_ACTIONS = {
    "withdraw": flow.withdraw,
    "activate": flow.activate,
    "complete": flow.complete,
}


def owner_action(
    svc: Service,
    who: Principal,
    party: str,
    decl_id: str,
    action: str,
    body: bytes,
    *,
    if_match: str | None,
    signature: str | None = None,
    idempotency_key: str | None = None,
) -> Result:
    """withdraw, activate or complete the current version (owner only, If-Match)."""
    path = f"/v1/declarations/{party}/{decl_id}/{action}"
    doc = read_json(svc, body or b"{}", "request body")
    reason = _reason(doc)

    def work(repo: Repository) -> tuple[Result, list[Callable[[], None]]]:
        now = svc.now()
        row = _current_for_owner(repo, who, party, decl_id, action)
        _check_etag(row, if_match)
        sig = verify_request(repo, who.party, signature, signed_message("POST", path, doc))
        c0 = clearance_from_json(row.clearance)
        c1 = flow.expire_due(c0, now)
        c2 = OWNER_ACTIONS[action](
            c1, who.party, now, reason, signature=None if sig is None else sig.signature
        )
        _save(repo, c2)
        announce_escalations(repo, c0, c1, now)
        private, entry_sig = record.signed_request(sig, "POST", path, doc)
        record.append(
            repo,
            now,
            f"declaration.{action}",
            who.party,
            record.decl_ref(party, decl_id, row.version),
            private or None,
            entry_sig,
        )
        announce_state(repo, c0.state, c2, now)
        after = _leave_engine(svc, repo, c2)
        return (200, owner_view(svc, repo, repo.current(party, decl_id))), (  # type: ignore[arg-type]
            [after] if after else []
        )

    return once(svc, who, idempotency_key, b"POST " + path.encode() + b"\n" + body, work)


def _reason(doc: JSONValue) -> str:
    if not isinstance(doc, dict) or set(doc) - {"reason", "version"}:
        raise InvalidRequest('The body must be a JSON object with an optional "reason" text.')
    reason = doc.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidRequest('"reason" must be a text of at most 2,000 characters.')
    return reason


def respond(
    svc: Service,
    who: Principal,
    party: str,
    decl_id: str,
    answer: str,
    body: bytes,
    *,
    signature: str | None = None,
    idempotency_key: str | None = None,
) -> Result:
    """A notified party acknowledges (no objection; never a permission) or objects."""
    path = f"/v1/declarations/{party}/{decl_id}/{answer}"
    doc = read_json(svc, body or b"{}", "request body")
    reason = _reason(doc)
    version = doc.get("version") if isinstance(doc, dict) else None
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidRequest('"version" must be the whole number of the version you answer.')

    def work(repo: Repository) -> tuple[Result, list[Callable[[], None]]]:
        now = svc.now()
        row = repo.current(party, decl_id)
        c0 = None if row is None else clearance_from_json(row.clearance)
        if (
            row is None
            or c0 is None
            or (who.party != party and c0.notification_for(who.party) is None)
        ):
            raise NotFound(flow.NOT_AWAITING)
        if version is not None and version != row.version:
            raise StaleVersion(
                f"Version {version} was replaced by version {row.version}; read it and answer "
                "that one."
            )
        sig = verify_request(repo, who.party, signature, signed_message("POST", path, doc))
        c1 = flow.expire_due(c0, now)
        c2 = flow.respond(
            c1, who.party, answer, reason, now, signature=None if sig is None else sig.signature
        )
        _save(repo, c2)
        repo.close_notification(party, decl_id, row.version, who.party)
        announce_escalations(repo, c0, c1, now)
        private, entry_sig = record.signed_request(sig, "POST", path, doc)
        if reason.strip():
            private["reason"] = reason.strip()
        record.append(
            repo,
            now,
            "response",
            who.party,
            {**record.decl_ref(party, decl_id, row.version), "answer": answer},
            private or None,
            entry_sig,
        )
        whole, _ = audience(repo, c2)
        for p in whole:
            emit(
                repo,
                p,
                "response",
                now,
                {
                    "declaration": ref(party, decl_id, row.version),
                    "by": who.party,
                    "answer": answer,
                    "reason": reason.strip(),
                },
            )
        announce_state(repo, c0.state, c2, now)
        after = _leave_engine(svc, repo, c2)
        view = clearance_view(c2, who.party, whole=False)
        view["acknowledgement_means"] = ACK_MEANING
        return (200, view), ([after] if after else [])

    return once(svc, who, idempotency_key, b"POST " + path.encode() + b"\n" + body, work)


def share(svc: Service, who: Principal, party: str, decl_id: str, shared: bool) -> Result:
    """The owner shows (or stops showing) a declaration whole to every party."""
    with svc.db.lock, svc.write() as repo:
        row = _current_for_owner(repo, who, party, decl_id, "share")
        repo.set_shared(party, decl_id, shared)
        record.append(
            repo,
            svc.now(),
            "declaration.shared",
            who.party,
            {**record.decl_ref(party, decl_id, row.version), "shared": shared},
        )
        return 200, owner_view(svc, repo, repo.current(party, decl_id))  # type: ignore[arg-type]


# -- reads ---------------------------------------------------------------------------------


def visible(
    svc: Service,
    repo: Repository,
    who: Principal,
    row: DeclarationRow,
    parsed: Declaration | None = None,
    note: Notification | None = None,
) -> VisibleDeclaration:
    """What `who` may see of the version in `row` (NotFound when nothing); `parsed` is
    the row's declaration when the caller has it already (a version being written), and
    `note` the notification of `who` about it when it is not stored yet (the same)."""
    viewer = repo.party(who.party)
    if viewer is None:
        raise NotFound(NOT_VISIBLE)
    decl = svc.declaration(row) if parsed is None else parsed
    conflicts = repo.conflicts_of(row.party, row.id) if row.current else []
    observers = frozenset(repo.observers(row.party))
    shared = frozenset({row.id}) if row.shared else frozenset()
    if note is not None:
        notified_whole = NoticeReason.HUMANITARIAN_TO_FORCE in note.reasons
    else:
        stored = repo.notification(row.party, row.id, row.version, who.party)
        notified_whole = (
            stored is not None and str(NoticeReason.HUMANITARIAN_TO_FORCE) in stored.reasons
        )
    return visible_to(
        decl, conflicts, viewer, ShareList(observers, shared), notified_whole=notified_whole
    )


def read(
    svc: Service, who: Principal, party: str, decl_id: str, version: int | None = None
) -> tuple[dict[str, Any], str | None]:
    """A declaration as `who` may see it, and its ETag (owner only)."""
    with svc.read() as repo:
        return _read(svc, repo, who, party, decl_id, version)


def _read(
    svc: Service,
    repo: Repository,
    who: Principal,
    party: str,
    decl_id: str,
    version: int | None = None,
) -> tuple[dict[str, Any], str | None]:
    row = repo.current(party, decl_id) if version is None else repo.version(party, decl_id, version)
    if who.party == party:
        if row is None:
            raise NotFound(
                f"You have no declaration {decl_id!r}"
                + (f" version {version}" if version else "")
                + "; check the id."
            )
        view = owner_view(svc, repo, row)
        view["access"] = "owner"
        view["whole"] = True
        view["features"] = [json.loads(row.feature)]
        view["versions"] = repo.version_numbers(party, decl_id)
        return view, row.etag
    # Earlier versions stay in the record for whoever sees the declaration whole: its
    # owner (above) and the observers it named (SPEC section 4), nobody else.
    if row is None or (version is not None and who.party not in repo.observers(party)):
        raise NotFound(NOT_VISIBLE)
    c = clearance_from_json(row.clearance)
    if who.is_operator:
        return {
            "declaration": ref(party, decl_id, row.version),
            "access": "operator",
            "whole": False,
            "features": [],
            "clearance": clearance_view(c, who.party, whole=True),
            "conflicts": [],
        }, None
    seen = visible(svc, repo, who, row)
    return {
        "declaration": ref(party, decl_id, row.version),
        "access": str(seen.access),
        "whole": seen.whole,
        "features": [declaration_to_feature(p) for p in seen.parts],
        "clearance": clearance_view(
            c, who.party, whole=seen.whole and str(seen.access) == "observer"
        ),
        "conflicts": conflicts_view(seen.conflicts),
    }, None


_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
"""JSON as the API writes it (Starlette's JSONResponse: UTF-8, compact, no NaN)."""


@functools.lru_cache(maxsize=4096)
def _owner_clearance_json(text: str, owner: str) -> str:
    """The owner's whole view of a stored clearance, as JSON: a function of the stored
    text alone (any change to a clearance stores a new text), so kept for the next read."""
    return _dumps(clearance_view(clearance_from_json(text), owner, whole=True))


@functools.lru_cache(maxsize=16384)
def _conflict_json(c: Conflict) -> str:
    """One conflict as JSON (a function of the frozen conflict), kept for the next read."""
    return _dumps(conflicts_view([c])[0])


def read_answer(
    svc: Service, authorization: str | None, party: str, decl_id: str
) -> tuple[Principal, bytes, str | None]:
    """`read` of a current version for the API's hot path, on one read snapshot: the caller
    authenticated (so a revoked token is refused at once), the answer as the JSON bytes
    the API sends, and the ETag (owner only). The same answer as `read`, made cheaper for
    the owner: the stored feature goes out as stored (parsing and re-encoding its floats
    cost ~0.25 ms), the clearance and the conflicts as JSON kept from earlier reads."""
    with svc.read() as repo:
        who = authenticate(repo, authorization)
        if who.party != party:
            out, etag = _read(svc, repo, who, party, decl_id)
            return who, _dumps(out).encode(), etag
        row = repo.current(party, decl_id)
        if row is None:
            raise NotFound(f"You have no declaration {decl_id!r}; check the id.")
        conflicts = repo.conflicts_of(party, decl_id)
        versions = repo.version_numbers(party, decl_id)
    # The keys in the order of `read`'s dict, each value the JSON `read` would give.
    head = _dumps({"declaration": ref(party, decl_id, row.version), "etag": row.etag})
    parts = (
        head[:-1],
        ',"shared":',
        "true" if row.shared else "false",
        ',"clearance":',
        _owner_clearance_json(row.clearance, party),
        ',"conflicts":[',
        ",".join([_conflict_json(c) for c in conflicts]),
        '],"access":"owner","whole":true,"features":[',
        row.feature,
        '],"versions":',
        _dumps(versions),
        "}",
    )
    return who, "".join(parts).encode(), row.etag


def conflicts_of(svc: Service, who: Principal, party: str, decl_id: str) -> dict[str, Any]:
    view, _ = read(svc, who, party, decl_id)
    return {"declaration": view["declaration"], "conflicts": view["conflicts"]}


def listing(
    svc: Service, who: Principal, *, scope: str, after: str | None, limit: int | None
) -> dict[str, Any]:
    """One page of declarations `who` may see: its own, or others' it may see."""
    limits = svc.settings.limits
    size = limits.default_page if limit is None else limit
    if not 1 <= size <= limits.max_page:
        raise InvalidRequest(f"limit must be from 1 to {limits.max_page} (max_page).")
    cursor: tuple[str, str] | None = None
    if after:
        p, sep, i = after.partition("/")
        if not sep:
            raise InvalidRequest("after must be 'party/id', as given in the previous page's next.")
        cursor = (p, i)
    with svc.read() as repo:
        if scope == "own":
            rows = repo.current_of([who.party], cursor, size + 1)
            items = [
                {
                    "declaration": ref(r.party, r.id, r.version),
                    "kind": r.kind,
                    "state": r.state,
                    "late": r.late,
                    "etag": r.etag,
                    "access": "owner",
                }
                for r in rows[:size]
            ]
            more = len(rows) > size
            last = rows[size - 1] if more else None
        elif scope == "visible":
            keys = repo.conflicting_with(who.party)
            keys |= {(n.party, n.id) for n in repo.notified_of(who.party, open_only=False)}
            keys |= set(repo.shared_current())
            for owner in repo.owners_observed_by(who.party):
                keys |= {(r.party, r.id) for r in repo.current_of([owner], None, 100_000)}
            ordered = sorted(
                k for k in keys if k[0] != who.party and (cursor is None or k > cursor)
            )
            items = []
            last = None
            more = False
            for k in ordered:
                if len(items) == size:
                    more = True
                    break
                row = repo.current(*k)
                if row is None:
                    continue
                try:
                    seen = visible(svc, repo, who, row)
                except NotFound:
                    continue
                items.append(
                    {
                        "declaration": ref(row.party, row.id, row.version),
                        "kind": row.kind,
                        "state": row.state,
                        "late": row.late,
                        "access": str(seen.access),
                    }
                )
                last = row
        else:
            raise InvalidRequest("scope must be 'own' or 'visible'.")
    nxt = f"{last.party}/{last.id}" if more and last is not None else None
    return {"items": items, "next": nxt}


def inbox(svc: Service, who: Principal) -> dict[str, Any]:
    """What awaits `who`'s answer: open notifications, unacknowledged messages and
    incidents against it that await its account."""
    now = svc.now()
    with svc.read() as repo:
        notes = [n for n in repo.notified_of(who.party, open_only=True) if n.deadline_s >= now]
        out = []
        for n in notes:
            row = repo.version(n.party, n.id, n.version)
            if row is None or not row.current or row.state not in ("notified", "objected"):
                continue
            out.append(
                {
                    "declaration": ref(n.party, n.id, n.version),
                    "kind": row.kind,
                    "reasons": n.reasons.split(","),
                    "deadline_s": n.deadline_s,
                    "late": row.late,
                    "acknowledgement_means": ACK_MEANING,
                }
            )
        from deconflict.service.incidents import awaiting_incidents
        from deconflict.service.messages import awaiting_messages

        return {
            "clearance": out,
            "messages": awaiting_messages(repo, who, now),
            "incidents": awaiting_incidents(repo, who),
        }

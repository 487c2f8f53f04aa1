"""The incident procedure (docs/record.md, "Incidents"): a party files an incident
against another; the accused gets a request for information with a deadline; each side
adds its account; the operator, or the two parties jointly, record a finding (which may be
that they disagree). An accused silent past its deadline is escalated to the operator,
once. Every step is an entry of the record, written in the transaction of the step.

Only the two parties and the operator see an incident; anyone else is told it does not
exist. Description, place, attachments, accounts and findings are committed in the
record, never shown in its public entries, and opened to the two parties and the operator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
from typing import Any

from deconflict.errors import (
    DeconflictError,
    Forbidden,
    InvalidRequest,
    LimitExceeded,
    NotFound,
)
from deconflict.ingest.fields import RuleBroken
from deconflict.ingest.times import parse_time
from deconflict.model.clearance import OPERATOR
from deconflict.record.canonical import JSONValue
from deconflict.service import reconstruct as rc
from deconflict.service import record
from deconflict.service.auth import Principal, signed_message, verify_request
from deconflict.service.core import Service
from deconflict.service.events import emit
from deconflict.service.views import when
from deconflict.store.repository import IncidentRow, Repository

CATEGORIES = ("collision", "near_miss", "intrusion", "fire", "obstruction", "other")
"""What an incident may be filed as."""
OUTCOMES = ("agreed", "disagreed")
"""A finding states what was found (`agreed`) or records that the sides disagree."""

MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 20_000
"""Longest description, account or finding, characters."""
MAX_RADIUS_M = 100_000.0
MAX_NAME_CHARS = 200
FUTURE_TOLERANCE_S = 300.0
"""An incident may not be dated later than now plus this (clocks differ a little)."""

EARLIEST_S = 946_684_800.0
"""2000-01-01T00:00:00Z: no incident is dated earlier."""

NOT_VISIBLE = "No incident you may see has that id; check the id."
_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$"
)
_FIELDS = {"against", "at", "place", "radius_m", "category", "description", "attachments"}
_REQUIRED = {"against", "at", "place", "category", "description"}


class IncidentClosed(DeconflictError):
    """The incident has its finding: nothing more is added to it."""

    code = "incident_closed"
    http_status = 409
    exit_code = 2


# -- checking input --------------------------------------------------------------------


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_CHARS:
        raise InvalidRequest(f'"{name}" must be a text of 1 to {MAX_TEXT_CHARS:,} characters.')
    _well_formed(value, name)
    return value


def _well_formed(value: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f'"{name}" holds a lone UTF-16 surrogate; send well-formed text.'
        ) from None
    if "\x00" in value:
        raise InvalidRequest(f'"{name}" holds a NUL character; send plain text.')


def _number(value: object) -> float | None:
    """A finite JSON number as a float, else None (true/false are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _place(raw: object) -> tuple[float, float]:
    if isinstance(raw, list) and len(raw) == 2:
        lon, lat = _number(raw[0]), _number(raw[1])
        if lon is not None and lat is not None and -180 <= lon <= 180 and -90 <= lat <= 90:
            return lon, lat
    raise InvalidRequest('"place" must be [lon, lat] in degrees (WGS 84), like [42.14, 37.17].')


def _attachments(raw: object) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ATTACHMENTS:
        raise InvalidRequest(f'"attachments" must be a list of at most {MAX_ATTACHMENTS} files.')
    out = []
    limit_b64 = 4 * ((MAX_ATTACHMENT_BYTES + 2) // 3)
    for n, item in enumerate(raw):
        if not (
            isinstance(item, dict)
            and set(item) == {"name", "media_type", "content_base64"}
            and all(isinstance(v, str) for v in item.values())
        ):
            raise InvalidRequest(
                f'attachments[{n}] must be {{"name", "media_type", "content_base64"}}, all texts.'
            )
        name, media_type, text = item["name"], item["media_type"], item["content_base64"]
        if not 0 < len(name) <= MAX_NAME_CHARS or any(ord(c) < 32 for c in name):
            raise InvalidRequest(
                f"attachments[{n}].name must be 1 to {MAX_NAME_CHARS} printable characters."
            )
        _well_formed(name, f"attachments[{n}].name")
        if not _MEDIA_TYPE.match(media_type):
            raise InvalidRequest(
                f"attachments[{n}].media_type must be a media type like image/jpeg."
            )
        if len(text) > limit_b64:
            raise _too_large(n)
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                f"attachments[{n}].content_base64 is not base64 (RFC 4648, with padding)."
            ) from None
        if not content:
            raise InvalidRequest(f"attachments[{n}] is empty; attach a file of 1 byte or more.")
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise _too_large(n)
        out.append(
            {
                "n": n,
                "name": name,
                "media_type": media_type,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "content": content,
            }
        )
    return out


def _too_large(n: int) -> LimitExceeded:
    return LimitExceeded(
        f"attachments[{n}] is over the limit of {MAX_ATTACHMENT_BYTES:,} bytes per attachment."
    )


# -- views -----------------------------------------------------------------------------


def _parties(row: IncidentRow) -> dict[str, JSONValue]:
    return {"incident": row.incident_id, "filer": row.filer, "against": row.against}


def summary(row: IncidentRow) -> dict[str, Any]:
    """What a listing shows: the incident's metadata, none of its contents."""
    return {
        "incident": row.incident_id,
        "filer": row.filer,
        "against": row.against,
        "at": when(row.at_s),
        "category": row.category,
        "filed_at": when(row.filed_s),
        "state": state(row),
        "rfi": {
            "party": row.against,
            "deadline": when(row.rfi_deadline_s),
            "answered_at": when(row.answered_s),
            "escalated_at": when(row.escalated_s),
        },
        "outcome": row.outcome,
    }


def state(row: IncidentRow) -> str:
    """awaiting_account → (escalated) → open → found."""
    if row.found_s is not None:
        return "found"
    if row.answered_s is not None:
        return "open"
    return "escalated" if row.escalated_s is not None else "awaiting_account"


def view(repo: Repository, row: IncidentRow) -> dict[str, Any]:
    """The whole incident, for its two parties and the operator."""
    out = summary(row)
    out.update(
        {
            "place": [row.lon, row.lat],
            "radius_m": row.radius_m,
            "description": row.description,
            "attachments": repo.incident_attachments(row.incident_id),
            "accounts": [
                {"party": p, "text": text, "at": when(at), "entry": idx}
                for p, text, at, idx in repo.incident_accounts(row.incident_id)
            ],
            "proposal": None
            if row.proposed_by is None
            else {
                "by": row.proposed_by,
                "finding": row.proposed_finding,
                "outcome": row.proposed_outcome,
            },
            "finding": None
            if row.found_s is None
            else {
                "finding": row.finding,
                "outcome": row.outcome,
                "by": (row.found_by or "").split("+"),
                "at": when(row.found_s),
            },
        }
    )
    return out


def _plain(value: object, longest: int) -> bool:
    """Whether `value` is a text the store can look up (a name or an id)."""
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _visible(repo: Repository, who: Principal, incident_id: str) -> IncidentRow:
    row = repo.incident(incident_id) if _plain(incident_id, 32) else None
    if row is None or not (who.is_operator or who.party in (row.filer, row.against)):
        raise NotFound(NOT_VISIBLE)
    return row


# -- the procedure ---------------------------------------------------------------------


def file(svc: Service, who: Principal, doc: JSONValue, *, signature: str | None = None) -> Any:
    """File an incident against another party; the accused is asked for its account."""
    if who.is_operator:
        raise Forbidden("A party files an incident; the operator records findings.")
    if not isinstance(doc, dict) or not _REQUIRED <= set(doc) or set(doc) - _FIELDS:
        raise InvalidRequest(
            'An incident is {"against", "at", "place": [lon, lat], "radius_m", "category", '
            '"description", "attachments"}.'
        )
    now = svc.now()
    try:
        at_s = parse_time(doc["at"], '"at"')
    except RuleBroken as exc:
        raise InvalidRequest(str(exc)) from None
    if not math.isfinite(at_s) or at_s > now + FUTURE_TOLERANCE_S:
        raise InvalidRequest('"at" is in the future; an incident is filed after it happened.')
    if at_s < EARLIEST_S:
        raise InvalidRequest('"at" is before 2000-01-01; give the time the incident happened.')
    lon, lat = _place(doc["place"])
    radius = _number(doc.get("radius_m", 0))
    if radius is None or not 0 <= radius <= MAX_RADIUS_M:
        raise InvalidRequest(f'"radius_m" must be a number of metres from 0 to {MAX_RADIUS_M:g}.')
    category = doc["category"]
    if category not in CATEGORIES:
        raise InvalidRequest(f'"category" must be one of {", ".join(CATEGORIES)}.')
    description = _text(doc["description"], "description")
    attachments = _attachments(doc.get("attachments"))
    against = doc["against"]
    with svc.db.lock, svc.write() as repo:
        if not _plain(against, 32) or repo.party(str(against)) is None:
            raise NotFound(f"No party is named {str(against)[:40]!r}; see GET /v1/parties.")
        if against == who.party:
            raise InvalidRequest("An incident is filed against another party, not yourself.")
        sig = verify_request(
            repo, who.party, signature, signed_message("POST", "/v1/incidents", doc)
        )
        deadline = now + svc.settings.incident_rfi_s
        row = IncidentRow(
            incident_id=f"i{int(now * 1000):013d}{secrets.token_hex(4)}",
            filer=who.party,
            against=against,
            at_s=at_s,
            lon=lon,
            lat=lat,
            radius_m=radius,
            category=str(category),
            description=description,
            filed_s=now,
            rfi_deadline_s=deadline,
            answered_s=None,
            escalated_s=None,
            due_s=deadline,
            proposed_by=None,
            proposed_finding=None,
            proposed_outcome=None,
            finding=None,
            outcome=None,
            found_by=None,
            found_s=None,
        )
        repo.insert_incident(row)
        repo.add_incident_attachments([{"incident_id": row.incident_id, **a} for a in attachments])
        private, entry_sig = record.signed_request(sig, "POST", "/v1/incidents", doc)
        private["description"] = description
        private["place"] = {"lon": lon, "lat": lat, "radius_m": radius}
        private["attachments"] = [
            {k: a[k] for k in ("name", "media_type", "size", "sha256")} for a in attachments
        ]
        record.append(
            repo,
            now,
            "incident.filed",
            who.party,
            {
                **_parties(row),
                "at": when(at_s),
                "category": row.category,
                "rfi_deadline": when(deadline),
                "attachments": [a["sha256"] for a in attachments],
            },
            private,
            entry_sig,
        )
        whole = view(repo, row)
        emit(repo, against, "incident.rfi", now, {"incident": whole})
        emit(repo, OPERATOR, "incident.filed", now, {"incident": summary(row)})
    return whole


def add_account(
    svc: Service, who: Principal, incident_id: str, doc: JSONValue, *, signature: str | None = None
) -> dict[str, Any]:
    """A party's account of the incident; either side may add several."""
    if not isinstance(doc, dict) or set(doc) != {"text"}:
        raise InvalidRequest('An account is {"text": ...}.')
    text = _text(doc["text"], "text")
    path = f"/v1/incidents/{incident_id}/accounts"
    with svc.db.lock, svc.write() as repo:
        row = _visible(repo, who, incident_id)
        if who.is_operator:
            raise Forbidden("The two parties give accounts; the operator records the finding.")
        if row.found_s is not None:
            raise IncidentClosed("This incident has its finding; it takes no more accounts.")
        sig = verify_request(repo, who.party, signature, signed_message("POST", path, doc))
        now = svc.now()
        private, entry_sig = record.signed_request(sig, "POST", path, doc)
        private["text"] = text
        index = record.append(
            repo,
            now,
            "incident.account",
            who.party,
            {**_parties(row), "party": who.party},
            private,
            entry_sig,
        )
        repo.add_incident_account(row.incident_id, who.party, text, now, index)
        if who.party == row.against and row.answered_s is None:
            repo.update_incident(row.incident_id, answered_s=now, due_s=None)
        other = row.filer if who.party == row.against else row.against
        said = {"incident": row.incident_id, "party": who.party, "text": text, "entry": index}
        for p in (other, OPERATOR):
            emit(repo, p, "incident.account", now, said)
        found = repo.incident(row.incident_id)
        assert found is not None
        return view(repo, found)


def record_finding(
    svc: Service, who: Principal, incident_id: str, doc: JSONValue, *, signature: str | None = None
) -> dict[str, Any]:
    """The operator records a finding at once. A party proposes one; when the other party
    then posts the same finding and outcome, it is recorded as the parties' joint finding.
    A different text or outcome replaces the proposal (and awaits the other side)."""
    if (
        not isinstance(doc, dict)
        or set(doc) != {"finding", "outcome"}
        or doc["outcome"] not in OUTCOMES
    ):
        raise InvalidRequest('A finding is {"finding": text, "outcome": "agreed" | "disagreed"}.')
    finding = _text(doc["finding"], "finding")
    outcome = str(doc["outcome"])
    path = f"/v1/incidents/{incident_id}/finding"
    with svc.db.lock, svc.write() as repo:
        row = _visible(repo, who, incident_id)
        if row.found_s is not None:
            raise IncidentClosed("This incident already has its finding; it is recorded once.")
        sig = None
        if not who.is_operator:
            sig = verify_request(repo, who.party, signature, signed_message("POST", path, doc))
        now = svc.now()
        private, entry_sig = record.signed_request(sig, "POST", path, doc)
        private["finding"] = finding
        joint = (
            not who.is_operator
            and row.proposed_by is not None
            and row.proposed_by != who.party
            and row.proposed_finding == finding
            and row.proposed_outcome == outcome
        )
        if who.is_operator or joint:
            by = [OPERATOR] if who.is_operator else [row.proposed_by or "", who.party]
            record.append(
                repo,
                now,
                "incident.finding",
                who.party,
                {**_parties(row), "outcome": outcome, "found_by": list(by)},
                private,
                entry_sig,
            )
            repo.update_incident(
                row.incident_id,
                finding=finding,
                outcome=outcome,
                found_by="+".join(by),
                found_s=now,
                due_s=None,
                proposed_by=None,
                proposed_finding=None,
                proposed_outcome=None,
            )
            said = {
                "incident": row.incident_id,
                "finding": finding,
                "outcome": outcome,
                "by": by,
            }
            for p in (row.filer, row.against, OPERATOR):
                emit(repo, p, "incident.finding", now, said)
        else:
            record.append(
                repo,
                now,
                "incident.finding_proposed",
                who.party,
                {**_parties(row), "outcome": outcome},
                private,
                entry_sig,
            )
            repo.update_incident(
                row.incident_id,
                proposed_by=who.party,
                proposed_finding=finding,
                proposed_outcome=outcome,
            )
            other = row.filer if who.party == row.against else row.against
            emit(
                repo,
                other,
                "incident.finding_proposed",
                now,
                {
                    "incident": row.incident_id,
                    "by": who.party,
                    "finding": finding,
                    "outcome": outcome,
                },
            )
        found = repo.incident(row.incident_id)
        assert found is not None
        return view(repo, found)


def get(svc: Service, who: Principal, incident_id: str) -> dict[str, Any]:
    with svc.read() as repo:
        return view(repo, _visible(repo, who, incident_id))


def attachment(svc: Service, who: Principal, incident_id: str, n: int) -> dict[str, Any]:
    """One attachment with its bytes (`content`), for the two parties and the operator."""
    with svc.read() as repo:
        row = _visible(repo, who, incident_id)
        for a in repo.incident_attachments(row.incident_id, with_content=True):
            if a["n"] == n:
                return a
    raise NotFound(f"Incident {incident_id} has no attachment {n}; see its attachments.")


def listing(svc: Service, who: Principal, after: str | None, limit: int | None) -> dict[str, Any]:
    """Incidents filed by or against the caller (every incident for the operator), as
    metadata; GET /v1/incidents/{id} gives one whole."""
    limits = svc.settings.limits
    size = limits.default_page if limit is None else limit
    if not 1 <= size <= limits.max_page:
        raise InvalidRequest(f"limit must be from 1 to {limits.max_page} (max_page).")
    if after is not None and not _plain(after, 64):
        raise InvalidRequest("after must be an incident id from an earlier page.")
    with svc.read() as repo:
        rows = repo.incidents_of(None if who.is_operator else who.party, size + 1, after)
    nxt = rows[size - 1].incident_id if len(rows) > size else None
    return {"items": [summary(r) for r in rows[:size]], "next": nxt}


def awaiting_incidents(repo: Repository, who: Principal) -> list[dict[str, Any]]:
    """The inbox item: incidents against `who` that await its account."""
    if who.is_operator:
        return []
    return [
        {
            "incident": r.incident_id,
            "filer": r.filer,
            "category": r.category,
            "at": when(r.at_s),
            "deadline": when(r.rfi_deadline_s),
            "escalated": r.escalated_s is not None,
        }
        for r in repo.awaiting_incidents(who.party)
    ]


def escalate_due(repo: Repository, now_s: float) -> int:
    """Escalate to the operator, once, each incident whose accused gave no account by the
    deadline."""
    n = 0
    for r in repo.due_incidents(now_s):
        if r.answered_s is not None or r.found_s is not None:
            repo.update_incident(r.incident_id, due_s=None)
            continue
        if now_s <= r.rfi_deadline_s:
            continue
        repo.update_incident(r.incident_id, escalated_s=now_s, due_s=None)
        record.append(
            repo,
            now_s,
            "incident.rfi_escalated",
            record.SERVICE,
            {**_parties(r), "deadline": when(r.rfi_deadline_s)},
        )
        payload = {
            **_parties(r),
            "deadline": when(r.rfi_deadline_s),
            "why": "no account from the party it is filed against by the deadline",
        }
        for p in (OPERATOR, r.filer, r.against):
            emit(repo, p, "incident.rfi_escalated", now_s, payload)
        n += 1
    return n


# -- the evidence bundle (docs/record.md, "Incidents", step 5) -------------------------

EVIDENCE_WINDOW_S = 1800.0
"""The evidence bundle covers the incident's `at` minus and plus this, seconds."""
EVIDENCE_MIN_RADIUS_M = 1000.0
"""The evidence bundle looks at least this far from the incident's place, metres (an
incident filed with a radius of 0 still shows who was near)."""
EVIDENCE_MAX_RADIUS_M = 5000.0
"""...and at most this far, whatever radius the incident was filed with: the bundle opens
the other party's plans and positions, so a party cannot widen it to 100 km by filing."""
MAX_EVIDENCE = 10
"""Evidence bundles one incident may hold (each a reconstruction of the whole record)."""
_ANYONE = (record.SERVICE, OPERATOR)
"""Who may act in a kept item besides the two parties: the service and the operator."""


class EvidenceUnavailable(DeconflictError):
    """The service has no log key, so it cannot sign the checkpoint evidence rests on."""

    code = "evidence_unavailable"
    http_status = 409
    exit_code = 2


def evidence_query(row: IncidentRow) -> rc.Query:
    """What the evidence of an incident covers: its own time and place."""
    return rc.Query(
        at_s=row.at_s,
        lon=row.lon,
        lat=row.lat,
        radius_m=min(max(row.radius_m, EVIDENCE_MIN_RADIUS_M), EVIDENCE_MAX_RADIUS_M),
        window_s=EVIDENCE_WINDOW_S,
    )


def _owner(ref: object) -> str:
    return str(ref).split("/", 1)[0]


def _cited(item: Any) -> set[int]:
    """Every log index an item of the report names (`index`, `entry`, `entries`), at any
    depth."""
    out: set[int] = set()
    if isinstance(item, dict):
        for k, v in item.items():
            if k == "feature":
                continue  # a party's own properties: it may name any key
            if k in ("index", "entry") and isinstance(v, int) and not isinstance(v, bool):
                out.add(v)
            elif k == "entries" and isinstance(v, list):
                out.update(i for i in v if isinstance(i, int) and not isinstance(i, bool))
            else:
                out |= _cited(v)
    elif isinstance(item, list):
        for v in item:
            out |= _cited(v)
    return out


def only_parties(report: dict[str, Any], parties: tuple[str, str]) -> dict[str, Any]:
    """The report with only what concerns the incident's two parties: their declarations
    (without other parties' answers in the history), their tracks, the alerts, deviations
    and closest approaches among them alone, their messages to each other; and under
    `entries` only the entries those items cite. A third party's plan or position near the
    place is not theirs to see (SPEC section 4); each kept proof still verifies on its own."""
    allowed = set(parties)
    acting = allowed | set(_ANYONE)
    out = dict(report)
    declarations = []
    for d in report["declarations"]:
        if d["party"] not in allowed:
            continue
        history = [
            h
            for h in d["history"]
            if h["by"] in acting
            and (h["type"] != "disclosure" or h.get("to") in allowed)
            and all(
                v in allowed
                for k, v in (h.get("data") or {}).items()
                if k in ("silent", "to", "responder")
            )
        ]
        declarations.append({**d, "history": history})
    out["declarations"] = declarations
    out["tracks"] = [t for t in report["tracks"] if t["party"] in allowed]

    def among(item: dict[str, Any]) -> bool:
        named = set(item.get("parties") or ())
        named |= {_owner(u) for u in item.get("units") or ()}
        named |= {_owner(d) for d in item.get("declarations") or ()}
        return named <= allowed

    alerts = [a for a in report["alerts"] if a.get("event") != "acknowledged" and among(a)]
    kept = {a["alert"] for a in alerts}
    alerts += [
        a
        for a in report["alerts"]
        if a.get("event") == "acknowledged" and a["alert"] in kept and a.get("by") in acting
    ]
    alerts.sort(key=lambda a: (rc.parse_time(str(a["time"])), a["index"]))
    out["alerts"] = alerts
    out["deviations"] = [d for d in report["deviations"] if among(d)]
    out["closest_approaches"] = [c for c in report["closest_approaches"] if among(c)]
    out["messages"] = [
        {**m, "events": [e for e in m["events"] if e["by"] in acting]}
        for m in report["messages"]
        if m["from"] in allowed and m["to"] in allowed
    ]
    cited: set[int] = set()
    for name in ("declarations", "tracks", "alerts", "deviations", "closest_approaches"):
        cited |= _cited(out[name])
    cited |= _cited(out["messages"])
    out["entries"] = [e for e in report["entries"] if e["index"] in cited]
    out["parties"] = sorted(allowed)
    return out


def _evidence_summary(row: IncidentRow, e: dict[str, Any]) -> dict[str, Any]:
    return {
        "incident": row.incident_id,
        "n": e["n"],
        "by": e["by"],
        "at": when(e["at_s"]),
        "sha256": e["sha256"],
        "checkpoint": {"id": e["checkpoint_id"], "tree_size": e["tree_size"]},
        "cited_entries": e["cited"],
        "entry": e["log_index"],
    }


def _may_add_evidence(repo: Repository, who: Principal, incident_id: str) -> IncidentRow:
    row = _visible(repo, who, incident_id)
    if row.found_s is not None:
        raise IncidentClosed("This incident has its finding; no more evidence is attached.")
    if len(repo.incident_evidence(row.incident_id)) >= MAX_EVIDENCE:
        raise LimitExceeded(
            f"This incident holds {MAX_EVIDENCE} evidence bundles already, the most it may."
        )
    return row


def attach_evidence(svc: Service, who: Principal, incident_id: str) -> dict[str, Any]:
    """Reconstruct the incident's own time and place from the record (see
    `evidence_query`, limited to its two parties by `only_parties`) and keep the bundle
    beside the incident: report.json, the signed checkpoint its proofs rest on and the
    log's verifier key. A sealed `incident.evidence` entry binds the report's SHA-256.
    The operator or either party may attach it, until the finding."""
    with svc.read() as repo:
        row = _may_add_evidence(repo, who, incident_id)
    signer = svc.log_signer
    if signer is None:
        raise EvidenceUnavailable(
            "This service has no log key to sign a checkpoint, so it cannot attach evidence."
        )
    query = evidence_query(row)
    # Built outside the writer's lock: it reads the whole record and may sign a checkpoint
    # (its own write). The incident's time and place never change, so nothing goes stale.
    report = only_parties(rc.build_report(svc, query, signer), (row.filer, row.against))
    content = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()
    checkpoint = report["checkpoint"]
    with svc.db.lock, svc.write() as repo:
        row = _may_add_evidence(repo, who, incident_id)
        now = svc.now()
        index = record.append(
            repo,
            now,
            "incident.evidence",
            who.party,
            {
                **_parties(row),
                "sha256": digest,
                "checkpoint": checkpoint["id"],
                "tree_size": checkpoint["tree_size"],
                "cited": len(report["entries"]),
            },
            {"query": query.to_json()},
        )
        stored: dict[str, Any] = {
            "incident_id": row.incident_id,
            "by": who.party,
            "at_s": now,
            "report": content,
            "sha256": digest,
            "checkpoint_id": checkpoint["id"],
            "tree_size": checkpoint["tree_size"],
            "checkpoint": checkpoint["note"],
            "log_key": str(signer.verifier),
            "cited": len(report["entries"]),
            "log_index": index,
        }
        stored["n"] = repo.add_incident_evidence(stored)
        said = _evidence_summary(row, stored)
        for p in (row.filer, row.against, OPERATOR):
            emit(repo, p, "incident.evidence", now, said)
    return said


def evidence(
    svc: Service, who: Principal, incident_id: str, n: int | None = None
) -> dict[str, Any]:
    """An evidence bundle of the incident (the latest unless `n`), for its two parties and
    the operator: the summary plus `report` (report.json's exact bytes, which hash to
    `sha256`), `checkpoint` (the signed note) and `log_key` (the verifier key)."""
    with svc.read() as repo:
        row = _visible(repo, who, incident_id)
        kept = repo.incident_evidence(row.incident_id, with_report=True)
    chosen = [e for e in kept if n is None or e["n"] == n]
    if not chosen:
        which = "no evidence attached" if n is None else f"no evidence bundle {n}"
        raise NotFound(
            f"Incident {row.incident_id} has {which}; POST /v1/incidents/"
            f"{row.incident_id}/evidence attaches it."
        )
    e = chosen[-1]
    return {
        **_evidence_summary(row, e),
        "report": e["report"],
        "checkpoint_note": e["checkpoint"],
        "log_key": e["log_key"],
    }

"""The hotline: short texts between parties (and the operator), each to be acknowledged
by a deadline, escalated to the operator when it is not. A message may point at
declarations the sender can see, or at incidents, by reference only.
"""

from __future__ import annotations

import secrets
from typing import Any

from deconflict.engine.visibility import NOT_VISIBLE
from deconflict.errors import InvalidRequest, NotFound
from deconflict.model.clearance import OPERATOR
from deconflict.record.canonical import JSONValue
from deconflict.service import record
from deconflict.service.auth import Principal, signed_message, verify_request
from deconflict.service.core import Service
from deconflict.service.events import emit
from deconflict.service.views import when
from deconflict.store.repository import MessageRow, Repository

MAX_REFS = 20


def _refs(svc: Service, repo: Repository, who: Principal, raw: object) -> list[dict[str, str]]:
    """Check references: declarations must be ones the sender may see (else the same
    answer as for one that does not exist); incidents are kept as given."""
    from deconflict.service.declarations import visible

    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_REFS:
        raise InvalidRequest(f'"refs" must be a list of at most {MAX_REFS} references.')
    out: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        if (
            isinstance(item, dict)
            and set(item) == {"party", "id"}
            and all(isinstance(v, str) and 0 < len(v) <= 128 for v in item.values())
        ):
            row = repo.current(item["party"], item["id"])
            if who.party != item["party"] and not who.is_operator:
                if row is None:
                    raise NotFound(NOT_VISIBLE)
                visible(svc, repo, who, row)  # raises NotFound(NOT_VISIBLE)
            elif row is None:
                raise NotFound(NOT_VISIBLE)
            out.append({"party": item["party"], "id": item["id"]})
        elif (
            isinstance(item, dict)
            and set(item) == {"incident"}
            and isinstance(item["incident"], str)
            and 0 < len(item["incident"]) <= 128
        ):
            out.append({"incident": item["incident"]})
        else:
            raise InvalidRequest(
                f'refs[{i}] must be {{"party", "id"}} of a declaration or {{"incident"}}.'
            )
    return out


def view(m: MessageRow) -> dict[str, Any]:
    import json

    return {
        "message": m.message_id,
        "from": m.sender,
        "to": m.recipient,
        "text": m.text,
        "refs": json.loads(m.refs),
        "sent_at": when(m.sent_s),
        "deadline": when(m.deadline_s),
        "acknowledged_at": when(m.acked_s),
        "escalated_at": when(m.escalated_s),
        "signed": m.signature is not None,
    }


def send(svc: Service, who: Principal, doc: JSONValue, *, signature: str | None = None) -> Any:
    import json

    st = svc.settings
    if (
        not isinstance(doc, dict)
        or not {"to", "text"} <= set(doc)
        or set(doc) - {"to", "text", "refs", "ack_within_s"}
    ):
        raise InvalidRequest(
            'A message is {"to": party, "text": ..., "refs": [...], "ack_within_s": seconds}.'
        )
    to, text = doc["to"], doc["text"]
    if not isinstance(text, str) or not text.strip() or len(text) > st.message_max_chars:
        raise InvalidRequest(f'"text" must be 1 to {st.message_max_chars:,} characters.')
    window = doc.get("ack_within_s", st.message_ack_default_s)
    if (
        isinstance(window, bool)
        or not isinstance(window, int | float)
        or not (st.message_ack_min_s <= window <= st.message_ack_max_s)
    ):
        raise InvalidRequest(
            f'"ack_within_s" must be from {st.message_ack_min_s:g} to {st.message_ack_max_s:g} s.'
        )
    with svc.db.lock, svc.write() as repo:
        if not isinstance(to, str) or (to != OPERATOR and repo.party(to) is None):
            raise NotFound(f"No party is named {str(to)[:40]!r}; see GET /v1/parties.")
        if to == who.party:
            raise InvalidRequest("A message goes to another party, not to yourself.")
        refs = _refs(svc, repo, who, doc.get("refs"))
        sig = None
        if not who.is_operator:
            sig = verify_request(
                repo, who.party, signature, signed_message("POST", "/v1/messages", doc)
            )
        now = svc.now()
        row = MessageRow(
            message_id=f"m{int(now * 1000):013d}{secrets.token_hex(4)}",
            sender=who.party,
            recipient=to,
            text=text,
            refs=json.dumps(refs),
            sent_s=now,
            deadline_s=now + float(window),
            acked_s=None,
            escalated_s=None,
            due_s=now + float(window),
            signature=None if sig is None else sig.signature,
        )
        repo.insert_message(row)
        private, entry_sig = record.signed_request(sig, "POST", "/v1/messages", doc)
        private["text"] = text
        record.append(
            repo,
            now,
            "message",
            who.party,
            {
                "message": row.message_id,
                "from": who.party,
                "to": to,
                "refs": refs,
                "deadline": when(row.deadline_s),
            },
            private,
            entry_sig,
        )
        emit(repo, to, "message", now, {"message": view(row)})
    return view(row)


def acknowledge(svc: Service, who: Principal, message_id: str) -> dict[str, Any]:
    with svc.db.lock, svc.write() as repo:
        m = repo.message(message_id)
        if m is None or m.recipient != who.party:
            raise NotFound("No message to you has that id; check the id.")
        if m.acked_s is not None:
            return view(m)
        now = svc.now()
        repo.update_message(message_id, acked_s=now, due_s=None)
        record.append(
            repo,
            now,
            "message.acknowledged",
            who.party,
            {"message": message_id, "from": m.sender, "to": m.recipient},
        )
        emit(
            repo, m.sender, "message.acknowledged", now, {"message": m.message_id, "by": who.party}
        )
        m2 = repo.message(message_id)
        assert m2 is not None
        return view(m2)


def listing(svc: Service, who: Principal, after: str | None, limit: int | None) -> dict[str, Any]:
    limits = svc.settings.limits
    size = limits.default_page if limit is None else limit
    if not 1 <= size <= limits.max_page:
        raise InvalidRequest(f"limit must be from 1 to {limits.max_page} (max_page).")
    with svc.read() as repo:
        rows = repo.messages_of(who.party, size + 1, after)
    nxt = rows[size - 1].message_id if len(rows) > size else None
    return {"items": [view(m) for m in rows[:size]], "next": nxt}


def awaiting_messages(repo: Repository, who: Principal, now_s: float) -> list[dict[str, Any]]:
    rows = repo.messages_of(who.party, 10_000, None)
    return [view(m) for m in rows if m.recipient == who.party and m.acked_s is None]


def escalate_due(repo: Repository, now_s: float) -> int:
    """Escalate unacknowledged messages past their deadline to the operator."""
    n = 0
    for m in repo.due_messages(now_s):
        if now_s <= m.deadline_s:
            continue
        repo.update_message(m.message_id, escalated_s=now_s, due_s=None)
        record.append(
            repo,
            now_s,
            "message.escalated",
            OPERATOR,
            {"message": m.message_id, "from": m.sender, "to": m.recipient},
        )
        payload = {
            "message": m.message_id,
            "from": m.sender,
            "to": m.recipient,
            "deadline": when(m.deadline_s),
            "why": "not acknowledged by the deadline",
        }
        for p in {OPERATOR, m.sender, m.recipient}:
            emit(repo, p, "message.escalated", now_s, payload)
        n += 1
    return n

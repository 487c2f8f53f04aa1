"""Webhooks: a party registers URLs; each of its events is POSTed to each of them, signed
(HMAC), retried with backoff until delivered or out of attempts, at least once, with every
attempt in the delivery log. The secret is shown once and never logged.
"""

from __future__ import annotations

import secrets
from typing import Any

from deconflict.api.webhooks import (
    MAX_ATTEMPTS,
    TIMEOUT_S,
    WebhookSender,
    backoff_s,
    check_url,
    new_secret,
)
from deconflict.errors import Forbidden, LimitExceeded, NotFound
from deconflict.service.auth import Principal
from deconflict.service.core import Service
from deconflict.service.views import when
from deconflict.service.workers import Periodic
from deconflict.store.repository import DeliveryRow, WebhookRow


def register(svc: Service, who: Principal, url: str) -> dict[str, Any]:
    url = check_url(url)
    with svc.db.lock, svc.write() as repo:
        if len(repo.webhooks_of(who.party)) >= svc.settings.max_webhooks:
            raise LimitExceeded(
                f"You have {svc.settings.max_webhooks} webhooks, the limit max_webhooks; "
                "delete one first."
            )
        row = WebhookRow(
            f"wh_{secrets.token_hex(8)}", who.party, url, new_secret(), svc.now(), None
        )
        repo.add_webhook(row)
    return {**view(row), "secret": row.secret}


def view(row: WebhookRow) -> dict[str, Any]:
    return {"webhook": row.hook_id, "url": row.url, "created_at": when(row.created_s)}


def _own(svc: Service, who: Principal, hook_id: str) -> WebhookRow:
    with svc.read() as repo:
        row = repo.webhook(hook_id)
    if row is None or row.party != who.party or row.deleted_s is not None:
        raise NotFound("You have no webhook with that id.")
    return row


def listing(svc: Service, who: Principal) -> list[dict[str, Any]]:
    if who.is_operator:
        raise Forbidden("The operator has no webhooks; parties register their own.")
    with svc.read() as repo:
        return [view(r) for r in repo.webhooks_of(who.party)]


def delete(svc: Service, who: Principal, hook_id: str) -> None:
    _own(svc, who, hook_id)
    with svc.db.lock, svc.write() as repo:
        repo.delete_webhook(hook_id, svc.now())


def delivery_view(d: DeliveryRow) -> dict[str, Any]:
    return {
        "delivery": d.delivery_id,
        "event": d.event_seq,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": when(d.next_s),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "updated_at": when(d.updated_s),
    }


def deliveries(
    svc: Service, who: Principal, hook_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    _own(svc, who, hook_id)
    with svc.read() as repo:
        return [delivery_view(d) for d in repo.deliveries_of(hook_id, limit)]


CLAIM_MARGIN_S = 30.0
"""A claim lasts as long as its batch of attempts can take (each HTTP call is bounded by
the sender's timeout), plus this."""


def deliver_due(svc: Service, sender: WebhookSender, batch: int = 50) -> int:
    """Attempt every delivery that is due; returns how many were attempted. The HTTP
    calls happen outside the writer lock; each outcome is written afterwards (a webhook
    deleted meanwhile keeps its deliveries cancelled). The due deliveries are claimed
    first, for as long as their attempts can take, so that several service processes on
    one store do not send the same one at once; a process that dies holding a claim only
    delays those deliveries."""
    now = svc.now()
    with svc.db.lock, svc.write() as repo:
        due = repo.due_deliveries(now, batch)
        claim_s = len(due) * (TIMEOUT_S + 1.0) + CLAIM_MARGIN_S
        repo.claim_deliveries([d.delivery_id for d in due], now + claim_s)
        work = []
        for d in due:
            hook, event = repo.webhook(d.hook_id), repo.event(d.event_seq)
            if hook is not None and hook.deleted_s is None and event is not None:
                work.append((d, hook, event))
    for d, hook, event in work:
        attempt = d.attempts + 1
        event_id = f"evt_{event.seq}"
        result = sender.post(
            hook.url, hook.secret, event_id, int(svc.now()), attempt, event.payload.encode()
        )
        later = svc.now()
        if result.delivered:
            status, next_s = "delivered", None
        elif attempt >= MAX_ATTEMPTS:
            status, next_s = "failed", None
        else:
            base = svc.settings.webhook_backoff_base_s
            status, next_s = "pending", later + backoff_s(attempt, event_id, base)
        with svc.db.lock, svc.write() as repo:
            now_hook = repo.webhook(d.hook_id)
            if status != "delivered" and (now_hook is None or now_hook.deleted_s is not None):
                # Deleted while this attempt was in flight: its delivery was cancelled
                # then and must stay so, not be revived for another retry.
                status, next_s = "cancelled", None
            repo.record_attempt(
                d.delivery_id,
                status=status,
                attempts=attempt,
                next_s=next_s,
                last_status=result.status_code,
                last_error=result.error,
                now_s=later,
            )
    return len(work)


class Deliverer(Periodic):
    """A thread delivering webhooks as they fall due."""

    name = "deconflict-webhooks"

    def __init__(self, svc: Service, period_s: float = 0.5) -> None:
        super().__init__(period_s)
        self.svc = svc
        self._sender: WebhookSender | None = None

    def round(self) -> bool:
        if self._sender is None:
            self._sender = WebhookSender()
        return deliver_due(self.svc, self._sender) > 0

    def stop(self, timeout_s: float = 10.0) -> None:
        super().stop(timeout_s)
        if self._sender is not None:
            self._sender.close()

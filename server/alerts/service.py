"""Adding and removing webhooks and push subscriptions, for the CLI and the API alike: the checks,
the store and the audit entry. Errors are `AlertInputError`s with a code and a message for people."""

from __future__ import annotations

import secrets as secrets_
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from server.alerts.targets import TargetRefused, check_target
from server.models import now_iso
from server.storage import Storage
from server.storage.alerts import PushSubscription, Webhook
from sync.alerts import EVENTS
from sync.store import AuditEntry

MIN_SECRET = 16
MAX_SECRET = 256
MAX_URL = 2000


@dataclass(frozen=True)
class Who:
    """Who makes a change, for its audit entry: an admin's session, or the CLI's operator."""

    actor_id: str
    actor_agency: str = ""
    device: str = ""


class AlertInputError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_secret() -> str:
    return secrets_.token_urlsafe(32)


async def add_webhook(
    storage: Storage,
    *,
    url: str,
    events: Sequence[str],
    warehouses: Sequence[str],
    secret: str,
    allow_private: bool,
    actor: Who,
) -> Webhook:
    """Check and store a webhook, audited."""
    unknown = sorted(set(events) - set(EVENTS))
    if not events or unknown:
        raise AlertInputError(
            "unknown_event",
            f"unknown event(s): {', '.join(unknown)}; known: {', '.join(EVENTS)}"
            if unknown
            else f"name at least one event: {', '.join(EVENTS)}",
        )
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise AlertInputError(
            "weak_secret", f"the secret has {MIN_SECRET} to {MAX_SECRET} characters (a random one is best)"
        )
    if len(url) > MAX_URL:
        raise AlertInputError("invalid_url", f"a webhook URL has at most {MAX_URL} characters")
    known = {w.id for w in await storage.warehouses(sorted(set(warehouses)))} if warehouses else set()
    missing = sorted(set(warehouses) - known)
    if missing:
        raise AlertInputError("unknown_warehouse", f"no such warehouse: {', '.join(missing)}")
    try:
        await check_target(url, allow_private=allow_private)
    except TargetRefused as refused:
        raise AlertInputError(refused.code, refused.message) from refused
    webhook = Webhook(
        id=str(uuid.uuid4()),
        url=url,
        events=[e for e in EVENTS if e in set(events)],
        warehouses=sorted(set(warehouses)),
        allow_private=allow_private,
        created_at=now_iso(),
        created_by=actor.actor_id,
    )
    await storage.add_webhook(webhook, secret)
    await storage.append_audit(
        _entry(
            actor,
            "webhook.added",
            webhook.id,
            url=url,
            events=webhook.events,
            warehouses=webhook.warehouses,
            allow_private=allow_private,
        )
    )
    return webhook


async def remove_webhook(storage: Storage, webhook_id: str, *, actor: Who) -> bool:
    removed = await storage.remove_webhook(webhook_id)
    if removed:
        await storage.append_audit(_entry(actor, "webhook.removed", webhook_id))
    return removed


async def replay(storage: Storage, delivery_id: str, now: float, *, actor: Who) -> bool:
    replayed = await storage.replay_delivery(delivery_id, now)
    if replayed:
        await storage.append_audit(_entry(actor, "alert.delivery_replayed", delivery_id))
    return replayed


async def subscribe(
    storage: Storage, *, user_id: str, device_id: str, endpoint: str, p256dh: str, auth: str, lang: str
) -> PushSubscription:
    if not endpoint.startswith("https://") and not endpoint.startswith("http://"):
        raise AlertInputError("invalid_subscription", "a push endpoint is an https:// URL")
    sub = PushSubscription(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, endpoint)),
        user_id=user_id,
        device_id=device_id,
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
        lang="en" if lang.lower().startswith("en") else "id",
        created_at=now_iso(),
    )
    await storage.put_push_subscription(sub)
    return sub


def _entry(actor: Who, kind: str, subject: str, **detail: object) -> AuditEntry:
    return AuditEntry(
        at=now_iso(),
        kind=kind,
        actor_id=actor.actor_id,
        actor_agency=actor.actor_agency,
        device=actor.device,
        warehouse_id=None,
        subject=f"webhooks/{subject}" if kind.startswith("webhook.") else subject,
        detail=detail,
    )

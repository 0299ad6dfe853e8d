"""Who receives an event.

Webhooks: those subscribed to the event, for its warehouse (or for every warehouse).
Web Push: the subscribed people whose scope holds the event's warehouse. Supervisors and admins
receive every event of their scope; officers (subscribed from the officer app) the incident events
of their warehouses while they are on duty there (server/alerts/duty.py: planned for the shift
under way or checked in, not checked out), and of an incident assigned to an agency only when it is
theirs. A disabled account receives nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from server.models import User
from server.storage.alerts import NewDelivery, PushSubscription, StoredEvent, Webhook
from sync.alerts import INCIDENT_EVENTS


def webhook_wants(webhook: Webhook, event: StoredEvent) -> bool:
    everywhere = not webhook.warehouses
    return event.event in webhook.events and (everywhere or event.warehouse_id in webhook.warehouses)


def scope(user: User, all_warehouses: frozenset[str]) -> frozenset[str]:
    """As server.auth.scope_of: an admin without assignments sees every warehouse."""
    if user.role == "admin" and not user.warehouses:
        return all_warehouses
    return frozenset(user.warehouses)


def person_receives(
    user: User, user_scope: frozenset[str], event: StoredEvent, on_duty: Mapping[str, frozenset[str]]
) -> bool:
    """`on_duty`: per warehouse, who is on duty there now (officers receive only then)."""
    if user.disabled or event.warehouse_id not in user_scope:
        return False
    if user.role != "officer":
        return True
    if event.event not in INCIDENT_EVENTS or user.id not in on_duty.get(event.warehouse_id, frozenset()):
        return False
    fields = event.record.get("fields")
    assigned = fields.get("assigned_agency") if isinstance(fields, dict) else None
    return not assigned or assigned == user.agency


def deliveries(
    events: Sequence[StoredEvent],
    webhooks: Iterable[Webhook],
    subscriptions: Iterable[PushSubscription],
    users: Iterable[User],
    all_warehouses: frozenset[str],
    on_duty: Mapping[str, frozenset[str]],
) -> list[NewDelivery]:
    """Every delivery of `events`, in event order; `on_duty` as for person_receives."""
    hooks = list(webhooks)
    people = {u.id: (u, scope(u, all_warehouses)) for u in users}
    subs = [(s, people[s.user_id]) for s in subscriptions if s.user_id in people]
    made: list[NewDelivery] = []
    for event in events:
        made += [
            NewDelivery(event=event, channel="webhook", target_id=h.id)
            for h in hooks
            if webhook_wants(h, event)
        ]
        made += [
            NewDelivery(event=event, channel="push", target_id=s.id)
            for s, (user, user_scope) in subs
            if person_receives(user, user_scope, event, on_duty)
        ]
    return made

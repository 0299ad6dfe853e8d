"""Storage of alerts (docs/alerts.md): the outbox of events, webhooks, Web Push subscriptions and
deliveries with their retries and dead letters.

The queries are written once, with `?` placeholders, for both backends: each backend gives
`AlertsMixin` one primitive, `_alerts_tx()`, a write transaction as an `AlertsConn` (SQLite: its
writer connection under BEGIN IMMEDIATE; PostgreSQL: a pooled connection, the placeholders turned
into $1, $2...). The outbox rows of a push are written by the push's own transaction instead
(`event_rows` + INSERT_EVENT, from server/storage/{sqlite,postgres}/sync_tx.py).

Several processes may run the delivery worker on one database: a delivery is claimed with a lease
(`lease_until`, `lease_owner`), re-checked by the UPDATE itself, so two processes never attempt it at
the same time, and a process that dies mid-attempt leaves it to be taken over when the lease ends.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

import msgspec
from msgspec import Struct

from sync.store import AlertEvent, AuditEntry

Channel = Literal["webhook", "push"]
DeliveryStatus = Literal["pending", "delivered", "dead"]

_json = msgspec.json.encode
_list = msgspec.json.Decoder(list[str]).decode
_record = msgspec.json.Decoder(dict[str, Any]).decode

DELIVERY_NAMESPACE = uuid.UUID("5b0f3f1e-6a43-4b8e-9d38-7c1e0b7a2a20")
"""Delivery ids are uuid5(namespace, event key / channel / target): every process fanning out one
event to one target names the delivery the same, and the unique (channel, target, event) keeps one."""


class Webhook(Struct, kw_only=True, frozen=True):
    id: str
    url: str
    events: list[str]
    warehouses: list[str]
    """Empty: every warehouse."""
    allow_private: bool
    created_at: str
    created_by: str


class PushSubscription(Struct, kw_only=True, frozen=True):
    id: str
    user_id: str
    device_id: str
    endpoint: str
    p256dh: str
    auth: str
    lang: str
    created_at: str


class StoredEvent(Struct, kw_only=True, frozen=True):
    id: int
    key: str
    event: str
    warehouse_id: str
    subject: str
    record: dict[str, Any]
    occurred_at: str


class NewDelivery(Struct, kw_only=True, frozen=True):
    event: StoredEvent
    channel: Channel
    target_id: str

    @property
    def id(self) -> str:
        return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{self.event.key}/{self.channel}/{self.target_id}"))


class Delivery(Struct, kw_only=True, frozen=True):
    """A claimed delivery, with its event: what the worker attempts."""

    id: str
    channel: Channel
    target_id: str
    attempts: int
    """Attempts so far, this one included."""
    created_at: float
    lease_owner: str
    event: StoredEvent


class DeliveryRow(Struct, kw_only=True, frozen=True):
    """A delivery as the admin sees it (the dead-letter list)."""

    id: str
    channel: Channel
    target_id: str
    warehouse_id: str
    status: DeliveryStatus
    attempts: int
    created_at: float
    next_attempt_at: float
    last_error: str
    delivered_at: float | None
    event: str
    subject: str
    occurred_at: str


class AlertsConn(Protocol):
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Rows affected."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def append_audit(self, entry: AuditEntry) -> int:
        """Append to the entry's audit chain inside this transaction; its id in that chain."""
        ...


_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's $1, $2, ... (the queries here hold no literal `?`)."""
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


# -- the outbox -----------------------------------------------------------------------------------
INSERT_EVENT = (
    "INSERT INTO alert_events (key, event, warehouse_id, subject, record, occurred_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)


def event_rows(events: Sequence[AlertEvent]) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (e.key, e.event, e.warehouse_id, e.subject, _json(e.record).decode(), e.occurred_at) for e in events
    ]


_EVENT_COLUMNS = "id, key, event, warehouse_id, subject, record, occurred_at"


def _event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        id=int(row[0]),
        key=row[1],
        event=row[2],
        warehouse_id=row[3],
        subject=row[4],
        record=_record(row[5]),
        occurred_at=row[6],
    )


_CLAIM = """
UPDATE alert_deliveries SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
WHERE status = 'pending' AND lease_until <= ? AND next_attempt_at <= ? AND id IN (
    SELECT d.id FROM alert_deliveries AS d
    WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND d.lease_until <= ?
      AND NOT EXISTS (
        SELECT 1 FROM alert_deliveries AS e
        WHERE e.status = 'pending' AND e.channel = d.channel AND e.target_id = d.target_id
          AND e.warehouse_id = d.warehouse_id AND e.event_id < d.event_id)
    ORDER BY d.next_attempt_at, d.event_id LIMIT ?)
"""
"""Due deliveries, each the oldest pending one of its (channel, target, warehouse): a later event
waits until the earlier one is delivered or dead. The outer conditions are checked again on the row
as it stands, so a delivery another process claimed meanwhile is skipped."""

_CLAIMED = f"""
SELECT d.id, d.channel, d.target_id, d.attempts, d.created_at, d.lease_owner,
       {", ".join("e." + c for c in _EVENT_COLUMNS.split(", "))}
FROM alert_deliveries AS d JOIN alert_events AS e ON e.id = d.event_id
WHERE d.lease_owner = ? AND d.status = 'pending' ORDER BY d.event_id
"""

_DELIVERY_ROW = """
SELECT d.id, d.channel, d.target_id, d.warehouse_id, d.status, d.attempts, d.created_at,
       d.next_attempt_at, d.last_error, d.delivered_at, e.event, e.subject, e.occurred_at
FROM alert_deliveries AS d JOIN alert_events AS e ON e.id = d.event_id
"""

SCHEDULED_EVENTS = ("inspection.overdue", "device.stale")

_PURGEABLE = f"""
SELECT id, key FROM alert_events
WHERE dispatched = 1 AND occurred_at < ?
  AND id NOT IN (SELECT event_id FROM alert_deliveries WHERE status = 'pending' OR created_at >= ?)
  AND id NOT IN (SELECT MAX(id) FROM alert_events WHERE event IN {SCHEDULED_EVENTS!r}
                 GROUP BY event, warehouse_id, subject)
ORDER BY id LIMIT ?
"""
"""Events that may be purged (server/alerts/retention.py): dispatched, raised before the cut-off,
every delivery of theirs finished (delivered or dead) and made before the cut-off. The newest
occurrence of a scheduled event of each warehouse and subject is kept: its key is what stops the
next scan from raising that same occurrence again."""

_WEBHOOK_COLUMNS = "id, url, events, warehouses, allow_private, created_at, created_by"
_SUBSCRIPTION_COLUMNS = "id, user_id, device_id, endpoint, p256dh, auth, lang, created_at"


def _webhook(row: Sequence[Any]) -> Webhook:
    return Webhook(
        id=row[0],
        url=row[1],
        events=_list(row[2]),
        warehouses=_list(row[3]),
        allow_private=bool(row[4]),
        created_at=row[5],
        created_by=row[6],
    )


def _subscription(row: Sequence[Any]) -> PushSubscription:
    return PushSubscription(**dict(zip(_SUBSCRIPTION_COLUMNS.split(", "), row, strict=True)))


def _delivery_row(row: Sequence[Any]) -> DeliveryRow:
    return DeliveryRow(
        id=row[0],
        channel=row[1],
        target_id=row[2],
        warehouse_id=row[3],
        status=row[4],
        attempts=int(row[5]),
        created_at=float(row[6]),
        next_attempt_at=float(row[7]),
        last_error=row[8],
        delivered_at=None if row[9] is None else float(row[9]),
        event=row[10],
        subject=row[11],
        occurred_at=row[12],
    )


class AlertStore(Protocol):
    """What the alert worker, the CLI and the API need of a backend (AlertsMixin implements it)."""

    async def raise_events(self, events: Sequence[AlertEvent]) -> None: ...

    async def alert_events(self, after_id: int = 0, limit: int = 1000) -> list[StoredEvent]: ...

    async def undispatched_events(self, limit: int) -> list[StoredEvent]: ...

    async def dispatch(
        self, events: Sequence[StoredEvent], deliveries: Sequence[NewDelivery], now: float
    ) -> None: ...

    async def claim_deliveries(self, now: float, lease_s: float, limit: int) -> list[Delivery]: ...

    async def delivery_done(self, delivery: Delivery, now: float) -> bool: ...

    async def delivery_failed(self, delivery: Delivery, *, retry_at: float | None, error: str) -> None: ...

    async def deliveries(self, status: DeliveryStatus, limit: int = 500) -> list[DeliveryRow]: ...

    async def replay_delivery(self, delivery_id: str, now: float) -> bool: ...

    async def add_webhook(self, webhook: Webhook, secret: str) -> None: ...

    async def webhooks(self) -> list[Webhook]: ...

    async def recipients_generation(self) -> int:
        """Moves with every committed change of warehouses, users, assignments, webhooks or push
        subscriptions (triggers, migration 0012): the alert worker rereads them only then."""
        ...

    async def webhook_with_secret(self, webhook_id: str) -> tuple[Webhook, str] | None: ...

    async def remove_webhook(self, webhook_id: str) -> bool: ...

    async def put_push_subscription(self, sub: PushSubscription) -> None: ...

    async def push_subscriptions(self, user_id: str | None = None) -> list[PushSubscription]: ...

    async def push_subscription(self, subscription_id: str) -> PushSubscription | None: ...

    async def remove_push_subscription(self, subscription_id: str, *, user_id: str | None = None) -> bool: ...

    async def purge_alerts(
        self, before: float, before_iso: str, audit: PurgeAlertsAudit, limit: int = 1000
    ) -> tuple[int, int]: ...


PurgeAlertsAudit = Callable[[list[dict[str, Any]]], AuditEntry]
"""The audit entry of one purge batch, from what it removed (AlertsMixin.purge_alerts)."""


class AlertsMixin:
    """The alert queries, on top of a backend's `_alerts_tx()`."""

    def _alerts_tx(self) -> AbstractAsyncContextManager[AlertsConn]:
        raise NotImplementedError

    # -- events ------------------------------------------------------------------------------------
    async def raise_events(self, events: Sequence[AlertEvent]) -> None:
        """Write events outside a push (the scheduled ones); a key already written is ignored."""
        if events:
            async with self._alerts_tx() as conn:
                await conn.executemany(INSERT_EVENT, event_rows(events))

    async def alert_events(self, after_id: int = 0, limit: int = 1000) -> list[StoredEvent]:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            )
        return [_event(r) for r in rows]

    async def undispatched_events(self, limit: int) -> list[StoredEvent]:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE dispatched = 0 ORDER BY id LIMIT ?",
                (limit,),
            )
        return [_event(r) for r in rows]

    async def dispatch(
        self, events: Sequence[StoredEvent], deliveries: Sequence[NewDelivery], now: float
    ) -> None:
        """Create the deliveries of `events` and mark them dispatched, in one transaction. Doing it
        twice (two processes) creates each delivery once."""
        async with self._alerts_tx() as conn:
            if deliveries:
                await conn.executemany(
                    "INSERT INTO alert_deliveries"
                    " (id, event_id, channel, target_id, warehouse_id, created_at, next_attempt_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [
                        (d.id, d.event.id, d.channel, d.target_id, d.event.warehouse_id, now, now)
                        for d in deliveries
                    ],
                )
            await conn.executemany(
                "UPDATE alert_events SET dispatched = 1 WHERE id = ?", [(e.id,) for e in events]
            )

    # -- deliveries --------------------------------------------------------------------------------
    async def claim_deliveries(self, now: float, lease_s: float, limit: int) -> list[Delivery]:
        owner = uuid.uuid4().hex
        async with self._alerts_tx() as conn:
            claimed = await conn.execute(_CLAIM, (now + lease_s, owner, now, now, now, now, limit))
            rows = await conn.fetch(_CLAIMED, (owner,)) if claimed else []
        return [
            Delivery(
                id=r[0],
                channel=r[1],
                target_id=r[2],
                attempts=int(r[3]),
                created_at=float(r[4]),
                lease_owner=r[5],
                event=_event(r[6:]),
            )
            for r in rows
        ]

    async def delivery_done(self, delivery: Delivery, now: float) -> bool:
        async with self._alerts_tx() as conn:
            return bool(
                await conn.execute(
                    "UPDATE alert_deliveries SET status = 'delivered', delivered_at = ?, lease_until = 0,"
                    " last_error = '' WHERE id = ? AND lease_owner = ? AND status = 'pending'",
                    (now, delivery.id, delivery.lease_owner),
                )
            )

    async def delivery_failed(self, delivery: Delivery, *, retry_at: float | None, error: str) -> None:
        """Another attempt at `retry_at`, or (None) the dead-letter list."""
        async with self._alerts_tx() as conn:
            await conn.execute(
                "UPDATE alert_deliveries SET status = ?, next_attempt_at = ?, lease_until = 0,"
                " last_error = ? WHERE id = ? AND lease_owner = ? AND status = 'pending'",
                (
                    "dead" if retry_at is None else "pending",
                    retry_at if retry_at is not None else 0.0,
                    error[:500],
                    delivery.id,
                    delivery.lease_owner,
                ),
            )

    async def deliveries(self, status: DeliveryStatus, limit: int = 500) -> list[DeliveryRow]:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(
                f"{_DELIVERY_ROW} WHERE d.status = ? ORDER BY d.event_id DESC LIMIT ?", (status, limit)
            )
        return [_delivery_row(r) for r in rows]

    async def replay_delivery(self, delivery_id: str, now: float) -> bool:
        """A dead letter back in the queue, with a new retry window; False if it is not dead."""
        async with self._alerts_tx() as conn:
            return bool(
                await conn.execute(
                    "UPDATE alert_deliveries SET status = 'pending', attempts = 0, created_at = ?,"
                    " next_attempt_at = ?, lease_until = 0, last_error = '' WHERE id = ? AND status = 'dead'",
                    (now, now, delivery_id),
                )
            )

    # -- retention ---------------------------------------------------------------------------------
    async def purge_alerts(
        self, before: float, before_iso: str, audit: PurgeAlertsAudit, limit: int = 1000
    ) -> tuple[int, int]:
        """Purge one batch of finished events (`_PURGEABLE`: raised before `before_iso`, each of
        their deliveries delivered or dead and made before `before`) with their deliveries, and append
        `audit(purged)` in the same transaction: every event key with each of its deliveries (id,
        channel, target, status, attempts, delivered_at), so a delivery id named in the audit log
        (`alert.delivery_replayed`) or by a receiver can still be told apart afterwards. An event with
        a pending delivery, or not yet dispatched, is never purged. Returns (events, deliveries)."""
        async with self._alerts_tx() as conn:
            events = await conn.fetch(_PURGEABLE, (before_iso, before, limit))
            if not events:
                return 0, 0
            ids = {int(r[0]): r[1] for r in events}
            deliveries: dict[int, list[list[Any]]] = {i: [] for i in ids}
            for row in await conn.fetch(
                "SELECT id, event_id, channel, target_id, status, attempts, delivered_at"
                " FROM alert_deliveries WHERE event_id >= ? AND event_id <= ? ORDER BY event_id, id",
                (min(ids), max(ids)),
            ):
                if int(row[1]) in deliveries:
                    deliveries[int(row[1])].append([row[0], row[2], row[3], row[4], int(row[5]), row[6]])
            gone = [d[0] for found in deliveries.values() for d in found]
            await conn.executemany("DELETE FROM alert_deliveries WHERE id = ?", [(d,) for d in gone])
            await conn.executemany("DELETE FROM alert_events WHERE id = ?", [(i,) for i in ids])
            await conn.append_audit(
                audit([{"key": key, "deliveries": deliveries[i]} for i, key in ids.items()])
            )
        return len(ids), len(gone)

    # -- webhooks ----------------------------------------------------------------------------------
    async def add_webhook(self, webhook: Webhook, secret: str) -> None:
        async with self._alerts_tx() as conn:
            await conn.execute(
                f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}, secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    webhook.id,
                    webhook.url,
                    _json(webhook.events).decode(),
                    _json(webhook.warehouses).decode(),
                    int(webhook.allow_private),
                    webhook.created_at,
                    webhook.created_by,
                    secret,
                ),
            )

    async def recipients_generation(self) -> int:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch("SELECT generation FROM alert_recipients_generation WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    async def webhooks(self) -> list[Webhook]:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id")
        return [_webhook(r) for r in rows]

    async def webhook_with_secret(self, webhook_id: str) -> tuple[Webhook, str] | None:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(
                f"SELECT {_WEBHOOK_COLUMNS}, secret FROM webhooks WHERE id = ?", (webhook_id,)
            )
        return (_webhook(rows[0]), rows[0][7]) if rows else None

    async def remove_webhook(self, webhook_id: str) -> bool:
        """Remove a webhook; its deliveries not yet made are dropped with it."""
        async with self._alerts_tx() as conn:
            removed = await conn.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))
            await conn.execute(
                "DELETE FROM alert_deliveries WHERE channel = 'webhook' AND target_id = ?"
                " AND status <> 'delivered'",
                (webhook_id,),
            )
        return bool(removed)

    # -- web push subscriptions --------------------------------------------------------------------
    async def put_push_subscription(self, sub: PushSubscription) -> None:
        """Store a subscription; the same endpoint subscribed again (another login) is replaced."""
        async with self._alerts_tx() as conn:
            await conn.execute(
                f"INSERT INTO push_subscriptions ({_SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (endpoint) DO UPDATE SET id = excluded.id, user_id = excluded.user_id,"
                " device_id = excluded.device_id, p256dh = excluded.p256dh, auth = excluded.auth,"
                " lang = excluded.lang, created_at = excluded.created_at",
                tuple(getattr(sub, c) for c in _SUBSCRIPTION_COLUMNS.split(", ")),
            )

    async def push_subscriptions(self, user_id: str | None = None) -> list[PushSubscription]:
        where, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM push_subscriptions {where} ORDER BY created_at, id",
                params,
            )
        return [_subscription(r) for r in rows]

    async def push_subscription(self, subscription_id: str) -> PushSubscription | None:
        async with self._alerts_tx() as conn:
            rows = await conn.fetch(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = ?", (subscription_id,)
            )
        return _subscription(rows[0]) if rows else None

    async def remove_push_subscription(self, subscription_id: str, *, user_id: str | None = None) -> bool:
        """Remove a subscription (of `user_id` only, when given) and its deliveries not yet made."""
        mine, params = (
            ("", (subscription_id,)) if user_id is None else (" AND user_id = ?", (subscription_id, user_id))
        )
        async with self._alerts_tx() as conn:
            removed = await conn.execute(f"DELETE FROM push_subscriptions WHERE id = ?{mine}", params)
            if removed:
                await conn.execute(
                    "DELETE FROM alert_deliveries WHERE channel = 'push' AND target_id = ?"
                    " AND status <> 'delivered'",
                    (subscription_id,),
                )
        return bool(removed)

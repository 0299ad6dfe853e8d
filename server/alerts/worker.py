"""The alert worker: every server process runs one (the app's lifespan starts it).

One round: fan the new outbox events out into deliveries (server/alerts/recipients.py), claim the
deliveries that are due, each the oldest pending one of its (target, warehouse) so a receiver sees a
warehouse's events in order, attempt them concurrently, and record each outcome: delivered, another
attempt later (server/alerts/retry.py), or the dead-letter list. A round starts when a push commits
(the app's event hub, woken across processes on PostgreSQL), when a retry falls due, and at least
every `POLL_S`. Every so often it also looks for the scheduled events (server/alerts/schedule.py)
and purges what is finished and past its retention (server/alerts/retention.py).

Fanning out needs every warehouse, user, webhook and subscription: they are kept between rounds
and read again only when `Storage.recipients_generation` moved (bumped by trigger in the
transaction of any change of them, so valid across processes); a round reads that one row.

Wake-ups are coalesced: a round takes everything pending, commits during a round cause one more
round at most, and a round woken by a commit starts no sooner than `alert_round_gap_s` after the
previous one started (a commit after a quiet spell is taken at once). A reconnect storm's hundreds
of commits a second thus cost ~1/gap rounds a second, not one each (docs/benchmarks.md, `alerts`).
A round that had work (deliveries claimed, a full batch fanned out) is followed at once.

Everything it knows is in the database, so a restart (or another process) picks up where it left:
a delivery whose attempt was cut off by a crash is attempted again when its lease ends, under the
same delivery id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from litestar.datastructures import State
from py_vapid import Vapid02

from server.alerts import duty, notifications, recipients, retention, schedule, targets, webhooks, webpush
from server.alerts.retry import RetrySchedule
from server.config import Config
from server.events import EventHub
from server.models import User, Warehouse
from server.storage import Storage
from server.storage.alerts import Delivery, PushSubscription, Webhook

log = logging.getLogger("tigapilar.alerts")

POLL_S = 1.0
"""Longest sleep between two rounds (a retry due, or a commit another process did not announce)."""
BATCH = 100
"""Deliveries claimed (attempted concurrently) per round."""
FAN_OUT_BATCH = 5000
"""Events fanned out per round: all that are pending, in practice. Fanning out is one read and one
write transaction whatever the count, and a storm raises thousands of events in seconds (its
10,000 new incidents): at 100 a round a critical incident waited behind them for 10 s and more."""
LEASE_MARGIN_S = 30.0
"""A claimed delivery is left alone by other processes for the attempt's time limit plus this."""


@dataclass(frozen=True)
class Recipients:
    warehouses: frozenset[str]
    users: list[User]
    webhooks: list[Webhook]
    subscriptions: list[PushSubscription]
    officers_subscribed: bool


def vapid_path(config: Config, storage: Storage) -> Path:
    if config.vapid_key is not None:
        return config.vapid_key
    return Path(getattr(storage, "data_dir", None) or ".") / "vapid-private.pem"


class AlertWorker:
    def __init__(
        self,
        storage: Storage,
        config: Config,
        hub: EventHub,
        state: State,
        *,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.storage = storage
        self.config = config
        self.hub = hub
        self.state = state
        self.clock = clock
        self.retry = RetrySchedule(
            first_s=config.alert_retry_first_s,
            max_s=config.alert_retry_max_s,
            window_s=config.alert_retry_window_s,
        )
        # Public targets through a client that connects only to public addresses (DNS rebinding);
        # webhooks added with allow_private, and push with push_allow_private, through the other.
        self.http = http or targets.client(timeout_s=config.alert_timeout_s, public_only=True)
        self.http_private = targets.client(timeout_s=config.alert_timeout_s, public_only=False)
        self.vapid: Vapid02 = webpush.load_or_create(vapid_path(config, storage))
        self._warehouses: dict[str, Warehouse | None] = {}
        self._recipients: tuple[int, Recipients] | None = None
        self.recipient_reads = 0
        """Times the recipients were read (once, then at each change of them)."""
        self._task: asyncio.Task[None] | None = None
        self._next_scan = 0.0
        self.rounds = 0
        """Rounds run so far (tests wait on it)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-worker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            log.info("alert worker stopped after %d rounds", self.rounds)  # bench/alerts.py reads it
        await self.http.aclose()
        await self.http_private.aclose()

    async def _run(self) -> None:
        while True:
            wake = self.hub.next()
            started = time.monotonic()
            busy = False
            try:
                busy = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end alerting for good
                log.exception("alert round failed; trying again shortly")
            self.rounds += 1
            if not busy:
                await self.hub.wait(wake, POLL_S)
                gap = started + self.config.alert_round_gap_s - time.monotonic()
                if gap > 0:  # commits arriving meanwhile are taken by the same round
                    await asyncio.sleep(gap)

    async def round(self) -> bool:
        """One round; True when there may be more to do at once."""
        now = self.clock()
        if now >= self._next_scan:
            self._next_scan = now + self.config.alert_scan_interval_s
            await self.storage.raise_events(await schedule.scan(self.storage, self.state))
            purged = await retention.purge_finished(
                self.storage, retention_days=self.config.alert_retention_days, now=now
            )
            if purged.events:
                log.info("purged %d finished alert events (%d deliveries) raised before %s",
                         purged.events, purged.deliveries, purged.cutoff)  # fmt: skip
        fanned = await self.fan_out()
        claimed = await self.storage.claim_deliveries(
            self.clock(), self.config.alert_timeout_s + LEASE_MARGIN_S, BATCH
        )
        await asyncio.gather(*(self.attempt(d) for d in claimed))
        return bool(claimed) or fanned >= FAN_OUT_BATCH

    async def fan_out(self) -> int:
        events = await self.storage.undispatched_events(FAN_OUT_BATCH)
        if events:
            known = await self.recipients()
            on_duty: dict[str, frozenset[str]] = {}
            if known.officers_subscribed:  # the roster matters only then
                now = datetime.fromtimestamp(self.clock(), UTC)
                on_duty = await duty.on_duty_by_warehouse(self.storage, {e.warehouse_id for e in events}, now)
            made = recipients.deliveries(
                events, known.webhooks, known.subscriptions, known.users, known.warehouses, on_duty
            )
            await self.storage.dispatch(events, made, self.clock())
        return len(events)

    async def recipients(self) -> Recipients:
        """Everyone who may receive, as of now: read again only when the generation moved (any
        committed change of them, in any process, bumps it in its own transaction). The generation
        is read first, so a change committed while they are read makes the next round read again."""
        generation = await self.storage.recipients_generation()
        if self._recipients is None or self._recipients[0] != generation:
            users = await self.storage.users()
            subscriptions = await self.storage.push_subscriptions()
            officers = {u.id for u in users if u.role == "officer"}
            known = Recipients(
                warehouses=frozenset(w.id for w in await self.storage.warehouses()),
                users=users,
                webhooks=await self.storage.webhooks(),
                subscriptions=subscriptions,
                officers_subscribed=any(s.user_id in officers for s in subscriptions),
            )
            self._recipients = (generation, known)
            self._warehouses.clear()  # a renamed warehouse is named anew in the next message
            self.recipient_reads += 1
        return self._recipients[1]

    async def warehouse(self, warehouse_id: str) -> Warehouse | None:
        if warehouse_id not in self._warehouses:
            self._warehouses[warehouse_id] = await self.storage.warehouse(warehouse_id)
        return self._warehouses[warehouse_id]

    async def is_officer(self, user_id: str) -> bool:
        user = await self.storage.user(user_id)
        return user is not None and user.role == "officer"

    async def attempt(self, delivery: Delivery) -> None:
        event = delivery.event
        warehouse = await self.warehouse(event.warehouse_id)
        error: str | None
        if delivery.channel == "webhook":
            found = await self.storage.webhook_with_secret(delivery.target_id)
            if found is None:  # removed meanwhile
                await self.storage.delivery_failed(delivery, retry_at=None, error="webhook removed")
                return
            hook, secret = found
            error = await webhooks.post(
                self.http_private if hook.allow_private else self.http,
                hook.url,
                allow_private=hook.allow_private,
                event=event.event,
                delivery_id=delivery.id,
                secret=secret,
                body=webhooks.body_of(event, warehouse, self.config.public_url),
            )
        else:
            sub = await self.storage.push_subscription(delivery.target_id)
            if sub is None:
                await self.storage.delivery_failed(delivery, retry_at=None, error="subscription removed")
                return
            error, gone = await webpush.send_checked(
                self.http_private if self.config.push_allow_private else self.http,
                self.vapid,
                self.config.vapid_subject,
                sub,
                notifications.message(event, warehouse, sub.lang, officer=await self.is_officer(sub.user_id)),
                allow_private=self.config.push_allow_private,
            )
            if gone:
                log.info("push subscription %s is gone (%s): removed", sub.id, error)
                await self.storage.remove_push_subscription(sub.id)
                return
        now = self.clock()
        if error is None:
            await self.storage.delivery_done(delivery, now)
            return
        retry_at = self.retry.next_attempt(delivery.attempts, delivery.created_at, now)
        if retry_at is None:
            log.warning("delivery %s of %s: dead letter after %d attempts (%s)", delivery.id, event.event,
                        delivery.attempts, error)  # fmt: skip
        await self.storage.delivery_failed(delivery, retry_at=retry_at, error=error)

"""Alerts over HTTP (docs/alerts.md): webhooks and the dead-letter list for admins, and Web Push
subscriptions for everyone signed in (their own).

Webhooks concern every warehouse a filter may name, so they are kept to unassigned admins, like
creating warehouses. Bodies are decoded strictly (server.api.wire.WireBody)."""

from __future__ import annotations

import time
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, PathParameter
from msgspec import Meta, Struct

from server.alerts import service, webpush
from server.alerts.worker import vapid_path
from server.api.admin import ADMINS, _require_global
from server.api.wire import WireBody
from server.auth import Session
from server.config import Config
from server.deps import SessionDep, StorageDep
from server.errors import ApiError
from server.storage import Storage
from server.storage.alerts import DeliveryRow, PushSubscription, Webhook
from sync.messages import Id

PathId = Annotated[str, PathParameter(min_length=1, max_length=64)]
Url = Annotated[str, Meta(min_length=8, max_length=service.MAX_URL)]
Secret = Annotated[str, Meta(min_length=service.MIN_SECRET, max_length=service.MAX_SECRET)]
EventName = Annotated[str, Meta(max_length=40)]
Base64Url = Annotated[str, Meta(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")]


class NewWebhook(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    url: Url
    events: Annotated[list[EventName], Meta(min_length=1, max_length=20)]
    warehouses: Annotated[list[Id], Meta(max_length=10_000)] = []
    secret: Secret
    allow_private: bool = False


class SubscriptionKeys(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    p256dh: Base64Url
    auth: Base64Url


class NewSubscription(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """PushSubscription.toJSON() of the browser, and the language its notifications are shown in."""

    endpoint: Url
    keys: SubscriptionKeys
    expirationTime: float | None = None
    lang: Annotated[str, Meta(pattern=r"^(id|en)$")] = "id"


class PushKey(Struct, kw_only=True, frozen=True):
    public_key: str
    """VAPID application server key (base64url): PushManager.subscribe({applicationServerKey})."""


class OwnSubscription(Struct, kw_only=True, frozen=True):
    id: str
    endpoint: str
    """So a browser finds its own among the person's subscriptions."""
    device_id: str
    lang: str
    created_at: str


def own(sub: PushSubscription) -> OwnSubscription:
    return OwnSubscription(
        id=sub.id, endpoint=sub.endpoint, device_id=sub.device_id, lang=sub.lang, created_at=sub.created_at
    )


def _who(session: Session) -> service.Who:
    return service.Who(session.user.id, session.user.agency, session.device.id)


def _bad(exc: service.AlertInputError) -> ApiError:
    return ApiError(400, exc.code, exc.message)


class AlertAdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]  # noqa: RUF012
    guards = [ADMINS]  # noqa: RUF012

    @get("/webhooks")
    async def webhooks(self, session: SessionDep, storage: StorageDep) -> list[Webhook]:
        _require_global(session, "mengelola webhook")
        return await storage.webhooks()

    @post("/webhooks", status_code=201, dto=WireBody[NewWebhook], return_dto=None)
    async def add_webhook(
        self, data: JSONBody[NewWebhook], session: SessionDep, storage: StorageDep
    ) -> Webhook:
        """Register a webhook (audited). Its secret signs every delivery and is never shown again."""
        _require_global(session, "mengelola webhook")
        try:
            return await service.add_webhook(
                storage,
                url=data.url,
                events=data.events,
                warehouses=data.warehouses,
                secret=data.secret,
                allow_private=data.allow_private,
                actor=_who(session),
            )
        except service.AlertInputError as exc:
            raise _bad(exc) from exc

    @delete("/webhooks/{webhook_id:str}", status_code=204)
    async def remove_webhook(self, webhook_id: PathId, session: SessionDep, storage: StorageDep) -> None:
        _require_global(session, "mengelola webhook")
        if not await service.remove_webhook(storage, webhook_id, actor=_who(session)):
            raise ApiError(404, "not_found", "Webhook tidak ditemukan")

    @get("/alerts/dead")
    async def dead_letters(self, session: SessionDep, storage: StorageDep) -> list[DeliveryRow]:
        """Deliveries that failed for the whole retry window, newest event first."""
        _require_global(session, "mengelola webhook")
        return await storage.deliveries("dead")

    @post("/alerts/dead/{delivery_id:str}/replay", status_code=200)
    async def replay(self, delivery_id: PathId, session: SessionDep, storage: StorageDep) -> dict[str, str]:
        _require_global(session, "mengelola webhook")
        if not await service.replay(storage, delivery_id, time.time(), actor=_who(session)):
            raise ApiError(404, "not_found", "Tidak ada pengiriman gagal dengan id itu")
        return {"id": delivery_id, "status": "pending"}


_keys: dict[str, str] = {}


def push_public_key(config: Config, storage: Storage) -> str:
    path = vapid_path(config, storage)
    if str(path) not in _keys:
        _keys[str(path)] = webpush.public_key(webpush.load_or_create(path))
    return _keys[str(path)]


class PushController(Controller):
    path = "/api/push"
    tags = ["push"]  # noqa: RUF012

    @get("/key")
    async def key(self, state: State, session: SessionDep, storage: StorageDep) -> PushKey:
        return PushKey(public_key=push_public_key(state.config, storage))

    @get("/subscriptions")
    async def mine(self, session: SessionDep, storage: StorageDep) -> list[OwnSubscription]:
        return [own(s) for s in await storage.push_subscriptions(session.user.id)]

    @post("/subscriptions", status_code=201, dto=WireBody[NewSubscription], return_dto=None)
    async def subscribe(
        self, data: JSONBody[NewSubscription], session: SessionDep, storage: StorageDep
    ) -> OwnSubscription:
        """This browser's subscription, for the signed-in person on this device: what they receive
        follows their scope and role (docs/alerts.md)."""
        try:
            sub: PushSubscription = await service.subscribe(
                storage,
                user_id=session.user.id,
                device_id=session.device.id,
                endpoint=data.endpoint,
                p256dh=data.keys.p256dh,
                auth=data.keys.auth,
                lang=data.lang,
            )
        except service.AlertInputError as exc:
            raise _bad(exc) from exc
        return own(sub)

    @delete("/subscriptions/{subscription_id:str}", status_code=204)
    async def unsubscribe(self, subscription_id: PathId, session: SessionDep, storage: StorageDep) -> None:
        if not await storage.remove_push_subscription(subscription_id, user_id=session.user.id):
            raise ApiError(404, "not_found", "Langganan notifikasi tidak ditemukan")

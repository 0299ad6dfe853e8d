"""One webhook delivery: the JSON body, its HMAC-SHA256 signature and the POST (docs/alerts.md).

The body of a delivery is built from the stored event and is the same bytes on every attempt; the
receiver checks `X-Tigapilar-Signature: sha256=<hex>` over those raw bytes with the webhook's secret
and deduplicates by `X-Tigapilar-Delivery`."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx
import msgspec

from server.alerts.targets import TargetRefused, check_target
from server.models import Warehouse
from server.storage.alerts import StoredEvent

USER_AGENT = "Tiga-Pilar-Webhook/1"


def record_path(event: StoredEvent) -> str:
    """Where the supervisor pages show what the event is about."""
    collection, _, record_id = event.subject.partition("/")
    if collection == "incidents":
        return f"/supervisor/#/incidents/{record_id}"
    if collection == "inspections":
        return f"/supervisor/#/inspection/{record_id}"
    return "/supervisor/#/"


def payload(event: StoredEvent, warehouse: Warehouse | None, public_url: str) -> dict[str, Any]:
    return {
        "event": event.event,
        "occurred_at": event.occurred_at,
        "warehouse": {
            "id": event.warehouse_id,
            "code": warehouse.code if warehouse else None,
            "name": warehouse.name if warehouse else None,
            "kecamatan": warehouse.kecamatan if warehouse else None,
            "kota": warehouse.kota if warehouse else None,
        },
        "record": event.record,
        "link": public_url.rstrip("/") + record_path(event),
    }


def body_of(event: StoredEvent, warehouse: Warehouse | None, public_url: str) -> bytes:
    return msgspec.json.encode(payload(event, warehouse, public_url))


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(event: str, delivery_id: str, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tigapilar-Event": event,
        "X-Tigapilar-Delivery": delivery_id,
        "X-Tigapilar-Signature": signature(secret, body),
    }


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    allow_private: bool,
    event: str,
    delivery_id: str,
    secret: str,
    body: bytes,
) -> str | None:
    """Attempt one delivery: None when the receiver answered 2xx, else why not (for last_error).
    Redirects are not followed (a 3xx is a failure): the target is the URL the admin gave. `http`
    must check the address it connects to as well, unless `allow_private` (targets.client)."""
    try:
        await check_target(url, allow_private=allow_private)
        response = await http.post(url, content=body, headers=headers(event, delivery_id, secret, body))
    except TargetRefused as refused:  # before, or at the connection (targets.PublicOnlyBackend)
        return f"{refused.code}: {refused.message}"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"

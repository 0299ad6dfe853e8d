"""Web Push (RFC 8030) with VAPID (RFC 8292) and message encryption (RFC 8291, aes128gcm).

The keys come from py-vapid and the encryption from http-ece, the libraries pywebpush is built on;
the request goes out with httpx like the webhooks. The VAPID private key is a PEM file beside the
database (made at first start, or ahead with `tigapilar push keygen`); browsers subscribe with its
public key (GET /api/push/key)."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from server.alerts.targets import TargetRefused, check_target
from server.storage.alerts import PushSubscription

TTL_S = 24 * 3600
"""How long the push service keeps a message for a phone that is off."""
GONE = (404, 410)
"""The push service's answer for a subscription that no longer exists: it is removed."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keygen(path: Path) -> Vapid02:
    """Make a VAPID key pair and store the private key at `path` (PEM, readable by its owner only)."""
    vapid = Vapid02()
    vapid.generate_keys()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(vapid.private_pem())
    return vapid


def load_or_create(path: Path) -> Vapid02:
    if path.exists():
        return Vapid02.from_file(str(path))
    try:
        return keygen(path)
    except FileExistsError:  # another process made it first
        return Vapid02.from_file(str(path))


def public_key(vapid: Vapid02) -> str:
    """The application server key browsers subscribe with (base64url, uncompressed P-256 point)."""
    return b64url(vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def encrypt(sub: PushSubscription, message: bytes) -> bytes:
    """The message encrypted for this subscription alone (RFC 8291)."""
    encrypted: bytes = http_ece.encrypt(
        message,
        salt=os.urandom(16),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(sub.p256dh),
        auth_secret=b64url_decode(sub.auth),
        version="aes128gcm",
    )
    return encrypted


def vapid_headers(vapid: Vapid02, endpoint: str, subject: str) -> dict[str, str]:
    parts = urlsplit(endpoint)
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(time.time()) + 12 * 3600, "sub": subject}
    signed: dict[str, str] = vapid.sign(claims)
    return {"Authorization": signed["Authorization"]}


async def send_checked(
    http: httpx.AsyncClient,
    vapid: Vapid02,
    subject: str,
    sub: PushSubscription,
    message: bytes,
    *,
    allow_private: bool,
) -> tuple[str | None, bool]:
    """`send`, once the endpoint (which a browser chose) passed the same checks as a webhook URL; `http`
    must check the address it connects to as well, unless `allow_private` (targets.client)."""
    try:
        await check_target(sub.endpoint, allow_private=allow_private)
        return await send(http, vapid, subject, sub, message)
    except TargetRefused as refused:  # before, or at the connection (targets.PublicOnlyBackend)
        return f"{refused.code}: {refused.message}", False


async def send(
    http: httpx.AsyncClient, vapid: Vapid02, subject: str, sub: PushSubscription, message: bytes
) -> tuple[str | None, bool]:
    """Hand one message to the subscription's push service: (None, False) when accepted, else
    (why not, whether the subscription is gone)."""
    headers = {
        **vapid_headers(vapid, sub.endpoint, subject),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(TTL_S),
        "Urgency": "high",
    }
    try:
        response = await http.post(sub.endpoint, content=encrypt(sub, message), headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500], False
    if 200 <= response.status_code < 300:
        return None, False
    return f"HTTP {response.status_code}", response.status_code in GONE

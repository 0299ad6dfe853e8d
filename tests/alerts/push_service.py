"""A local stand-in of an RFC 8030 push service, and the browser's side of a subscription.

`Browser` makes what PushManager.subscribe() makes: a P-256 key pair and a 16-byte auth secret; it
decrypts a message (RFC 8291, aes128gcm) with them. The service checks each request's VAPID token
(RFC 8292) on its own — signature with the `k` key over the JWT, `aud` the endpoint's origin, `exp`
within 24 hours, a `sub` — records what it received and answers 201, or what it is told (410...)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: __import__("os").urandom(16))

    def subscription(self, lang: str = "id") -> dict[str, Any]:
        public = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
                "expirationTime": None, "lang": lang}  # fmt: skip

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


def verify_vapid(authorization: str, endpoint_origin: str) -> tuple[dict[str, Any], str]:
    """The JWT's claims and the `k` key, after checking them as a push service does; raises if not."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256" and header.get("typ", "JWT") == "JWT", header
    raw = unb64url(signature_b64)
    assert len(raw) == 64
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    key.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(unb64url(claims_b64))
    assert claims["aud"] == endpoint_origin, claims
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
    assert claims["sub"].startswith(("mailto:", "https:")), claims
    return claims, parts["k"]


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes
    vapid_key: str


@dataclass
class PushService:
    origin: str
    answers: dict[str, list[int]] = field(default_factory=dict)
    received: list[Pushed] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def to(self, name: str) -> list[Pushed]:
        return [p for p in self.received if p.path == f"/push/{name}"]


@contextmanager
def push_service() -> Iterator[PushService]:
    state = PushService(origin="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                _, key = verify_vapid(headers.get("authorization", ""), state.origin)
                assert headers.get("content-encoding") == "aes128gcm"
                assert int(headers.get("ttl", "-1")) >= 0
            except Exception as exc:  # a push service answers 401/400 to a bad request
                state.refused.append(f"{type(exc).__name__}: {exc}")
                self.send_response(401)
                self.end_headers()
                return
            state.received.append(Pushed(self.path, headers, body, key))
            queued = state.answers.get(self.path.rsplit("/", 1)[-1], [])
            self.send_response(queued.pop(0) if queued else 201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

"""Hardening: security headers, body limits per endpoint, photo type and size checks, login
throttling, tokens kept only as hashes and never logged, CORS closed."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar, get
from PIL import Image

from server import app as app_module
from server.api.attachments import MAX_ATTACHMENT
from server.app import CSP, DOCS_CSP, create_app
from server.auth import Accounts, token_hash
from server.config import Config
from server.models import now_iso
from server.storage.base import AttachmentMeta
from server.storage.sqlite import SqliteStorage
from tests.conftest import open_client
from tests.factories import PASSWORD, Factory, bearer
from tests.server.test_sync_api import INCIDENT, Device

KiB, MiB = 1024, 1024 * 1024
JSON = {"content-type": "application/json"}


# -- security headers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/js/app.js",
        "/supervisor/",
        "/healthz",
        "/api/me",
        "/api/nope",
        "/schema/openapi.json",
    ],
)
async def test_app_pages_and_api_get_a_strict_policy(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    headers = response.headers
    policy = headers["content-security-policy"]
    assert policy == CSP
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-resource-policy"] == "same-origin"
    assert "microphone=()" in headers["permissions-policy"]
    assert "strict-transport-security" not in headers  # plain HTTP: HSTS would be meaningless


@pytest.fixture
async def docs_client(config: Config, storage: SqliteStorage) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app as `tigapilar serve --api-docs` runs it."""
    async for c in open_client(create_app(dataclasses.replace(config, api_docs=True), storage=storage)):
        yield c


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger", "/schema/redoc"])
async def test_only_the_api_docs_may_run_inline_scripts(docs_client: httpx.AsyncClient, path: str) -> None:
    """With --api-docs, the documented exception: the viewers bootstrap their CDN scripts inline."""
    response = await docs_client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == DOCS_CSP
    assert "frame-ancestors 'none'" in DOCS_CSP and "object-src 'none'" in DOCS_CSP
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_api_docs_are_off_unless_asked_for(client: httpx.AsyncClient) -> None:
    """Without --api-docs no third-party script runs on this origin, where supervisor pages keep
    their token: the viewers are gone, /schema is the schema itself, all under the strict policy."""
    for path in ("/schema/swagger", "/schema/redoc", "/schema/rapidoc", "/schema/elements"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-security-policy"] == CSP
    for path in ("/schema", "/schema/openapi.json", "/schema/openapi.yaml"):
        response = await client.get(path)
        assert response.status_code == 200 and "Tiga Pilar API" in response.text, path
        assert "<script" not in response.text and response.headers["content-security-policy"] == CSP


async def test_hsts_over_tls_on_every_response(app: Litestar) -> None:
    async for client in open_client(app, base_url="https://gudang.example"):
        for path in ("/", "/api/me", "/api/nope"):
            hsts = (await client.get(path)).headers["strict-transport-security"]
            assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000  # type: ignore[union-attr]


# -- CORS -------------------------------------------------------------------------------------------------
async def test_cors_is_closed(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    token = await factory.token(user)
    evil = {"Origin": "https://evil.example"}
    simple = await client.get("/api/me", headers={**evil, **bearer(token)})
    preflight = await client.options(
        "/api/sync/push",
        headers={
            **evil,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    login = await client.post(
        "/api/auth/login",
        json={
            "username": user.username,
            "password": PASSWORD,
            "device_name": "x",
            "client_id": "evil-client",
        },
        headers=evil,
    )
    for response in (simple, preflight, login):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], response.headers


# -- body limits ------------------------------------------------------------------------------------------
async def test_body_limits_per_endpoint(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = await factory.user(role="admin")
    officer = await factory.user()
    headers = {**JSON, **bearer(await factory.token(admin))}
    officer_headers = {**JSON, **bearer(await factory.token(officer))}

    def padded(size: int) -> bytes:
        return b'{"pad": "' + b"x" * size + b'"}'

    login = await client.post("/api/auth/login", content=padded(20 * KiB), headers=JSON)
    assert (login.status_code, login.json()["code"]) == (413, "body_too_large")
    assert app_module.BODY_LIMITS[app_module.AuthController] == 16 * KiB
    # Other JSON endpoints: 1 MiB.
    for path in ("/api/attachments/missing", "/api/admin/users", "/api/sync/pull"):
        response = await client.post(path, content=padded(MiB + KiB), headers=headers)
        if path == "/api/sync/pull":  # the pull shares the push's controller, limit Config.max_body_size
            assert response.status_code == 400, path
        else:
            assert (response.status_code, response.json()["code"]) == (413, "body_too_large"), path
    # A push may be large (2000 mutations): 3 MiB is read and refused as invalid, not as too large.
    push = await client.post("/api/sync/push", content=padded(3 * MiB), headers=officer_headers)
    assert push.status_code == 400 and push.json()["code"] == "invalid_request"
    over = await client.post("/api/sync/push", content=padded(9 * MiB), headers=officer_headers)
    assert (over.status_code, over.json()["code"]) == (413, "body_too_large")


# -- photos -----------------------------------------------------------------------------------------------
def image(kind: str, size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    out = io.BytesIO()
    if noise:
        picture = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        picture = Image.new("RGB", size, (10, 120, 200))
    picture.save(out, kind)
    return out.getvalue()


def png_bomb() -> bytes:
    """A 12000 x 12000 (144 megapixel) PNG of one colour: tiny on the wire, huge when decoded."""
    import struct
    import zlib

    width = height = 12000
    raw = zlib.compress(b"\x00" * (width * 3 + 1) * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def upload(client: httpx.AsyncClient, token: str, data: bytes, content_type: str) -> httpx.Response:
    sha = hashlib.sha256(data).hexdigest()
    return await client.put(
        f"/api/attachments/{sha}", content=data, headers={**bearer(token), "Content-Type": content_type}
    )


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("html as jpeg", b"<html><script>alert(1)</script></html>", "unsupported_type"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "unsupported_type"),
        ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "unsupported_type"),
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "unsupported_type"),
        ("jpeg magic then garbage", b"\xff\xd8\xff\xe0" + os.urandom(4000), "unreadable_image"),
        (
            "jpeg header then html",
            image("JPEG")[:40] + b"<html><script>alert(1)</script>",
            "unreadable_image",
        ),
        ("riff but not webp", b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 32, "unsupported_type"),
    ],
)
async def test_uploads_are_typed_by_their_bytes_and_must_decode(
    client: httpx.AsyncClient, factory: Factory, name: str, data: bytes, code: str
) -> None:
    token = await factory.token(await factory.user())
    response = await upload(client, token, data, "image/jpeg")
    assert (response.status_code, response.json()["code"]) == (415, code), name


async def test_a_decompression_bomb_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    token = await factory.token(await factory.user())
    bomb = png_bomb()
    assert len(bomb) < 1 * MiB
    response = await upload(client, token, bomb, "image/png")
    assert (response.status_code, response.json()["code"]) == (415, "image_too_large")


async def test_the_stored_type_comes_from_the_bytes_not_the_header(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    warehouse = await factory.warehouse()
    token = await factory.token(await factory.user(warehouses=[warehouse]), client_id="dev-type-0001")
    png = image("PNG")
    stored = await upload(client, token, png, "image/jpeg")
    assert stored.status_code == 201 and stored.json()["mime"] == "image/png"
    phone = Device(client, token, "dev-type-0001")  # attached to a record: readable in its warehouse
    sha = hashlib.sha256(png).hexdigest()
    fields = {**INCIDENT, "photos": [sha]}
    assert (
        await phone.push([phone.mutation("create", "inc-1", warehouse_id=warehouse.id, fields=fields)])
    ).is_success
    got = await client.get(f"/api/attachments/{hashlib.sha256(png).hexdigest()}", headers=bearer(token))
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    webp = image("WEBP")
    assert (await upload(client, token, webp, "application/octet-stream")).json()["mime"] == "image/webp"


async def test_photo_size_limit_is_10_mib_and_larger_than_the_json_limit(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await factory.token(await factory.user())
    big = image("PNG", (800, 600), noise=True)  # ~1.4 MiB: above the 1 MiB JSON limit, accepted
    assert MiB < len(big) < MAX_ATTACHMENT
    assert (await upload(client, token, big, "image/png")).status_code == 201
    over = b"\xff\xd8\xff\xe0" + b"\x00" * MAX_ATTACHMENT
    response = await upload(client, token, over, "image/jpeg")
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")


async def test_a_stored_photo_that_cannot_be_decoded_gives_422_not_500(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    """Photos stored before uploads were decoded: the thumbnail fails cleanly; a missing file is 404."""
    user = await factory.user()
    token = await factory.token(user)
    for sha, write in (("a" * 64, True), ("b" * 64, False)):
        path = Path("attachments") / sha[:2] / sha
        if write:
            (storage.data_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (storage.data_dir / path).write_bytes(b"\xff\xd8\xff\xe0garbage")
        await storage.put_attachment(
            AttachmentMeta(
                sha256=sha,
                size=12,
                mime="image/jpeg",
                path=str(path),
                uploaded_by=user.id,
                created_at=now_iso(),
            )
        )
    thumb = await client.get(f"/api/attachments/{'a' * 64}/thumb", headers=bearer(token))
    assert (thumb.status_code, thumb.json()["code"]) == (422, "unreadable_image")
    missing = await client.get(f"/api/attachments/{'b' * 64}", headers=bearer(token))
    assert (missing.status_code, missing.json()["code"]) == (404, "attachment_file_missing")


# -- login throttling -------------------------------------------------------------------------------------
async def test_throttled_logins_say_when_to_try_again_and_then_work(
    client: httpx.AsyncClient, factory: Factory, app: Litestar
) -> None:
    await factory.user(username="rudi")
    body = {"username": "rudi", "password": "salah", "device_name": "HP", "client_id": "dev-rudi-0001"}
    for _ in range(5):
        assert (await client.post("/api/auth/login", json=body)).status_code == 401
    locked = await client.post("/api/auth/login", json={**body, "password": PASSWORD})
    assert locked.status_code == 429
    wait = int(locked.headers["retry-after"])
    assert (
        locked.json()["code"] == "too_many_attempts"
        and f"Coba lagi dalam {wait} detik" in locked.json()["message"]
    )
    accounts: Accounts = app.state.accounts
    now = accounts.throttle._clock()
    accounts.throttle._clock = lambda: now + wait + 0.1
    assert (await client.post("/api/auth/login", json={**body, "password": PASSWORD})).status_code == 200


# -- tokens -----------------------------------------------------------------------------------------------
@pytest.mark.sqlite_only
async def test_only_the_token_hash_is_stored(
    client: httpx.AsyncClient, factory: Factory, tmp_path: Path
) -> None:
    await factory.user(username="dedi")
    body = {"username": "dedi", "password": PASSWORD, "device_name": "HP", "client_id": "dev-dedi-0001"}
    token = (await client.post("/api/auth/login", json=body)).json()["token"]
    files = [p for p in tmp_path.glob("tigapilar.db*") if p.is_file()]
    stored = b"".join(p.read_bytes() for p in files)
    assert token.encode() not in stored and PASSWORD.encode() not in stored
    assert token_hash(token).encode() in stored


class Capture(logging.Handler):
    """Everything logged, formatted as a log file would have it (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_no_token_or_password_reaches_the_logs(
    config: Config, storage: SqliteStorage, factory: Factory
) -> None:
    @get("/test/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("boom")

    app = create_app(config, storage=storage)  # configures logging: capture after it
    app.register(boom)
    wh = await factory.warehouse()
    await factory.user(username="sari", warehouses=[wh])
    capture, root = Capture(), logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        async for client in open_client(app):
            body = {
                "username": "sari",
                "password": PASSWORD,
                "device_name": "HP",
                "client_id": "dev-sari-0001",
            }
            wrong = {**body, "password": "salah-" + PASSWORD}
            assert (await client.post("/api/auth/login", json=wrong)).status_code == 401
            token = (await client.post("/api/auth/login", json=body)).json()["token"]
            phone = Device(client, token, "dev-sari-0001")
            pushed = await phone.push(
                [phone.mutation("create", "inc-1", warehouse_id=wh.id, fields=INCIDENT)]
            )
            assert pushed.status_code == 200
            assert (await phone.push([], protocol=9)).status_code == 400
            assert (await client.get("/test/boom", headers=bearer(token))).status_code == 500
            assert (await client.get("/api/me", headers=bearer(token + "x"))).status_code == 401
            assert (await client.post("/api/auth/logout", headers=bearer(token))).status_code == 204
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    logged = "\n".join(capture.lines)
    assert "unhandled error on GET /test/boom" in logged and "RuntimeError: boom" in logged
    # Never a credential, nor what stands for one: tokens, their hashes, passwords, password hashes.
    password_hash = (await storage.user_by_username("sari"))[1]  # type: ignore[index]
    for secret in (token, token_hash(token), PASSWORD, password_hash):
        assert secret not in logged

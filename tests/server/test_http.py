"""Security headers, the static PWA shell at /, and the OpenAPI schema."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from server.app import CSP, create_app, security_headers
from server.config import Config
from server.storage import Storage
from server.storage.sqlite import SqliteStorage
from tests.conftest import STATIC_FILES, open_client


@pytest.mark.parametrize("path", ["/", "/js/app.js", "/healthz", "/api/me", "/api/nope", "/nope.txt"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "object-src 'none'" in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers


async def test_hsts_only_over_https(app: object) -> None:
    async for client in open_client(app, base_url="https://gudang.example"):  # type: ignore[arg-type]
        response = await client.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_security_headers_replace_a_handlers_own_once() -> None:
    """The hook's header list: each of its headers once, replacing a handler's of the same name in
    any letter case; a handler's own Cache-Control stays on /api/ (no-store otherwise), and the
    shell's entry files get no-cache whatever the handler said."""
    hook = security_headers()

    Pairs = list[tuple[bytes, bytes]]

    async def sent(path: str, given: Pairs, scheme: str = "http") -> Pairs:
        message: Any = {"type": "http.response.start", "status": 200, "headers": given}
        await hook(message, cast(Any, {"type": "http", "path": path, "scheme": scheme}))
        return [(bytes(n).lower(), bytes(v)) for n, v in message["headers"]]

    got = await sent("/api/x", [(b"X-Frame-Options", b"SAMEORIGIN"), (b"content-type", b"application/json")])
    names = [n for n, _ in got]
    assert len(names) == len(set(names)), got
    assert dict(got)[b"x-frame-options"] == b"DENY" and dict(got)[b"cache-control"] == b"no-store"
    assert dict(got)[b"content-type"] == b"application/json"
    own = await sent("/api/x", [(b"Cache-Control", b"private, max-age=60")])
    assert [v for n, v in own if n == b"cache-control"] == [b"private, max-age=60"]
    shell = await sent("/sw.js", [(b"cache-control", b"max-age=3600")], scheme="https")
    assert [v for n, v in shell if n == b"cache-control"] == [b"no-cache"]
    assert dict(shell)[b"strict-transport-security"].startswith(b"max-age=")
    assert b"cache-control" not in dict(await sent("/js/app.js", []))


async def test_static_shell_is_served_at_root(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert index.status_code == 200
    assert index.text == STATIC_FILES["index.html"]
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-cache"
    assert (await client.get("/index.html")).headers["cache-control"] == "no-cache"
    sw = await client.get("/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    assert sw.headers["cache-control"] == "no-cache"
    for name in ("js/app.js", "css/app.css", "manifest.webmanifest"):
        response = await client.get(f"/{name}")
        assert response.status_code == 200, name
        assert response.text == STATIC_FILES[name]
    assert "no-cache" not in (await client.get("/js/app.js")).headers.get("cache-control", "")
    assert (await client.get("/css/app.css")).headers["content-type"].startswith("text/css")


async def test_head_of_the_root_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    got = await client.get("/", headers={"Accept-Encoding": "identity"})
    answered = await client.head("/")
    assert answered.status_code == got.status_code == 200
    assert answered.content == b""
    assert int(answered.headers["content-length"]) == len(got.content)
    assert answered.headers["content-security-policy"] == got.headers["content-security-policy"]


async def test_static_files_do_not_escape_their_directory(client: httpx.AsyncClient, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("rahasia")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/js/../../secret.txt"):
        response = await client.get(path)
        assert "rahasia" not in response.text
        assert response.status_code in (400, 404)


async def test_api_routes_win_over_static_files(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    assert (await client.get("/api/me")).json()["code"] == "unauthorized"
    assert (await client.get("/schema/openapi.json")).status_code == 200
    assert (await client.get("/api/me")).headers["cache-control"] == "no-store"


async def test_without_a_static_dir_the_api_still_works(
    config: Config, storage: SqliteStorage, tmp_path: Path
) -> None:
    app = create_app(dataclasses.replace(config, static_dir=tmp_path / "missing"), storage=storage)
    async for client in open_client(app):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/")).status_code == 404


async def test_openapi_schema_describes_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Tiga Pilar API"
    for path in (
        "/healthz",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/warehouses",
        "/api/templates/current",
        "/api/templates/{template_id}",
        "/api/stock-items",
        "/api/users/colleagues",
    ):
        assert path in schema["paths"], path
    assert "LoginRequest" in str(schema["components"]["schemas"])
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_interactive_docs_are_served_with_api_docs(config: Config, storage: Storage) -> None:
    app = create_app(dataclasses.replace(config, api_docs=True), storage=storage)
    async for client in open_client(app):
        for path in ("/schema", "/schema/swagger"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            # The docs viewer is loaded from a CDN, so its pages get their own (looser) policy.
            assert "https://cdn.jsdelivr.net" in response.headers["content-security-policy"]

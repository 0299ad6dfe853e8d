"""Every error is JSON {"code", "message", ...} with the right 4xx; nothing the client sends gives 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody

from server.app import create_app
from server.auth import require_role
from server.config import Config
from server.errors import ApiError
from server.storage.sqlite import SqliteStorage
from sync.errors import SequenceGap
from sync.messages import PushRequest
from tests.conftest import open_client
from tests.factories import Factory, bearer

LOGIN = "/api/auth/login"
JSON = {"content-type": "application/json"}


@get("/test/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("secret detail /etc/passwd")


@get("/test/gap", sync_to_thread=False)
def gap() -> None:
    raise SequenceGap("mutation 4 is missing", expected_seq=4)


@get("/test/api-error", sync_to_thread=False)
def api_error() -> None:
    raise ApiError(409, "already_reviewed", "Sudah diperiksa", record_id="r1")


@post("/test/push", status_code=200, sync_to_thread=False)
def push(data: JSONBody[PushRequest]) -> dict[str, int]:
    return {"n": len(data.mutations)}


@get("/test/supervisors", guards=[require_role("supervisor", "admin")], sync_to_thread=False)
def supervisors_only() -> dict[str, bool]:
    return {"ok": True}


@pytest.fixture
def test_app(config: Config, storage: SqliteStorage) -> Litestar:
    app = create_app(config, storage=storage)
    for handler in (boom, gap, api_error, push, supervisors_only):
        app.register(handler)
    return app


@pytest.fixture
async def c(test_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_client(test_app):
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.mark.parametrize(
    "content",
    [b"{bad", b'{"username": "a",', b"\xff\xfe", b"[1, 2", b'{"username": "x"} trailing'],
)
async def test_malformed_json_is_400(c: httpx.AsyncClient, content: bytes) -> None:
    assert_error(await c.post(LOGIN, content=content, headers=JSON), 400, "malformed_json")


async def test_an_empty_body_is_400(c: httpx.AsyncClient) -> None:
    assert_error(await c.post(LOGIN, content=b"", headers=JSON), 400, "missing_body")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"username": 1, "password": "x", "device_name": "d", "client_id": "client-0001"}, "at `$.username`"),
        ({"username": "a", "password": "x", "device_name": "d"}, "client_id"),
        ({"username": "a", "password": "x", "device_name": "d", "client_id": "short"}, "at `$.client_id`"),
        (
            {"username": "a", "password": "x", "device_name": "d", "client_id": "client-0001", "extra": 1},
            "unknown field `extra`",
        ),
        ([1, 2, 3], "Expected `object`, got `array`"),
        ("just a string", "Expected `object`"),
    ],
)
async def test_wrong_shapes_are_400_with_the_path(c: httpx.AsyncClient, body: object, fragment: str) -> None:
    error = assert_error(await c.post(LOGIN, json=body), 400, "invalid_request")
    assert fragment in str(error["message"])


async def test_nested_validation_errors_name_the_item(c: httpx.AsyncClient) -> None:
    mutation = {
        "seq": 1,
        "id": "r1",
        "collection": "inspections",
        "op": "create",
        "hlc": "0000000000001-00000-n",
    }
    body = {
        "protocol": 1,
        "client_id": "client-0001",
        "schema_version": 2,
        "mutations": [mutation, {**mutation, "seq": 2}, {**mutation, "seq": 3}, {**mutation, "seq": "x"}],
    }
    error = assert_error(await c.post("/test/push", json=body), 400, "invalid_request")
    assert error["message"] == "Expected `int`, got `str` - at `$.mutations[3].seq`"
    bogus = {**body, "mutations": [mutation, {**mutation, "bogus": True}]}
    error = assert_error(await c.post("/test/push", json=bogus), 400, "invalid_request")
    assert error["message"] == "Object contains unknown field `bogus` - at `$.mutations[1]`"
    ok = await c.post("/test/push", json={**body, "mutations": [mutation]})
    assert ok.status_code == 200


async def test_an_oversize_body_is_413(c: httpx.AsyncClient) -> None:
    big = b'{"username": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    assert_error(await c.post(LOGIN, content=big, headers=JSON), 413, "body_too_large")


async def test_an_oversize_body_without_content_length_is_413(c: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(9):
            yield b"x" * (1024 * 1024)

    assert_error(await c.post(LOGIN, content=chunks(), headers=JSON), 413, "body_too_large")


async def test_the_body_limit_comes_from_config(config: Config, storage: SqliteStorage) -> None:
    import dataclasses

    app = create_app(dataclasses.replace(config, max_body_size=1000), storage=storage)
    async for client in open_client(app):
        response = await client.post(LOGIN, content=b"x" * 2000, headers=JSON)
        assert_error(response, 413, "body_too_large")


async def test_not_found_and_method_not_allowed(c: httpx.AsyncClient) -> None:
    assert_error(await c.get("/api/nothing-here"), 404, "not_found")
    body = assert_error(await c.delete(LOGIN), 405, "method_not_allowed")
    assert body["code"] == "method_not_allowed"
    assert "POST" in (await c.get(LOGIN)).headers.get("allow", "")


async def test_unexpected_errors_are_500_without_details(
    c: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tigapilar.errors"):
        response = await c.get("/test/boom")
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert set(body) == {"code", "message"}
    assert any("secret detail" in str(r.exc_info) for r in caplog.records)


async def test_sync_errors_keep_status_code_and_extra(c: httpx.AsyncClient) -> None:
    body = assert_error(await c.get("/test/gap"), 409, "sequence_gap")
    assert body == {"code": "sequence_gap", "message": "mutation 4 is missing", "expected_seq": 4}


async def test_api_errors_carry_extra_fields(c: httpx.AsyncClient) -> None:
    body = assert_error(await c.get("/test/api-error"), 409, "already_reviewed")
    assert body["record_id"] == "r1"


async def test_role_guard(c: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.token(await factory.user(role="officer"))
    supervisor = await factory.token(await factory.user(role="supervisor"))
    admin = await factory.token(await factory.user(role="admin"))
    assert_error(await c.get("/test/supervisors"), 401, "unauthorized")
    assert_error(await c.get("/test/supervisors", headers=bearer(officer)), 403, "forbidden")
    assert (await c.get("/test/supervisors", headers=bearer(supervisor))).json() == {"ok": True}
    assert (await c.get("/test/supervisors", headers=bearer(admin))).status_code == 200


async def test_bad_query_parameters_are_400(c: httpx.AsyncClient, factory: Factory) -> None:
    token = await factory.token(await factory.user())
    response = await c.get("/api/users/colleagues", headers=bearer(token))
    assert_error(response, 400, "invalid_request")
    long_id = await c.get("/api/users/colleagues", params={"warehouse_id": "w" * 65}, headers=bearer(token))
    assert_error(long_id, 400, "invalid_request")

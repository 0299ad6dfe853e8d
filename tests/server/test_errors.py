"""Every error is JSON {"code", "message", ...} with the right 4xx; nothing the client sends gives 500."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar, get, post
from litestar.params import JSONBody

from server.api.wire import has_nul, nesting_deeper_than
from server.app import create_app
from server.auth import require_role
from server.config import Config
from server.errors import ApiError
from server.seed import load_template
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


async def test_a_nul_character_in_any_json_body_is_400_invalid_text(
    c: httpx.AsyncClient, factory: Factory, sql_rows: Any
) -> None:
    """PostgreSQL refuses U+0000 in text: every JSON body with one is refused before anything is
    read from or written to the database, on either backend."""
    login = {"username": "sari\x00", "password": "x", "device_name": "HP", "client_id": "dev-abcdefgh"}
    body = assert_error(await c.post(LOGIN, json=login), 400, "invalid_text")
    assert body["message"] == "Teks tidak boleh berisi karakter NUL (U+0000)"

    admin = bearer(await factory.token(await factory.user(role="admin", agency="KPU")))
    warehouse = {"id": "gd-nul", "code": "gudang_nul", "name": "Gudang\x00Baru"}
    assert_error(await c.post("/api/admin/warehouses", json=warehouse, headers=admin), 400, "invalid_text")
    assert sql_rows("SELECT count(*) FROM warehouses WHERE id = 'gd-nul'") == [(0,)]
    user = {"username": "budi", "full_name": "Budi\x00", "agency": "POLRI", "password": "panjang-sekali-123"}
    assert_error(await c.post("/api/admin/users", json=user, headers=admin), 400, "invalid_text")
    assert sql_rows("SELECT count(*) FROM users WHERE username = 'budi'") == [(0,)]

    # A template upload is read by its own parser; YAML spells NUL "\0", "\x00" or "\u0000".
    await factory.reference_data()
    template = {
        **msgspec.to_builtins(load_template()),
        "id": "",
        "version": 3,
        "title": {"id": "TITLE", "en": "T"},
    }
    as_yaml = yaml.safe_dump(template, allow_unicode=True)
    for spelling in ("\\0", "\\x00", "\\u0000"):
        upload = as_yaml.replace("TITLE", f'"Gudang{spelling}"').encode()
        assert yaml.safe_load(upload)["title"]["id"] == "Gudang\x00"
        headers = {**admin, "Content-Type": "application/yaml"}
        response = await c.post("/api/admin/templates", content=upload, headers=headers)
        assert_error(response, 400, "invalid_text")
    json_upload = msgspec.json.encode({**template, "title": {"id": "Gudang\x00", "en": "Warehouse"}})
    response = await c.post("/api/admin/templates", content=json_upload, headers={**admin, **JSON})
    assert_error(response, 400, "invalid_text")
    assert sql_rows("SELECT count(*) FROM templates WHERE version = 3") == [(0,)]


@pytest.mark.parametrize(
    ("raw", "nul"),
    [
        (rb'"\u0000"', True),
        (rb'"a\u0000b"', True),
        (rb'"\\u0000"', False),  # an escaped backslash, then the text u0000
        (rb'"\\\u0000"', True),  # an escaped backslash, then NUL
        (rb'"\\\\u0000"', False),
        (rb'"\\\\\u0000"', True),
        (rb'"\\u0000 \u0000"', True),  # the second one counts
        (rb'"\u00000"', True),
        (rb'"\u0001 \u00a0 \\ u0000"', False),
        (b"", False),
    ],
)
def test_the_nul_check_counts_the_backslashes_before_u0000(raw: bytes, nul: bool) -> None:
    assert has_nul(raw) is nul
    if raw:  # the decoder agrees
        assert ("\x00" in msgspec.json.decode(raw)) is nul


_PIECES = [b"\\", b"\\\\", b"\\u0000", b"u0000", b"\\u0041", b"\\n", b'\\"', b"0", b"a", b" "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_the_nul_check_agrees_with_the_json_decoder(pieces: list[bytes]) -> None:
    raw = b'["' + b"".join(pieces) + b'"]'
    try:
        [text] = msgspec.json.decode(raw)
    except msgspec.DecodeError:  # an odd backslash before the closing quote
        return
    assert has_nul(raw) is ("\x00" in text)
    assert has_nul(msgspec.json.encode(text)) is ("\x00" in text)


# -- nesting: limited before decoding ---------------------------------------------------------------------
def nested(depth: int, leaf: bytes = b"1") -> bytes:
    """`depth` levels of arrays and objects around `leaf`, alternating: [{"k": [{"k": ... }]}]."""
    body = leaf
    for level in range(depth):
        body = b"[" + body + b"]" if level % 2 == 0 else b'{"k": ' + body + b"}"
    return body


@pytest.mark.parametrize("depth", [65, 1000, 2000])
async def test_json_nested_deeper_than_64_levels_is_400_on_every_json_endpoint(
    c: httpx.AsyncClient, factory: Factory, sql_rows: Any, depth: int
) -> None:
    """Decoders recurse: a body nested a thousand deep made them run out of stack (500). Any JSON
    body nested deeper than 64 is refused first, logged in or not, and nothing is written."""
    officer = bearer(await factory.token(await factory.user(), client_id="dev-deep-0001"))
    admin = bearer(await factory.token(await factory.user(role="admin")))
    deep = nested(depth)
    push = b'{"protocol": 1, "client_id": "dev-deep-0001", "schema_version": 2, "mutations": [{"seq": 1,'
    push += b' "id": "inc-1", "collection": "incidents", "op": "create", "warehouse_id": "w",'
    push += b' "hlc": "0000000000001-00000-dev-deep-0001", "fields": {"notes": ' + deep + b"}}]}"
    calls = [
        (
            LOGIN,
            b'{"username": ' + deep + b', "password": "x", "device_name": "d", "client_id": "c-00001"}',
            {},
        ),
        ("/api/sync/push", push, officer),
        ("/api/attachments/missing", b'{"hashes": ' + deep + b"}", officer),
        ("/api/admin/users", b'{"username": "baru", "warehouses": ' + deep + b"}", admin),
        ("/api/admin/templates", b'{"id": "x", "sections": ' + deep + b"}", admin),
    ]
    for path, body, headers in calls:
        response = await c.post(path, content=body, headers={**headers, **JSON})
        error = assert_error(response, 400, "invalid_request")
        assert "64" in str(error["message"]), path
    assert sql_rows("SELECT count(*) FROM outcomes") == [(0,)]
    assert sql_rows("SELECT count(*) FROM users WHERE username = 'baru'") == [(0,)]


async def test_a_yaml_template_nested_too_deep_is_400(c: httpx.AsyncClient, factory: Factory) -> None:
    admin = {
        **bearer(await factory.token(await factory.user(role="admin"))),
        "Content-Type": "application/yaml",
    }
    flow = b"sections: " + b"[" * 2000 + b"]" * 2000
    assert_error(await c.post("/api/admin/templates", content=flow, headers=admin), 400, "invalid_request")
    block = "".join("  " * i + "a:\n" for i in range(700)).encode()  # indentation: no bracket to count
    assert_error(
        await c.post("/api/admin/templates", content=block, headers=admin), 400, "template_unreadable"
    )


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\x00\u00e9,:'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k'), inner, max_size=3)
    ),
    max_leaves=60,
)


@given(value=json_values, limit=st.integers(min_value=0, max_value=8))
@settings(max_examples=400, deadline=None)
def test_the_nesting_scan_agrees_with_a_recursive_parse(value: Any, limit: int) -> None:
    """Brackets in keys and strings, escaped quotes and backslashes: the byte scan says "deeper than
    limit" exactly when the decoded value is."""
    body = msgspec.json.encode(value)
    assert nesting_deeper_than(body, limit) == (depth_of(value) > limit)


def test_the_nesting_scan_leaves_malformed_json_to_the_decoder() -> None:
    assert not nesting_deeper_than(b"[" * 100)  # unbalanced: the decoder says malformed_json
    assert nesting_deeper_than(b"[" * 65 + b"]" * 65) and not nesting_deeper_than(nested(64))

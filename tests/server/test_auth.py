from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from server.app import create_app
from server.auth import LoginThrottle, Passwords, check_scope, new_token, token_hash
from server.config import Config
from server.errors import ApiError
from server.storage import Storage, open_storage
from server.storage.sqlite import SqliteStorage
from sync.domain import Actor
from tests.conftest import lifespan, open_client
from tests.factories import PASSWORD, Factory, bearer, every_audit_row


def login_body(username: str, password: str = PASSWORD, client_id: str = "client-0001") -> dict[str, str]:
    return {"username": username, "password": password, "device_name": "Samsung A14", "client_id": client_id}


async def audit_kinds(storage: SqliteStorage) -> list[str]:
    return [row.entry.kind for row in await every_audit_row(storage)]


# -- passwords and tokens ---------------------------------------------------------------------------
def test_passwords_hash_with_argon2id_and_verify() -> None:
    passwords = Passwords(time_cost=1, memory_kib=8)
    digest = passwords.hash_sync("rahasia-sekali")
    assert digest.startswith("$argon2id$")
    assert passwords.verify_sync(digest, "rahasia-sekali")
    assert not passwords.verify_sync(digest, "salah")
    assert not passwords.verify_sync(None, "rahasia-sekali")
    assert not passwords.verify_sync("not-a-hash", "x")


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    token, digest = new_token()
    assert len(token) >= 43 and token not in digest
    assert digest == token_hash(token) and len(digest) == 64
    assert new_token()[0] != token


# -- login ------------------------------------------------------------------------------------------
async def test_login_returns_a_token_that_authenticates(client: httpx.AsyncClient, factory: Factory) -> None:
    warehouse = await factory.warehouse()
    user = await factory.user(username="slamet", warehouses=[warehouse])
    response = await client.post("/api/auth/login", json=login_body("Slamet"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == user.id and "password" not in response.text
    me = await client.get("/api/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["client_id"] == "client-0001"
    assert [w["id"] for w in me.json()["warehouses"]] == [warehouse.id]


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [("slamet", "salah-sandi", "bad_credentials"), ("tidak-ada", PASSWORD, "bad_credentials")],
)
async def test_bad_credentials_are_401(
    client: httpx.AsyncClient,
    factory: Factory,
    storage: SqliteStorage,
    username: str,
    password: str,
    code: str,
) -> None:
    await factory.user(username="slamet")
    response = await client.post("/api/auth/login", json=login_body(username, password))
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert "token" not in response.json()
    assert await audit_kinds(storage) == ["auth.login_failed"]


async def test_a_disabled_user_cannot_log_in_and_their_tokens_stop_working(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    user = await factory.user(username="joko")
    token = await factory.token(user)
    assert (await client.get("/api/me", headers=bearer(token))).status_code == 200
    await storage.set_disabled(user.id, True)
    assert (await client.get("/api/me", headers=bearer(token))).status_code == 401
    right = await client.post("/api/auth/login", json=login_body("joko"))
    wrong = await client.post("/api/auth/login", json=login_body("joko", "salah-sandi"))
    # The same answer as for a wrong password: it must not confirm a disabled account's password.
    assert (
        (right.status_code, right.json())
        == (wrong.status_code, wrong.json())
        == (
            401,
            {"code": "bad_credentials", "message": "Nama pengguna atau kata sandi salah"},
        )
    )
    reasons = [row.entry.detail["reason"] for row in await every_audit_row(storage)]
    assert reasons == ["disabled", "bad_credentials"]  # the audit log still tells them apart


async def test_logout_revokes_the_token(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    await factory.user(username="dedi")
    token = (await client.post("/api/auth/login", json=login_body("dedi"))).json()["token"]
    assert (await client.post("/api/auth/logout", headers=bearer(token))).status_code == 204
    response = await client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert await audit_kinds(storage) == ["auth.login", "auth.logout"]


async def test_logging_in_again_on_the_same_device_replaces_its_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.user(username="agus")
    first = (await client.post("/api/auth/login", json=login_body("agus"))).json()["token"]
    second = (await client.post("/api/auth/login", json=login_body("agus"))).json()["token"]
    other = (await client.post("/api/auth/login", json=login_body("agus", client_id="client-0002"))).json()[
        "token"
    ]
    assert (await client.get("/api/me", headers=bearer(first))).status_code == 401
    assert (await client.get("/api/me", headers=bearer(second))).status_code == 200
    assert (await client.get("/api/me", headers=bearer(other))).status_code == 200


async def test_a_client_id_belongs_to_one_user(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.user(username="agus")
    await factory.user(username="wahyu")
    assert (await client.post("/api/auth/login", json=login_body("agus"))).status_code == 200
    response = await client.post("/api/auth/login", json=login_body("wahyu"))
    assert response.status_code == 409
    assert response.json()["code"] == "client_in_use"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer " + "x" * 43, "Basic dXNlcjpwYXNz", "bearer short", "Bearer " + "y" * 500],
)
async def test_missing_or_unknown_tokens_are_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.json()["reason"] in ("token_missing", "token_unknown")


async def test_an_expired_token_is_401(client: httpx.AsyncClient, factory: Factory) -> None:
    user = await factory.user()
    token = await factory.token(user, expires_in=timedelta(seconds=-1))
    response = await client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["reason"] == "token_expired"  # the officer only needs to log in again


async def test_a_revoked_token_is_401(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    user = await factory.user()
    token = await factory.token(user)
    device = await storage.device_by_token(token_hash(token))
    assert device is not None
    await storage.revoke_device(device.id, "2024-01-01T00:00:00.000Z")
    response = await client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert (response.json()["code"], response.json()["reason"]) == ("unauthorized", "token_revoked")


# -- throttling -------------------------------------------------------------------------------------
def from_address(app: Litestar, address: str) -> httpx.AsyncClient:
    """A client of the running app whose requests come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_five_failures_lock_the_account_from_that_address_only(
    client: httpx.AsyncClient, factory: Factory, app: Litestar
) -> None:
    await factory.user(username="rudi")
    for _ in range(5):
        assert (await client.post("/api/auth/login", json=login_body("rudi", "salah"))).status_code == 401
    response = await client.post("/api/auth/login", json=login_body("rudi"))  # even the right password
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "too_many_attempts"
    assert 1 <= body["retry_after"] <= 30
    assert body["message"] == f"Terlalu banyak percobaan. Coba lagi dalam {body['retry_after']} detik"
    assert response.headers["retry-after"] == str(body["retry_after"])
    # Another user from the same address is not locked out by rudi's failures.
    await factory.user(username="siti")
    assert (
        await client.post("/api/auth/login", json=login_body("siti", client_id="client-0009"))
    ).status_code == 200
    # Nor is rudi himself, with the right password, from another address.
    async with from_address(app, "10.20.30.40") as elsewhere:
        assert (await elsewhere.post("/api/auth/login", json=login_body("rudi"))).status_code == 200


async def test_one_address_cannot_lock_other_people_out(
    client: httpx.AsyncClient, factory: Factory, app: Litestar
) -> None:
    """Five wrong passwords for each of the supervisors from one address (25, under its limit of 30):
    that address is refused for them, everyone else logs them in."""
    names = [f"pengawas{i}" for i in range(5)]
    for name in names:
        await factory.user(username=name, role="supervisor")
    async with from_address(app, "10.66.6.6") as attacker:
        for name in names:
            for _ in range(5):
                assert (await attacker.post("/api/auth/login", json=login_body(name, "x"))).status_code == 401
        for name in names:
            assert (await attacker.post("/api/auth/login", json=login_body(name))).status_code == 429
    async with from_address(app, "10.0.0.2") as posko:
        for n, name in enumerate(names):
            ok = await posko.post("/api/auth/login", json=login_body(name, client_id=f"client-pos{n}"))
            assert ok.status_code == 200, name


@pytest.fixture
async def account_limited_app(config: Config, storage: SqliteStorage) -> AsyncIterator[Litestar]:
    app = create_app(dataclasses.replace(config, login_max_failures_per_account=10), storage=storage)
    async with lifespan(app):
        yield app


async def test_failures_from_many_addresses_hold_the_account_for_new_devices_only(
    account_limited_app: Litestar, factory: Factory
) -> None:
    """ASVS 2.2.1: at most `login_max_failures_per_account` failures an hour on one account, from all
    addresses together; then only the devices that already logged in as it may try."""
    app = account_limited_app
    await factory.user(username="hendra", role="supervisor")
    async with from_address(app, "10.0.0.1") as office:
        assert (
            await office.post("/api/auth/login", json=login_body("hendra", client_id="client-hendra"))
        ).status_code == 200
    for n in range(10):  # a botnet: one failure from each of ten addresses
        async with from_address(app, f"172.16.0.{n}") as bot:
            assert (await bot.post("/api/auth/login", json=login_body("hendra", "x"))).status_code == 401
    async with from_address(app, "10.0.0.7") as cafe:
        new_phone = await cafe.post("/api/auth/login", json=login_body("hendra", client_id="client-new01"))
        assert new_phone.status_code == 429 and 3500 <= new_phone.json()["retry_after"] <= 3600
        own_phone = await cafe.post("/api/auth/login", json=login_body("hendra", client_id="client-hendra"))
        assert own_phone.status_code == 200


@pytest.fixture
async def strict_client(config: Config, storage: SqliteStorage) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(config, login_max_failures_per_address=3), storage=storage)
    async for c in open_client(app):
        yield c


async def test_failures_from_one_address_lock_that_address(
    strict_client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.user(username="lestari")
    for name in ("a1", "a2", "a3"):
        assert (await strict_client.post("/api/auth/login", json=login_body(name, "x"))).status_code == 401
    response = await strict_client.post("/api/auth/login", json=login_body("lestari"))
    assert response.status_code == 429


def clock_at(start: float) -> tuple[list[float], Callable[[], float]]:
    now = [start]
    return now, lambda: now[0]


async def test_throttle_backs_off_and_forgets_old_failures(storage: Storage) -> None:
    now, clock = clock_at(1_700_000_000.0)
    throttle = LoginThrottle(
        max_failures=3, max_failures_per_address=100, lockout_s=30, window_s=600, clock=clock
    )
    for _ in range(2):
        await throttle.failure(storage, "budi", "10.0.0.1")
    now[0] += 601  # outside the window: those two are forgotten
    await throttle.failure(storage, "budi", "10.0.0.1")
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") == 0
    await throttle.failure(storage, "budi", "10.0.0.1")
    await throttle.failure(storage, "budi", "10.0.0.1")
    assert await throttle.retry_after(storage, "BUDI", "10.0.0.1") == 30
    assert await throttle.retry_after(storage, "budi", "10.0.0.9") == 0  # another address
    now[0] += 31
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") == 0
    for _ in range(3):
        await throttle.failure(storage, "budi", "10.0.0.1")
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") == 60  # doubled
    await throttle.success(storage, "budi", "10.0.0.1")
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") == 0


async def test_throttle_lockouts_double_up_to_an_hour(storage: Storage) -> None:
    now, clock = clock_at(1_700_000_000.0)
    throttle = LoginThrottle(
        max_failures=2, max_failures_per_address=100, lockout_s=30, window_s=600, clock=clock
    )
    waits = []
    for _ in range(9):
        for _ in range(2):
            await throttle.failure(storage, "budi", "10.0.0.1")
        waits.append(await throttle.retry_after(storage, "budi", "10.0.0.1"))
        now[0] += waits[-1]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


async def test_a_success_clears_its_account_and_address_but_not_the_address(storage: Storage) -> None:
    _, clock = clock_at(1_700_000_000.0)
    throttle = LoginThrottle(
        max_failures=3, max_failures_per_address=3, lockout_s=30, window_s=600, clock=clock
    )
    for name in ("a1", "a2", "a3"):
        await throttle.failure(storage, name, "10.0.0.1")
    await throttle.success(storage, "a1", "10.0.0.1")
    assert await throttle.retry_after(storage, "siti", "10.0.0.1") == 30  # the address stays locked
    assert await throttle.retry_after(storage, "a1", "10.0.0.2") == 0
    throttle.max_failures_per_address = 100
    for _ in range(2):
        await throttle.failure(storage, "siti", "10.0.0.2")
    await throttle.success(storage, "siti", "10.0.0.2")
    await throttle.failure(storage, "siti", "10.0.0.2")  # counting starts again
    await throttle.failure(storage, "siti", "10.0.0.2")
    assert await throttle.retry_after(storage, "siti", "10.0.0.2") == 0


async def test_the_account_count_spans_addresses_and_a_success_does_not_reset_it(storage: Storage) -> None:
    now, clock = clock_at(1_700_000_000.0)
    throttle = LoginThrottle(
        max_failures=5,
        max_failures_per_address=100,
        max_failures_per_account=4,
        lockout_s=30,
        window_s=600,
        account_window_s=3600,
        clock=clock,
    )
    for n in range(3):
        await throttle.failure(storage, "budi", f"10.0.0.{n}")
    await throttle.success(storage, "budi", "10.0.0.9")
    assert await throttle.account_retry_after(storage, "budi") == 0
    await throttle.failure(storage, "budi", "10.0.0.3")
    assert await throttle.account_retry_after(storage, "BUDI") == 3600
    assert await throttle.retry_after(storage, "budi", "10.0.0.4") == 0  # not a hard lock
    now[0] += 3600
    assert await throttle.account_retry_after(storage, "budi") == 0


async def test_quiet_keys_are_forgotten_and_the_number_of_keys_is_capped(
    storage: Storage, sql_rows: Callable[..., list[tuple[object, ...]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    now, clock = clock_at(1_700_000_000.0)
    throttle = LoginThrottle(
        max_failures=2, max_failures_per_address=100, lockout_s=30, window_s=600, clock=clock
    )
    for _ in range(2):
        await throttle.failure(storage, "budi", "10.0.0.1")  # budi locked once
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") == 30
    now[0] += LoginThrottle.FORGET_S - 1
    throttle._until_prune = 0  # prune on the next failure
    await throttle.failure(storage, "siti", "10.0.0.2")
    assert {row[0] for row in sql_rows("SELECT key FROM login_failures")} == {
        "acct:budi|addr:10.0.0.1", "addr:10.0.0.1", "acct:budi",
        "acct:siti|addr:10.0.0.2", "addr:10.0.0.2", "acct:siti",
    }  # fmt: skip
    now[0] += 2  # budi has been quiet for a day: forgotten, his lockout count too
    throttle._until_prune = 0
    await throttle.failure(storage, "siti", "10.0.0.2")
    assert {row[0] for row in sql_rows("SELECT key FROM login_failures")} == {
        "acct:siti|addr:10.0.0.2", "addr:10.0.0.2", "acct:siti",
    }  # fmt: skip
    for _ in range(2):
        await throttle.failure(storage, "budi", "10.0.0.1")
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") == 30  # not 60

    # Beyond MAX_KEYS keys, the unlocked ones whose last failure is oldest go; a locked key stays.
    monkeypatch.setattr(LoginThrottle, "MAX_KEYS", 5)
    for i in range(3):
        now[0] += 1
        await throttle.failure(storage, f"u{i}", "10.0.0.9")
    throttle._until_prune = 0
    now[0] += 1
    await throttle.failure(storage, "joko", "10.0.0.9")
    keys = {row[0] for row in sql_rows("SELECT key FROM login_failures")}
    # the 2 locked pairs and the 3 keys of the latest failure
    assert keys == {"acct:budi|addr:10.0.0.1", "acct:siti|addr:10.0.0.2", "acct:joko|addr:10.0.0.9",
                    "addr:10.0.0.9", "acct:joko"}  # fmt: skip
    assert await throttle.retry_after(storage, "budi", "10.0.0.1") > 0


async def login_status(app: Litestar, username: str, password: str = PASSWORD) -> int:
    """Start the app (it opens its own storage), try one login, shut it down (closing the storage)."""
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return (await client.post("/api/auth/login", json=login_body(username, password))).status_code


async def test_a_lockout_holds_in_every_server_process_on_the_database(
    config: Config, factory: Factory
) -> None:
    """Two apps, each opening its own storage on one database: two server processes."""
    await factory.user(username="rudi")
    first, second = create_app(config), create_app(config)
    async with lifespan(first), lifespan(second):
        one = httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://testserver")
        two = httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://testserver")
        async with one, two:
            assert first.state.storage is not second.state.storage
            for client in (one, two, one, two):  # failures at either process count together
                assert (
                    await client.post("/api/auth/login", json=login_body("rudi", "salah"))
                ).status_code == 401
            assert (await one.post("/api/auth/login", json=login_body("rudi", "salah"))).status_code == 401
            for client in (one, two):
                locked = await client.post("/api/auth/login", json=login_body("rudi"))
                assert locked.status_code == 429 and 1 <= locked.json()["retry_after"] <= 30


async def test_a_lockout_survives_a_restart(config: Config, factory: Factory) -> None:
    await factory.user(username="rudi")
    for _ in range(5):
        assert await login_status(create_app(config), "rudi", "salah") == 401  # a new process each time
    assert await login_status(create_app(config), "rudi") == 429


async def test_failures_at_two_processes_at_once_all_count(
    config: Config, sql_rows: Callable[..., list[tuple[object, ...]]], tmp_path: Path
) -> None:
    stores = [open_storage(config.database, data_dir=tmp_path) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        throttle = LoginThrottle(max_failures=41, max_failures_per_address=40, lockout_s=30, window_s=600)
        await asyncio.gather(*(throttle.failure(stores[i % 2], "budi", "10.0.0.1") for i in range(40)))
        rows = dict(
            (str(k), (f, n)) for k, f, n in sql_rows("SELECT key, failures, lockouts FROM login_failures")
        )
        # 40 counted; the 40th locked the address
        assert rows == {"acct:budi|addr:10.0.0.1": (40, 0), "addr:10.0.0.1": (0, 1), "acct:budi": (40, 0)}
        assert await throttle.retry_after(stores[1], "siti", "10.0.0.1") == 30
    finally:
        for store in stores:
            await store.close()


# -- scope ------------------------------------------------------------------------------------------
def test_check_scope_refuses_warehouses_outside_the_actor() -> None:
    actor = Actor(user_id="u", username="u", role="officer", agency="TNI", warehouses=frozenset({"w1"}))
    check_scope(actor, "w1")
    with pytest.raises(ApiError) as refused:
        check_scope(actor, "w2")
    assert (refused.value.status, refused.value.code) == (403, "out_of_scope")

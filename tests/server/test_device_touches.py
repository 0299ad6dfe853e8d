"""Devices' last_seen is noted by authenticate() and written in batches (server/touches.py): one
write transaction for all the devices noted since the last flush, at shutdown too; a flush the
storage refuses keeps its times for the next one. Runs on either backend (`--backend postgres`).

The apps here flush only when told (a flush interval of an hour), so nothing depends on timing,
except the test of the background task itself."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from server.app import create_app
from server.auth import token_hash
from server.config import Config
from server.models import User, iso
from server.storage import Storage
from server.storage.base import StorageUnavailable
from server.touches import DeviceTouches
from tests.conftest import open_client
from tests.factories import Factory, bearer

LONG_AGO = "2024-01-01T00:00:00.000Z"

Rows = Callable[..., list[tuple[object, ...]]]


class TouchSpy:
    """Wraps the storage's touch_devices: counts the calls (one call, one write transaction), can be
    made to fail with StorageUnavailable, and sets `written` after each successful call."""

    def __init__(self, storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = storage.touch_devices
        self.calls: list[list[tuple[str, str]]] = []
        self.failures_left = 0
        self.written = asyncio.Event()
        monkeypatch.setattr(storage, "touch_devices", self)

    async def __call__(self, touches: Sequence[tuple[str, str]]) -> None:
        self.calls.append(list(touches))
        if self.failures_left:
            self.failures_left -= 1
            raise StorageUnavailable("database unavailable (SQLITE_FULL): database or disk is full")
        await self.real(touches)
        self.written.set()


@pytest.fixture
def spy(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> TouchSpy:
    return TouchSpy(storage, monkeypatch)


@pytest.fixture
def manual_app(config: Config, storage: Storage) -> Litestar:
    """The app with a background flush too rare to happen during a test."""
    return create_app(dataclasses.replace(config, touch_flush_interval_s=3600), storage=storage)


@pytest.fixture
async def manual_client(manual_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async for c in open_client(manual_app):
        yield c


async def device_seen_long_ago(
    factory: Factory, storage: Storage, sql_rows: Rows, user: User
) -> tuple[str, str]:
    """A device of `user` whose last_seen is long past (as after a night offline): (token, device id)."""
    token = await factory.token(user)
    device = await storage.device_by_token(token_hash(token))
    assert device is not None
    sql_rows("UPDATE devices SET last_seen = ? WHERE id = ?", LONG_AGO, device.id)
    return token, device.id


async def last_seen(storage: Storage, token: str) -> str:
    device = await storage.device_by_token(token_hash(token))
    assert device is not None
    return device.last_seen


def touches_of(app: Litestar) -> DeviceTouches:
    touches: DeviceTouches = app.state.touches
    return touches


async def test_a_request_after_the_touch_interval_updates_last_seen_once_flushed(
    manual_app: Litestar,
    manual_client: httpx.AsyncClient,
    factory: Factory,
    storage: Storage,
    sql_rows: Rows,
    spy: TouchSpy,
) -> None:
    officer = await factory.user()
    admin = await factory.user(role="admin")
    admin_token = await factory.token(admin)
    token, device_id = await device_seen_long_ago(factory, storage, sql_rows, officer)
    before = iso(datetime.now(UTC))

    assert (await manual_client.get("/api/me", headers=bearer(token))).status_code == 200
    assert await last_seen(storage, token) == LONG_AGO  # noted, not written yet
    assert touches_of(manual_app).pending == 1

    assert await touches_of(manual_app).flush() == 1
    seen = await last_seen(storage, token)
    assert before <= seen <= iso(datetime.now(UTC))
    assert touches_of(manual_app).pending == 0
    # The admin's device list (the supervisor's "not seen for N hours" views read the same column).
    listed = await manual_client.get(f"/api/admin/users/{officer.id}/devices", headers=bearer(admin_token))
    assert listed.status_code == 200
    assert [(d["id"], d["last_seen"]) for d in listed.json()] == [(device_id, seen)]

    # Seen within touch_interval_s: further requests note nothing, and a flush writes nothing.
    for _ in range(3):
        assert (await manual_client.get("/api/me", headers=bearer(token))).status_code == 200
    assert touches_of(manual_app).pending == 0
    assert await touches_of(manual_app).flush() == 0
    assert len(spy.calls) == 1
    assert await last_seen(storage, token) == seen


async def test_many_devices_first_requests_make_one_write(
    manual_app: Litestar,
    manual_client: httpx.AsyncClient,
    factory: Factory,
    storage: Storage,
    sql_rows: Rows,
    spy: TouchSpy,
) -> None:
    officer = await factory.user()
    devices = [await device_seen_long_ago(factory, storage, sql_rows, officer) for _ in range(25)]

    async def morning(token: str) -> None:
        # A reconnecting phone makes several requests before the flush: noted once.
        for _ in range(2):
            assert (await manual_client.get("/api/me", headers=bearer(token))).status_code == 200

    await asyncio.gather(*(morning(token) for token, _ in devices))
    assert spy.calls == []
    assert touches_of(manual_app).pending == len(devices)

    assert await touches_of(manual_app).flush() == len(devices)
    assert len(spy.calls) == 1  # one storage call: one write transaction for all 25 devices
    assert sorted(device_id for device_id, _ in spy.calls[0]) == sorted(device_id for _, device_id in devices)
    for token, _ in devices:
        assert await last_seen(storage, token) > LONG_AGO


async def test_shutdown_flushes_what_was_noted(
    config: Config, storage: Storage, factory: Factory, sql_rows: Rows, spy: TouchSpy
) -> None:
    """A clean stop loses nothing: the lifespan's exit writes the touches before it returns."""
    app = create_app(dataclasses.replace(config, touch_flush_interval_s=3600), storage=storage)
    officer = await factory.user()
    devices = [await device_seen_long_ago(factory, storage, sql_rows, officer) for _ in range(3)]
    async for client in open_client(app):
        for token, _ in devices:
            assert (await client.get("/api/me", headers=bearer(token))).status_code == 200
        assert spy.calls == []
    assert len(spy.calls) == 1
    for token, _ in devices:
        assert await last_seen(storage, token) > LONG_AGO


async def test_shutdown_flushes_before_the_app_closes_its_own_storage(
    config: Config, storage: Storage, factory: Factory, sql_rows: Rows
) -> None:
    """Without a storage given, the lifespan opens and closes it: the last flush comes first."""
    officer = await factory.user()
    token, device_id = await device_seen_long_ago(factory, storage, sql_rows, officer)
    app = create_app(dataclasses.replace(config, touch_flush_interval_s=3600))
    async for client in open_client(app):
        assert (await client.get("/api/me", headers=bearer(token))).status_code == 200
        assert sql_rows("SELECT last_seen FROM devices WHERE id = ?", device_id) == [(LONG_AGO,)]
    [(seen,)] = sql_rows("SELECT last_seen FROM devices WHERE id = ?", device_id)
    assert isinstance(seen, str) and seen > LONG_AGO


async def test_a_failed_flush_keeps_the_touches_for_the_next_one(
    manual_app: Litestar,
    manual_client: httpx.AsyncClient,
    factory: Factory,
    storage: Storage,
    sql_rows: Rows,
    spy: TouchSpy,
) -> None:
    officer = await factory.user()
    first, _ = await device_seen_long_ago(factory, storage, sql_rows, officer)
    second, _ = await device_seen_long_ago(factory, storage, sql_rows, officer)
    touches = touches_of(manual_app)
    assert (await manual_client.get("/api/me", headers=bearer(first))).status_code == 200

    spy.failures_left = 1
    with pytest.raises(StorageUnavailable):
        await touches.flush()
    assert touches.pending == 1
    assert await last_seen(storage, first) == LONG_AGO

    # Requests go on meanwhile: the kept device is not noted twice, a new one joins the batch.
    assert (await manual_client.get("/api/me", headers=bearer(first))).status_code == 200
    assert (await manual_client.get("/api/me", headers=bearer(second))).status_code == 200
    assert touches.pending == 2

    assert await touches.flush() == 2
    assert len(spy.calls) == 2 and len(spy.calls[1]) == 2
    assert await last_seen(storage, first) > LONG_AGO
    assert await last_seen(storage, second) > LONG_AGO


async def test_the_background_flush_survives_an_unavailable_storage(
    config: Config, storage: Storage, factory: Factory, sql_rows: Rows, spy: TouchSpy
) -> None:
    """The task writes on its own every touch_flush_interval_s; failing ticks are logged and retried,
    and the task is still there to write once the storage is back."""
    app = create_app(dataclasses.replace(config, touch_flush_interval_s=0.01), storage=storage)
    officer = await factory.user()
    token, _ = await device_seen_long_ago(factory, storage, sql_rows, officer)
    spy.failures_left = 3
    # A handler of our own: the app's start-up configures logging afresh (caplog's would be gone).
    logged: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("tigapilar.touches")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        async for client in open_client(app):
            assert (await client.get("/api/me", headers=bearer(token))).status_code == 200
            await asyncio.wait_for(spy.written.wait(), timeout=10)
            assert len(spy.calls) == 4  # three refused, the fourth written
            assert touches_of(app).pending == 0
            assert await last_seen(storage, token) > LONG_AGO
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    # One line for the run of failures (not one per tick), one for the recovery.
    assert logged == [
        "last_seen of 1 devices not written (database unavailable (SQLITE_FULL): database or disk"
        " is full); retrying every 0.01 s",
        "last_seen written again after 3 failed attempts",
    ]


async def test_noted_times_never_move_last_seen_back(
    storage: Storage, factory: Factory, sql_rows: Rows
) -> None:
    """The storage keeps the later time: a flush of an older note (another process's, a retried
    batch) does not overwrite a newer last_seen."""
    officer = await factory.user()
    token, device_id = await device_seen_long_ago(factory, storage, sql_rows, officer)
    touches = DeviceTouches(storage, interval_s=3600)
    newer = iso(datetime.now(UTC))
    older = iso(datetime.now(UTC) - timedelta(hours=1))
    touches.note(device_id, newer)
    assert await touches.flush() == 1
    touches.note(device_id, older)
    assert await touches.flush() == 1
    assert await last_seen(storage, token) == newer

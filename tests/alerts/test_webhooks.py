"""Webhook deliveries through the real app, the real database and a real receiver on loopback: the
signed POST, a retry under the same delivery id after a 500, order per (warehouse, webhook), dead
letters and their replay, and the targets refused. The worker's rounds are driven by the test."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.alerts import service
from server.alerts.targets import TargetRefused, check_target
from server.alerts.worker import AlertWorker
from server.config import Config
from server.storage import Storage
from tests.alerts.receiver import Receiver, receiver
from tests.factories import Factory
from tests.server.test_sync_api import INCIDENT, Device

SECRET = "s3cret-for-the-command-centre"
ADMIN = service.Who("admin-test")


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    await factory.reference_data()
    johar, senen = await factory.warehouse(), await factory.warehouse()
    sari = await factory.user(warehouses=[johar])
    rina = await factory.user(warehouses=[senen])
    devices = {}
    for name, user in (("sari", sari), ("rina", rina)):
        client_id = f"dev-{name}-{user.id[:8]}"
        devices[name] = Device(client, await factory.token(user, client_id=client_id), client_id)
    return {"johar": johar, "senen": senen, **devices}


def worker_for(app: Litestar, config: Config, storage: Storage, **timing: float) -> AlertWorker:
    fast: dict[str, float] = {"alert_retry_first_s": 0.01, "alert_retry_max_s": 0.02, **timing}
    config = dataclasses.replace(config, alerts=True, **fast)
    return AlertWorker(storage, config, app.state.events, app.state)


async def rounds_until(worker: AlertWorker, done: Any, limit: int = 200) -> None:
    for _ in range(limit):
        await worker.round()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the worker did not get there")


async def report(device: Device, warehouse_id: str, **fields: Any) -> str:
    rid = str(uuid.uuid4())
    m = device.mutation("create", rid, warehouse_id=warehouse_id, base_rev=0, fields={**INCIDENT, **fields})
    response = await device.push([m])
    assert response.status_code == 200 and response.json()["results"][0]["status"] == "applied"
    return rid


async def hook(storage: Storage, rx: Receiver, *events: str, warehouses: tuple[str, ...] = ()) -> str:
    webhook = await service.add_webhook(
        storage, url=rx.url, events=list(events or ["incident.created"]), warehouses=list(warehouses),
        secret=SECRET, allow_private=True, actor=ADMIN,
    )  # fmt: skip
    return webhook.id


async def test_a_500_is_retried_under_the_same_delivery_id_with_a_valid_signature(
    app: Litestar, config: Config, storage: Storage, world: dict[str, Any]
) -> None:
    with receiver(500) as rx:
        await hook(storage, rx)
        worker = worker_for(app, config, storage)
        try:
            rid = await report(world["sari"], world["johar"].id, severity="kritis")
            await rounds_until(worker, lambda: len(rx.received) >= 2)
            for _ in range(5):
                await worker.round()
        finally:
            await worker.close()
    first, retry = rx.received
    assert first.headers["x-tigapilar-delivery"] == retry.headers["x-tigapilar-delivery"]
    assert first.body == retry.body
    assert first.signed_by(SECRET) and retry.signed_by(SECRET)
    assert not retry.signed_by("another secret")
    assert retry.headers["x-tigapilar-event"] == "incident.created"
    body = json.loads(retry.body)
    assert body["event"] == "incident.created"
    assert body["warehouse"]["id"] == world["johar"].id
    assert body["warehouse"]["name"] == world["johar"].name
    assert body["record"]["id"] == rid
    assert body["record"]["fields"]["severity"] == "kritis"
    assert body["link"].endswith(f"/supervisor/#/incidents/{rid}")
    [done] = await storage.deliveries("delivered")
    assert done.id == first.headers["x-tigapilar-delivery"] and done.attempts == 2


async def test_a_warehouses_events_arrive_in_order_and_other_warehouses_are_not_sent(
    app: Litestar, config: Config, storage: Storage, world: dict[str, Any]
) -> None:
    with receiver(500, 500) as rx:
        await hook(storage, rx, warehouses=(world["johar"].id,))
        worker = worker_for(app, config, storage)
        try:
            first = await report(world["sari"], world["johar"].id, description="pertama")
            second = await report(world["sari"], world["johar"].id, description="kedua")
            await report(world["rina"], world["senen"].id, description="gudang lain")
            await rounds_until(worker, lambda: len(rx.received) >= 4)
            for _ in range(5):
                await worker.round()
        finally:
            await worker.close()
    ids = [json.loads(r.body)["record"]["id"] for r in rx.received]
    # the first event fails twice; the second waits for it instead of overtaking it
    assert ids == [first, first, first, second]


async def test_a_delivery_failing_for_the_whole_window_is_a_dead_letter_an_admin_replays(
    app: Litestar, config: Config, storage: Storage, world: dict[str, Any]
) -> None:
    with receiver(503, 503) as rx:
        await hook(storage, rx)
        worker = worker_for(app, config, storage, alert_retry_window_s=0.0)
        try:
            await report(world["sari"], world["johar"].id)
            await rounds_until(worker, lambda: len(rx.received) >= 1)
            [dead] = await storage.deliveries("dead")
            assert dead.last_error == "HTTP 503" and dead.event == "incident.created"
            assert await service.replay(storage, dead.id, time.time(), actor=ADMIN)
            # pending now, no longer dead: a second replay finds nothing
            assert not await service.replay(storage, dead.id, time.time(), actor=ADMIN)
            worker.retry = dataclasses.replace(worker.retry, window_s=3600.0)
            await rounds_until(worker, lambda: len(rx.received) >= 3)
            await worker.round()
        finally:
            await worker.close()
    assert [d.id for d in await storage.deliveries("delivered")] == [dead.id]
    assert {r.headers["x-tigapilar-delivery"] for r in rx.received} == {dead.id}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:9/hook", "tls_required"),
        ("https://127.0.0.1/hook", "private_target"),
        ("https://localhost/hook", "private_target"),
        ("https://10.1.2.3/hook", "private_target"),
        ("https://[::1]/hook", "private_target"),
        ("https://[::ffff:192.168.1.1]/hook", "private_target"),
        ("https://169.254.169.254/latest/meta-data", "private_target"),
        ("ftp://example.org/", "invalid_url"),
        ("https://user:pw@example.org/", "invalid_url"),
    ],
)
async def test_loopback_and_private_targets_are_refused_unless_allowed(url: str, code: str) -> None:
    with pytest.raises(TargetRefused) as refused:
        await check_target(url, allow_private=False)
    assert refused.value.code == code
    if code in ("private_target", "tls_required"):
        await check_target(url, allow_private=True)

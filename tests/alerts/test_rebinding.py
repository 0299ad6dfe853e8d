"""DNS rebinding (server/alerts/targets.py): a target's name that resolves to a public address when
it is checked and to loopback when the client connects is refused at the connection, for webhooks
and for Web Push endpoints, and nothing connects to the loopback listener behind it. The event
loop's resolver (`getaddrinfo`, which the check, the connection guard and anyio's connect all ask)
answers for `localhost` as a rebinding DNS server would: public first, loopback after. On the
code before the connection guard, the check passed and the client's own resolution reached the
listener."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.alerts import targets
from server.alerts.worker import AlertWorker
from server.config import Config
from server.storage import Storage
from server.storage.alerts import PushSubscription, Webhook
from tests.alerts.push_service import Browser
from tests.alerts.test_webhooks import SECRET, report, rounds_until, worker_for
from tests.factories import Factory
from tests.server.test_sync_api import Device

PUBLIC = "93.184.215.14"


class RebindingResolver:
    """The loop's getaddrinfo, except that `localhost` is `PUBLIC` the first time it is asked and
    loopback every later time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.real = loop.getaddrinfo
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "localhost":
            return list(await self.real(host, port, *args, **kwargs))
        answer = PUBLIC if not self.asked else "127.0.0.1"
        self.asked.append((host, answer))
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, int(port)))]


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> RebindingResolver:
    loop = asyncio.get_running_loop()
    rebinding = RebindingResolver(loop)
    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    return rebinding


@pytest.fixture
async def listener() -> AsyncIterator[dict[str, Any]]:
    """A TCP listener on loopback counting the connections it accepts (the inside service a
    rebinding attack would reach)."""
    seen: dict[str, Any] = {"connections": 0}

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    seen["port"] = server.sockets[0].getsockname()[1]
    async with server:
        yield seen


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    await factory.reference_data()
    johar = await factory.warehouse()
    sari = await factory.user(warehouses=[johar])
    return {
        "johar": johar,
        "sari": Device(client, await factory.token(sari, client_id="dev-sari-rb"), "dev-sari-rb"),
        "supervisor": await factory.user(role="supervisor", warehouses=[johar]),
    }


async def report_kritis_through_rebinding(
    worker: AlertWorker, world: dict[str, Any], resolver: RebindingResolver, listener: dict[str, Any]
) -> None:
    """A kritis incident, and the worker's rounds until its first attempt has asked the resolver
    twice (the check, then the connection): the second answer, loopback, was refused."""
    try:
        await report(world["sari"], world["johar"].id, severity="kritis")
        await rounds_until(worker, lambda: len(resolver.asked) >= 2)
        await rounds_until(worker, lambda: True)
    finally:
        await worker.close()
    assert resolver.asked[:2] == [("localhost", PUBLIC), ("localhost", "127.0.0.1")]
    assert listener["connections"] == 0


async def test_a_webhook_name_rebound_to_loopback_is_refused_at_the_connection(
    app: Litestar,
    config: Config,
    storage: Storage,
    world: dict[str, Any],
    listener: dict[str, Any],
    resolver: RebindingResolver,
) -> None:
    webhook = Webhook(
        id=str(uuid.uuid4()), url=f"https://localhost:{listener['port']}/hook", events=["incident.created"],
        warehouses=[], allow_private=False, created_at="2026-12-08T00:00:00.000Z", created_by="admin",
    )  # fmt: skip
    await storage.add_webhook(webhook, SECRET)
    await report_kritis_through_rebinding(worker_for(app, config, storage), world, resolver, listener)
    [pending] = await storage.deliveries("pending")
    assert pending.target_id == webhook.id and pending.last_error.startswith("private_target: localhost")
    assert await storage.deliveries("delivered") == []


async def test_a_push_endpoint_rebound_to_loopback_is_refused_at_the_connection(
    app: Litestar,
    config: Config,
    storage: Storage,
    world: dict[str, Any],
    listener: dict[str, Any],
    resolver: RebindingResolver,
) -> None:
    browser = Browser(endpoint=f"https://localhost:{listener['port']}/push/abc")
    keys = browser.subscription()["keys"]
    sub = PushSubscription(
        id=str(uuid.uuid4()), user_id=world["supervisor"].id, device_id="laptop", endpoint=browser.endpoint,
        p256dh=keys["p256dh"], auth=keys["auth"], lang="id", created_at="2026-12-08T00:00:00.000Z",
    )  # fmt: skip
    await storage.put_push_subscription(sub)
    worker = worker_for(app, config, storage, push_allow_private=False)
    await report_kritis_through_rebinding(worker, world, resolver, listener)
    pending = await storage.deliveries("pending")
    assert pending and all(d.target_id == sub.id for d in pending)
    assert pending[-1].last_error.startswith("private_target: localhost")  # the first event's
    assert await storage.push_subscription(sub.id) is not None  # refused, not "gone"


async def test_the_public_only_client_connects_to_the_address_it_checked(
    listener: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With loopback counted as public for once, the connection goes to the address resolved and
    checked (the listener), not to a second answer for the name."""
    answers = iter([["127.0.0.1"]])

    async def once(host: str, port: int) -> list[str]:
        return next(answers)  # a second question would raise StopIteration

    monkeypatch.setattr(targets, "resolve", once)
    monkeypatch.setattr(targets, "_private", lambda address: False)
    async with targets.client(timeout_s=5.0, public_only=True) as http:
        with pytest.raises(httpx.HTTPError):  # the listener hangs up: no HTTP answer
            await http.get(f"http://no-such-name.invalid:{listener['port']}/")
    assert listener["connections"] == 1

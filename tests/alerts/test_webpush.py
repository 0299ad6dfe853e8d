"""Web Push against a local stand-in of an RFC 8030 push service (tests/alerts/push_service.py):
the message decrypts with the subscription's keys alone, the VAPID token verifies with the key the
server publishes, recipients follow scope, role and agency, and a 410 removes the subscription."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.alerts.worker import AlertWorker
from server.config import Config
from server.storage import Storage
from tests.alerts.push_service import Browser, push_service
from tests.factories import Factory, bearer
from tests.server.test_sync_api import INCIDENT, Device


@pytest.fixture
async def people(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    await factory.reference_data()
    johar, senen = await factory.warehouse(name="Gudang Johar"), await factory.warehouse(name="Gudang Senen")
    sari = await factory.user(warehouses=[johar])
    tokens = {
        "sari": await factory.token(sari, client_id="dev-sari-1"),
        "spv_johar": await factory.token(await factory.user(role="supervisor", warehouses=[johar])),
        "spv_senen": await factory.token(await factory.user(role="supervisor", warehouses=[senen])),
        "tni_johar": await factory.token(await factory.user(warehouses=[johar], agency="TNI")),
        "polri_johar": await factory.token(await factory.user(warehouses=[johar], agency="POLRI")),
    }
    return {
        "johar": johar,
        "senen": senen,
        "tokens": tokens,
        "sari": Device(client, tokens["sari"], "dev-sari-1"),
    }


def worker_for(app: Litestar, config: Config, storage: Storage) -> AlertWorker:
    on = dataclasses.replace(config, alerts=True, push_allow_private=True, alert_retry_first_s=0.01)
    return AlertWorker(storage, on, app.state.events, app.state)


async def subscribe(client: httpx.AsyncClient, token: str, browser: Browser, lang: str = "id") -> str:
    response = await client.post(
        "/api/push/subscriptions", json=browser.subscription(lang), headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    sub_id: str = response.json()["id"]
    return sub_id


async def rounds(worker: AlertWorker, done: Any, limit: int = 100) -> None:
    for _ in range(limit):
        await worker.round()
        if done():
            break
        await asyncio.sleep(0.02)
    for _ in range(3):
        await worker.round()


async def test_a_critical_incident_reaches_the_subscribed_supervisor_encrypted_and_vapid_signed(
    app: Litestar, config: Config, storage: Storage, client: httpx.AsyncClient, people: dict[str, Any]
) -> None:
    tokens = people["tokens"]
    with push_service() as service:
        browsers = {name: Browser(service.endpoint(name)) for name in tokens if name != "sari"}
        for name, browser in browsers.items():
            await subscribe(client, tokens[name], browser, lang="en" if name == "spv_johar" else "id")
        key = (await client.get("/api/push/key", headers=bearer(tokens["spv_johar"]))).json()["public_key"]
        worker = worker_for(app, config, storage)
        try:
            rid = str(uuid.uuid4())
            fields = {**INCIDENT, "severity": "kritis", "assigned_agency": "TNI"}
            m = people["sari"].mutation(
                "create", rid, warehouse_id=people["johar"].id, base_rev=0, fields=fields
            )
            assert (await people["sari"].push([m])).status_code == 200
            await rounds(worker, lambda: len(service.received) >= 3)
        finally:
            await worker.close()
    assert service.refused == []
    # the supervisor is also told the warehouse was never inspected (inspection.overdue)
    received = {browsers["spv_johar"].decrypt(p.body)["event"]: p for p in service.to("spv_johar")}
    assert sorted(received) == ["incident.created", "inspection.overdue"]
    to_supervisor = received["incident.created"]
    assert to_supervisor.vapid_key == key
    message = browsers["spv_johar"].decrypt(to_supervisor.body)
    assert message["title"] == "New incident (CRITICAL)"  # in the language the supervisor subscribed with
    assert message["body"].startswith("Gudang Johar: ")
    assert message["url"] == f"/supervisor/#/incidents/{rid}" and message["critical"] is True
    # the officer of the agency the incident is assigned to: in Indonesian
    [to_officer] = service.to("tni_johar")
    told = browsers["tni_johar"].decrypt(to_officer.body)
    assert told["title"] == "Insiden baru (KRITIS)"
    assert told["url"] == f"/#/w/{people['johar'].id}/incident/{rid}"  # in the officer app
    with pytest.raises(Exception):  # noqa: B017 - encrypted for one subscription, unreadable by another
        browsers["polri_johar"].decrypt(to_supervisor.body)
    # a supervisor of another warehouse hears only of their own warehouse (never inspected either)
    assert [browsers["spv_senen"].decrypt(p.body)["event"] for p in service.to("spv_senen")] == [
        "inspection.overdue"
    ]
    assert service.to("polri_johar") == []  # nor an officer of another agency than the assigned one


async def test_a_gone_subscription_is_removed(
    app: Litestar, config: Config, storage: Storage, client: httpx.AsyncClient, people: dict[str, Any]
) -> None:
    tokens = people["tokens"]
    with push_service() as service:
        service.answers["spv_johar"] = [410]
        await subscribe(client, tokens["spv_johar"], Browser(service.endpoint("spv_johar")))
        worker = worker_for(app, config, storage)
        try:
            rid = str(uuid.uuid4())
            m = people["sari"].mutation(
                "create", rid, warehouse_id=people["johar"].id, base_rev=0, fields=INCIDENT
            )
            assert (await people["sari"].push([m])).status_code == 200
            await rounds(worker, lambda: len(service.received) >= 1)
        finally:
            await worker.close()
    assert len(service.received) == 1
    assert await storage.push_subscriptions() == []
    mine = await client.get("/api/push/subscriptions", headers=bearer(tokens["spv_johar"]))
    assert mine.json() == []

"""Web Push against a local stand-in of an RFC 8030 push service (tests/alerts/push_service.py):
the message decrypts with the subscription's keys alone, the VAPID token verifies with the key the
server publishes, recipients follow scope, role, agency and (for officers) the guard roster, and a
410 removes the subscription."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.alerts.worker import AlertWorker
from server.config import Config
from server.storage import Storage
from sync.roster import shift_id
from tests.alerts.push_service import Browser, push_service
from tests.factories import Factory, bearer
from tests.server.test_sync_api import INCIDENT, Device


@pytest.fixture
async def people(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    await factory.reference_data()
    johar, senen = await factory.warehouse(name="Gudang Johar"), await factory.warehouse(name="Gudang Senen")
    sari = await factory.user(warehouses=[johar])
    spv_johar = await factory.user(role="supervisor", warehouses=[johar])
    spv_senen = await factory.user(role="supervisor", warehouses=[senen])
    tni = await factory.user(warehouses=[johar], agency="TNI")
    polri = await factory.user(warehouses=[johar], agency="POLRI")
    tokens = {
        "sari": await factory.token(sari, client_id="dev-sari-1"),
        "spv_johar": await factory.token(spv_johar, client_id="dev-spv-johar"),
        "spv_senen": await factory.token(spv_senen),
        "tni_johar": await factory.token(tni),
        "polri_johar": await factory.token(polri),
    }
    supervisor = Device(client, tokens["spv_johar"], "dev-spv-johar")
    # both officers are on duty: planned for the shift under way
    await plan(supervisor, johar.id, "siang", -2, {"TNI": [tni.id], "POLRI": [polri.id]})
    return {
        "johar": johar,
        "senen": senen,
        "tokens": tokens,
        "spv_senen_id": spv_senen.id,
        "sari": Device(client, tokens["sari"], "dev-sari-1"),
    }


TZ_HOURS = 7
"""Jakarta: a shift's day in its id is the warehouse's local day."""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def plan(
    supervisor: Device, warehouse_id: str, period: str, starts_in_h: float, personnel: dict[str, list[str]]
) -> str:
    """A supervisor plans an 8-hour shift of today starting `starts_in_h` hours from now."""
    now = datetime.now(UTC)
    day = (now + timedelta(hours=TZ_HOURS)).date()
    rid = shift_id(warehouse_id, day, period)
    start = now + timedelta(hours=starts_in_h)
    fields = {
        "date": day.isoformat(),
        "period": period,
        "starts_at": _iso(start),
        "ends_at": _iso(start + timedelta(hours=8)),
        "personnel": personnel,
        "commander": next(p for people in personnel.values() for p in people),
    }
    response = await supervisor.push(
        [supervisor.mutation("create", rid, "shifts", fields=fields, warehouse_id=warehouse_id)]
    )
    assert response.status_code == 200 and response.json()["results"][0]["status"] == "applied", response.text
    return rid


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


async def test_officers_are_told_only_while_on_duty(
    app: Litestar, config: Config, storage: Storage, client: httpx.AsyncClient, factory: Factory
) -> None:
    """An officer whose shift ended, one planned only for the next shift, and one who checked out
    receive nothing; one planned for the shift under way, and one who came early and checked in to
    the next, are told. Supervisors are told whatever the roster says."""
    await factory.reference_data()
    johar = await factory.warehouse(name="Gudang Johar")
    names = ("ended", "current", "checked_out", "later", "early", "unplanned")
    users = {n: await factory.user(warehouses=[johar], agency="POLRI") for n in names}
    phones = {
        n: Device(client, await factory.token(u, client_id=f"dev-{n}-phone"), f"dev-{n}-phone")
        for n, u in users.items()
    }
    spv = await factory.user(role="supervisor", warehouses=[johar])
    supervisor = Device(client, await factory.token(spv, client_id="dev-spv-phone"), "dev-spv-phone")
    ids = {n: u.id for n, u in users.items()}
    await plan(supervisor, johar.id, "pagi", -10, {"POLRI": [ids["ended"]]})
    current = await plan(supervisor, johar.id, "siang", -2, {"POLRI": [ids["current"], ids["checked_out"]]})
    following = await plan(supervisor, johar.id, "malam", 1, {"POLRI": [ids["later"], ids["early"]]})
    for who, op, shift in (("checked_out", "check_in", current), ("checked_out", "check_out", current),
                           ("early", "check_in", following)):  # fmt: skip
        response = await phones[who].push([phones[who].mutation(op, shift, "shifts", fields={})])
        assert response.json()["results"][0]["status"] == "applied", response.text
    with push_service() as service:
        browsers = {n: Browser(service.endpoint(n)) for n in (*names, "spv")}
        for name in names:
            await subscribe(client, phones[name].token, browsers[name])
        await subscribe(client, supervisor.token, browsers["spv"])
        worker = worker_for(app, config, storage)
        try:
            rid = str(uuid.uuid4())
            m = phones["current"].mutation(
                "create", rid, warehouse_id=johar.id, base_rev=0, fields={**INCIDENT, "severity": "kritis"}
            )
            assert (await phones["current"].push([m])).status_code == 200
            await rounds(worker, lambda: len(service.received) >= 3)
        finally:
            await worker.close()
    assert service.refused == []
    told = {n: [browsers[n].decrypt(p.body)["event"] for p in service.to(n)] for n in browsers}
    assert told["current"] == told["early"] == ["incident.created"]
    assert told["ended"] == told["later"] == told["checked_out"] == told["unplanned"] == []
    assert "incident.created" in told["spv"]


async def test_the_worker_rereads_recipients_only_when_they_changed(
    app: Litestar, config: Config, storage: Storage, client: httpx.AsyncClient, people: dict[str, Any]
) -> None:
    """Users, webhooks and subscriptions are read once and kept while nothing of them changes; a
    subscription added and a supervisor assigned to the warehouse are seen at the next fan-out."""
    tokens, johar = people["tokens"], people["johar"]

    async def incident() -> str:
        rid = str(uuid.uuid4())
        m = people["sari"].mutation("create", rid, warehouse_id=johar.id, base_rev=0, fields=INCIDENT)
        assert (await people["sari"].push([m])).status_code == 200
        return rid

    with push_service() as service:
        browsers = {n: Browser(service.endpoint(n)) for n in ("spv_johar", "spv_senen")}
        await subscribe(client, tokens["spv_johar"], browsers["spv_johar"])
        worker = worker_for(app, config, storage)
        try:
            await incident()
            await rounds(worker, lambda: len(service.to("spv_johar")) >= 2)  # with inspection.overdue
            await incident()
            await rounds(worker, lambda: len(service.to("spv_johar")) >= 3)
            assert worker.recipient_reads == 1  # nothing of them changed: read once
            await subscribe(client, tokens["spv_senen"], browsers["spv_senen"])
            await storage.assign(people["spv_senen_id"], [johar.id])
            third = await incident()
            await rounds(worker, lambda: len(service.to("spv_senen")) >= 1)
        finally:
            await worker.close()
    assert worker.recipient_reads == 2
    told = [browsers["spv_senen"].decrypt(p.body) for p in service.to("spv_senen")]
    assert [(m["event"], m["url"]) for m in told] == [
        ("incident.created", f"/supervisor/#/incidents/{third}")
    ]
    assert len(service.to("spv_johar")) == 4

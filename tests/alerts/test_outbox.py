"""Alert events are written to the outbox in the push's own transaction (sync/alerts.py): raised
once per change, never for a retried push, never for a push that rolled back; scheduled ones
once per occurrence. Runs on the shared backend fixture (SQLite, or --backend postgres)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from server.storage import Storage
from server.storage.base import StorageUnavailable
from sync.alerts import overdue_event
from tests.factories import Factory
from tests.server.test_sync_api import INCIDENT, Device


@pytest.fixture
async def officers(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    await factory.reference_data()
    johar = await factory.warehouse()
    sari = await factory.user(warehouses=[johar])
    budi = await factory.user(warehouses=[johar], agency="TNI")
    devices = {}
    for name, user in (("sari", sari), ("budi", budi)):
        client_id = f"dev-{name}-{user.id[:8]}"
        devices[name] = Device(client, await factory.token(user, client_id=client_id), client_id)
    return {"johar": johar, **devices}


def incident_id() -> str:
    return str(uuid.uuid4())


async def events_of(storage: Storage) -> list[tuple[str, str]]:
    return [(e.event, e.subject) for e in await storage.alert_events()]


async def test_incident_lifecycle_raises_each_event_once(officers: dict[str, Any], storage: Storage) -> None:
    sari, budi, johar = officers["sari"], officers["budi"], officers["johar"]
    rid = incident_id()
    created = sari.mutation("create", rid, warehouse_id=johar.id, base_rev=0, fields=INCIDENT)
    assert (await sari.push([created])).status_code == 200
    raised = sari.mutation("patch", rid, base_rev=1, fields={"severity": "kritis"})
    lowered = sari.mutation("patch", rid, base_rev=2, fields={"severity": "tinggi"})
    assert (await sari.push([raised, lowered])).status_code == 200
    ack = budi.mutation("acknowledge", rid, base_rev=3, fields={})
    resolve = budi.mutation("resolve", rid, base_rev=4, fields={"resolution": "Segel diganti"})
    assert (await budi.push([ack, resolve])).status_code == 200
    subject = f"incidents/{rid}"
    assert await events_of(storage) == [
        ("incident.created", subject),
        ("incident.severity_raised", subject),
        ("incident.acknowledged", subject),
        ("incident.resolved", subject),
    ]
    [first, *_] = await storage.alert_events()
    assert first.warehouse_id == johar.id
    assert first.record["fields"]["description"] == INCIDENT["description"]


async def test_a_retried_push_raises_nothing_new(officers: dict[str, Any], storage: Storage) -> None:
    sari, johar = officers["sari"], officers["johar"]
    created = sari.mutation("create", incident_id(), warehouse_id=johar.id, base_rev=0, fields=INCIDENT)
    assert (await sari.push([created])).status_code == 200
    again = await sari.push([created])  # the answer was lost: the phone sends the same batch
    assert again.status_code == 200
    assert again.json()["results"][0]["replayed"] is True
    assert [e for e, _ in await events_of(storage)] == ["incident.created"]


async def test_a_rolled_back_push_raises_nothing(
    officers: dict[str, Any], storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    sari, johar = officers["sari"], officers["johar"]
    real_write = storage.write

    @asynccontextmanager
    async def write_then_fail() -> AsyncIterator[Any]:
        async with real_write() as tx:
            commit = tx.commit

            async def commit_then_fail(effects: Any) -> None:
                assert effects.alerts, "the batch carries its alert events to the store"
                await commit(effects)
                raise StorageUnavailable("the disk went away before the commit")

            tx.commit = commit_then_fail
            yield tx

    monkeypatch.setattr(storage, "write", write_then_fail)
    rid = incident_id()
    created = sari.mutation("create", rid, warehouse_id=johar.id, base_rev=0, fields=INCIDENT)
    assert (await sari.push([created])).status_code == 503
    monkeypatch.undo()
    assert await events_of(storage) == []
    assert await storage.get_records([rid]) == {}


async def test_a_scheduled_event_is_raised_once_per_occurrence(storage: Storage, factory: Factory) -> None:
    johar = await factory.warehouse()
    first = overdue_event(johar.id, None, 12, "2026-12-07T01:00:00.000Z")
    noticed_again = overdue_event(johar.id, None, 12, "2026-12-07T01:00:05.000Z")  # another process
    await storage.raise_events([first])
    await storage.raise_events([noticed_again])
    after_next_lapse = overdue_event(johar.id, {"at": "2026-12-07T02:00:00.000Z"}, 12, "2026-12-07T15:00:00Z")
    await storage.raise_events([after_next_lapse])
    assert [e.key for e in await storage.alert_events()] == [first.key, after_next_lapse.key]


async def test_two_server_processes_raise_a_scheduled_occurrence_once(
    app: Any, config: Any, storage: Storage, factory: Factory, client: httpx.AsyncClient
) -> None:
    """Two workers on one database (as two server processes would be) both notice that a warehouse
    has never been inspected and that a device has gone quiet: each occurrence is raised once."""
    import dataclasses

    from server import reports
    from server.alerts.worker import AlertWorker

    johar = await factory.warehouse()
    sari = await factory.user(warehouses=[johar])
    await factory.token(sari, client_id="dev-sari")
    app.state.report_settings = reports.Settings(device_stale_hours=1e-6)  # its login is long ago
    on = dataclasses.replace(config, alerts=True)
    workers = [AlertWorker(storage, on, app.state.events, app.state) for _ in range(2)]
    try:
        for worker in workers:
            await worker.round()
        events = await storage.alert_events()
        [overdue] = [e for e in events if e.event == "inspection.overdue"]
        assert overdue.warehouse_id == johar.id and overdue.key.endswith(":never")
        [stale] = [e for e in events if e.event == "device.stale"]
        assert stale.warehouse_id == johar.id and stale.record["user_id"] == sari.id
    finally:
        for worker in workers:
            await worker.close()

"""Live updates across server processes: LISTEN/NOTIFY on PostgreSQL.

A sync commit that changed records NOTIFYs `tigapilar_changes` inside its transaction; every
process LISTENs (server.events.cross_process_events) and wakes its EventHub, so a supervisor's
live page served by one process hears of a push that another process applied. Skipped, with the
reason, unless TIGAPILAR_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

import server.app
from server.events import EventHub, PostgresNotifier, cross_process_events
from server.models import Warehouse
from server.storage.postgres import CHANNEL, PostgresStorage
from server.storage.sqlite import SqliteStorage
from sync.engine import SyncEngine
from tests.factories import Factory, bearer
from tests.server.test_postgres_concurrency import (
    W,
    _start_server,
    _wait_ready,
    actor,
    mutation,
    push_request,
    stop_servers,
)


@pytest.fixture
async def two(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    a = PostgresStorage(postgres_url, data_dir=tmp_path)
    b = PostgresStorage(postgres_url, data_dir=tmp_path)
    await a.open()
    await b.open()
    try:
        await a.put_warehouse(Warehouse(id=W, code=W, name="Gudang"))
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_a_push_in_one_process_wakes_the_other(two: tuple[PostgresStorage, PostgresStorage]) -> None:
    a, b = two
    hub = EventHub()
    engine = SyncEngine(a)
    async with cross_process_events(b, hub):
        wake = hub.next()
        response = await engine.push(
            actor("a", "client-a"), push_request("client-a", [mutation("client-a", 1, "r1")])
        )
        assert await hub.wait(wake, 5), "the other process's hub was woken"
        assert response.results[0].revision == 1

        # A replay changes nothing and announces nothing; neither does a rolled-back batch.
        wake = hub.next()
        await engine.push(actor("a", "client-a"), push_request("client-a", [mutation("client-a", 1, "r1")]))
        with pytest.raises(RuntimeError):
            async with a.write() as tx:
                from tests.server.test_storage_contract import effects, record

                await tx.commit(effects(record("r9", 9, W), client_id="client-z", last_seq=1))
                raise RuntimeError("crash before the commit")
        assert not await hub.wait(wake, 0.5)


async def test_the_listener_reconnects_and_wakes_after_losing_its_connection(
    two: tuple[PostgresStorage, PostgresStorage], postgres_url: str
) -> None:
    a, b = two
    hub = EventHub()
    notifier = PostgresNotifier(b.url, hub)
    await notifier.start()
    try:
        listener = notifier.listener
        assert listener.connected.is_set()
        wake = hub.next()
        admin = await asyncpg.connect(postgres_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'tigapilar-listen' AND datname = current_database()"
            )
        finally:
            await admin.close()
        assert killed == 1
        assert await hub.wait(wake, 10), "a reconnect wakes the hub (notifications may have been missed)"
        await asyncio.wait_for(listener.connected.wait(), 10)
        wake = hub.next()
        await SyncEngine(a).push(
            actor("a", "client-a"), push_request("client-a", [mutation("client-a", 1, "r1")])
        )
        assert await hub.wait(wake, 5)
        assert listener.notifications >= 1
    finally:
        await notifier.stop()


async def test_the_notification_is_sent_on_commit_with_the_warehouses(
    two: tuple[PostgresStorage, PostgresStorage], postgres_url: str
) -> None:
    a, _ = two
    got: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.add_listener(CHANNEL, lambda *args: got.put_nowait(args[3]))
        async with a.write() as tx:
            from tests.server.test_storage_contract import effects, record

            await tx.commit(effects(record("r1", 1, W), record("r2", 2, W), record("x1", 1, "w0")))
            await asyncio.sleep(0.2)
            assert got.empty(), "nothing is announced before the commit"
        # The warehouses written, so a stream wakes only for its own.
        assert await asyncio.wait_for(got.get(), 5) == "w0,w1"
    finally:
        await conn.close()


async def test_sqlite_needs_no_bridge(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "t.db")
    async with cross_process_events(storage, EventHub()):
        pass


@pytest.mark.slow
async def test_a_live_page_on_one_server_process_sees_a_push_to_the_other(
    postgres_url: str, tmp_path: Path
) -> None:
    if "cross_process_events" not in inspect.getsource(server.app):
        pytest.skip("server/app.py's lifespan does not enter server.events.cross_process_events yet")
    storage = PostgresStorage(postgres_url, data_dir=tmp_path)
    await storage.open()
    factory = Factory(storage)
    try:
        warehouse = await factory.warehouse(id=W, code=W)
        officer = await factory.user(warehouses=[warehouse])
        officer_token = await factory.token(officer, client_id="client-officer")
        supervisor = await factory.user(role="supervisor", warehouses=[warehouse])
        supervisor_token = await factory.token(supervisor, client_id="client-sup")
    finally:
        await storage.close()

    servers = [_start_server(postgres_url, tmp_path, name) for name in ("one", "two")]
    try:
        for process, base, log in servers:
            _wait_ready(process, base, log)
        one, two_ = servers[0][1], servers[1][1]
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream("GET", f"{two_}/api/live", headers=bearer(supervisor_token)) as stream,
        ):
            assert stream.status_code == 200
            lines = stream.aiter_lines()

            async def next_event() -> str:
                async for line in lines:
                    if line.startswith("event: "):
                        return line.removeprefix("event: ")
                raise AssertionError("stream ended")

            assert await asyncio.wait_for(next_event(), 5) == "ready"
            fields = {"category": "kebakaran", "severity": "kritis", "description": "Asap di gudang"}
            create = {
                "seq": 1,
                "id": "inc-live",
                "collection": "incidents",
                "op": "create",
                "warehouse_id": W,
                "fields": fields,
                "hlc": "1764290000123-00000-client-officer",
                "schema_version": 2,
            }
            body = {"protocol": 1, "client_id": "client-officer", "schema_version": 2, "mutations": [create]}
            pushed = await http.post(f"{one}/api/sync/push", json=body, headers=bearer(officer_token))
            assert pushed.status_code == 200, pushed.text
            # Well under the 15 s heartbeat: woken by the NOTIFY, not by the timer.
            assert await asyncio.wait_for(next_event(), 5) == "incidents"
    finally:
        stop_servers(servers)

"""GET /api/live: server-sent events of changes in scope, resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from server.app import create_app
from server.config import Config
from server.models import User, Warehouse
from server.storage import Storage
from tests.conftest import open_client
from tests.factories import Factory, bearer


class Stream:
    """An SSE response read at the ASGI level (httpx's ASGI transport waits for the whole body)."""

    def __init__(self) -> None:
        self.status = 0
        self.buffer = ""
        self.changed = asyncio.Event()

    def events(self) -> list[dict[str, Any]]:
        found = []
        for block in self.buffer.split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                if line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
            if "event" in fields:
                found.append(
                    {"event": fields["event"], "id": fields.get("id"), **msgspec.json.decode(fields["data"])}
                )
        return found

    async def wait_for(self, predicate: Any, timeout: float = 3) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no such events in time; got {self.events()}")
            with suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return self.events()


@asynccontextmanager
async def live(app: Litestar, token: str, resume: dict[str, int] | None = None) -> AsyncIterator[Stream]:
    """GET /api/live, or with `resume` (a cursor map) POST /api/live/resume, as the page does."""
    headers = [(b"authorization", f"Bearer {token}".encode())]
    body = b""
    if resume is not None:
        body = msgspec.json.encode({"cursors": resume})
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    path = "/api/live" if resume is None else "/api/live/resume"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET" if resume is None else "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    stream = Stream()
    gone = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
        elif message["type"] == "http.response.body":
            stream.buffer += message.get("body", b"").decode()
        stream.changed.set()

    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    try:
        yield stream
    finally:
        gone.set()
        await asyncio.wait_for(task, 5)


async def push_incident(
    client: httpx.AsyncClient, token: str, client_id: str, warehouse: Warehouse, seq: int
) -> str:
    record_id = str(uuid.uuid4())
    response = await client.post(
        "/api/sync/push",
        headers=bearer(token),
        json={
            "protocol": 1,
            "client_id": client_id,
            "schema_version": 2,
            "mutations": [
                {
                    "seq": seq,
                    "id": record_id,
                    "collection": "incidents",
                    "op": "create",
                    "warehouse_id": warehouse.id,
                    "hlc": f"{int(time.time() * 1000):013d}-00000-{client_id}",
                    "fields": {"category": "cctv_mati", "severity": "sedang", "description": "Kamera 2 mati"},
                }
            ],
        },
    )
    assert response.json()["results"][0]["status"] == "applied"
    return record_id


async def test_a_push_reaches_an_open_stream_within_a_second_and_only_in_scope(
    app: Litestar, client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, other = await factory.warehouse(), await factory.warehouse()
    supervisor = await factory.user(role="supervisor", warehouses=[mine])
    officer = await factory.user(warehouses=[mine, other])
    officer_token = await factory.token(officer, client_id="dev-officer-1")
    async with live(app, await factory.token(supervisor)) as stream:
        await stream.wait_for(lambda events: any(e["event"] == "ready" for e in events))
        started = time.monotonic()
        hidden = await push_incident(client, officer_token, "dev-officer-1", other, 1)
        shown = await push_incident(client, officer_token, "dev-officer-1", mine, 2)
        events = await stream.wait_for(
            lambda events: any(e.get("id") and e["event"] == "incidents" for e in events), 1
        )
        assert time.monotonic() - started < 1
    assert stream.status == 200
    changes = [e for e in events if e["event"] == "incidents"]
    assert [e["id"] for e in changes] == [shown] and changes[0]["warehouse_id"] == mine.id
    assert changes[0]["fields"] == {
        "status": "open",
        "severity": "sedang",
        "category": "cctv_mati",
        "reporter_agency": "POLRI",
    }
    assert hidden not in str(events)


async def test_reconnecting_with_the_cursor_map_replays_what_was_missed(
    app: Litestar, client: httpx.AsyncClient, factory: Factory
) -> None:
    w = await factory.warehouse()
    other = await factory.warehouse()
    supervisor_token = await factory.token(await factory.user(role="supervisor", warehouses=[w, other]))
    officer_token = await factory.token(await factory.user(warehouses=[w]), client_id="dev-officer-2")
    first = await push_incident(client, officer_token, "dev-officer-2", w, 1)
    async with live(app, supervisor_token) as stream:
        ready = (await stream.wait_for(lambda events: bool(events)))[0]
    # Revisions are counted per warehouse: the stream starts at each one's newest.
    cursors = ready["cursors"]
    assert set(cursors) == {w.id, other.id} and cursors[other.id] == 0 and cursors[w.id] > 0
    # While the page is disconnected, two more changes happen.
    missed = [await push_incident(client, officer_token, "dev-officer-2", w, n) for n in (2, 3)]
    async with live(app, supervisor_token, resume=cursors) as stream:
        events = await stream.wait_for(
            lambda events: len([e for e in events if e["event"] == "incidents"]) == 2
        )
    assert stream.status == 200
    changes = [e for e in events if e["event"] == "incidents"]
    assert [e["id"] for e in changes] == missed and first not in [e["id"] for e in changes]
    assert [int(e["revision"]) for e in changes] == sorted(int(e["revision"]) for e in changes)
    assert all(int(e["revision"]) > cursors[w.id] and e["warehouse_id"] == w.id for e in changes)


async def test_live_needs_a_supervisor(client: httpx.AsyncClient, factory: Factory) -> None:
    w = await factory.warehouse()
    _, officer = await factory.officer_with_token(w)
    assert (await client.get("/api/live")).status_code == 401
    assert (await client.get("/api/live", headers=bearer(officer))).status_code == 403


# -- a stream ends with its session, however busy ---------------------------------------------------------
@asynccontextmanager
async def pushing(
    client: httpx.AsyncClient, token: str, client_id: str, warehouse: Warehouse, every: float = 0.1
) -> AsyncIterator[None]:
    """An officer pushes an incident every `every` seconds while the block runs: a busy deployment,
    where a stream is never quiet long enough for a heartbeat."""
    stop = asyncio.Event()

    async def keep_pushing() -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            await push_incident(client, token, client_id, warehouse, seq)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    task = asyncio.create_task(keep_pushing())
    try:
        yield
    finally:
        stop.set()
        await task


def ended_with(name: str) -> Any:
    return lambda events: bool(events) and events[-1]["event"] == name


@dataclasses.dataclass
class Busy:
    client: httpx.AsyncClient
    stream: Stream
    warehouse: Warehouse
    supervisor: User
    token: str
    """The supervisor's, whose stream it is."""
    admin: dict[str, str]


@asynccontextmanager
async def busy_stream(app: Litestar, factory: Factory) -> AsyncIterator[Busy]:
    """A supervisor's open stream while an officer pushes an incident every 0.1 s, once it has
    delivered a few of them."""
    async for client in open_client(app):
        w = await factory.warehouse()
        supervisor = await factory.user(role="supervisor", warehouses=[w])
        token = await factory.token(supervisor)
        officer_token = await factory.token(await factory.user(warehouses=[w]), client_id="dev-busy-01")
        admin = bearer(await factory.token(await factory.user(role="admin")))
        async with live(app, token) as stream, pushing(client, officer_token, "dev-busy-01", w):
            await stream.wait_for(lambda events: sum(e["event"] == "incidents" for e in events) >= 3)
            yield Busy(client, stream, w, supervisor, token, admin)


@pytest.fixture
def slow_check_app(config: Config, storage: Storage) -> Litestar:
    """Sessions checked by the clock only every minute: what ends a stream sooner is the revocation."""
    return create_app(dataclasses.replace(config, live_session_check_s=60), storage=storage)


@pytest.mark.parametrize("how", ["revoke the device", "disable the account", "log out"])
async def test_ending_a_session_ends_its_stream_at_once_however_busy(
    slow_check_app: Litestar, factory: Factory, how: str
) -> None:
    async with busy_stream(slow_check_app, factory) as busy:
        client, user_url = busy.client, f"/api/admin/users/{busy.supervisor.id}"
        if how == "revoke the device":
            [device] = (await client.get(f"{user_url}/devices", headers=busy.admin)).json()
            revoked = await client.post(f"{user_url}/devices/{device['id']}/revoke", headers=busy.admin)
            assert revoked.status_code == 200
        elif how == "disable the account":
            assert (await client.patch(user_url, json={"disabled": True}, headers=busy.admin)).is_success
        else:
            assert (await client.post("/api/auth/logout", headers=bearer(busy.token))).status_code == 204
        await busy.stream.wait_for(ended_with("logout"), 10)


async def test_a_session_ended_by_another_process_ends_the_stream_within_the_check_interval(
    config: Config, storage: Storage, factory: Factory
) -> None:
    """`tigapilar user disable` (the CLI, another process) writes to the database only: the stream
    sees it at its next check, which comes every live_session_check_s whatever the traffic."""
    app = create_app(dataclasses.replace(config, live_session_check_s=0.5), storage=storage)
    async with busy_stream(app, factory) as busy:
        await storage.set_disabled(busy.supervisor.id, True)  # behind the app's back, as the CLI does
        await busy.stream.wait_for(ended_with("logout"), 10)


async def test_removing_an_assignment_ends_the_stream_with_a_scope_event(
    slow_check_app: Litestar, factory: Factory
) -> None:
    async with busy_stream(slow_check_app, factory) as busy:
        user_url = f"/api/admin/users/{busy.supervisor.id}"
        assert (await busy.client.patch(user_url, json={"warehouses": []}, headers=busy.admin)).is_success
        events = await busy.stream.wait_for(ended_with("scope"), 10)
    assert all(e["warehouse_id"] == busy.warehouse.id for e in events if e["event"] == "incidents")

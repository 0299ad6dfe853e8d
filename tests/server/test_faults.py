"""Faults: a server process killed in the middle of a large push, many phones pushing to the same
records at once against a real server, and a database that cannot be written (full disk,
read-only file). Bad moments must never cost acknowledged data, never apply half a batch, and never
answer anything but a clear status.

The lost-response case (the push committed, the answer never reached the phone, the phone retries)
is tests/server/test_sync_api.py::test_retried_push_over_http_changes_nothing; the SIGKILL test
below may also hit it (a kill after the commit, before the answer) and checks the same thing.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import cli
from server.audit import verify_log
from server.storage.base import StorageUnavailable
from server.storage.sqlite import SqliteStorage
from server.storage.sqlite.storage import unavailable
from sync import digest as digest_mod
from sync.clock import HybridClock
from tests.factories import Factory, bearer
from tests.server.test_sync_api import INCIDENT, Device

REPO = Path(__file__).resolve().parents[2]


# -- a real server process ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`tigapilar serve` in a subprocess on a free loopback port, its output in a log file."""

    def __init__(self, db: Path, log: Path, *args: str) -> None:
        self.db, self.log_path, self.args = db, log, args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> str:
        return f"sqlite:///{self.db}"

    def start(self, timeout: float = 30) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "TIGAPILAR_DATABASE"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--database", self.database,
                 "--host", "127.0.0.1", "--port", str(self.port),
                 "--no-static", *self.args],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**env, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no rollback: what a power cut or the OOM killer does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class World:
    db: Path
    warehouse: str
    tokens: dict[str, str]
    """client id -> bearer token"""


async def seed(db: Path, *, devices: int, prefix: str = "dev-fault") -> World:
    """A migrated database with reference data, one warehouse and one officer with `devices`
    devices (tokens made directly in storage, before the server starts)."""
    storage = SqliteStorage(db)
    await storage.open()
    try:
        factory = Factory(storage)
        await factory.reference_data()
        warehouse = await factory.warehouse()
        user = await factory.user(warehouses=[warehouse])
        tokens = {}
        for i in range(devices):
            client_id = f"{prefix}-{i:04d}"
            tokens[client_id] = await factory.token(user, client_id=client_id)
    finally:
        await storage.close()
    return World(db=db, warehouse=warehouse.id, tokens=tokens)


def create_batch(client_id: str, warehouse: str, n: int, prefix: str) -> dict[str, Any]:
    clock = HybridClock(client_id)
    mutations = [
        {"seq": i + 1, "id": f"{prefix}-{i:05d}", "collection": "incidents", "op": "create",
         "warehouse_id": warehouse, "fields": INCIDENT, "hlc": clock.now()}
        for i in range(n)
    ]  # fmt: skip
    return {"protocol": 1, "client_id": client_id, "schema_version": 2, "mutations": mutations}


def db_rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def check_consistent(db: Path, client_id: str, prefix: str, n: int) -> int:
    """Integrity, all-or-nothing and bookkeeping of one client's batch; returns 0 or n."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        records = conn.execute("SELECT count(*) FROM records WHERE id LIKE ?", (prefix + "-%",)).fetchone()[0]
        outcomes = conn.execute("SELECT count(*) FROM outcomes WHERE client_id = ?", (client_id,)).fetchone()[
            0
        ]
        state = conn.execute("SELECT last_seq FROM client_state WHERE client_id = ?", (client_id,)).fetchall()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE kind = 'mutation' AND device = ?", (client_id,)
        ).fetchone()[0]
        assert records in (0, n), f"half a batch: {records} of {n} records"
        assert outcomes == records and audited == records
        assert (state[0][0] if state else 0) == records
        # The stored digests still describe the records (what phones compare their replica with).
        for warehouse_id, count, checksum in conn.execute(
            "SELECT warehouse_id, count, checksum FROM digests"
        ):
            rows = conn.execute("SELECT id, revision FROM records WHERE warehouse_id = ?", (warehouse_id,))
            assert digest_mod.compute(list(rows)) == digest_mod.Digest(count=count, checksum=checksum)
        # Each warehouse's counter is at or past its records' revisions (never handed out twice).
        behind = conn.execute(
            "SELECT r.warehouse_id FROM records AS r LEFT JOIN warehouse_state AS s USING (warehouse_id)"
            " GROUP BY r.warehouse_id HAVING max(r.revision) > coalesce(max(s.revision), 0)"
        ).fetchall()
        assert behind == []
    finally:
        conn.close()
    return int(records)


async def audit_verify(database: str) -> int:
    """`tigapilar audit verify` (in a thread: the CLI runs its own event loop)."""
    return await asyncio.to_thread(cli.main, ["audit", "verify", "--database", database])


async def post(url: str, token: str, body: dict[str, Any], timeout: float = 60) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as http:
        return await http.post(url + "/api/sync/push", json=body, headers=bearer(token))


async def kill_on_wal_write(server: ServerProcess, push: asyncio.Task[Any], timeout: float = 20) -> None:
    """SIGKILL the server as soon as its -wal file changes (the batch is being written)."""
    wal = Path(f"{server.db}-wal")

    def stamp() -> tuple[int, int]:
        st = wal.stat()
        return st.st_mtime_ns, st.st_size

    before = stamp()
    deadline = time.monotonic() + timeout
    while stamp() == before and not push.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.0002)
    server.kill()


async def serving(
    tmp_path: Path, servers: list[ServerProcess], *, devices: int
) -> tuple[World, ServerProcess, list[str]]:
    """A seeded database with `devices` devices, a server on it, and the devices' client ids."""
    world = await seed(tmp_path / "kill.db", devices=devices)
    server = ServerProcess(world.db, tmp_path / "server.log")
    servers.append(server)
    server.start()
    return world, server, list(world.tokens)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


# -- (a) SIGKILL in the middle of a large batch -----------------------------------------------------------
@pytest.mark.slow
async def test_sigkill_during_a_2000_mutation_push_leaves_all_or_nothing_and_the_retry_completes_it(
    tmp_path: Path, servers: list[ServerProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    n = 2000
    world, server, clients = await serving(tmp_path, servers, devices=8)
    warm = clients.pop(0)
    started = time.monotonic()
    response = await post(server.url, world.tokens[warm], create_batch(warm, world.warehouse, n, "warm"))
    took = time.monotonic() - started
    assert response.status_code == 200, response.text

    # First kill: the moment the server starts writing the batch to the WAL (mid-commit, or a cache
    # spill of the open transaction). Then kills after increasing delays, until one comes too late.
    plan: list[float | None] = [None, *(took * f for f in (0.3, 0.6, 0.9, 1.3))]
    history: list[tuple[str, bool, int]] = []
    for attempt, (client_id, delay) in enumerate(zip(clients, plan, strict=False)):
        token, prefix = world.tokens[client_id], f"k{attempt}"
        batch = create_batch(client_id, world.warehouse, n, prefix)
        push = asyncio.create_task(post(server.url, token, batch))
        if delay is None:
            await kill_on_wal_write(server, push)
        else:
            await asyncio.sleep(delay)
            server.kill()
        try:
            answered = (await push).status_code == 200
        except httpx.HTTPError:
            answered = False
        committed = check_consistent(world.db, client_id, prefix, n)
        assert await audit_verify(server.database) == 0
        history.append(("on WAL write" if delay is None else f"{delay:.2f} s", answered, committed))

        server.start()
        retry = await post(server.url, token, batch)
        assert retry.status_code == 200, retry.text
        results = retry.json()["results"]
        assert len(results) == n and {r["status"] for r in results} == {"applied"}
        # Exactly once: what the killed server had committed is answered from the stored outcomes.
        assert {r.get("replayed", False) for r in results} == {committed == n}
        assert check_consistent(world.db, client_id, prefix, n) == n
        if answered:
            break
    with capsys.disabled():
        print(f"\npush of {n} took {took:.2f} s; kills (when, answered, records committed): {history}")
    assert await audit_verify(server.database) == 0
    assert "intact" in capsys.readouterr().out.splitlines()[-1]
    # At least one kill landed before the answer (the batch then was all or nothing, and retried).
    assert any(not answered for _, answered, _ in history), history
    assert "Traceback" not in server.log()
    assert not any(token in server.log() for token in world.tokens.values())


# -- (b) SIGKILL during a group commit: several phones' batches in one transaction -------------------
@pytest.mark.slow
async def test_sigkill_during_a_group_commit_leaves_every_batch_all_or_nothing_and_each_retry_answered_once(
    tmp_path: Path, servers: list[ServerProcess], capsys: pytest.CaptureFixture[str]
) -> None:
    """Four phones push 500-mutation batches at the same moment: the server applies them in one
    write transaction, each in its own savepoint, and commits them together (group commit). A kill
    while that group is written or committed must leave each batch whole or absent, and each
    phone's retry must be answered from what was committed: replayed if it was, applied once if not."""
    n, phones_at_once = 500, 4
    world, server, clients = await serving(tmp_path, servers, devices=4 * phones_at_once)
    begun = time.monotonic()
    together = [create_batch(c, world.warehouse, n, f"w{i}") for i, c in enumerate(clients[:phones_at_once])]
    answers = await asyncio.gather(
        *(post(server.url, world.tokens[c], b) for c, b in zip(clients, together, strict=False))
    )
    took = time.monotonic() - begun
    assert all(a.status_code == 200 for a in answers)
    del clients[:phones_at_once]

    plan: list[float | None] = [None, took * 0.5, took * 0.9]
    history: list[tuple[str, list[int]]] = []
    for attempt, delay in enumerate(plan):
        group = clients[attempt * phones_at_once : (attempt + 1) * phones_at_once]
        batches = {c: (f"g{attempt}p{i}", create_batch(c, world.warehouse, n, f"g{attempt}p{i}"))
                   for i, c in enumerate(group)}  # fmt: skip
        pushes = [asyncio.create_task(post(server.url, world.tokens[c], b)) for c, (_, b) in batches.items()]
        if delay is None:
            await kill_on_wal_write(server, pushes[0])
        else:
            await asyncio.sleep(delay)
            server.kill()
        await asyncio.gather(*pushes, return_exceptions=True)
        committed = {c: check_consistent(world.db, c, prefix, n) for c, (prefix, _) in batches.items()}
        assert await audit_verify(server.database) == 0
        history.append(("on WAL write" if delay is None else f"{delay:.2f} s", list(committed.values())))

        server.start()
        retries = await asyncio.gather(
            *(post(server.url, world.tokens[c], b) for c, (_, b) in batches.items())
        )
        for (client_id, (prefix, _)), retry in zip(batches.items(), retries, strict=True):
            assert retry.status_code == 200, retry.text
            results = retry.json()["results"]
            assert len(results) == n and {r["status"] for r in results} == {"applied"}
            assert {r.get("replayed", False) for r in results} == {committed[client_id] == n}
            assert check_consistent(world.db, client_id, prefix, n) == n
    with capsys.disabled():
        print(
            f"\ngroup of {phones_at_once} × {n} took {took:.2f} s; kills (when, records committed): {history}"
        )
    assert await audit_verify(server.database) == 0
    assert "intact" in capsys.readouterr().out.splitlines()[-1]
    # At least one kill landed before a batch was committed (that batch was then absent, whole, and
    # its retry applied it once); which one depends on the machine's speed.
    assert any(count == 0 for _, counts in history for count in counts), history
    assert "Traceback" not in server.log()


# -- (c) many phones at once against a real server -------------------------------------------------------
def test_an_idle_connection_outlives_an_http_clients_pool_expiry(tmp_path: Path) -> None:
    """The server keeps an idle keep-alive connection longer than clients and proxies keep theirs
    (httpx 5 s, nginx 60 s), so a request sent on a pooled connection never meets the server
    closing it (cli.KEEP_ALIVE_S). uvicorn's own default, 5 s, lost requests that way under load."""
    asyncio.run(seed(tmp_path / "k.db", devices=0))
    server = ServerProcess(tmp_path / "k.db", tmp_path / "k.log")
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() and conn.sock is not None
        sock = conn.sock
        time.sleep(6)
        conn.request("GET", "/healthz")  # on the same connection: raises if the server closed it
        response = conn.getresponse()
        assert response.status == 200 and conn.sock is sock
    finally:
        conn.close()
        server.stop()
    assert cli.KEEP_ALIVE_S > 60


@pytest.mark.slow
async def test_thirty_phones_pushing_to_the_same_records_are_serialized_without_errors(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    phones, rounds = 32, 3
    world = await seed(tmp_path / "busy.db", devices=phones + 1)
    server = ServerProcess(world.db, tmp_path / "server.log")
    servers.append(server)
    server.start()
    owner, *others = world.tokens
    targets = ["inc-shared-a", "inc-shared-b", "inc-shared-c"]
    clock = HybridClock(owner)
    created = await post(
        server.url,
        world.tokens[owner],
        {"protocol": 1, "client_id": owner, "schema_version": 2,
         "mutations": [{"seq": i + 1, "id": rid, "collection": "incidents", "op": "create",
                        "warehouse_id": world.warehouse, "fields": INCIDENT, "hlc": clock.now()}
                       for i, rid in enumerate(targets)]},
    )  # fmt: skip
    assert created.status_code == 200
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=phones * 2)

    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:

        async def phone(client_id: str) -> None:
            token, phone_clock, seq = world.tokens[client_id], HybridClock(client_id), 0
            for r in range(rounds):
                pulled = await http.post(
                    "/api/sync/pull",
                    json={"protocol": 1, "client_id": client_id, "cursors": {}, "limit": 1000},
                    headers=bearer(token),
                )
                statuses.append(pulled.status_code)
                revisions = {c["id"]: c["revision"] for c in pulled.json().get("changes", [])}
                mutations = []
                for rid in targets:
                    seq += 1
                    mutations.append(
                        {"seq": seq, "id": rid, "collection": "incidents", "op": "patch",
                         "base_rev": revisions.get(rid, 0), "hlc": phone_clock.now(),
                         "fields": {"severity": ("rendah", "sedang", "tinggi", "kritis")[(seq + r) % 4],
                                    "title": f"{client_id} putaran {r}",
                                    "notes": [{"id": f"{client_id}-{r}-{rid}", "text": "cek ulang"}]}}
                    )  # fmt: skip
                pushed = await http.post(
                    "/api/sync/push",
                    json={"protocol": 1, "client_id": client_id, "schema_version": 2, "mutations": mutations},
                    headers=bearer(token),
                )
                statuses.append(pushed.status_code)
                assert pushed.status_code == 200, pushed.text
                assert {res["status"] for res in pushed.json()["results"]} <= {"applied", "conflict"}

        await asyncio.gather(*(phone(c) for c in others))
    assert set(statuses) == {200} and len(statuses) == phones * rounds * 2
    log = server.log()
    assert "database is locked" not in log and "Traceback" not in log and " 500 " not in log
    # Nothing lost: every appended note is there, every mutation has its outcome and audit entry.
    rows = db_rows(world.db, "SELECT id, fields FROM records WHERE id LIKE 'inc-shared-%'")
    for _, fields in rows:
        assert fields.count('"cek ulang"') == phones * rounds
    assert db_rows(world.db, "SELECT count(*) FROM outcomes")[0][0] == len(targets) * (phones * rounds + 1)
    assert db_rows(world.db, "SELECT count(*) FROM audit_log WHERE kind = 'mutation'")[0][0] == len(
        targets
    ) * (phones * rounds + 1)
    assert await audit_verify(server.database) == 0


# -- (d) a database that cannot be written -------------------------------------------------------------------
def sqlite_error(name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(name.lower())
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    "name",
    ["SQLITE_FULL", "SQLITE_READONLY", "SQLITE_READONLY_DBMOVED", "SQLITE_IOERR", "SQLITE_IOERR_WRITE",
     "SQLITE_IOERR_FSYNC", "SQLITE_CANTOPEN", "SQLITE_BUSY"],
)  # fmt: skip
def test_medium_failures_map_to_storage_unavailable(name: str) -> None:
    assert isinstance(unavailable(sqlite_error(name)), StorageUnavailable)


@pytest.mark.parametrize("name", ["SQLITE_CONSTRAINT_UNIQUE", "SQLITE_ERROR", "SQLITE_MISMATCH", ""])
def test_other_sqlite_errors_are_not_hidden_as_unavailable(name: str) -> None:
    assert unavailable(sqlite_error(name)) is None


async def writer_pragma(storage: SqliteStorage, sql: str) -> list[Any]:
    """Run a PRAGMA on the writer connection between transactions (under the writer lock)."""
    async with storage._lock:
        return list(await storage._w.execute_fetchall(sql))


@pytest.fixture
async def phone(client: httpx.AsyncClient, factory: Factory) -> tuple[Device, str]:
    warehouse = await factory.warehouse()
    user = await factory.user(warehouses=[warehouse])
    device = Device(client, await factory.token(user, client_id="dev-disk-0001"), "dev-disk-0001")
    first = await device.push(
        [device.mutation("create", "inc-acked", warehouse_id=warehouse.id, fields=INCIDENT)]
    )
    assert first.status_code == 200
    return device, warehouse.id


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "storage_unavailable" and body["message"]
    assert int(response.headers["retry-after"]) == body["retry_after"] > 0


def snapshot(db: Path) -> tuple[Any, ...]:
    return (
        db_rows(db, "SELECT id, revision, fields FROM records ORDER BY id"),
        db_rows(db, "SELECT client_id, last_seq FROM client_state"),
        db_rows(db, "SELECT count(*), max(hash) FROM audit_log"),
    )


@pytest.mark.sqlite_only
@pytest.mark.parametrize("condition", ["disk_full", "read_only"])
async def test_a_full_disk_or_read_only_database_is_503_and_loses_nothing(
    condition: str, phone: tuple[Device, str], storage: SqliteStorage, tmp_path: Path
) -> None:
    device, warehouse = phone
    db = tmp_path / "tigapilar.db"
    before = snapshot(db)
    if condition == "disk_full":  # the file may not grow by a single page
        pages = (await writer_pragma(storage, "PRAGMA page_count"))[0][0]
        await writer_pragma(storage, f"PRAGMA max_page_count = {pages}")
    else:
        await writer_pragma(storage, "PRAGMA query_only = ON")
    long = {**INCIDENT, "description": "Genangan air di lantai gudang " * 40}
    batch = [
        device.mutation("create", f"inc-new-{i}", warehouse_id=warehouse, fields=long) for i in range(200)
    ]

    assert_unavailable(await device.push(batch))
    assert_unavailable(await device.push(batch))  # and again: nothing is wedged, nothing half-written
    assert snapshot(db) == before
    assert (await device.pull())["reflected_seq"] == 1  # reads still work

    if condition == "disk_full":
        await writer_pragma(storage, "PRAGMA max_page_count = 1073741823")
    else:
        await writer_pragma(storage, "PRAGMA query_only = OFF")
    retried = await device.push(batch)
    assert retried.status_code == 200, retried.text
    assert [r["status"] for r in retried.json()["results"]] == ["applied"] * 200
    assert not any(r.get("replayed") for r in retried.json()["results"])
    records, _, _ = snapshot(db)
    assert before[0][0] in records and len(records) == 201  # the acknowledged record is untouched
    assert (await verify_log(storage)).ok


@pytest.mark.sqlite_only
async def test_a_login_while_the_database_is_read_only_is_503_not_500(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    await factory.user(username="wati")
    await writer_pragma(storage, "PRAGMA query_only = ON")
    try:
        response = await client.post(
            "/api/auth/login",
            json={
                "username": "wati",
                "password": "kata-sandi-uji",
                "device_name": "HP",
                "client_id": "dev-wati-01",
            },
        )
    finally:
        await writer_pragma(storage, "PRAGMA query_only = OFF")
    assert_unavailable(response)


@pytest.mark.sqlite_only
async def test_an_admin_change_while_the_database_is_read_only_is_503_not_a_client_error(
    client: httpx.AsyncClient, factory: Factory, storage: SqliteStorage
) -> None:
    warehouse = await factory.warehouse()
    token = await factory.token(await factory.user(role="admin"))
    body = {"username": "baru", "full_name": "Baru", "agency": "FKDM", "password": "x" * 12,
            "warehouses": [warehouse.id]}  # fmt: skip
    await writer_pragma(storage, "PRAGMA query_only = ON")
    try:
        response = await client.post("/api/admin/users", json=body, headers=bearer(token))
    finally:
        await writer_pragma(storage, "PRAGMA query_only = OFF")
    assert_unavailable(response)
    assert await storage.user_by_username("baru") is None

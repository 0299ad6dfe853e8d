"""The sync engine's guarantees with several server processes on one PostgreSQL database.

Each "process" here is a PostgresStorage with a pool of its own (separate sessions, exactly what
two server processes are to PostgreSQL); test_two_serve_processes... at the end runs two real
`tigapilar serve` processes. Revisions and audit chains are per warehouse (docs/postgres.md,
"Per-warehouse sequencing"), so each guarantee is checked with the processes writing to ONE
warehouse (where they must serialize) and to DIFFERENT ones (where they must not wait):

* a write transaction waits for another holding the same warehouse and then reads what it
  committed; one holding another warehouse does not make it wait;
* revisions are strictly increasing in the order readers can see them: a reader following its
  cursors while many batches commit from both pools ends up with every change (a change that
  committed late with a lower revision would be missed, and the replica would differ);
* exactly once: the same push arriving at both pools at the same time is applied once and answered
  identically (the other answer is replayed), also for a push that writes two warehouses;
* conflicts are detected across pools;
* every audit chain stays one unbroken chain when both pools append at once;
* two processes migrating an empty database at once apply every migration exactly once.

Skipped, with the reason, unless TIGAPILAR_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from server.models import Warehouse
from server.storage.base import StorageUnavailable
from server.storage.postgres import PostgresStorage, migrations
from server.storage.postgres.storage import create_database
from server.storage.postgres.testing import direct_url, session_databases, with_database
from sync import digest as digest_mod
from sync.audit import verify
from sync.clock import format_hlc
from sync.domain import Actor
from sync.engine import SyncEngine
from sync.messages import Mutation, PullRequest, PushRequest, PushResponse
from sync.store import AuditEntry
from tests.factories import Factory
from tests.server.test_storage_contract import effects, record

REPO = Path(__file__).resolve().parents[2]
W = "w1"
W2 = "w2"
LAYOUTS = {"one-warehouse": (W, W), "two-warehouses": (W, W2)}
"""Where the two processes' writers write: the same warehouse, or one each."""


def actor(name: str, client_id: str, role: str = "officer", warehouses: tuple[str, ...] = (W, W2)) -> Actor:
    return Actor(
        user_id=f"u-{name}",
        username=name,
        role=role,  # type: ignore[arg-type]
        agency="POLRI",
        warehouses=frozenset(warehouses),
        client_id=client_id,
    )


def mutation(client_id: str, seq: int, record_id: str, op: str = "create", base_rev: int = 0,
             warehouse: str = W, **fields: object) -> Mutation:  # fmt: skip
    if op == "create" and not fields:
        fields = {"category": "segel_rusak", "severity": "tinggi", "description": f"{client_id} #{seq}"}
    return Mutation(
        seq=seq,
        id=record_id,
        collection="incidents",
        op=op,  # type: ignore[arg-type]
        base_rev=base_rev,
        warehouse_id=warehouse if op == "create" else None,
        fields=dict(fields),
        hlc=format_hlc(1_700_000_000_000 + seq, 0, client_id),
    )


def push_request(client_id: str, mutations: list[Mutation]) -> PushRequest:
    return PushRequest(protocol=1, client_id=client_id, schema_version=2, mutations=mutations)


@pytest.fixture
async def pools(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two storages on one database, each with its own pool: two server processes."""
    a = PostgresStorage(postgres_url, data_dir=tmp_path, max_connections=12)
    b = PostgresStorage(postgres_url, data_dir=tmp_path, max_connections=12)
    await a.open()
    await b.open()
    try:
        for w in (W, W2):
            await a.put_warehouse(Warehouse(id=w, code=w, name=f"Gudang Logistik KPU Kecamatan Uji {w}"))
        yield a, b
    finally:
        await a.close()
        await b.close()


async def db_state(url: str) -> dict[str, Any]:
    """What the database holds, read independently of the storage classes."""
    conn = await asyncpg.connect(direct_url(url))
    try:
        audit: dict[str, list[tuple[int, bytes, str, str]]] = {}
        for r in await conn.fetch(
            'SELECT chain, id, content, prev_hash, hash FROM audit_log ORDER BY chain COLLATE "C", id'
        ):
            audit.setdefault(r["chain"], []).append((r["id"], bytes(r["content"]), r["prev_hash"], r["hash"]))
        return {
            "records": {r["id"]: r["revision"] for r in await conn.fetch("SELECT id, revision FROM records")},
            "warehouses": {
                r["id"]: r["warehouse_id"] for r in await conn.fetch("SELECT id, warehouse_id FROM records")
            },
            "outcomes": await conn.fetchval("SELECT count(*) FROM outcomes"),
            "revisions": {
                r["warehouse_id"]: r["revision"]
                for r in await conn.fetch(
                    "SELECT warehouse_id, revision FROM warehouse_state WHERE revision > 0"
                )
            },
            "last_seq": {
                r["client_id"]: r["last_seq"] for r in await conn.fetch("SELECT * FROM client_state")
            },
            "audit": audit,
            "heads": {
                r["warehouse_id"]: (r["audit_id"], r["audit_hash"])
                for r in await conn.fetch(
                    "SELECT warehouse_id, audit_id, audit_hash FROM warehouse_state WHERE audit_id > 0"
                )
            },
        }
    finally:
        await conn.close()


def chains_hold(state: dict[str, Any]) -> None:
    """Every chain verifies and ends at the head its warehouse's state records."""
    for name, rows in state["audit"].items():
        assert verify(rows, name) is None, f"chain {name!r} is broken"
        assert state["heads"][name] == (rows[-1][0], rows[-1][3]), f"chain {name!r} ends at its state's head"
    assert state["heads"].keys() == state["audit"].keys()


# -- serialization per warehouse ---------------------------------------------------------------------
async def test_a_write_transaction_waits_for_the_other_process_and_sees_its_commit(
    pools: tuple[PostgresStorage, PostgresStorage],
) -> None:
    a, b = pools
    engine_b = SyncEngine(b)
    entered = asyncio.Event()

    async def push_through_b() -> PushResponse:
        entered.set()
        return await engine_b.push(
            actor("b", "client-b"), push_request("client-b", [mutation("client-b", 1, "r-b")])
        )

    async with a.write() as tx:
        before = (await tx.revisions([W]))[W]  # holds W's row until the commit
        task = asyncio.create_task(push_through_b())
        await entered.wait()
        await asyncio.sleep(0.3)
        assert not task.done(), "B must wait for A's batch to the same warehouse (its row lock)"
        await tx.commit(effects(record("r-a", before + 1, W), client_id="client-a", last_seq=1))
    response = await asyncio.wait_for(task, 10)
    assert response.results[0].revision == before + 2, "B read the revision A committed"


async def test_a_push_to_another_warehouse_does_not_wait(
    pools: tuple[PostgresStorage, PostgresStorage], postgres_url: str
) -> None:
    """No lock, row or sequence is shared by pushes to different warehouses: while A holds W (and
    appends to W's chain), B's push to W2 commits at once, with W2's own revisions."""
    a, b = pools
    engine_b = SyncEngine(b)
    async with a.write() as tx:
        before = (await tx.revisions([W]))[W]
        response = await asyncio.wait_for(
            engine_b.push(
                actor("b", "client-b"),
                push_request("client-b", [mutation("client-b", 1, "r-b", warehouse=W2)]),
            ),
            5,
        )
        assert response.results[0].status == "applied" and response.results[0].revision == 1
        await tx.commit(effects(record("r-a", before + 1, W), client_id="client-a", last_seq=1))
    state = await db_state(postgres_url)
    assert state["revisions"] == {W: before + 1, W2: 1}
    chains_hold(state)


# -- cursors never skip ------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_a_concurrent_reader_never_skips_a_change(
    pools: tuple[PostgresStorage, PostgresStorage], postgres_url: str, layout: str
) -> None:
    a, b = pools
    engines = [SyncEngine(a), SyncEngine(b)]
    homes = LAYOUTS[layout]
    """The warehouse of the writers of process 0 and of process 1."""
    writers, batches, per_batch = 8, 12, 3
    shared = {w: [f"shared-{w}-{i}" for i in range(3)] for w in sorted(set(homes))}
    done = asyncio.Event()

    async def setup() -> None:
        sup = "client-setup"
        ids = [(w, rid) for w in sorted(shared) for rid in shared[w]]
        await engines[0].push(
            actor("setup", sup, "supervisor"),
            push_request(sup, [mutation(sup, i + 1, rid, warehouse=w) for i, (w, rid) in enumerate(ids)]),
        )

    async def writer(n: int) -> None:
        client = f"client-{n:02d}"
        who = actor(f"w{n}", client)
        home = homes[n % 2]
        seq = 0
        for batch in range(batches):
            mutations = []
            for k in range(per_batch):
                seq += 1
                if k == 0:  # an edit of a shared record: the same rows from every writer
                    rid = shared[home][(n + batch) % len(shared[home])]
                    mutations.append(
                        mutation(client, seq, rid, "patch", base_rev=10**6, title=f"{client}/{seq}")
                    )
                else:
                    mutations.append(mutation(client, seq, f"r-{client}-{seq}", warehouse=home))
            # Alternate the "process" a writer talks to, as a phone behind a load balancer does.
            response = await engines[(n + batch) % 2].push(who, push_request(client, mutations))
            assert [r.seq for r in response.results] == [m.seq for m in mutations]

    replica: dict[str, int] = {}
    homes_of: dict[str, str] = {}
    pulls: list[tuple[dict[str, int], list[int]]] = []

    async def reader() -> dict[str, int]:
        cursors = {w: 0 for w in shared}
        who = actor("reader", "client-reader", "supervisor")
        while True:
            finished = done.is_set()
            while True:
                engine = engines[len(pulls) % 2]
                page = await engine.pull(
                    who, PullRequest(protocol=1, client_id="client-reader", cursors=cursors, limit=7)
                )
                by_warehouse: dict[str, list[int]] = {}
                for change in page.changes:
                    by_warehouse.setdefault(change.warehouse_id, []).append(change.revision)
                    replica[change.id] = change.revision
                    homes_of[change.id] = change.warehouse_id
                for w, revisions in by_warehouse.items():
                    assert revisions == sorted(set(revisions)), "a page is in increasing revision order"
                    assert all(r > cursors[w] for r in revisions)
                pulls.append((dict(cursors), [c.revision for c in page.changes]))
                for w in shared:
                    assert page.cursors[w] >= cursors[w], "a cursor never moves back"
                cursors = {w: page.cursors[w] for w in shared}
                if not page.has_more:
                    break
            if finished:
                for w in shared:
                    mine = [(rid, rev) for rid, rev in replica.items() if homes_of[rid] == w]
                    assert page.digests[w] == digest_mod.compute(mine)
                return replica
            await asyncio.sleep(0)

    await setup()
    read_task = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    done.set()
    await asyncio.wait_for(read_task, 60)

    state = await db_state(postgres_url)
    assert replica == state["records"], "the reader holds every change at its latest revision"
    for w in shared:
        revisions = [rev for rid, rev in state["records"].items() if state["warehouses"][rid] == w]
        assert len(set(revisions)) == len(revisions), f"revisions are unique within {w}"
        assert state["revisions"][w] == max(revisions)
    assert state["outcomes"] == sum(len(v) for v in shared.values()) + writers * batches * per_batch
    chains_hold(state)
    assert len(pulls) > writers, "the reader really pulled while the writers pushed"


# -- exactly once ------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_the_same_push_hitting_both_processes_is_applied_once(
    pools: tuple[PostgresStorage, PostgresStorage], postgres_url: str, layout: str
) -> None:
    """With two warehouses, every batch writes both (its locks are taken in sorted order)."""
    a, b = pools
    engine_a, engine_b = SyncEngine(a), SyncEngine(b)
    homes = LAYOUTS[layout]
    client = "client-retry"
    who = actor("retry", client)
    seq = 0
    for round_ in range(15):
        batch = []
        for k in range(4):
            seq += 1
            # The second warehouse first in half the batches: the lock order is the storage's.
            home = homes[(k + round_) % 2]
            batch.append(mutation(client, seq, f"r-{round_}-{k}", warehouse=home))
        request = push_request(client, batch)
        first, second = await asyncio.gather(engine_a.push(who, request), engine_b.push(who, request))
        fresh, replayed = (first, second) if not first.results[0].replayed else (second, first)
        assert [r.replayed for r in fresh.results] == [False] * 4
        assert [r.replayed for r in replayed.results] == [True] * 4
        strip = [(r.seq, r.id, r.status, r.revision) for r in fresh.results]
        assert [(r.seq, r.id, r.status, r.revision) for r in replayed.results] == strip
        assert first.last_seq == second.last_seq == seq

    state = await db_state(postgres_url)
    assert state["outcomes"] == seq
    assert state["last_seq"] == {client: seq}
    assert len(state["records"]) == seq
    assert sum(state["revisions"].values()) == seq, "no revision was handed out twice or skipped"
    mutation_entries = [e for rows in state["audit"].values() for e in rows if b'"kind":"mutation"' in e[1]]
    assert len(mutation_entries) == seq, "one audit entry per mutation, none for the replays"
    chains_hold(state)


# -- conflicts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_concurrent_edits_through_two_processes_conflict(
    pools: tuple[PostgresStorage, PostgresStorage], layout: str
) -> None:
    a, b = pools
    engine_a, engine_b = SyncEngine(a), SyncEngine(b)
    homes = LAYOUTS[layout]

    async def race(round_: int, home: str) -> None:
        sari = f"client-sari-{home}"
        rid = f"inc-{home}-{round_}"
        created = await engine_a.push(
            actor("sari", sari), push_request(sari, [mutation(sari, round_ + 1, rid, warehouse=home)])
        )
        base = created.results[0].revision
        assert base is not None
        joko, budi = f"client-joko-{home}-{round_}", f"client-budi-{home}-{round_}"
        first, second = await asyncio.gather(
            engine_a.push(actor("joko", joko), push_request(joko, [
                mutation(joko, 1, rid, "patch", base_rev=base, severity="kritis")])),
            engine_b.push(actor("budi", budi), push_request(budi, [
                mutation(budi, 1, rid, "patch", base_rev=base, severity="rendah")])),
        )  # fmt: skip
        statuses = sorted([first.results[0].status, second.results[0].status])
        assert statuses == ["applied", "conflict"], "exactly one wins, the other value is kept"
        loser = first if first.results[0].status == "conflict" else second
        assert loser.results[0].conflicts

    for round_ in range(6):
        # With two warehouses, the races in both run at once.
        await asyncio.gather(*(race(round_, home) for home in sorted(set(homes))))
    for home in sorted(set(homes)):
        async with a.read() as rx:
            records = await rx.changes(home, 0, 100)
        conflicts = [r for r in records if r.collection == "conflicts"]
        assert len(conflicts) == 6
        assert all(c.fields["status"] == "open" and c.fields["field"] == "severity" for c in conflicts)


# -- audit chains ------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_the_audit_chains_hold_when_both_processes_append(
    pools: tuple[PostgresStorage, PostgresStorage], postgres_url: str, layout: str
) -> None:
    a, b = pools
    engines = [SyncEngine(a), SyncEngine(b)]
    homes = LAYOUTS[layout]

    def login(n: int) -> AuditEntry:
        return AuditEntry(
            at="2024-02-14T01:00:00.000Z", kind="auth.login", actor_id=f"u{n}", actor_agency="TNI",
            device="d", warehouse_id=None, subject=f"u{n}", detail={"n": n},
        )  # fmt: skip

    async def pushes(n: int) -> None:
        client = f"client-{n}"
        for seq in range(1, 6):
            await engines[(n + seq) % 2].push(actor(f"p{n}", client), push_request(client, [
                mutation(client, seq, f"r-{n}-{seq}", warehouse=homes[n % 2])]))  # fmt: skip

    await asyncio.gather(
        *(pushes(n) for n in range(6)),
        *((a if n % 2 else b).append_audit(login(n)) for n in range(40)),
    )
    state = await db_state(postgres_url)
    assert sum(len(rows) for rows in state["audit"].values()) == 6 * 5 + 40
    assert len(state["audit"][""]) == 40, "logins go to the system chain"
    assert set(state["audit"]) == {"", *homes}
    chains_hold(state)
    for name, rows in state["audit"].items():
        assert await a.audit_head(name) == await b.audit_head(name) == (rows[-1][0], rows[-1][3])


# -- migrations --------------------------------------------------------------------------------------
async def test_processes_starting_together_migrate_once(postgres_url: str, tmp_path: Path) -> None:
    databases = session_databases()
    assert databases is not None
    empty = with_database(postgres_url, databases.name_for(tmp_path / "empty"))
    await create_database(empty)
    storages = [PostgresStorage(empty, data_dir=tmp_path, max_connections=2) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open(create=False) for s in storages))
        versions = {await s.schema_version() for s in storages}
        assert len(versions) == 1 and versions.pop() >= 1
        conn = await asyncpg.connect(empty)
        try:
            rows = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
        finally:
            await conn.close()
        # every migration applied, once (numbers may have gaps: a number given out and not used)
        assert [r[0] for r in rows] == [m.version for m in migrations.load()]
    finally:
        for s in storages:
            await s.close()
        await databases.drop(empty)


# -- two real server processes -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(url: str, tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    log = tmp_path / f"{name}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TIGAPILAR_DATABASE": url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--no-static"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, f"http://127.0.0.1:{port}", log


def stop_servers(servers: list[tuple[subprocess.Popen[bytes], str, Path]]) -> None:
    for process, _, _ in servers:
        process.terminate()
    for process, _, _ in servers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.mark.slow
async def test_two_serve_processes_share_one_database(postgres_url: str, tmp_path: Path) -> None:
    storage = PostgresStorage(postgres_url, data_dir=tmp_path)
    await storage.open()
    factory = Factory(storage)
    try:
        warehouse = await factory.warehouse(id=W, code=W)
        clients: list[tuple[str, str]] = []
        for n in range(6):
            user = await factory.user(warehouses=[warehouse])
            client_id = f"client-http-{n}"
            clients.append((client_id, await factory.token(user, client_id=client_id)))
        sup = await factory.user(role="supervisor", warehouses=[warehouse])
        reader_token = await factory.token(sup, client_id="client-http-reader")
    finally:
        await storage.close()

    servers = [_start_server(postgres_url, tmp_path, name) for name in ("one", "two")]
    try:
        for process, base, log in servers:
            _wait_ready(process, base, log)
        bases = [base for _, base, _ in servers]
        async with httpx.AsyncClient(timeout=30) as http:

            async def push(
                base: str, client_id: str, token: str, mutations: list[Mutation]
            ) -> dict[str, Any]:
                body = {"protocol": 1, "client_id": client_id, "schema_version": 2,
                        "mutations": msgspec.to_builtins(mutations)}  # fmt: skip
                response = await http.post(
                    f"{base}/api/sync/push", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 200, response.text
                result: dict[str, Any] = response.json()
                return result

            async def phone(n: int) -> None:
                client_id, token = clients[n]
                for batch in range(6):
                    mutations = [
                        mutation(client_id, batch * 2 + k + 1, f"h-{n}-{batch}-{k}") for k in range(2)
                    ]
                    # Every batch goes to BOTH servers at once (a retry racing the original).
                    one, two = await asyncio.gather(
                        push(bases[0], client_id, token, mutations),
                        push(bases[1], client_id, token, mutations),
                    )
                    flags = sorted(
                        [one["results"][0].get("replayed", False), two["results"][0].get("replayed", False)]
                    )
                    assert flags == [False, True]

            replica: dict[str, int] = {}
            stop = asyncio.Event()

            async def reader() -> None:
                cursor, i = 0, 0
                while True:
                    finished = stop.is_set()
                    while True:
                        i += 1
                        response = await http.post(
                            f"{bases[i % 2]}/api/sync/pull",
                            json={"protocol": 1, "client_id": "client-http-reader", "cursors": {W: cursor},
                                  "limit": 5},
                            headers={"Authorization": f"Bearer {reader_token}"},
                        )  # fmt: skip
                        assert response.status_code == 200, response.text
                        page = response.json()
                        for change in page["changes"]:
                            assert change["revision"] > cursor
                            replica[change["id"]] = change["revision"]
                        cursor = page["cursors"][W]
                        if not page["has_more"]:
                            break
                    if finished:
                        return
                    await asyncio.sleep(0.01)

            read_task = asyncio.create_task(reader())
            await asyncio.gather(*(phone(n) for n in range(len(clients))))
            stop.set()
            await asyncio.wait_for(read_task, 60)
    finally:
        stop_servers(servers)

    state = await db_state(postgres_url)
    assert replica == state["records"]
    assert len(state["records"]) == len(clients) * 12
    assert state["outcomes"] == len(clients) * 12
    chains_hold(state)


# -- failures of the database become StorageUnavailable (HTTP 503, the phone retries) ----------------
async def test_a_batch_waiting_too_long_for_the_lock_is_unavailable_and_writes_nothing(
    pools: tuple[PostgresStorage, PostgresStorage], postgres_url: str, tmp_path: Path
) -> None:
    a, _ = pools
    impatient = PostgresStorage(postgres_url, data_dir=tmp_path, lock_timeout_s=0.2)
    await impatient.open()
    try:
        async with a.write() as tx:
            await tx.revisions([W])  # holds W's row
            with pytest.raises(StorageUnavailable, match="LockNotAvailable"):
                await SyncEngine(impatient).push(
                    actor("x", "client-x"), push_request("client-x", [mutation("client-x", 1, "r-x")])
                )
        assert (await db_state(postgres_url))["outcomes"] == 0
    finally:
        await impatient.close()


@pytest.mark.parametrize("settle", [0, 0.3], ids=["at-once", "after-the-client-noticed"])
async def test_a_connection_lost_mid_batch_is_unavailable_writes_nothing_and_the_pool_recovers(
    pools: tuple[PostgresStorage, PostgresStorage], postgres_url: str, settle: float
) -> None:
    a, _ = pools
    admin = await asyncpg.connect(postgres_url)
    try:
        with pytest.raises(StorageUnavailable):
            async with a.write() as tx:
                await tx.commit(effects(record("r-lost", 1, W), client_id="client-lost", last_seq=1))
                pid = await tx._conn.fetchval("SELECT pg_backend_pid()")
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                await asyncio.sleep(settle)
                await tx.records(["r-elsewhere"])  # the connection is gone
    finally:
        await admin.close()
    state = await db_state(postgres_url)
    assert state["records"] == {} and state["outcomes"] == 0
    response = await SyncEngine(a).push(
        actor("x", "client-x"), push_request("client-x", [mutation("client-x", 1, "r")])
    )
    assert response.results[0].revision == 1, "the pool replaced the connection; the retry works"

"""13. National scale on PostgreSQL (issue 18): a national database, pushes from 1, 2 and 4 server
processes, how long pushes wait on each other's locks, the supervisor's reads, and which live
streams a commit wakes.

generate    a fresh PostgreSQL database (migrated by `tigapilar migrate`, so it follows the schema):
            WAREHOUSES warehouses (put_warehouse), one officer per warehouse and DEVICES devices
            spread over them, a province supervisor (300 warehouses) and a national one (all), all
            three tables filled by COPY (`users`, `assignments`, `devices`: 100,000 round trips
            otherwise; then `device_sync` from them, as the logins write it); RECORDS incidents
            through the storage's own write()/commit(BatchEffects) (bench/world.py bulk_write:
            counters, digests, summaries as a push leaves them).
push        PHONES phones, each an officer's device in a warehouse of its own, push batches of
            MUTATIONS new incidents over real HTTP for PUSH_S seconds to 1, 2 and 4
            `tigapilar serve` processes on the same database (phone i to process i mod n):
            pushes/s, mutations/s, ratio to 1 process. The same phones pushing into ONE warehouse
            (2 processes) is the contrast: there they must queue on its row.
locks       while pushing, a separate connection samples pg_stat_activity every SAMPLE_S: of the
            client backends running a statement, the share waiting on a lock
            (wait_event_type = 'Lock'), and the share of samples with any waiter.
supervisor  the overview for the province (300 warehouses) and national (all, a page of 50): cold
            (build_overview in-process before any server starts: every summary folded from the
            records and kept), then GET /api/supervisor/overview first, warm, and after the pushes
            (the pushed warehouses refolded); device_sync_state for both scopes, warm and after.
live        STREAMS wake-up subscriptions of the server's own EventHub, each scoped to one
            warehouse, plus one of the province, woken by the storage's LISTEN (as every server
            process is); each commit of a push to one warehouse is counted: how many it woke.

The load generator (httpx, one asyncio loop) shares the machine with the servers and PostgreSQL:
on 2 cores, 4 processes cannot go faster than 2; the ratios say what the database lets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from litestar.datastructures import State

from bench.context import Context
from bench.env import fmt_ms, median
from bench.report import Section
from bench.server import Server
from bench.storm import postgres_available, postgres_database
from bench.world import EPOCH_MS, _password_hash, bulk_write, incident_fields, incidents, uuid7
from server.auth import new_token
from server.events import EventHub
from server.models import Warehouse, iso
from server.overview import build_overview
from server.reports import Settings
from server.seed import install_reference_data
from server.storage import device_sync
from sync.messages import PROTOCOL_VERSION, SCHEMA_VERSION, Mutation, PushRequest, PushResponse

PROVINCE = 300
PAGE = 50
SAMPLE_S = 0.02
PROCESSES = (1, 2, 4)
ROW_WAITS = ("transactionid", "tuple", "advisory")


SCAN_QUERY = "FROM devices AS d LEFT JOIN client_state"
"""In the statement of device_sync_state (server/storage/postgres/reports.py), which every
overview runs: the supervisor's, and each server process's alert scan (server/alerts/schedule.py:
the national overview, at start-up and every 60 s)."""


async def quiet(servers: list[Server], url: str, ctx: Context, *, limit_s: float = 240) -> float:
    """Wait until the servers are idle: their CPU below 15 % of a core and no statement running on
    the database, two seconds in a row (each new process's start-up alert scan, the national
    overview and the inspection.overdue events it raises and dispatches, is done); how long it took."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        before = sum(s.cpu_seconds() for s in servers)
        calm = 0
        await asyncio.sleep(2.0)
        while time.perf_counter() - t0 < limit_s and calm < 2:
            await asyncio.sleep(1.0)
            now = sum(s.cpu_seconds() for s in servers)
            running = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state = 'active' AND backend_type = 'client backend'"
            )
            calm = calm + 1 if now - before < 0.15 and not running else 0
            before = now
    finally:
        await conn.close()
    took = time.perf_counter() - t0
    ctx.log(f"national: {len(servers)} server(s) quiet after {took:.0f} s (load {load()})")
    return took


def _pushing(sql: str) -> bool:
    """Whether a statement is one a push runs (not the alert dispatcher's work on alert_events, the
    one other writer while phones push)."""
    return "alert_events" not in sql


def _head(sql: str) -> str:
    """A statement's first words (which statement of the push it is)."""
    return " ".join(sql.split())[:60]


_push_answer = msgspec.json.Decoder(PushResponse).decode


@dataclass
class Sizes:
    warehouses: int
    records: int
    devices: int
    phones: int
    mutations: int
    push_s: float
    streams: int
    commits: int


def sizes(ctx: Context) -> Sizes:
    if ctx.quick:
        return Sizes(
            warehouses=400,
            records=8_000,
            devices=5_000,
            phones=8,
            mutations=10,
            push_s=3.0,
            streams=40,
            commits=10,
        )
    return Sizes(
        warehouses=8_000,
        records=1_000_000,
        devices=100_000,
        phones=12,
        mutations=10,
        push_s=20.0,
        streams=400,
        commits=40,
    )


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Phone:
    token: str
    client_id: str
    warehouse: str
    seq: int = 0

    def body(self, rng: random.Random, count: int) -> bytes:
        mutations = []
        for _ in range(count):
            self.seq += 1
            hlc = f"{EPOCH_MS + 10**9 + self.seq:013d}-00000-{self.client_id}"
            mutations.append(
                Mutation(
                    seq=self.seq,
                    id=uuid7(rng, EPOCH_MS + 10**9 + self.seq),
                    collection="incidents",
                    op="create",
                    warehouse_id=self.warehouse,
                    fields=incident_fields(rng, self.seq),
                    hlc=hlc,
                )
            )
        request = PushRequest(
            protocol=PROTOCOL_VERSION,
            client_id=self.client_id,
            schema_version=SCHEMA_VERSION,
            mutations=mutations,
        )
        return msgspec.json.encode(request)


@dataclass
class World:
    wids: list[str]
    officers: list[list[Phone]]
    """Per warehouse, the devices of its officer."""
    province: str
    """A token of the province supervisor (the first PROVINCE warehouses)."""
    national: str
    """A token of the national supervisor (every warehouse)."""


async def generate(storage: Any, url: str, size: Sizes, ctx: Context) -> tuple[World, dict[str, float]]:
    """The national database: warehouses through the storage, users, assignments and devices by
    COPY, the records through bulk_write. Returns the world and how long each step took."""
    import asyncpg

    took: dict[str, float] = {}
    t0 = time.perf_counter()
    await install_reference_data(storage)
    wids = [f"gd-n-{w:05d}" for w in range(size.warehouses)]
    gate = asyncio.Semaphore(8)

    async def put(w: int) -> None:
        async with gate:
            await storage.put_warehouse(
                Warehouse(
                    id=wids[w],
                    code=f"gudang_n_{w}",
                    name=f"Gudang Logistik KPU Nasional {w}",
                    kota=f"Kota {w // 100}",
                    kecamatan=f"Kecamatan {w // 10}",
                )
            )

    await asyncio.gather(*(put(w) for w in range(size.warehouses)))
    took["warehouses"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    password = _password_hash()
    at = iso(datetime.now(UTC))
    expires = iso(datetime.now(UTC) + timedelta(days=30))
    users: list[tuple[Any, ...]] = []
    assignments: list[tuple[str, str]] = []
    devices: list[tuple[Any, ...]] = []
    officers: list[list[Phone]] = [[] for _ in wids]
    for w, wid in enumerate(wids):
        uid = f"u-n-{w:05d}"
        users.append((uid, f"petugas{w}", f"Petugas Nasional {w}", "POLRI", "officer", password, at, at))
        assignments.append((uid, wid))
    for d in range(size.devices):
        w = d % size.warehouses
        token, digest = new_token()
        client_id = f"dev-n-{d:06d}"
        devices.append(
            (str(uuid.UUID(int=d + 1)), f"u-n-{w:05d}", f"HP {d}", client_id, digest, at, at, expires)
        )
        officers[w].append(Phone(token=token, client_id=client_id, warehouse=wids[w]))
    tokens = {}
    for name, scope in (("province", wids[:PROVINCE]), ("national", wids)):
        uid = f"u-sup-{name}"
        users.append((uid, f"sup_{name}", f"Supervisor {name}", "KPU", "supervisor", password, at, at))
        assignments += [(uid, w) for w in scope]
        token, digest = new_token()
        devices.append((str(uuid.uuid4()), uid, f"Laptop {name}", f"dev-sup-{name}", digest, at, at, expires))
        tokens[name] = token
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "users",
                records=users,
                columns=[
                    "id",
                    "username",
                    "full_name",
                    "agency",
                    "role",
                    "password_hash",
                    "created_at",
                    "updated_at",
                ],
            )
            await conn.copy_records_to_table(
                "assignments", records=assignments, columns=["user_id", "warehouse_id"]
            )
            await conn.copy_records_to_table(
                "devices",
                records=devices,
                columns=[
                    "id",
                    "user_id",
                    "name",
                    "client_id",
                    "token_hash",
                    "created_at",
                    "last_seen",
                    "expires_at",
                ],
            )
            await conn.execute(device_sync.FILL_ALL)  # what the storage writes with each login
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    took["users and devices"] = time.perf_counter() - t0
    ctx.log(f"national: {len(wids):,} warehouses, {len(devices):,} devices ({sum(took.values()):.0f} s)")

    t0 = time.perf_counter()
    done = 0
    step = 100_000
    while done < size.records:
        n = min(step, size.records - done)
        await bulk_write(storage, incidents(wids, n, user_id="u-n-00000", seed=18, start=done), batch=10_000)
        done += n
        ctx.log(f"national: {done:,} records ({time.perf_counter() - t0:.0f} s, load {load()})")
    took["records"] = time.perf_counter() - t0
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return World(wids=wids, officers=officers, province=tokens["province"], national=tokens["national"]), took


# ----------------------------------------------------------------------------- pushes and locks


class LockSampler:
    """Samples pg_stat_activity of this database every SAMPLE_S: client backends running a
    statement, and those of them waiting on a lock (row, advisory, relation: wait_event_type 'Lock')."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.active = 0
        self.waiting = 0
        self.samples = 0
        self.busy_samples = 0
        self.waiting_samples = 0
        self.events: Counter[str] = Counter()
        """Lock waits seen, by wait_event (transactionid, tuple, advisory: another transaction's
        row or advisory lock; extend: growing a table's file)."""
        self.scan_samples = 0
        """Samples in which a device_sync_state query ran (an overview: a server's alert scan)."""
        self.other: Counter[str] = Counter()
        """The waits of statements that are not a push's (the alert dispatcher's), by wait_event."""
        self.blockers: Counter[tuple[str, str]] = Counter()
        """(the waiting statement, the statement of the backend holding what it waits for)."""
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LockSampler:
        import asyncpg

        self._conn = await asyncpg.connect(self.url)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._conn.close()

    async def _run(self) -> None:
        sql = (
            "SELECT pid, state = 'active', wait_event_type IS NOT DISTINCT FROM 'Lock', wait_event, query,"
            " CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid) END"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend' AND application_name <> 'tigapilar-listen'"
        )
        while True:
            rows = await self._conn.fetch(sql)
            active = sum(1 for r in rows if r[1])
            waits = [r for r in rows if r[1] and r[2]]
            self.samples += 1
            self.active += active
            self.waiting += len(waits)
            self.events.update(r[3] for r in waits)
            self.other.update(r[3] for r in waits if not _pushing(r[4]))
            self.busy_samples += active > 0
            self.waiting_samples += bool(waits)
            self.scan_samples += any(r[1] and SCAN_QUERY in (r[4] or "") for r in rows)
            queries = {r[0]: r[4] for r in rows}
            for r in waits:
                for pid in r[5] or ():
                    self.blockers[(_head(r[4]), _head(queries.get(pid, "(another database or gone)")))] += 1
            await asyncio.sleep(SAMPLE_S)

    @property
    def row_share(self) -> float:
        """The share waiting on another transaction's row or advisory lock (what one push holding a
        warehouse makes another wait for), i.e. without relation-extension waits."""
        rows = sum(n - self.other[event] for event, n in self.events.items() if event in ROW_WAITS)
        return rows / self.active if self.active else 0.0

    def blocked(self, top: int = 3) -> str:
        pairs = self.blockers.most_common(top)
        return "; ".join(f"{n} × [{w}…] waiting on [{b}…]" for (w, b), n in pairs) or "none"

    def kinds(self) -> str:
        return ", ".join(f"{event} {n / self.active:.1%}" for event, n in self.events.most_common()) or "none"

    @property
    def wait_share(self) -> float:
        """Of the backend time spent running statements, the share spent waiting on a lock."""
        return self.waiting / self.active if self.active else 0.0

    @property
    def any_share(self) -> float:
        """Of the samples with a statement running, the share in which one waited on a lock."""
        return self.waiting_samples / self.busy_samples if self.busy_samples else 0.0


@dataclass
class PushRun:
    pushes: int
    mutations: int
    seconds: float
    errors: int
    sampler: LockSampler

    @property
    def per_s(self) -> float:
        return self.pushes / self.seconds

    @property
    def mutations_per_s(self) -> float:
        return self.mutations / self.seconds


async def push_for(phones: list[Phone], servers: list[Server], url: str, size: Sizes) -> PushRun:
    """Every phone pushes batch after batch for size.push_s seconds, phone i to server i mod n."""
    counts = {"pushes": 0, "mutations": 0, "errors": 0}
    deadline = time.perf_counter() + size.push_s

    async def phone(i: int, p: Phone) -> None:
        rng = random.Random(f"{p.client_id}-{p.seq}")
        async with httpx.AsyncClient(base_url=servers[i % len(servers)].url, timeout=60) as c:
            headers = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/json"}
            while time.perf_counter() < deadline:
                r = await c.post("/api/sync/push", content=p.body(rng, size.mutations), headers=headers)
                if r.status_code != 200:
                    counts["errors"] += 1
                    continue
                answer = _push_answer(r.content)
                applied = sum(1 for x in answer.results if x.status == "applied")
                counts["errors"] += len(answer.results) - applied
                counts["pushes"] += 1
                counts["mutations"] += applied

    async with LockSampler(url) as sampler:
        t0 = time.perf_counter()
        await asyncio.gather(*(phone(i, p) for i, p in enumerate(phones)))
        seconds = time.perf_counter() - t0
    return PushRun(counts["pushes"], counts["mutations"], seconds, counts["errors"], sampler)


# ----------------------------------------------------------------------------- supervisor


async def overview_s(server: Server, token: str, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=900) as c:
        t0 = time.perf_counter()
        r = await c.get(
            "/api/supervisor/overview", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed, r.json()


async def sync_state_s(storage: Any, scope: list[str], runs: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        found = len(await storage.device_sync_state(scope))
        times.append(time.perf_counter() - t0)
    return median(times), found


# ----------------------------------------------------------------------------- the section


async def run(ctx: Context, size: Sizes | None = None) -> list[Section]:
    """The section; `size` overrides the sizes of --quick / the full run (the test's smallest)."""
    size = size or sizes(ctx)
    gen = Section(
        "national-generate", "13. National scale on PostgreSQL: the database", ["step", "rows", "time"]
    )
    pushes = Section(
        "national-push",
        "13a. Pushes to disjoint warehouses from 1, 2 and 4 server processes (one PostgreSQL)",
        [
            "processes",
            "phones",
            "pushes/s",
            "mutations/s",
            "ratio to 1 process",
            "row/advisory lock wait",
            "any lock wait",
            "samples with a lock waiter",
            "samples with an overview running",
            "errors",
            "load (1/5/15 min)",
        ],
    )
    sup = Section(
        "national-supervisor",
        "13b. Supervisor reads on the national database",
        [
            "read",
            "scope",
            "cold (fold and keep)",
            "first over HTTP",
            "warm",
            "after the pushes",
            "load (1/5/15 min)",
        ],
    )
    live = Section(
        "national-live",
        "13c. Live-stream wake-ups per commit, streams scoped to different warehouses",
        [
            "streams",
            "commits",
            "wake-ups per commit (mean / max)",
            "streams whose scope holds the warehouse",
            "streams woken outside their scope",
        ],
    )
    sections = [gen, pushes, sup, live]
    if not postgres_available():
        gen.notes.append("skipped: no $TIGAPILAR_BENCH_POSTGRES_URL and no PostgreSQL server binaries")
        return sections
    from server.storage.postgres import PostgresStorage

    work = ctx.dir("national")
    async with postgres_database(ctx, work, "national") as (url, cluster):
        storage = PostgresStorage(url, data_dir=work / "data")
        await storage.open()
        servers = [
            Server(url, log=work / f"server{k}.log", data_dir=work / "data") for k in range(max(PROCESSES))
        ]
        try:
            world, took = await generate(storage, url, size, ctx)
            await _describe(gen, url, size, took, cluster)
            folded = await _fold(storage, world, ctx)
            servers[0].start()
            startup = await quiet(servers[:1], url, ctx)
            sup.notes.append(
                f"The first server process was busy {startup:.0f} s after start-up (its alert scan: the "
                "national overview, server/alerts/schedule.py, and the inspection.overdue events it raises); "
                "the reads above were taken after it."
            )
            reads = await _supervisor_before(sup, storage, servers[0], world, folded, ctx)
            await _pushes(pushes, servers, url, world, size, ctx)
            for server in servers[1:]:
                server.stop()
            await _supervisor_after(sup, storage, servers[0], world, reads)
            await _live(live, storage, servers[0], world, size)
        finally:
            for server in servers:
                server.stop()
            await storage.close()
    return sections


async def _describe(gen: Section, url: str, size: Sizes, took: dict[str, float], cluster: bool) -> None:
    import asyncpg

    gen.add("warehouses (put_warehouse)", f"{size.warehouses:,}", f"{took['warehouses']:.1f} s")
    assigned = size.warehouses + min(PROVINCE, size.warehouses) + size.warehouses
    gen.add(
        "users / assignments / devices (COPY)",
        f"{size.warehouses + 2:,} / {assigned:,} / {size.devices + 2:,}",
        f"{took['users and devices']:.1f} s",
    )
    gen.add(
        "incident records (bulk_write: the storage's write()/commit)",
        f"{size.records:,}",
        f"{took['records']:.1f} s ({size.records / took['records']:,.0f} records/s)",
    )
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SHOW server_version")
        stored = await conn.fetchval("SELECT count(*) FROM records")
        held = await conn.fetchval("SELECT count(*) FROM warehouse_state WHERE warehouse_id <> ''")
        db_size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        durability = f"fsync {await conn.fetchval('SHOW fsync')}, synchronous_commit " + str(
            await conn.fetchval("SHOW synchronous_commit")
        )
    finally:
        await conn.close()
    gen.check(
        f"{stored:,} records stored, {held:,} warehouses with a counter of their own",
        stored == size.records and held == size.warehouses,
    )
    gen.notes.append(
        f"PostgreSQL {version}{' (throwaway loopback cluster)' if cluster else ''}, {durability}, database "
        f"{db_size}; load after generating {load()}. Server processes: this checkout's code (pure Python "
        "unless sync/*.so is built)."
    )


def _scopes(world: World) -> list[tuple[str, str, dict[str, Any], list[str]]]:
    return [
        ("province", world.province, {}, world.wids[:PROVINCE]),
        ("national", world.national, {"limit": PAGE}, world.wids),
    ]


async def _fold(storage: Any, world: World, ctx: Context) -> dict[str, float]:
    """The overview's cold read in-process (what GET /api/supervisor/overview runs): every summary
    folded from its records and kept, the province's first, then the rest of the nation's. Done
    before any server starts, as the pushes that wrote the records would have kept the summaries:
    otherwise each server's alert worker folds the whole nation at start-up, beside the pushes."""
    took = {}
    for name, _, _, scope in _scopes(world):
        t0 = time.perf_counter()
        await build_overview(storage, State(), scope, settings=Settings())
        took[name] = time.perf_counter() - t0
        ctx.log(f"national: {name} overview cold {took[name]:.1f} s (load {load()})")
    return took


async def _supervisor_before(
    sup: Section, storage: Any, server: Server, world: World, folded: dict[str, float], ctx: Context
) -> dict[str, list[str]]:
    reads: dict[str, list[str]] = {}
    for name, token, params, scope in _scopes(world):
        first, body = await overview_s(server, token, params)
        warm = median([(await overview_s(server, token, params))[0] for _ in range(3)])
        rows = min(len(scope), params.get("limit", len(scope)))
        sup.check(
            f"{name} overview: {len(body['warehouses'])} rows of {body['total']:,}",
            body["total"] == len(scope) and len(body["warehouses"]) == rows,
        )
        label = f"{len(scope):,} warehouses" + (f", a page of {PAGE}" if params else "")
        reads[name] = [f"overview ({name})", label, fmt_ms(folded[name]), fmt_ms(first), fmt_ms(warm)]
    for name, _, _, scope in _scopes(world):
        warm, found = await sync_state_s(storage, scope, 3)
        sup.check(f"{name} device sync state: {found:,} devices", found > 0)
        reads[f"sync-{name}"] = [
            f"device sync state ({name})",
            f"{len(scope):,} warehouses, {found:,} devices",
            "",
            "",
            fmt_ms(warm),
        ]
    return reads


async def _supervisor_after(
    sup: Section, storage: Any, server: Server, world: World, reads: dict[str, list[str]]
) -> None:
    for name, token, params, scope in _scopes(world):
        after, _ = await overview_s(server, token, params)
        reads[name].append(fmt_ms(after))
        after, _ = await sync_state_s(storage, scope, 1)
        reads[f"sync-{name}"].append(fmt_ms(after))
    for row in reads.values():
        sup.add(*row, load())
    sup.notes.append(
        "Overview: GET /api/supervisor/overview over HTTP, one process, median of 3 when warm. Cold: "
        "build_overview in-process before any server starts, every warehouse's summary folded from its "
        "records and kept (the national read folds those the province read did not); after the "
        "pushes: the pushed warehouses' summaries refolded. Device sync state: "
        "storage.device_sync_state in-process (what the overview adds to the summaries), median of 3."
    )


async def _pushes(
    pushes: Section, servers: list[Server], url: str, world: World, size: Sizes, ctx: Context
) -> None:
    disjoint = [world.officers[w][0] for w in range(size.phones)]  # each in a warehouse of its own
    runs: dict[int, PushRun] = {}
    for n in PROCESSES:
        started = [server for server in servers[:n] if server.proc is None]
        for server in started:
            server.start()
        if started:
            await quiet(servers[:n], url, ctx)
        runs[n] = out = await push_for(disjoint, servers[:n], url, size)
        ctx.log(f"national: {n} processes {out.per_s:.0f} pushes/s, lock waits {out.sampler.kinds()}")
        ctx.log(f"national:   waiting: {out.sampler.blocked()}")
        _push_row(pushes, str(n), out, runs[1], len(disjoint))
        pushes.check(
            f"{n} processes: every push answered, every mutation applied ({out.errors} errors)",
            out.errors == 0 and out.pushes > 0,
        )
    # The contrast: as many phones, all in one warehouse (devices of its officer), 2 processes.
    same = world.officers[size.phones][: size.phones]
    contrast = await push_for(same, servers[:2], url, size)
    _push_row(pushes, "2, every phone in ONE warehouse", contrast, runs[1], len(same))
    worst = max(r.sampler.row_share for r in runs.values())
    pushes.check(
        f"pushes to different warehouses do not wait on one another: row/advisory lock waits at most "
        f"{worst:.1%} of the backends' running time (1-4 processes), against "
        f"{contrast.sampler.row_share:.1%} when they share one warehouse",
        worst < 0.05 <= contrast.sampler.row_share,
    )
    kinds = "; ".join(f"{n} processes: {r.sampler.kinds()}" for n, r in runs.items())
    pushes.notes.append(
        f"{size.mutations} new incidents a push, {size.push_s:.0f} s a run, phone i to process i mod n. "
        f"pg_stat_activity sampled every {SAMPLE_S * 1000:.0f} ms ({runs[2].sampler.samples:,} samples at 2 "
        "processes): the share of the client backends' running time spent waiting on a lock "
        f"(wait_event_type 'Lock'), by wait_event: {kinds}; one warehouse: {contrast.sampler.kinds()}. "
        "'extend' is PostgreSQL growing a table's file (inserts from several backends into the same table), "
        "not a lock one push holds against another."
    )
    blocked = "; ".join(f"{n} processes: {r.sampler.blocked()}" for n, r in runs.items())
    pushes.notes.append(
        "Row/advisory lock wait counts the pushes' statements only; what waited on what (sampled, waiting "
        f"statement on the blocking one, as pg_blocking_pids gives it): {blocked}."
    )
    pushes.notes.append(
        "The issue's global design measured 1 : 1.1-1.4 : 1.0-1.4 (1, 2, 4 processes) with its lock held "
        "97-99 % of the time. The load generator shares the 2 cores with the servers and PostgreSQL."
    )


def _push_row(pushes: Section, label: str, out: PushRun, base: PushRun, phones: int) -> None:
    s = out.sampler
    pushes.add(
        label,
        phones,
        f"{out.per_s:,.0f}",
        f"{out.mutations_per_s:,.0f}",
        f"{out.per_s / base.per_s:.2f}",
        f"{s.row_share:.1%}",
        f"{s.wait_share:.1%}",
        f"{s.any_share:.1%}",
        f"{s.scan_samples / max(s.samples, 1):.0%}",
        out.errors,
        load(),
    )


async def _live(live: Section, storage: Any, server: Server, world: World, size: Sizes) -> None:
    """The server's EventHub, woken by this storage's LISTEN as a server process's is: one
    subscription per warehouse for the first `streams` warehouses, and the province's."""
    hub = EventHub()
    streams = min(size.streams, len(world.wids))
    province = world.wids[:PROVINCE]
    woken: list[int] = []
    outside = 0
    rng = random.Random(7)
    async with storage.listen_changes(hub.notify) as listener:
        with contextlib.ExitStack() as stack:
            subs = [stack.enter_context(hub.subscribe([w])) for w in world.wids[:streams]]
            subs.append(stack.enter_context(hub.subscribe(province)))
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
                for k in range(size.commits):
                    p = world.officers[(k * 7) % streams][1]
                    for sub in subs:
                        sub.next()
                        sub.take()
                    before, heard = hub.wakeups, listener.notifications
                    headers = {"Authorization": f"Bearer {p.token}", "Content-Type": "application/json"}
                    r = await c.post("/api/sync/push", content=p.body(rng, 1), headers=headers)
                    r.raise_for_status()
                    for _ in range(500):
                        if listener.notifications > heard:
                            break
                        await asyncio.sleep(0.01)
                    woken.append(hub.wakeups - before)
                    outside += sum(1 for sub in subs if sub.dirty and p.warehouse not in sub.scope)
    holding = 2  # its warehouse's stream and the province's (the pushed warehouses are in both)
    live.add(
        f"{streams} + 1 (the province)",
        size.commits,
        f"{sum(woken) / len(woken):.2f} / {max(woken)}",
        holding,
        outside,
    )
    live.check(
        f"each commit woke only the streams whose scope holds its warehouse ({holding})",
        all(w == holding for w in woken) and outside == 0,
    )
    live.notes.append(
        f"One-incident pushes over HTTP to {size.commits} warehouses in turn; wake-ups counted by the "
        "server's EventHub (server/events.py) woken by the storage's LISTEN "
        "(server/storage/postgres/notify.py), "
        f"as in every server process. A NOTIFY not naming its warehouses would wake all {streams + 1}. "
        f"Load {load()}."
    )

"""2. Reconnect storm and 6. server footprint.

500 phones (10 warehouses × 50) come back online at once, each with 40 queued mutations: 20 new
incidents, 12 patches of its own earlier records and 8 (a fifth) on records every phone of the
warehouse touches: notes appended to shared incidents and, for KPU staff, stock movements
(counter deltas) on the shared stock levels. A tenth of the phones "lose" the answer to their push
and send the same batch again, as a phone on a flaky link does. Then every phone pulls (limit
500, as the PWA does) until it is caught up.

Each phone is an httpx.AsyncClient with its own connection; at most `CONCURRENCY` phones are
connected at a time. Afterwards the SQLite file is read to verify that every mutation was applied
exactly once: outcomes and audit entries counted, counter sums and note counts compared with what
was pushed, no duplicate records, the audit hash chain intact.

`storm-pg` runs the same storm (same world, built through the same storage calls, same seeds)
against PostgreSQL with **two** `tigapilar serve` processes on two ports sharing one database; the
phones alternate between them. The database is a fresh one created in `$TIGAPILAR_BENCH_POSTGRES_URL`
when set, else in a throwaway cluster (`scripts/postgres start`, removed afterwards), and the same
checks run as SQL on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import ssl
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.context import Context
from bench.env import REPO, RssSampler, fmt_ms, mib, percentile
from bench.report import Section
from bench.server import Server, _command
from bench.world import Phone, bulk_write, incident_fields, incidents, make_world, uuid7
from server.seed import load_stock_items
from server.storage.base import Storage
from server.storage.sqlite import SqliteStorage
from sync import audit
from sync.clock import HybridClock
from sync.domain import Actor
from sync.engine import SyncEngine, stock_level_id
from sync.messages import Mutation, PushResponse

CONCURRENCY = 100
QUEUED = 40
SHARED = 8
OWN_PATCHES = 12
STOCK_START = 1_000

_push = msgspec.json.Decoder(PushResponse).decode


class _Page(msgspec.Struct):
    """What the phone needs of a pull page here (changes left undecoded: the load generator must not
    spend the CPU the server needs on building objects it never looks at)."""

    changes: list[msgspec.Raw]
    cursors: dict[str, int]
    has_more: bool
    reflected_seq: int


_pull = msgspec.json.Decoder(_Page).decode


@dataclass
class StormPhone:
    phone: Phone
    cursor: int
    own: list[tuple[str, int]]
    body: bytes = b""
    mutations: list[Mutation] = field(default_factory=list)
    retries: bool = False
    done: bool = False
    reflected: int = 0
    pulled: int = 0


@dataclass
class Tally:
    push: list[float] = field(default_factory=list)
    pull: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    replayed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


async def prepare(storage: Storage, ctx: Context) -> tuple[list[StormPhone], dict[str, Any]]:
    warehouses = ctx.size(10, 4)
    per = ctx.size(50, 25)
    wids, phones = await make_world(
        storage,
        warehouses=warehouses,
        phones_per_warehouse=per,
        agencies=("POLRI", "TNI", "SATPOL_PP", "KPU"),
        offline_for=timedelta(hours=6),
    )
    # Shared records: a supervisor sets up stock levels and reports incidents in each warehouse.
    supervisor = Actor(
        user_id="sup-bench", username="sup", role="supervisor", agency="KPU", warehouses=frozenset(wids)
    )
    engine = SyncEngine(storage, HybridClock("server"))
    items = [i.code for i in load_stock_items()][:3]
    clock = HybridClock("seed-sup-bench")
    mutations = []
    shared: dict[str, dict[str, list[str]]] = {}
    seq = 0
    for wid in wids:
        shared[wid] = {"levels": [], "incidents": []}
        for item in items:
            seq += 1
            rid = stock_level_id(wid, item)
            shared[wid]["levels"].append(rid)
            mutations.append(
                Mutation(seq=seq, id=rid, collection="stock_levels", op="create", warehouse_id=wid,
                         fields={"item_type": item, "expected": {"delta": STOCK_START}}, hlc=clock.now())
            )  # fmt: skip
        for k in range(5):
            seq += 1
            rid = f"shared-{wid}-{k}"
            shared[wid]["incidents"].append(rid)
            mutations.append(
                Mutation(seq=seq, id=rid, collection="incidents", op="create", warehouse_id=wid,
                         fields=incident_fields(random.Random(k), k), hlc=clock.now())
            )  # fmt: skip
    from sync.messages import PushRequest

    done = await engine.push(
        supervisor, PushRequest(protocol=1, client_id="seed-sup-bench", schema_version=2, mutations=mutations)
    )
    assert all(r.status == "applied" for r in done.results), done.results[:3]
    seen = {r.id: r.revision or 0 for r in done.results}  # what the phones last saw of the shared records
    # Every phone's own earlier records (already synced before it went offline).
    own: dict[str, list[tuple[str, int]]] = {p.client_id: [] for p in phones}
    records = []
    for i, p in enumerate(phones):
        for r in incidents(p.warehouses, OWN_PATCHES, user_id=p.user.id, seed=1000 + i, agency=p.user.agency):
            records.append((p.client_id, r))
    await bulk_write(storage, (r for _, r in records))
    for client_id, r in records:
        own[client_id].append((r.id, r.revision))
    # Revisions are counted per warehouse: each phone is caught up with its own.
    cursors = await storage.live_cursors(sorted({w for p in phones for w in p.warehouses}))
    cursor = max(cursors.values(), default=0)
    return [StormPhone(phone=p, cursor=cursors[p.warehouses[0]], own=own[p.client_id]) for p in phones], {
        "wids": wids,
        "shared": shared,
        "cursor": cursor,
        "seen": seen,
    }


def queue(sp: StormPhone, shared: dict[str, list[str]], seen: dict[str, int], rng: random.Random,
          deltas: Counter[str], notes: Counter[str]) -> None:  # fmt: skip
    """The phone's 40 offline edits, in the order it made them."""
    p = sp.phone
    wid = p.warehouses[0]
    kpu = p.user.agency == "KPU"
    plan = ["create"] * (QUEUED - SHARED - OWN_PATCHES) + ["patch"] * OWN_PATCHES + ["shared"] * SHARED
    rng.shuffle(plan)
    own = iter(sp.own)
    for k, kind in enumerate(plan):
        if kind == "create":
            m = p.mutation("create", uuid7(rng, 1_766_000_000_000 + k), warehouse_id=wid,
                           fields=incident_fields(rng, k))  # fmt: skip
        elif kind == "patch":
            rid, rev = next(own)
            m = p.mutation("patch", rid, base_rev=rev, fields={"action_taken": f"Ditindaklanjuti {k}"})
        elif kpu and k % 2 == 0:
            rid = rng.choice(shared["levels"])
            delta = rng.randint(-5, 5) or 1
            deltas[rid] += delta
            move = {"id": f"mv-{p.client_id}-{k}", "delta": delta, "note": "pindah rak"}
            m = p.mutation("patch", rid, collection="stock_levels", base_rev=seen[rid],
                           fields={"expected": {"delta": delta}, "movements": [move]})  # fmt: skip
        else:
            rid = rng.choice(shared["incidents"])
            notes[rid] += 1
            note = {"id": f"n-{p.client_id}-{k}", "text": f"Dicek ulang oleh {p.user.username}"}
            m = p.mutation("patch", rid, base_rev=seen[rid], fields={"notes": [note]})
        sp.mutations.append(m)
    sp.body = msgspec.json.encode(p.push(sp.mutations))


_TLS = ssl.create_default_context()
"""Never used (the servers speak plain HTTP on loopback), but httpx builds a TLS context for every
client it creates unless given one: ~20 ms of the load generator's CPU per phone."""


async def one_phone(sp: StormPhone, url: str, tally: Tally, gate: asyncio.Semaphore) -> None:
    """The phone's own connection (as a phone has), opened when it gets through the gate."""
    p = sp.phone
    async with gate, httpx.AsyncClient(base_url=url, timeout=120, verify=_TLS) as c:
        try:
            for attempt in range(2 if sp.retries else 1):
                t0 = time.perf_counter()
                r = await c.post("/api/sync/push", content=sp.body, headers=p.headers)
                content = r.content
                tally.push.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    tally.errors[f"push {r.status_code}"] += 1
                    return
                answer = _push(content)
                if attempt == 0:
                    tally.statuses.update(x.status for x in answer.results)
                else:
                    tally.replayed += sum(x.replayed for x in answer.results)
            cursors = {p.warehouses[0]: sp.cursor}
            while True:
                body = msgspec.json.encode(p.pull(cursors, limit=500, acked=sp.reflected))
                t0 = time.perf_counter()
                r = await c.post("/api/sync/pull", content=body, headers=p.headers)
                content = r.content
                tally.pull.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    tally.errors[f"pull {r.status_code}"] += 1
                    return
                page = _pull(content)
                sp.pulled += len(page.changes)
                sp.reflected = page.reflected_seq
                cursors = page.cursors
                if not page.has_more:
                    break
            sp.cursor = cursors[p.warehouses[0]]
            sp.done = True
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1


class _Sql:
    """The verification's queries on either backend: `{ids}` is "client_id/device in the phones'
    ids" (one bound parameter), `{p}` one bound scalar parameter."""

    def __init__(self, conn: Any, *, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    async def rows(self, sql: str, arg: Any = None) -> list[tuple[Any, ...]]:
        if self.postgres:
            sql = sql.format(ids="= ANY($1::text[])", p="$1")
            return [tuple(r) for r in await self.conn.fetch(sql, *([] if arg is None else [arg]))]
        sql = sql.format(ids="IN (SELECT value FROM json_each(?))", p="?")
        if isinstance(arg, list):
            arg = msgspec.json.encode(arg).decode()  # bound as one JSON array
        return [tuple(r) for r in self.conn.execute(sql, () if arg is None else (arg,)).fetchall()]

    async def one(self, sql: str, arg: Any = None) -> tuple[Any, ...]:
        return (await self.rows(sql, arg))[0]


async def verify(db: _Sql, phones: list[StormPhone], facts: dict[str, Any], deltas: Counter[str],
                 notes: Counter[str], section: Section) -> None:  # fmt: skip
    ids = [sp.phone.client_id for sp in phones]
    n_out, n_distinct, bad = await db.one(
        "SELECT count(*), count(DISTINCT client_id || ':' || seq),"
        " count(*) FILTER (WHERE status <> 'applied') FROM outcomes WHERE client_id {ids}",
        ids,
    )
    expected = len(phones) * QUEUED
    section.check(
        f"outcomes: {n_out:,} stored for {expected:,} mutations, all distinct",
        n_out == expected and n_distinct == expected,
    )
    section.check(f"every mutation applied (not applied: {bad or 0})", not bad)
    last = dict(await db.rows("SELECT client_id, last_seq FROM client_state WHERE client_id {ids}", ids))
    want = {sp.phone.client_id: sp.phone.seq for sp in phones}
    section.check("every phone's last_seq on the server is its last mutation number", last == want)
    (n_audit,) = await db.one("SELECT count(*) FROM audit_log WHERE kind = 'mutation' AND device {ids}", ids)
    section.check(f"audit: {n_audit:,} mutation entries (one per mutation, replays add none)",
                  n_audit == expected)  # fmt: skip
    rows = await db.rows("SELECT chain, id, content, prev_hash, hash FROM audit_log ORDER BY chain, id")
    chains: dict[str, list[tuple[int, bytes, str, str]]] = {}
    for name, i, c, p, h in rows:
        chains.setdefault(name, []).append((i, bytes(c), p, h))
    section.check(f"audit hash chains intact ({len(chains)} chains, {len(rows):,} entries)",
                  all(audit.verify(entries, name) is None for name, entries in chains.items()))  # fmt: skip
    creates = sum(1 for sp in phones for m in sp.mutations if m.op == "create")
    found = await db.one(
        "SELECT count(*), count(DISTINCT id) FROM records WHERE id IN (SELECT record_id FROM outcomes"
        " WHERE op = 'create' AND client_id {ids})",
        ids,
    )
    section.check(f"records: {found[0]:,} new records for {creates:,} creates, no duplicates",
                  found[0] == creates == found[1])  # fmt: skip
    wrong = []
    for wid in facts["wids"]:
        for rid in facts["shared"][wid]["levels"]:
            (raw,) = await db.one("SELECT fields FROM records WHERE id = {p}", rid)
            fields = msgspec.json.decode(raw)
            if fields["expected"] != STOCK_START + deltas[rid] or len(fields.get("movements", [])) != sum(
                1 for sp in phones for m in sp.mutations if m.id == rid
            ):
                wrong.append(rid)
        for rid in facts["shared"][wid]["incidents"]:
            (raw,) = await db.one("SELECT fields FROM records WHERE id = {p}", rid)
            if len(msgspec.json.decode(raw).get("notes", [])) != notes[rid]:
                wrong.append(rid)
    moves = sum(1 for sp in phones for m in sp.mutations if m.collection == "stock_levels")
    section.check(
        f"shared records: counter sums and movement/note counts exact on all {len(facts['wids']) * 8} "
        f"({moves:,} stock movements, {sum(notes.values()):,} notes)",
        not wrong,
    )
    own_top = dict(
        await db.rows(
            "SELECT client_id, max(revision) FROM outcomes WHERE client_id {ids} GROUP BY client_id", ids
        )
    )
    behind = [
        sp
        for sp in phones
        if sp.reflected != sp.phone.seq or sp.cursor < (own_top.get(sp.phone.client_id) or 0)
    ]
    section.check(
        f"every phone's pull reflects all its {QUEUED} mutations (reflected_seq, cursor past its own "
        f"changes; behind: {len(behind)})",
        not behind,
    )


TARGET_DRAIN_S = 4.0
"""Issue 19: the storm drains in at most this long, with push p99 at most TARGET_PUSH_P99_S."""
TARGET_PUSH_P99_S = 1.0

HEADERS = ["phones", "mutations", "concurrent", "drain time", "requests", "push p50 / p95 / p99",
           "pull p50 / p95 / p99", "errors"]  # fmt: skip


@dataclass
class Outcome:
    drain: float
    tally: Tally
    cpu: float
    peaks: list[int]
    row: list[str] = field(default_factory=list)


async def setup(
    storage: Storage, ctx: Context
) -> tuple[list[StormPhone], dict[str, Any], Counter[str], Counter[str]]:
    """The world and every phone's queued batch: identical on both backends (same seeds, same calls)."""
    phones, facts = await prepare(storage, ctx)
    rng = random.Random(5)
    deltas: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for i, sp in enumerate(phones):
        queue(sp, facts["shared"][sp.phone.warehouses[0]], facts["seen"], rng, deltas, notes)
        sp.retries = i % 10 == 3
    ctx.log(f"storm: {len(phones)} phones ready, {len(phones) * QUEUED:,} queued mutations")
    return phones, facts, deltas, notes


async def storm(phones: list[StormPhone], servers: list[Server]) -> Outcome:
    """Every phone at once (at most CONCURRENCY connected in all), phone i on server i mod n."""
    tally = Tally()
    gate = asyncio.Semaphore(CONCURRENCY)
    cpu = sum(s.cpu_seconds() for s in servers)
    samplers = [RssSampler(s.pid) for s in servers]
    for r in samplers:
        r.__enter__()
    try:
        t0 = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(
                *(one_phone(sp, servers[i % len(servers)].url, tally, gate) for i, sp in enumerate(phones))
            ),
            timeout=540,
        )
        drain = time.perf_counter() - t0
    finally:
        for r in samplers:
            r.__exit__()
    cpu = sum(s.cpu_seconds() for s in servers) - cpu
    out = Outcome(drain=drain, tally=tally, cpu=cpu, peaks=[r.peak for r in samplers])
    errors = sum(tally.errors.values()) + sum(1 for sp in phones if not sp.done)
    lat = lambda v: " / ".join(fmt_ms(percentile(v, q)) for q in (50, 95, 99))  # noqa: E731
    out.row = [str(c) for c in (
        len(phones), f"{len(phones) * QUEUED:,}", CONCURRENCY, f"{drain:.1f} s",
        f"{len(tally.push) + len(tally.pull):,}", lat(tally.push), lat(tally.pull), errors,
    )]  # fmt: skip
    return out


def judge(out: Outcome, phones: list[StormPhone], section: Section, servers: str) -> None:
    errors = sum(out.tally.errors.values()) + sum(1 for sp in phones if not sp.done)
    section.check(f"zero errors ({dict(out.tally.errors) or 'none'})", errors == 0)
    section.check(f"drain ≤ {TARGET_DRAIN_S:.0f} s ({out.drain:.1f} s)", out.drain <= TARGET_DRAIN_S)
    p99 = percentile(out.tally.push, 99)
    section.check(f"push p99 ≤ {TARGET_PUSH_P99_S:.0f} s ({fmt_ms(p99)})", p99 <= TARGET_PUSH_P99_S)
    retried = sum(1 for sp in phones if sp.retries)
    section.check(f"{retried} phones re-sent their whole batch: all {retried * QUEUED:,} answered `replayed`",
                  out.tally.replayed == retried * QUEUED)  # fmt: skip
    pulled = sum(sp.pulled for sp in phones)
    section.notes.append(
        f"throughput {len(phones) * QUEUED / out.drain:,.0f} mutations/s while serving the pulls; "
        f"{len(out.tally.push):,} pushes, {len(out.tally.pull):,} pull pages carrying {pulled:,} changes; "
        f"{servers} CPU {out.cpu:.1f} s over the {out.drain:.1f} s drain ({out.cpu / out.drain:.0%} of one "
        "core; the load generator shares the machine's 2 cores)."
    )


async def run(ctx: Context) -> list[Section]:
    section = Section("storm", "2. Reconnect storm", HEADERS)
    foot = Section(
        "footprint", "6. Server footprint (RSS of the `tigapilar serve` process)", ["state", "RSS"]
    )
    work = ctx.dir("storm")
    db = work / "storm.db"
    storage = SqliteStorage(db)
    await storage.open()
    phones, facts, deltas, notes = await setup(storage, ctx)
    await storage.close()

    with Server(db, log=work / "server.log") as server:
        await asyncio.sleep(0.5)
        idle = server.rss()
        out = await storm(phones, [server])
        await asyncio.sleep(1.0)
        after = server.rss()
    ctx.log(f"storm: drained in {out.drain:.1f}s")

    section.add(*out.row)
    ctx.results["storm"] = out.row
    judge(out, phones, section, "server")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        await verify(_Sql(conn, postgres=False), phones, facts, deltas, notes, section)
    finally:
        conn.close()
    foot.add("idle, after start-up", mib(idle))
    foot.add(f"peak during the storm ({CONCURRENCY} connections)", mib(out.peaks[0]))
    foot.add("idle again, 1 s after the storm", mib(after))
    return [section, foot]


# ----------------------------------------------------------------------------- PostgreSQL

PG_SERVERS = 2


def postgres_available() -> bool:
    """A URL was given, or the throwaway cluster's server binaries can be found (as scripts/postgres
    looks for them)."""
    if os.environ.get("TIGAPILAR_BENCH_POSTGRES_URL") or os.environ.get("TIGAPILAR_PG_BIN"):
        return True
    return bool(shutil.which("pg_config") or any(Path("/usr/lib/postgresql").glob("*/bin/initdb")))


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


async def run_pg(ctx: Context) -> Section:
    section = Section(
        "storm-pg",
        f"2b. Reconnect storm: SQLite (1 process) beside PostgreSQL ({PG_SERVERS} processes, one database)",
        ["backend", *HEADERS],
    )
    if not postgres_available():
        section.notes.append("skipped: no $TIGAPILAR_BENCH_POSTGRES_URL and no PostgreSQL server binaries")
        return section
    import asyncpg

    from server.storage.postgres import PostgresStorage

    work = ctx.dir("storm-pg")
    servers: list[Server] = []
    try:
        async with postgres_database(ctx, work, "storm-pg") as (url, cluster):
            storage = PostgresStorage(url, data_dir=work / "data")
            await storage.open()
            try:
                t0 = time.perf_counter()
                phones, facts, deltas, notes = await setup(storage, ctx)
                ctx.log(f"storm-pg: world built in {time.perf_counter() - t0:.1f}s")
            finally:
                await storage.close()
            for k in range(PG_SERVERS):  # one after the other: both migrate/seed reference data at start
                server = Server(url, log=work / f"server{k}.log", data_dir=work / "data")
                servers.append(server)
                server.start()
            await asyncio.sleep(0.5)
            out = await storm(phones, servers)
            ctx.log(f"storm-pg: drained in {out.drain:.1f}s")
            for server in servers:
                server.stop()
            if "storm" in ctx.results:
                section.add("SQLite, 1 process", *ctx.results["storm"])
            section.add(f"PostgreSQL, {PG_SERVERS} processes", *out.row)
            judge(out, phones, section, f"servers' ({PG_SERVERS} processes)")
            conn = await asyncpg.connect(url)
            try:
                await verify(_Sql(conn, postgres=True), phones, facts, deltas, notes, section)
                version = await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()
            section.notes.append(
                f"PostgreSQL {version}{' (throwaway loopback cluster: fsync off)' if cluster else ''}; "
                f"phone i talks to server i mod {PG_SERVERS}; the CPU above is the two `tigapilar serve` "
                "processes only (PostgreSQL's own backends not counted); server RSS peaks "
                + " / ".join(mib(p) for p in out.peaks)
                + "."
            )
    finally:
        for server in servers:
            server.stop()
    return section


@asynccontextmanager
async def postgres_database(ctx: Context, work: Path, label: str) -> AsyncIterator[tuple[str, bool]]:
    """A fresh, migrated database in $TIGAPILAR_BENCH_POSTGRES_URL's server, else in a throwaway
    cluster of our own: (its URL, whether the cluster is a throwaway); dropped (or the cluster
    stopped) afterwards."""
    import asyncpg

    given = os.environ.get("TIGAPILAR_BENCH_POSTGRES_URL") or None  # empty counts as unset
    # Our own cluster directory (never the default one another run or test may be using).
    pg_env = {
        **os.environ,
        "TIGAPILAR_PG_DIR": f"/tmp/tigapilar-bench-pg-{os.getpid()}-{uuid.uuid4().hex[:6]}",
    }
    script = str(REPO / "scripts" / "postgres")
    cluster = False
    admin_url = given
    name = f"tigapilar_bench_{uuid.uuid4().hex[:8]}"
    created = False
    try:
        if admin_url is None:
            t0 = time.perf_counter()
            cluster = True
            admin_url = (
                subprocess.run(
                    [script, "start"], env=pg_env, check=True, capture_output=True, text=True, timeout=120
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            ctx.log(f"{label}: throwaway cluster up in {time.perf_counter() - t0:.1f}s")
        # A fresh database for this run, so the world's fixed ids and usernames never collide.
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
            created = True
        finally:
            await conn.close()
        url = _with_database(admin_url, name)
        subprocess.run(
            [*_command(), "migrate", "--database", url], check=True, capture_output=True, timeout=120,
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "TIGAPILAR_DATA_DIR": str(work / "data")},
        )  # fmt: skip
        yield url, cluster
    finally:
        if created and admin_url and not cluster:
            conn = await asyncpg.connect(admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()
        if cluster:
            subprocess.run([script, "stop"], env=pg_env, check=False, timeout=120)

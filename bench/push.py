"""1. Push apply throughput.

The same pushes (batches of 1, 50 and 1,000 mutations; fresh records and patches of existing ones)
run three times, each on its own copy of the same starting database file (WAL, synchronous=FULL):

full path    a real `tigapilar serve` subprocess, driven with httpx over loopback: HTTP request →
             msgspec decode → auth → engine merge → SQLite write → audit append → JSON response;
engine only  SyncEngine + SqliteStorage in this process, no HTTP (requests already decoded);
raw SQLite   the rows the engine wrote (records, outcomes, audit, client state, digests, revision),
             captured from its commits and rewritten with executemany in one transaction per batch:
             the durable-write floor, no merge, no HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from bench.context import Context
from bench.env import fmt_ms, fmt_rate, median
from bench.report import Section
from bench.server import Server
from bench.world import (
    Phone,
    bulk_write,
    copy_db,
    incident_fields,
    incidents,
    make_world,
    patch_fields,
    uuid7,
)
from server.storage.rows import STATE_COLUMNS, Held, held_from_row
from server.storage.sqlite import SqliteStorage
from server.storage.sqlite.storage import WAL_SAFETY_PAGES
from server.storage.sqlite.sync_tx import commit_statements
from sync.clock import HybridClock
from sync.engine import SyncEngine
from sync.messages import PushRequest, PushResponse
from sync.store import BatchEffects

CONCURRENT = 4
"""Phones pushing 1,000-mutation batches at the same time in the concurrency row."""
TARGET_RATIO = 0.5
"""Full path / raw durable floor in 1,000-mutation batches, creates and patches (issue 19)."""
TARGET_CONCURRENT_RATIO = 0.7
"""Full path / floor with CONCURRENT phones pushing 1,000-mutation batches at once (issue 19)."""

_push_response = msgspec.json.Decoder(PushResponse).decode


@dataclass
class Scenario:
    kind: str  # "create" | "patch"
    batch: int
    phone: Phone
    requests: list[PushRequest] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    engine: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    effects: list[BatchEffects] = field(default_factory=list)
    cpu: float = 0.0
    """Server process CPU seconds spent on this scenario's pushes over HTTP."""

    @property
    def label(self) -> str:
        return f"{'create' if self.kind == 'create' else 'patch'} × {self.batch:,}"


class CapturingStore:
    """The storage, with every BatchEffects handed to commit() kept for the raw baseline."""

    def __init__(self, store: SqliteStorage) -> None:
        self.store = store
        self.effects: list[BatchEffects] = []

    def read(self) -> Any:
        return self.store.read()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Any]:
        async with self.store.write() as tx:
            commit = tx.commit

            async def capture(effects: BatchEffects) -> None:
                self.effects.append(effects)
                await commit(effects)

            tx.commit = capture  # type: ignore[method-assign]
            yield tx


def effect_rows(
    effects: BatchEffects, held: dict[str, Held]
) -> tuple[list[tuple[str, list[tuple[Any, ...]]]], dict[str, Held]]:
    """Every statement and its rows, exactly as SqliteWriteTx.commit writes them after the state
    `held` of the warehouses and chains (warehouse_state), and that state after them (revisions
    and audit ids follow it: batches chain on)."""
    statements, heads = commit_statements(effects, held)
    after = dict(held)
    for w in effects.revisions.keys() | heads.keys():
        was = held.get(w, Held())
        after[w] = Held(max(was.revision, effects.revisions.get(w, 0)), was.horizon, heads.get(w, was.head))
    return statements, after


def build(ctx: Context, phones: list[Phone], targets: list[tuple[str, int]]) -> list[Scenario]:
    rng = random.Random(7)
    reps = {1: ctx.size(300, 30), 50: ctx.size(40, 4), 1000: ctx.size(20, 2)}
    scenarios = []
    it = iter(phones)
    cursor = 0
    n = 0
    for kind in ("create", "patch"):
        for batch in (1, 50, 1000):
            sc = Scenario(kind=kind, batch=batch, phone=next(it))
            wid = sc.phone.warehouses[0]
            for _ in range(reps[batch]):
                ms = []
                for _ in range(batch):
                    n += 1
                    if kind == "create":
                        ms.append(
                            sc.phone.mutation(
                                "create",
                                uuid7(rng, 1_765_000_000_000 + n),
                                warehouse_id=wid,
                                fields=incident_fields(rng, n),
                            )
                        )
                    else:
                        rid, rev = targets[cursor]
                        cursor += 1
                        ms.append(sc.phone.mutation("patch", rid, base_rev=rev, fields=patch_fields(rng, n)))
                sc.requests.append(sc.phone.push(ms))
            sc.bodies = [msgspec.json.encode(r) for r in sc.requests]
            scenarios.append(sc)
    return scenarios


def patch_targets_needed(ctx: Context) -> int:
    return ctx.size(300, 30) * 1 + ctx.size(40, 4) * 50 + ctx.size(20, 2) * 1000


async def run(ctx: Context) -> Section:
    section = Section(
        "push",
        "1. Push apply throughput (mutations/s, median over batches)",
        [
            "pushes",
            "batch",
            "full path (HTTP)",
            "engine only",
            "raw SQLite",
            "full / raw",
            "engine / raw",
            "p50 HTTP request",
            "server CPU / mutation",
        ],
    )
    work = ctx.dir("push")
    base = work / "base.db"
    storage = SqliteStorage(base)
    await storage.open()
    wids, phones = await make_world(storage, warehouses=1, phones_per_warehouse=8 + CONCURRENT, prefix="p")
    records = list(incidents(wids, patch_targets_needed(ctx), user_id=phones[0].user.id, seed=1))
    await bulk_write(storage, records)
    targets = [(r.id, r.revision) for r in records]
    await storage.close()
    warm_phone = phones[7]
    warm = [
        warm_phone.push(
            [
                warm_phone.mutation(
                    "create", f"warm-{i}", warehouse_id=wids[0], fields=incident_fields(random.Random(i), i)
                )
            ]
        )
        for i in range(20)
    ]
    scenarios = build(ctx, phones[:6], targets)
    rng = random.Random(8)
    together = [
        msgspec.json.encode(
            p.push([p.mutation("create", uuid7(rng, 1_768_000_000_000 + k), warehouse_id=wids[0],
                               fields=incident_fields(rng, k)) for k in range(1000)])
        )
        for p in phones[8:] for _ in range(ctx.size(3, 1))
    ]  # fmt: skip
    ctx.log(f"push: world ready ({len(targets):,} records to patch)")

    # -- engine only --------------------------------------------------------------------------
    storage = SqliteStorage(copy_db(base, work / "engine.db"))
    await storage.open()
    capturing = CapturingStore(storage)
    engine = SyncEngine(capturing, HybridClock("server"))  # type: ignore[arg-type]
    for request in warm:
        await engine.push(warm_phone.actor, request)
    # This process holds every request of the section: keep the collector off those long-lived
    # objects, as a server's heap would not hold them (without it, gen-2 collections walking them
    # make the engine look slower here than behind HTTP).
    gc.collect()
    gc.freeze()
    for sc in scenarios:
        capturing.effects = []
        actor = sc.phone.actor
        for request in sc.requests:
            t0 = time.perf_counter()
            response = await engine.push(actor, request)
            sc.engine.append(time.perf_counter() - t0)
            _check(response, sc)
        sc.effects = capturing.effects
    gc.unfreeze()
    await storage.close()
    ctx.log("push: engine-only done")

    # -- raw SQLite -----------------------------------------------------------------------------
    conn = sqlite3.connect(copy_db(base, work / "raw.db"), isolation_level=None)
    # The server's writer settings: its checkpoints run on another connection (a background task),
    # so neither side pays for one inside a measured commit.
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "temp_store = MEMORY",
                   f"wal_autocheckpoint = {WAL_SAFETY_PAGES}"):  # fmt: skip
        conn.execute(f"PRAGMA {pragma}")
    held = dict(held_from_row(row) for row in conn.execute(f"SELECT {STATE_COLUMNS} FROM warehouse_state"))
    for sc in scenarios:
        batches = []
        for e in sc.effects:
            statements, held = effect_rows(e, held)
            batches.append(statements)
        for statements in batches:
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            for sql, rows in statements:
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
            sc.raw.append(time.perf_counter() - t0)
    conn.close()
    ctx.log("push: raw SQLite done")

    # -- full path over HTTP ------------------------------------------------------------------
    with (
        Server(copy_db(base, work / "http.db"), log=work / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for request in warm:
            r = client.post(
                "/api/sync/push", content=msgspec.json.encode(request), headers=warm_phone.headers
            )
            r.raise_for_status()
        cpu = server.cpu_seconds()
        for sc in scenarios:
            for body in sc.bodies:
                t0 = time.perf_counter()
                r = client.post("/api/sync/push", content=body, headers=sc.phone.headers)
                content = r.content
                sc.http.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"push failed: {r.status_code} {content[:300]!r}")
                _check(_push_response(content), sc)
            sc.cpu = server.cpu_seconds() - cpu
            cpu = server.cpu_seconds()
        t0 = time.perf_counter()
        done = await concurrent_pushes(server.url, phones[8:], together)
        together_s = time.perf_counter() - t0
    ctx.log("push: full path done")

    for sc in scenarios:
        full, eng, raw = (sc.batch / median(x) for x in (sc.http, sc.engine, sc.raw))
        section.add(
            sc.label.split(" ×")[0] + f" ×{len(sc.requests)}",
            f"{sc.batch:,}",
            fmt_rate(full),
            fmt_rate(eng),
            fmt_rate(raw),
            f"{full / raw:.2f}",
            f"{eng / raw:.2f}",
            fmt_ms(median(sc.http)),
            f"{sc.cpu / (sc.batch * len(sc.requests)) * 1e6:,.0f} µs",
        )
    # Against the same floor as one phone's 1,000-mutation creates: group commit lets several
    # phones share one transaction and one fsync, which the floor pays per batch.
    floor = next(
        sc.batch / median(sc.raw) for sc in scenarios if sc.batch == 1000 and sc.label.startswith("create")
    )
    section.add(
        f"create, {CONCURRENT} phones at once ×{len(together) // CONCURRENT}", "1,000",
        fmt_rate(done / together_s), "–", fmt_rate(floor), f"{done / together_s / floor:.2f}", "–", "–", "–",
    )  # fmt: skip
    for sc in (sc for sc in scenarios if sc.batch == 1000):
        ratio = median(sc.raw) / median(sc.http)
        section.check(  # in --quick too: few batches, but the order of magnitude is what matters
            f"≥ {TARGET_RATIO} × the raw durable floor through the full path, {sc.label.split(' ×')[0]} "
            f"in 1,000-mutation batches ({ratio:.2f})",
            ratio >= TARGET_RATIO,
        )
    together_ratio = done / together_s / floor
    section.check(
        f"≥ {TARGET_CONCURRENT_RATIO} × the floor with {CONCURRENT} phones pushing 1,000-mutation batches "
        f"at once ({together_ratio:.2f})",
        together_ratio >= TARGET_CONCURRENT_RATIO,
    )
    section.notes.append(
        "full path = `tigapilar serve` subprocess + httpx on loopback (request bodies pre-encoded, response "
        "decoded); engine only = SyncEngine + SqliteStorage in-process; raw = the same rows with executemany "
        "in one BEGIN IMMEDIATE … COMMIT per batch. All three on copies of one database file, WAL, "
        "synchronous=FULL (one fsync per push; pushes that wait for the writer together share one: "
        "group commit). The 4-phone row is against the floor of the creates."
    )
    return section


async def concurrent_pushes(url: str, phones: list[Phone], bodies: list[bytes]) -> int:
    """Each phone pushes its batches in turn, all phones at the same time; returns mutations applied."""

    async def one(client: httpx.AsyncClient, phone: Phone, mine: list[bytes]) -> int:
        n = 0
        for body in mine:
            r = await client.post("/api/sync/push", content=body, headers=phone.headers)
            if r.status_code != 200:
                raise RuntimeError(f"push failed: {r.status_code} {r.text[:300]}")
            n += sum(1 for x in _push_response(r.content).results if x.status == "applied")
        return n

    async def all_of_them() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            per = len(bodies) // len(phones)
            counts = await asyncio.gather(
                *(one(client, p, bodies[i * per : (i + 1) * per]) for i, p in enumerate(phones))
            )
        return sum(counts)

    return await all_of_them()


def _check(response: PushResponse, sc: Scenario) -> None:
    bad = [r for r in response.results if r.status != "applied"]
    if bad:
        raise RuntimeError(f"{sc.label}: unexpected outcome {bad[0]}")

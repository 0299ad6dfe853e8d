"""9. Where a 1,000-mutation push's time goes, by layer, and its bytes per mutation.

The same 1,000-mutation creates, first through SyncEngine + SqliteStorage in this process with
each layer timed where it runs (wrappers around the functions the storage calls on its writer
thread, and around the row building), then through `tigapilar serve` over HTTP on a copy of the
same starting database. Layers, per mutation (medians over pushes, wall time: one push at a time,
so the layers run one after another):

decode        the request body to a PushRequest (msgspec, as the controller's DTO does)
engine        the engine's Python (checks, merge, outcomes, audit entries) and the round trips'
              waits: the push's wall time minus the layers below
reads         the push's one read round trip (prefetch: records, states, digests) on the thread
row encode    BatchEffects to rows (server/storage/sqlite/sync_tx.py commit_statements)
SQL writes    the rows' executemany on the writer thread
COMMIT        the COMMIT (WAL append and fsync)
answer        the PushResponse encoded to JSON
HTTP          the full path's wall time minus all of the above: the HTTP stack, Litestar, auth,
              the client's side of loopback

Bytes: what the pushes added to the records, outcomes and audit_log rows (sum of the columns'
lengths, not pages), and of that the audit entry's `detail` column where it still exists (before
migration 0008 it repeated the `detail` inside the hashed `content`).
"""

from __future__ import annotations

import gc
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from bench.context import Context
from bench.env import median
from bench.report import Section
from bench.server import Server
from bench.world import copy_db, incident_fields, make_world, uuid7
from server.storage.sqlite import SqliteStorage, sync_tx
from server.storage.sqlite import storage as storage_mod
from sync.clock import HybridClock
from sync.engine import SyncEngine
from sync.messages import PushRequest

PUSHES = 10
BATCH = 1000
LAYERS = ("HTTP", "decode", "engine", "reads", "row encode", "SQL writes", "COMMIT", "answer")


def _timed(into: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - t0

    return run


def _bytes(db: sqlite3.Connection) -> dict[str, int]:
    one = lambda sql: int(db.execute(sql).fetchone()[0] or 0)  # noqa: E731
    # Before migration 0008 the detail had a column of its own (measured by running older code).
    copy = any(row[1] == "detail" for row in db.execute("PRAGMA table_info(audit_log)"))
    detail = "length(detail)" if copy else "0"
    return {
        "records": one(
            "SELECT sum(length(id) + length(fields) + length(field_revs) + length(field_hlcs)"
            " + length(field_by) + length(created_by) + length(updated_by) + length(created_at)"
            " + length(updated_at) + 24) FROM records"
        ),
        "outcomes": one(
            "SELECT sum(length(client_id) + length(record_id) + length(result) + length(mutation) + 40)"
            " FROM outcomes"
        ),
        "audit": one(
            "SELECT sum(length(at) + length(kind) + length(actor_id) + length(actor_agency) + length(device)"
            f" + coalesce(length(warehouse_id), 0) + length(subject) + {detail} + length(content)"
            " + length(prev_hash) + length(hash) + 8) FROM audit_log"
        ),
        "detail": one(f"SELECT sum({detail}) FROM audit_log"),
    }


async def run(ctx: Context) -> Section:
    section = Section(
        "layers",
        "9. A 1,000-mutation push by layer (creates, µs per mutation, wall) and its bytes per mutation",
        ["layer", "µs / mutation", "share"],
    )
    pushes = ctx.size(PUSHES, 2)
    work = ctx.dir("layers")
    base = work / "base.db"
    storage = SqliteStorage(base)
    await storage.open()
    wids, phones = await make_world(storage, warehouses=1, phones_per_warehouse=1, prefix="l")
    await storage.close()
    phone, rng = phones[0], random.Random(9)
    bodies = []
    for p in range(pushes + 1):
        ms = [
            phone.mutation(
                "create", uuid7(rng, 1_769_000_000_000 + p * BATCH + k), warehouse_id=wids[0],
                fields=incident_fields(rng, k),
            )
            for k in range(BATCH)
        ]  # fmt: skip
        bodies.append(msgspec.json.encode(phone.push(ms)))
    decode = msgspec.json.Decoder(PushRequest).decode
    encode = msgspec.json.Encoder().encode

    # -- in process, each layer timed --------------------------------------------------------------
    storage = SqliteStorage(copy_db(base, work / "engine.db"))
    await storage.open()
    engine = SyncEngine(storage, HybridClock("server"))
    per: dict[str, list[float]] = {name: [] for name in LAYERS if name != "HTTP"}
    totals: list[float] = []
    spent: dict[str, float] = {}
    real = (sync_tx._prefetch, sync_tx.commit_statements, sync_tx._execute_all, sync_tx.commit)
    sync_tx._prefetch = _timed(spent, "reads", real[0])
    sync_tx.commit_statements = _timed(spent, "row encode", real[1])
    sync_tx._execute_all = _timed(spent, "SQL writes", real[2])
    storage_mod.commit = sync_tx.commit = _timed(spent, "COMMIT", real[3])
    gc.collect()
    try:
        for p, body in enumerate(bodies):
            spent.clear()
            t0 = time.perf_counter()
            request = decode(body)
            t1 = time.perf_counter()
            response = await engine.push(phone.actor, request)
            t2 = time.perf_counter()
            encode(response)
            t3 = time.perf_counter()
            if any(r.status != "applied" for r in response.results):
                raise RuntimeError(f"not applied: {response.results[0]}")
            if not p:
                continue  # warm-up
            inner = sum(spent.values())
            for name, value in (
                ("decode", t1 - t0),
                ("engine", t2 - t1 - inner),
                ("answer", t3 - t2),
                *spent.items(),
            ):
                per[name].append(value / BATCH)
            totals.append((t3 - t0) / BATCH)
    finally:
        sync_tx._prefetch, sync_tx.commit_statements, sync_tx._execute_all, sync_tx.commit = real
        storage_mod.commit = real[3]
        await storage.close()
    db = sqlite3.connect(work / "engine.db")
    try:
        size = _bytes(db)
        (mutations,) = db.execute("SELECT count(*) FROM outcomes").fetchone()
    finally:
        db.close()
    ctx.log("layers: in process done")

    # -- the full path ------------------------------------------------------------------------------
    walls: list[float] = []
    with (
        Server(copy_db(base, work / "http.db"), log=work / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        for p, body in enumerate(bodies):
            t0 = time.perf_counter()
            r = client.post("/api/sync/push", content=body, headers=phone.headers)
            wall = time.perf_counter() - t0
            r.raise_for_status()
            if p:
                walls.append(wall / BATCH)
    ctx.log("layers: full path done")

    layer_us = {name: median(values) * 1e6 for name, values in per.items()}
    full_us = median(walls) * 1e6
    layer_us["HTTP"] = max(0.0, full_us - median(totals) * 1e6)
    for name in LAYERS:
        section.add(name, f"{layer_us[name]:,.1f}", f"{layer_us[name] / full_us:.0%}")
    section.add("**full path**", f"{full_us:,.1f}", "100%")
    per_mutation = {k: v / mutations for k, v in size.items()}
    section.notes.append(
        f"bytes per mutation (sum of column lengths over {mutations:,} mutations): records "
        f"{per_mutation['records']:,.0f}, outcomes {per_mutation['outcomes']:,.0f}, audit_log "
        f"{per_mutation['audit']:,.0f}"
        + (
            f", of which the audit entry's `detail` column (a copy of what its hashed `content` holds) "
            f"{per_mutation['detail']:,.0f}; "
            if per_mutation["detail"]
            else " (the entry's `detail` only inside its hashed `content`: migration 0008); "
        )
        + f"together {per_mutation['records'] + per_mutation['outcomes'] + per_mutation['audit']:,.0f}."
    )
    section.notes.append(
        "engine includes the waits of the push's round trips to the writer thread; HTTP is the full "
        "path's median wall time minus the in-process layers' (a subtraction: noisy under load)."
    )
    return section

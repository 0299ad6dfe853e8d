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
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.context import Context
from bench.env import RssSampler, fmt_ms, mib, percentile
from bench.report import Section
from bench.server import Server
from bench.world import Phone, bulk_write, incident_fields, incidents, make_world, uuid7
from server.seed import load_stock_items
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


async def prepare(storage: SqliteStorage, ctx: Context) -> tuple[list[StormPhone], dict[str, Any]]:
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
    async with storage.write() as tx:  # read only: ends without commit
        cursor = await tx.revision()
    return [StormPhone(phone=p, cursor=cursor, own=own[p.client_id]) for p in phones], {
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


async def one_phone(sp: StormPhone, c: httpx.AsyncClient, tally: Tally, gate: asyncio.Semaphore) -> None:
    p = sp.phone
    async with gate:
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


def verify(db: Path, phones: list[StormPhone], facts: dict[str, Any], deltas: Counter[str],
           notes: Counter[str], section: Section) -> None:  # fmt: skip
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        clients = [sp.phone.client_id for sp in phones]
        q = "SELECT value FROM json_each(?)"
        ids = msgspec.json.encode(clients).decode()  # bound as one JSON array
        n_out, n_distinct, bad = conn.execute(
            "SELECT count(*), count(DISTINCT client_id || ':' || seq), sum(status != 'applied')"
            f" FROM outcomes WHERE client_id IN ({q})",
            (ids,),
        ).fetchone()
        expected = len(phones) * QUEUED
        section.check(
            f"outcomes: {n_out:,} stored for {expected:,} mutations, all distinct",
            n_out == expected and n_distinct == expected,
        )
        section.check(f"every mutation applied (not applied: {bad or 0})", not bad)
        last = dict(
            conn.execute(f"SELECT client_id, last_seq FROM client_state WHERE client_id IN ({q})", (ids,))
        )
        want = {sp.phone.client_id: sp.phone.seq for sp in phones}
        section.check("every phone's last_seq on the server is its last mutation number", last == want)
        n_audit = conn.execute(
            f"SELECT count(*) FROM audit_log WHERE kind = 'mutation' AND device IN ({q})", (ids,)
        ).fetchone()[0]
        section.check(f"audit: {n_audit:,} mutation entries (one per mutation, replays add none)",
                      n_audit == expected)  # fmt: skip
        chain = conn.execute("SELECT id, content, prev_hash, hash FROM audit_log ORDER BY id").fetchall()
        section.check(f"audit hash chain intact over {len(chain):,} entries",
                      audit.verify((i, bytes(c), p, h) for i, c, p, h in chain) is None)  # fmt: skip
        creates = sum(1 for sp in phones for m in sp.mutations if m.op == "create")
        found = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM records WHERE id IN (SELECT record_id FROM outcomes"
            f" WHERE op = 'create' AND client_id IN ({q}))",
            (ids,),
        ).fetchone()
        section.check(f"records: {found[0]:,} new records for {creates:,} creates, no duplicates",
                      found[0] == creates == found[1])  # fmt: skip
        wrong = []
        for wid in facts["wids"]:
            for rid in facts["shared"][wid]["levels"]:
                row = conn.execute("SELECT fields FROM records WHERE id = ?", (rid,)).fetchone()
                fields = msgspec.json.decode(row[0])
                if fields["expected"] != STOCK_START + deltas[rid] or len(fields.get("movements", [])) != sum(
                    1 for sp in phones for m in sp.mutations if m.id == rid
                ):
                    wrong.append(rid)
            for rid in facts["shared"][wid]["incidents"]:
                row = conn.execute("SELECT fields FROM records WHERE id = ?", (rid,)).fetchone()
                if len(msgspec.json.decode(row[0]).get("notes", [])) != notes[rid]:
                    wrong.append(rid)
        moves = sum(1 for sp in phones for m in sp.mutations if m.collection == "stock_levels")
        section.check(
            f"shared records: counter sums and movement/note counts exact on all {len(facts['wids']) * 8} "
            f"({moves:,} stock movements, {sum(notes.values()):,} notes)",
            not wrong,
        )
        own_top = dict(
            conn.execute(
                f"SELECT client_id, max(revision) FROM outcomes WHERE client_id IN ({q}) GROUP BY client_id",
                (ids,),
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
    finally:
        conn.close()


async def run(ctx: Context) -> list[Section]:
    section = Section(
        "storm",
        "2. Reconnect storm",
        ["phones", "mutations", "concurrent", "drain time", "requests", "push p50 / p95 / p99",
         "pull p50 / p95 / p99", "errors"],
    )  # fmt: skip
    foot = Section(
        "footprint", "6. Server footprint (RSS of the `tigapilar serve` process)", ["state", "RSS"]
    )
    work = ctx.dir("storm")
    db = work / "storm.db"
    storage = SqliteStorage(db)
    await storage.open()
    phones, facts = await prepare(storage, ctx)
    await storage.close()
    rng = random.Random(5)
    deltas: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    for i, sp in enumerate(phones):
        queue(sp, facts["shared"][sp.phone.warehouses[0]], facts["seen"], rng, deltas, notes)
        sp.retries = i % 10 == 3
    ctx.log(f"storm: {len(phones)} phones ready, {len(phones) * QUEUED:,} queued mutations")

    tally = Tally()
    with Server(db, log=work / "server.log") as server:
        await asyncio.sleep(0.5)
        idle = server.rss()
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            cpu = server.cpu_seconds()
            with RssSampler(server.pid) as rss:
                t0 = time.perf_counter()
                await asyncio.wait_for(
                    asyncio.gather(*(one_phone(sp, client, tally, gate) for sp in phones)), timeout=540
                )
                drain = time.perf_counter() - t0
            cpu = server.cpu_seconds() - cpu
        peak = rss.peak
        await asyncio.sleep(1.0)
        after = server.rss()
    ctx.log(f"storm: drained in {drain:.1f}s")

    errors = sum(tally.errors.values()) + sum(1 for sp in phones if not sp.done)
    lat = lambda v: " / ".join(fmt_ms(percentile(v, q)) for q in (50, 95, 99))  # noqa: E731
    section.add(len(phones), f"{len(phones) * QUEUED:,}", CONCURRENCY, f"{drain:.1f} s",
                f"{len(tally.push) + len(tally.pull):,}", lat(tally.push), lat(tally.pull),
                errors)  # fmt: skip
    section.check(f"zero errors ({dict(tally.errors) or 'none'})", errors == 0)
    retried = sum(1 for sp in phones if sp.retries)
    section.check(f"{retried} phones re-sent their whole batch: all {retried * QUEUED:,} answered `replayed`",
                  tally.replayed == retried * QUEUED)  # fmt: skip
    verify(db, phones, facts, deltas, notes, section)
    pulled = sum(sp.pulled for sp in phones)
    section.notes.append(
        f"throughput {len(phones) * QUEUED / drain:,.0f} mutations/s while serving the pulls; "
        f"{len(tally.push):,} pushes, {len(tally.pull):,} pull pages carrying {pulled:,} changes; "
        f"server CPU {cpu:.1f} s over the {drain:.1f} s drain ({cpu / drain:.0%} of one core; the load "
        "generator shares the machine's 2 cores)."
    )
    foot.add("idle, after start-up", mib(idle))
    foot.add(f"peak during the storm ({CONCURRENCY} connections)", mib(peak))
    foot.add("idle again, 1 s after the storm", mib(after))
    return [section, foot]

"""4. Growth: push and pull latency as the database grows from 10k to 1M records.

The records (incidents spread over WAREHOUSES warehouses) are added between measurements with the
storage's own write()/commit(BatchEffects) in big transactions. At each size a real server answers
one phone assigned to one of the warehouses:

push         batches of 10: 5 new incidents + 5 patches of records picked at random over the whole
             history of its warehouse (cold B-tree pages, not just the newest);
pull (tail)  the incremental pull right after each push: the phone's cursor is just behind;
pull (page)  a page of 500 from a random old cursor in the warehouse (index range scan);
overview     a supervisor of all the warehouses loads the overview: once first (each warehouse's
             summary was kept by the writes that built it, schema 7; a warehouse without one is
             folded from its records), then after each of a few pushes to one warehouse (its
             summary kept by the push), then with nothing changed. Sizes above OVERVIEW_UP_TO are
             not measured: a cold overview reads every record in scope.

The server runs with its feed cache off (server/storage/feed_cache.py): at 10k it would answer
every page, and this section is about what the indexes do as the file grows.

Latencies are medians over the requests; the ratio column compares each size with the smallest, so
flat indexes show as ≈ 1.0× whatever the machine. The 1M step is skipped (300k instead) when the
build rate measured on the way says it would take more than BUILD_BUDGET seconds.
"""

from __future__ import annotations

import random
import time

import httpx
import msgspec

from bench.context import Context
from bench.env import fmt_ms, median, percentile
from bench.report import Section
from bench.server import Server
from bench.world import Phone, bulk_write, incident_fields, incidents, make_world, person, uuid7
from server.storage.sqlite import SqliteStorage
from sync.messages import PullResponse, PushResponse

WAREHOUSES = 10
BUILD_BUDGET = 180.0
"""Seconds allowed for building the biggest size."""
OVERVIEW_UP_TO = 100_000
OVERVIEW_PUSHES = 5
SAMPLE_EVERY = 7
"""Keep every 7th record id of the phone's warehouse as a patch target."""

_push = msgspec.json.Decoder(PushResponse).decode
_pull = msgspec.json.Decoder(PullResponse).decode


class Targets:
    def __init__(self) -> None:
        self.ids: list[tuple[str, int]] = []


async def grow(storage: SqliteStorage, wids: list[str], start: int, count: int, user_id: str,
               targets: Targets) -> float:  # fmt: skip
    t0 = time.perf_counter()

    def tap() -> object:
        mine = 0
        for r in incidents(wids, count, user_id=user_id, seed=start, start=start):
            yield r
            if r.warehouse_id == wids[0]:
                if mine % SAMPLE_EVERY == 0:
                    targets.ids.append((r.id, -1))  # revision filled in below
                mine += 1

    await bulk_write(storage, tap(), batch=20_000)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def measure(server: Server, phone: Phone, targets: Targets, rng: random.Random, pushes: int,
            cursor: int) -> dict[str, list[float]]:  # fmt: skip
    out: dict[str, list[float]] = {"push": [], "tail": [], "page": []}
    wid = phone.warehouses[0]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for i in range(pushes + 2):  # the first two warm the server up and are not counted
            ms = [
                phone.mutation("create", uuid7(rng, 1_767_000_000_000 + i * 10 + k), warehouse_id=wid,
                               fields=incident_fields(rng, k))
                for k in range(5)
            ]  # fmt: skip
            for rid, rev in rng.sample(targets.ids, 5):
                ms.append(phone.mutation("patch", rid, base_rev=rev, fields={"action_taken": f"cek {i}"}))
            body = msgspec.json.encode(phone.push(ms))
            t0 = time.perf_counter()
            r = client.post("/api/sync/push", content=body, headers=phone.headers)
            dt = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"push failed: {r.status_code} {r.text[:300]}")
            answer = _push(r.content)
            bad = [x for x in answer.results if x.status == "rejected"]
            if bad:
                raise RuntimeError(f"push rejected: {bad[0]}")
            if i >= 2:
                out["push"].append(dt)
            # tail: what the others (and we) changed since our cursor
            body = msgspec.json.encode(phone.pull({wid: cursor}, limit=500, acked=phone.seq))
            t0 = time.perf_counter()
            r = client.post("/api/sync/pull", content=body, headers=phone.headers)
            dt = time.perf_counter() - t0
            page = _pull(r.content)
            cursor = page.cursors[wid]
            if i >= 2:
                out["tail"].append(dt)
            # page: 500 from a random point of the warehouse's history
            start = rng.randint(1, max(1, cursor - 600 * WAREHOUSES))  # leaves ≥ 500 of ours after it
            body = msgspec.json.encode(phone.pull({wid: start}, limit=500))
            t0 = time.perf_counter()
            r = client.post("/api/sync/pull", content=body, headers=phone.headers)
            dt = time.perf_counter() - t0
            if r.status_code != 200 or len(_pull(r.content).changes) != 500:
                raise RuntimeError(f"page pull failed: {r.status_code}")
            if i >= 2:
                out["page"].append(dt)
    return out


def measure_overview(
    server: Server, phone: Phone, supervisor: Phone, rng: random.Random
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cold": [], "changed": [], "same": []}
    wid = phone.warehouses[0]

    def overview(client: httpx.Client, key: str) -> None:
        t0 = time.perf_counter()
        r = client.get("/api/supervisor/overview", headers=supervisor.headers)
        out[key].append(time.perf_counter() - t0)
        if r.status_code != 200 or len(r.json()["warehouses"]) != WAREHOUSES:
            raise RuntimeError(f"overview failed: {r.status_code} {r.text[:300]}")

    with httpx.Client(base_url=server.url, timeout=120) as client:
        overview(client, "cold")
        for i in range(OVERVIEW_PUSHES):
            ms = [
                phone.mutation("create", uuid7(rng, 1_768_000_000_000 + i * 10 + k), warehouse_id=wid,
                               fields=incident_fields(rng, k))
                for k in range(10)
            ]  # fmt: skip
            body = msgspec.json.encode(phone.push(ms))
            r = client.post("/api/sync/push", content=body, headers=phone.headers)
            if r.status_code != 200:
                raise RuntimeError(f"push failed: {r.status_code} {r.text[:300]}")
            overview(client, "changed")
            overview(client, "same")
    return out


async def run(ctx: Context) -> Section:
    section = Section(
        "growth",
        "4. Growth: latency as the database grows (median; ratio to the smallest size)",
        ["records", "build step", "DB file", "push ×10 p50", "ratio", "pull tail p50", "ratio",
         "pull 500 p50", "ratio", "push p95", "overview: cold", "after a push", "unchanged"],
    )  # fmt: skip
    sizes = [10_000, 30_000] if ctx.quick else [10_000, 100_000, 1_000_000]
    pushes = ctx.size(40, 10)
    work = ctx.dir("growth")
    db = work / "growth.db"
    storage = SqliteStorage(db)
    await storage.open()
    wids, phones = await make_world(storage, warehouses=WAREHOUSES, phones_per_warehouse=1, prefix="g")
    supervisor = await person(storage, "g-spv", "POLRI", "supervisor", wids, client_id="dev-g-spv")
    await storage.close()
    phone = phones[0]
    targets = Targets()
    rng = random.Random(3)
    have = 0
    base: dict[str, float] = {}
    rate = 0.0
    for size in sizes:
        if size >= 1_000_000 and rate and (size - have) / rate > BUILD_BUDGET:
            size = 300_000
            section.notes.append(
                f"1M skipped: the build rate measured so far ({rate:,.0f} records/s) would take "
                f"{(1_000_000 - have) / rate:.0f} s > {BUILD_BUDGET:.0f} s; 300k instead."
            )
        storage = SqliteStorage(db)
        await storage.open()
        took = await grow(storage, wids, have, size - have, phones[-1].user.id, targets)
        # patch targets need their current revision (a patch may not claim a newer base)
        async with storage.write() as tx:
            found = await tx.records([rid for rid, _ in targets.ids])
        targets.ids = [(rid, found[rid].revision) for rid, _ in targets.ids if rid in found]
        cursor = (await storage.live_cursors(phone.warehouses))[phone.warehouses[0]]
        await storage.close()
        rate = (size - have) / took
        ctx.log(f"growth: {size:,} records (+{size - have:,} in {took:.1f}s, {rate:,.0f}/s)")
        have = size
        # Without the feed cache: at 10k every page would come from it, and this section is about
        # what the indexes do as the file grows (the storm and initial sync show the cache).
        with Server(db, log=work / "server.log", env={"TIGAPILAR_FEED_CACHE_CHANGES": "0"}) as server:
            lat = measure(server, phone, targets, rng, pushes, cursor)
            view = measure_overview(server, phone, supervisor, rng) if size <= OVERVIEW_UP_TO else {}
        p = {k: median(v) for k, v in lat.items()}
        if not base:
            base = p
        section.add(
            f"{size:,}", f"{took:.1f} s", f"{db.stat().st_size / 1024 / 1024:,.0f} MiB",
            fmt_ms(p["push"]), f"{p['push'] / base['push']:.2f}×",
            fmt_ms(p["tail"]), f"{p['tail'] / base['tail']:.2f}×",
            fmt_ms(p["page"]), f"{p['page'] / base['page']:.2f}×",
            fmt_ms(percentile(lat["push"], 95)),
            *(fmt_ms(median(view[k])) if view else "–" for k in ("cold", "changed", "same")),
        )  # fmt: skip
    last = section.rows[-1]
    worst = max(float(last[i].rstrip("×")) for i in (4, 6, 8))
    section.check(f"latency stays flat from {sizes[0]:,} to {have:,} records (worst ratio {worst:.2f}×, "
                  "allowing 2× for a noisy shared machine)", worst <= 2.0)  # fmt: skip
    section.notes.append(
        f"{pushes} pushes per size; patches hit records sampled over the warehouse's whole history; "
        f"records spread over {WAREHOUSES} warehouses. Build = write()/commit(BatchEffects), 20,000 per "
        "transaction. The server runs without its feed cache here (TIGAPILAR_FEED_CACHE_CHANGES=0), so every "
        'pull reads the table. Overview: a supervisor of all the warehouses; "after a push" is the median of '
        f"{OVERVIEW_PUSHES} loads each right after 10 new incidents in one warehouse (1/{WAREHOUSES} of the "
        f'records), "unchanged" the load after that; not measured above {OVERVIEW_UP_TO:,} records.'
    )
    return section

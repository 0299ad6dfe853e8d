"""12. Overview summaries (issue 18, item 5): what the supervisor overview costs at 1, 300 and 8,000
warehouses now that it reads one kept summary per warehouse, and what keeping them costs.

overview     build_overview (what GET /api/supervisor/overview runs) for a scope of 1, 300 and 8,000
             warehouses, each with INCIDENTS_PER_WAREHOUSE incidents written through the storage's
             own write path: warm (every summary holds), right after a push of an incident to one
             of them (which applied itself to that summary: nothing is refolded), and cold (new stock
             item types: every summary refolded from the records once, and kept).
push         one phone's push of one new incident, in-process through the sync engine, into a
             warehouse holding N incidents, and the overview of that warehouse right after it. The
             push applies its change to the summary in its transaction (server/summaries.py
             after_push, O(records written)), so neither grows with the warehouse's records.

SQLite, one process. Medians; ratios against the same process's baseline.
"""

from __future__ import annotations

import random
import time

from litestar.datastructures import State

from bench.context import Context
from bench.env import fmt_ms, median
from bench.report import Section
from bench.world import bulk_write, incident_fields, incidents, make_world
from server.models import StockItemType
from server.overview import build_overview
from server.reports import Settings
from server.storage.sqlite import SqliteStorage
from sync.domain import Actor
from sync.engine import SyncEngine
from sync.messages import Mutation, PushRequest

INCIDENTS_PER_WAREHOUSE = 3
SCOPES = (1, 300, 8000)
PUSH_SIZES = (200, 2000, 10000)
PUSHES = 15


async def _overview_ms(storage: SqliteStorage, scope: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await build_overview(storage, State(), scope, settings=Settings())
        times.append(time.perf_counter() - t0)
    return median(times)


class _Pusher:
    def __init__(self, storage: SqliteStorage, warehouse_id: str, name: str) -> None:
        self.engine = SyncEngine(storage)
        self.warehouse_id = warehouse_id
        self.actor = Actor(user_id=f"u-{name}", username=name, role="officer", agency="POLRI",
                           warehouses=frozenset({warehouse_id}), client_id=f"dev-{name}")  # fmt: skip
        self.seq = 0

    async def push(self) -> float:
        self.seq += 1
        hlc = f"{int(time.time() * 1000):013d}-{self.seq % 100000:05d}-{self.actor.client_id}"
        mutation = Mutation(seq=self.seq, id=f"{self.actor.client_id}-{self.seq:06d}", collection="incidents",
                            op="create", base_rev=0, warehouse_id=self.warehouse_id,
                            fields=incident_fields(random.Random(self.seq), self.seq), hlc=hlc)  # fmt: skip
        request = PushRequest(
            protocol=1, client_id=self.actor.client_id, schema_version=2, mutations=[mutation]
        )
        t0 = time.perf_counter()
        response = await self.engine.push(self.actor, request)
        elapsed = time.perf_counter() - t0
        assert response.results[0].status == "applied", response.results[0]
        return elapsed


async def run(ctx: Context) -> list[Section]:
    directory = ctx.dir("summaries")
    overview = Section(
        key="summaries-overview",
        title="Overview from kept summaries: build_overview by scope (SQLite)",
        headers=[
            "warehouses in scope",
            "records",
            "warm",
            "after a push",
            "cold (refold all, keep)",
            "warm again",
        ],
    )
    storage = SqliteStorage(directory / "national.db")
    await storage.open()
    try:
        count = 300 if ctx.quick else max(SCOPES)
        ctx.log(f"summaries: {count} warehouses")
        wids, _ = await make_world(storage, warehouses=count, phones_per_warehouse=0, prefix="n")
        await bulk_write(storage, incidents(wids, count * INCIDENTS_PER_WAREHOUSE, user_id="u-bulk", seed=18))
        pusher = _Pusher(storage, wids[0], "probe")
        warm_by_size: dict[int, float] = {}
        for size in (s for s in SCOPES if s <= count):
            scope = wids[:size]
            warm = warm_by_size[size] = await _overview_ms(storage, scope, 5)
            await pusher.push()
            after = await _overview_ms(storage, scope, 1)
            await storage.put_stock_item_type(
                StockItemType(code=f"terpal_{size}", name="Terpal", unit="lembar", sort_order=90)
            )
            cold = await _overview_ms(storage, scope, 1)
            again = await _overview_ms(storage, scope, 5)
            overview.add(f"{size:,}", f"{size * INCIDENTS_PER_WAREHOUSE:,}", fmt_ms(warm), fmt_ms(after),
                         fmt_ms(cold), fmt_ms(again))  # fmt: skip
        if 300 in warm_by_size:
            overview.check("province overview (300 warehouses, warm) ≤ 150 ms", warm_by_size[300] <= 0.150)
    finally:
        await storage.close()

    push = Section(
        key="summaries-push",
        title="A push of one incident into a warehouse of N incidents, and its overview after (SQLite)",
        headers=["incidents in the warehouse", "push p50", "overview of the warehouse after the push, p50"],
    )
    for size in PUSH_SIZES[:2] if ctx.quick else PUSH_SIZES:
        storage = SqliteStorage(directory / f"push-{size}.db")
        await storage.open()
        try:
            wids, _ = await make_world(storage, warehouses=1, phones_per_warehouse=0, prefix=f"p{size}")
            await bulk_write(storage, incidents(wids, size, user_id="u-bulk", seed=size))
            pusher = _Pusher(storage, wids[0], f"probe{size}")
            pushes, reads = [], []
            for _ in range(PUSHES):
                pushes.append(await pusher.push())
                reads.append(await _overview_ms(storage, wids[:1], 1))
            push.add(f"{size:,}", fmt_ms(median(pushes)), fmt_ms(median(reads)))
        finally:
            await storage.close()
    return [overview, push]

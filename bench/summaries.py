"""12. Overview summaries (issue 18, item 5): what the supervisor overview costs at 1, 300 and 8,000
warehouses now that it reads one kept summary per warehouse, and what keeping them costs a push.

overview     build_overview (what GET /api/supervisor/overview runs) for a scope of 1, 300 and 8,000
             warehouses, each with INCIDENTS_PER_WAREHOUSE incidents written through the storage's
             own write path (which keeps the summaries): warm (every summary holds), right after a
             push to one of them, and cold (new stock item types: every summary refolded from the
             records once, and kept).
push         one phone's push of one new incident, in-process through the sync engine, into a
             warehouse holding N incidents: with the summary kept in the push's transaction, and with
             that maintenance switched off in the same process (the cost before schema 7). The
             refold reads and decodes the warehouse's non-deleted overview records under the writer,
             so it grows with the warehouse's records.

SQLite, one process. Medians; ratios against the same process's baseline.
"""

from __future__ import annotations

import random
import time
from typing import Any

from litestar.datastructures import State

from bench.context import Context
from bench.env import fmt_ms, median
from bench.report import Section
from bench.world import bulk_write, incident_fields, incidents, make_world
from server.api.supervisor import build_overview
from server.models import StockItemType
from server.reports import Settings
from server.storage.sqlite import SqliteStorage
from server.storage.sqlite import sync_tx as sqlite_tx
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


class _SummariesOff:
    """The push path as before schema 7: no overview inputs read, no summary rows written."""

    def __enter__(self) -> None:
        self.saved: dict[str, Any] = {
            "inputs": sqlite_tx._overview_inputs,
            "statements": sqlite_tx.SqliteWriteTx._summary_statements,
        }

        def no_inputs(db: Any, warehouse_ids: list[str]) -> tuple[list[str], list[Any], list[Any], list[Any]]:
            return warehouse_ids, [], [], []

        async def no_statements(self: Any, effects: Any) -> list[Any]:
            return []

        sqlite_tx._overview_inputs = no_inputs  # type: ignore[assignment]
        sqlite_tx.SqliteWriteTx._summary_statements = no_statements  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        sqlite_tx._overview_inputs = self.saved["inputs"]
        sqlite_tx.SqliteWriteTx._summary_statements = self.saved["statements"]  # type: ignore[method-assign]


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
        title="A push of one incident into a warehouse of N incidents: summary kept vs not (SQLite)",
        headers=["incidents in the warehouse", "push p50, summary kept", "push p50, without", "ratio"],
    )
    for size in PUSH_SIZES[:2] if ctx.quick else PUSH_SIZES:
        storage = SqliteStorage(directory / f"push-{size}.db")
        await storage.open()
        try:
            wids, _ = await make_world(storage, warehouses=1, phones_per_warehouse=0, prefix=f"p{size}")
            await bulk_write(storage, incidents(wids, size, user_id="u-bulk", seed=size))
            kept = _Pusher(storage, wids[0], f"kept{size}")
            plain = _Pusher(storage, wids[0], f"plain{size}")
            with_summary, without = [], []
            for _ in range(PUSHES):  # interleaved, so both see the same load
                with_summary.append(await kept.push())
                with _SummariesOff():
                    without.append(await plain.push())
            a, b = median(with_summary), median(without)
            push.add(f"{size:,}", fmt_ms(a), fmt_ms(b), f"{a / b:.1f}×")
        finally:
            await storage.close()
    return [overview, push]

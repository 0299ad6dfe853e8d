"""3. Initial sync: a new phone pulls a whole warehouse from cursor 0.

Two warehouses in one database: a small one (10k records + 2k further history entries) and a big
one (100k records + 20k history: records patched again and tombstones), written directly with the
storage's own write()/commit(BatchEffects), then its overview summaries folded once, as the
pushes that wrote them would have kept them (server/summaries.py). A real `tigapilar serve`
answers; the phone pages with `limit` until `has_more` is false. Measured: time to complete,
records/s, bytes on the wire as sent (gzip when the server compresses) and decoded, and the
server's peak RSS while answering, sampled from /proc. If the pull pages, peak memory is the same
for 10k and for 100k records.
"""

from __future__ import annotations

import gc
import gzip
import random
import re
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from litestar.datastructures import State

from bench.context import Context
from bench.env import REPO, RssSampler, fmt_bytes, fmt_rate, mib
from bench.report import Section
from bench.server import Server
from bench.world import Phone, bulk_write, changed_again, incidents, make_world
from server.overview import build_overview
from server.reports import Settings
from server.storage.feed_cache import FeedCache
from server.storage.sqlite import SqliteStorage
from sync.store import Record

TARGET = 138_000
PWA_PULL_LIMIT = int(
    re.search(r"const PULL_LIMIT = (\d+);", (REPO / "static/js/sync-client.js").read_text())[1]  # type: ignore[index]
)
"""The page size the phones ask for, read from the PWA so this row stays the PWA's."""
"""records/s end to end."""


class _Page(msgspec.Struct):
    changes: list[msgspec.Raw]
    cursors: dict[str, int]
    has_more: bool
    digests: dict[str, dict[str, object]]


_page = msgspec.json.Decoder(_Page).decode


@dataclass
class PullRun:
    records: int = 0
    requests: int = 0
    seconds: float = 0.0
    wire: int = 0
    decoded: int = 0
    gzip_equivalent: int = 0
    encoding: str = "identity"
    peak_rss: int = 0
    rss_before: int = 0
    digest_count: int = 0


async def build(storage: SqliteStorage, wid: str, count: int, history: int, user_id: str, seed: int) -> None:
    """`count` incidents, then `history` later changes: 3/4 patched again, 1/4 deleted."""
    rng = random.Random(seed)
    created: list[Record] = []

    def made() -> object:
        for r in incidents([wid], count, user_id=user_id, seed=seed):
            created.append(r)
            yield r

    await bulk_write(storage, made())  # type: ignore[arg-type]
    picks = rng.sample(range(count), min(history, count))
    previous = {created[i].id: created[i].revision for i in picks}
    again = (changed_again(created[i], 0, n, rng, delete=n % 4 == 3) for n, i in enumerate(picks))
    await bulk_write(storage, again, previous=previous)


def pull_all(server: Server, phone: Phone, *, limit: int, compressed: bool) -> PullRun:
    run = PullRun()
    headers = {**phone.headers, "Accept-Encoding": "gzip" if compressed else "identity"}
    cursors: dict[str, int] = {}
    with httpx.Client(base_url=server.url, timeout=120) as client, RssSampler(server.pid) as rss:
        run.rss_before = rss.peak
        t0 = time.perf_counter()
        while True:
            body = msgspec.json.encode(phone.pull(cursors, limit=limit))
            r = client.post("/api/sync/pull", content=body, headers=headers)
            content = r.content
            if r.status_code != 200:
                raise RuntimeError(f"pull failed: {r.status_code} {content[:300]!r}")
            page = _page(content)
            run.requests += 1
            run.records += len(page.changes)
            run.wire += r.num_bytes_downloaded
            run.decoded += len(content)
            run.encoding = r.headers.get("content-encoding", "identity")
            cursors = page.cursors
            if not page.has_more:
                run.digest_count = int(page.digests[phone.warehouses[0]]["count"])  # type: ignore[call-overload]
                break
        run.seconds = time.perf_counter() - t0
    run.peak_rss = rss.peak
    return run


def gzip_size_of_pages(server: Server, phone: Phone, limit: int, pages: int = 3) -> float:
    """Ratio gzip(level 6)/raw over a few pages, to say what compression would save."""
    raw = packed = 0
    cursors: dict[str, int] = {}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for _ in range(pages):
            r = client.post(
                "/api/sync/pull",
                content=msgspec.json.encode(phone.pull(cursors, limit=limit)),
                headers={**phone.headers, "Accept-Encoding": "identity"},
            )
            raw += len(r.content)
            packed += len(gzip.compress(r.content, 6))
            page = _page(r.content)
            cursors = page.cursors
            if not page.has_more:
                break
    return packed / raw if raw else 1.0


async def feed_cache_bytes(db: Path, warehouse_id: str) -> tuple[int, int]:
    """Memory a full feed cache holds, measured: this warehouse's newest changes read as the
    server reads them, kept in a FeedCache of the server's capacity. (changes kept, bytes)"""
    storage = SqliteStorage(db)
    await storage.open()
    try:
        cache = FeedCache()
        latest = await storage.latest_revision()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        async with storage.read() as rx:
            read = rx.change_feed(warehouse_id, max(0, latest - cache.capacity), cache.capacity)  # type: ignore[attr-defined]
            cache.put(await read)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        return len(cache), kept
    finally:
        await storage.close()


async def run(ctx: Context) -> Section:
    section = Section(
        "initial",
        "3. Initial sync from cursor 0 (new phone, whole warehouse)",
        [
            "warehouse",
            "limit",
            "encoding",
            "requests",
            "time",
            "records/s, first pull",
            "records/s",
            "on the wire",
            "decoded JSON",
            "server RSS before → peak",
        ],
    )
    small, big = ctx.size(10_000, 5_000), ctx.size(100_000, 20_000)
    work = ctx.dir("initial")
    db = work / "initial.db"
    storage = SqliteStorage(db)
    await storage.open()
    t0 = time.perf_counter()
    wids, phones = await make_world(storage, warehouses=2, phones_per_warehouse=2, prefix="i")
    await build(storage, wids[0], small, small // 5, phones[0].user.id, seed=10)
    await build(storage, wids[1], big, big // 5, phones[0].user.id, seed=11)
    # The overview summaries a push keeps in its transaction (server/summaries.py), which
    # bulk_write does not: without them the measured server's alert worker folds both warehouses
    # from their 132k records at start-up (~400 MiB and a core for seconds), beside the first pull.
    await build_overview(storage, State(), wids, settings=Settings())
    await storage.close()
    build_s = time.perf_counter() - t0
    ctx.log(f"initial: built {small + big:,} records + {(small + big) // 5:,} history in {build_s:.1f}s")

    # phones[i] is assigned to wids[i % 2]
    p_small, p_big, p_big2 = phones[0], phones[1], phones[3]
    runs: list[tuple[str, int, int, PullRun, PullRun]] = []
    ratio = 1.0
    for label, phone, size, limit, compressed in (
        (f"{small // 1000}k", p_small, small, 5000, True),
        (f"{big // 1000}k", p_big, big, 5000, True),
        (f"{big // 1000}k", p_big2, big, 5000, False),
        (f"{big // 1000}k", p_big, big, PWA_PULL_LIMIT, True),
    ):
        # A server of its own for each: the first pull finds nothing of this warehouse in the
        # server's cache of recent changes (server/storage/feed_cache.py), the next ones find
        # its newest 32k changes there, as a phone would after other phones' pulls.
        with Server(db, log=work / "server.log") as server:
            idle = server.rss()
            tries = []
            for _ in range(ctx.size(3, 1)):  # the median of three: the machine is shared
                result = pull_all(server, phone, limit=limit, compressed=compressed)
                if result.records != size or result.digest_count != size:
                    raise RuntimeError(
                        f"pulled {result.records} records, digest says {result.digest_count}, expected {size}"
                    )
                tries.append(result)
            if label.startswith(f"{big // 1000}k") and limit == 5000 and compressed:
                ratio = gzip_size_of_pages(server, p_big, 5000)
        result = sorted(tries, key=lambda r: r.seconds)[len(tries) // 2]
        # memory: what the first pull of its kind made the server grow by
        result.rss_before, result.peak_rss = tries[0].rss_before, tries[0].peak_rss
        runs.append((label, size, limit, tries[0], result))
        ctx.log(f"initial: {label} limit {limit} {result.encoding}: first {tries[0].seconds:.2f}s, "
                f"median {result.seconds:.2f}s")  # fmt: skip

    for label, size, limit, first, r in runs:
        section.add(
            label,
            f"{limit:,}",
            r.encoding,
            r.requests,
            f"{r.seconds:.2f} s",
            fmt_rate(size / first.seconds),
            fmt_rate(size / r.seconds),
            fmt_bytes(r.wire),
            fmt_bytes(r.decoded),
            f"{mib(r.rss_before)} → {mib(r.peak_rss)}",
        )
    if not ctx.quick:
        for _, size, limit, first, r in runs[1:3]:
            rate, cold = size / r.seconds, size / first.seconds
            # the first pull: nothing of it cached, as for a phone that is the first to ask
            section.check(f"≥ {TARGET:,} records/s end to end, {size:,} records, limit {limit:,}, "
                          f"{r.encoding}, first pull: {cold:,.0f} (median of 3: {rate:,.0f})",
                          cold >= TARGET)  # fmt: skip
    small_growth = runs[0][4].peak_rss - runs[0][4].rss_before
    big_growth = runs[1][4].peak_rss - runs[1][4].rss_before
    # Both first pulls also filled the server's feed cache with the warehouse's newest changes:
    # all 12k of the small one, the cache's capacity of the big one. Measured, and allowed for.
    small_cached, small_cache = await feed_cache_bytes(db, wids[0])
    big_cached, big_cache = await feed_cache_bytes(db, wids[1])
    section.check(
        f"memory stays flat with paging: the server grew {mib(small_growth)} while answering {small:,} "
        f"records and {mib(big_growth)} for {big // small}× as many, of which its feed cache holds "
        f"{mib(small_cache)} ({small_cached:,} changes) and {mib(big_cache)} ({big_cached:,}, its capacity) "
        f"(the unpaged answer alone would be {fmt_bytes(runs[1][4].decoded)} of JSON)",
        big_growth - big_cache < 2 * max(small_growth - small_cache, 4 * 1024 * 1024),
    )
    gz = runs[0][4].encoding == "gzip"
    section.notes.append(
        f"server idle RSS {mib(idle)}; dataset built in {build_s:.1f} s with write()/commit(BatchEffects). "
        + (
            "The server gzips /api/sync/pull answers."
            if gz
            else f"The server does not compress: gzip -6 would make the pull {ratio:.0%} of its size."
        )
    )
    section.notes.append(
        "time = first request to the last page with `has_more: false`, including the phone-side JSON decode "
        "(msgspec), median of 3 pulls; RSS from the first of them. Each row has a server of its own: its "
        "first pull reads every page from the table, later ones find the warehouse's newest changes in the "
        "server's feed cache. The PWA pulls with limit "
        f"{PWA_PULL_LIMIT:,} (static/js/sync-client.js), which costs more round trips."
    )
    return section

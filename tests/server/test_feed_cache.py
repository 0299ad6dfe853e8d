"""The pull feed's cache of recent changes (server/storage/feed_cache.py) never changes an answer.

Scripts of creates, patches and deletes from two phones are pulled from every cursor both ways:
through HTTP's path (wire=True: the SQLite change feed and its cache) and through the engine's
plain path (wire=False: the records read and decoded). The answers must be the same JSON. Also
checked: what the cache holds is used, a far-behind cursor does not go through it, a purge leaves
nothing behind, and it stays within its capacity.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from server.retention import purge_tombstones
from server.storage.feed_cache import FEED_CACHE_CHANGES, FeedCache, capacity_from_env
from server.storage.sqlite import SqliteStorage
from sync.clock import HybridClock
from sync.engine import SyncEngine
from sync.messages import Change, PullRequest
from tests.sync.helpers import WH, Phone, actor, incident


def change(revision: int) -> Change:
    return Change(
        id=f"r{revision}",
        collection="incidents",
        warehouse_id=WH,
        revision=revision,
        fields={},
        deleted=False,
        created_by="u",
        updated_by="u",
        updated_at="",
    )


def comparable(response: Any) -> Any:
    """The answer as JSON, without the server's clock (it moves between two pulls)."""
    answer = msgspec.json.decode(msgspec.json.encode(response))
    answer.pop("server_hlc")
    answer.pop("server_time_ms")
    return answer


async def both_ways(engine: SyncEngine, phone: Phone, after: int, limit: int) -> tuple[Any, Any]:
    request = PullRequest(
        protocol=1, client_id=phone.client_id, cursors={WH: after}, limit=limit, acked_seq=0
    )
    wire = await engine.pull(phone.actor, request, wire=True)
    plain = await engine.pull(phone.actor, request)
    return comparable(wire), comparable(plain)


def test_the_cache_keeps_the_newest_changes_within_its_capacity() -> None:
    cache = FeedCache(capacity=3)
    cache.put([change(1), change(2)])
    cache.put([change(3), change(4)])
    assert len(cache) == 3 and cache.get(WH, 1) is None
    assert [c.revision for r in (2, 3, 4) if (c := cache.get(WH, r))] == [2, 3, 4]
    assert cache.get("another-warehouse", 4) is None  # revisions are counted per warehouse
    assert cache.covers(after=7, latest=10) and not cache.covers(after=6, latest=10)
    assert not FeedCache(capacity=0).covers(after=10, latest=10)
    assert capacity_from_env({}) == FEED_CACHE_CHANGES
    assert capacity_from_env({"TIGAPILAR_FEED_CACHE_CHANGES": "0"}) == 0
    assert capacity_from_env({"TIGAPILAR_FEED_CACHE_CHANGES": "5000"}) == 5000
    assert capacity_from_env({"TIGAPILAR_FEED_CACHE_CHANGES": "banyak"}) == FEED_CACHE_CHANGES


async def test_pulls_through_the_cache_answer_what_the_records_say(sqlite_storage: SqliteStorage) -> None:
    engine = SyncEngine(sqlite_storage, HybridClock("server"))
    one, two = Phone(engine, actor("slamet")), Phone(engine, actor("agus"))
    rng = random.Random(5)
    made: list[str] = []
    for step in range(12):
        for phone in (one, two):
            for _ in range(rng.randint(1, 6)):
                kind = rng.random()
                if kind < 0.5 or len(made) < 3:
                    rid = f"inc-{len(made):03d}"
                    made.append(rid)
                    phone.mutate("create", rid, "incidents", incident(len(made)), warehouse_id=WH)
                elif kind < 0.9:
                    phone.mutate(
                        "patch", rng.choice(made), "incidents", {"action_taken": f"cek {step}"}, base_rev=0
                    )
                else:
                    phone.mutate("delete", rng.choice(made), "incidents", base_rev=0)
            await phone.push()
            phone.outbox.clear()
        latest = await sqlite_storage.latest_revision()
        for after in sorted({0, latest // 3, latest // 2, max(0, latest - 5), latest}):
            for limit in (1, 7, 1000):
                wire, plain = await both_ways(engine, one, after, limit)
                assert wire == plain, (step, after, limit)
    assert len(sqlite_storage.feed_cache) > 0, "the recent pulls went through the cache"


async def test_cached_changes_are_used_and_a_newer_revision_replaces_an_old_one(
    sqlite_storage: SqliteStorage,
) -> None:
    engine = SyncEngine(sqlite_storage, HybridClock("server"))
    phone = Phone(engine, actor("slamet"))
    for n in range(4):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n), warehouse_id=WH)
    await phone.push()
    request = PullRequest(protocol=1, client_id=phone.client_id, cursors={WH: 0}, limit=100, acked_seq=0)
    first = await engine.pull(phone.actor, request, wire=True)
    again = await engine.pull(phone.actor, request, wire=True)
    assert [c.revision for c in first.changes] == [1, 2, 3, 4]
    assert all(a is sqlite_storage.feed_cache.get(a.warehouse_id, a.revision) for a in again.changes), (
        "served from the cache"
    )

    phone.outbox.clear()
    phone.mutate("patch", "inc-1", "incidents", {"action_taken": "segel diganti"}, base_rev=2)
    await phone.push()
    after = await engine.pull(phone.actor, request, wire=True)
    assert [(c.id, c.revision) for c in after.changes] == [
        ("inc-0", 1),
        ("inc-2", 3),
        ("inc-3", 4),
        ("inc-1", 5),
    ]
    assert b"segel diganti" in bytes(after.changes[-1].fields)  # type: ignore[arg-type]


async def test_a_far_behind_cursor_reads_the_table_and_leaves_the_cache_alone(
    sqlite_storage: SqliteStorage,
) -> None:
    sqlite_storage.feed_cache = FeedCache(capacity=5)
    engine = SyncEngine(sqlite_storage, HybridClock("server"))
    phone = Phone(engine, actor("slamet"))
    for n in range(20):
        phone.mutate("create", f"inc-{n:02d}", "incidents", incident(n), warehouse_id=WH)
    await phone.push()
    wire, plain = await both_ways(engine, phone, 0, 10)
    assert wire == plain and len(wire["changes"]) == 10
    assert len(sqlite_storage.feed_cache) == 0, "an initial sync from far back does not fill the cache"
    wire, plain = await both_ways(engine, phone, 16, 10)
    assert wire == plain and [c["revision"] for c in wire["changes"]] == [17, 18, 19, 20]
    assert len(sqlite_storage.feed_cache) == 4


async def test_a_purged_tombstone_is_not_served_from_the_cache(sqlite_storage: SqliteStorage) -> None:
    engine = SyncEngine(sqlite_storage, HybridClock("server"))
    phone = Phone(engine, actor("slamet"))
    for n in range(3):
        phone.mutate("create", f"inc-{n}", "incidents", incident(n), warehouse_id=WH)
    await phone.push()
    phone.outbox.clear()
    phone.mutate("delete", "inc-1", "incidents", base_rev=2)
    await phone.push()
    wire, _ = await both_ways(engine, phone, 0, 100)
    assert [(c["id"], c.get("deleted")) for c in wire["changes"]][-1] == ("inc-1", True)
    assert sqlite_storage.feed_cache.get(WH, 4) is not None

    report = await purge_tombstones(
        sqlite_storage, older_than_days=1, actor_id="cli:test", now=datetime.now(UTC) + timedelta(days=2)
    )
    assert report.purged == ["inc-1"]
    wire, plain = await both_ways(engine, phone, report.horizons[WH], 100)
    assert wire == plain and wire["changes"] == []
    wire, plain = await both_ways(engine, phone, 0, 100)
    assert wire == plain and [c["id"] for c in wire["changes"]] == ["inc-0", "inc-2"]

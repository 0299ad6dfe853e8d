"""Outbox retention (server/alerts/retention.py): finished events and their deliveries go after the
retention, audited; nothing still to be delivered ever goes; the newest scheduled occurrence stays
so the next scan does not raise it again. On the shared backend fixture (SQLite, or --backend
postgres)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar

from server.alerts import retention
from server.audit import verify_log
from server.config import Config
from server.models import iso
from server.storage import Storage
from server.storage.alerts import NewDelivery, StoredEvent
from sync.audit import SYSTEM_CHAIN
from sync.store import AlertEvent
from tests.alerts.test_webhooks import worker_for
from tests.factories import Factory

DAY = 86400.0


def event(key: str, *, days_ago: float, name: str = "incident.created", subject: str = "") -> AlertEvent:
    return AlertEvent(
        key=key,
        event=name,
        warehouse_id="w1",
        subject=subject or f"incidents/{key}",
        record={"id": key},
        occurred_at=iso(datetime.now(UTC) - timedelta(days=days_ago)),
    )


async def fan_out(storage: Storage, targets: dict[str, list[str]], at: float) -> dict[str, StoredEvent]:
    """Dispatch every undispatched event to the webhooks `targets[key]`, made at `at`."""
    events = await storage.undispatched_events(100)
    made = [
        NewDelivery(event=e, channel="webhook", target_id=t) for e in events for t in targets.get(e.key, [])
    ]
    await storage.dispatch(events, made, at)
    return {e.key: e for e in events}


async def finish(storage: Storage, at: float, *, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Attempt every due delivery once at `at`: delivered, or dead for the targets in `fail`."""
    for delivery in await storage.claim_deliveries(at, 60.0, 100):
        if delivery.target_id in fail:
            await storage.delivery_failed(delivery, retry_at=None, error="HTTP 500")
        else:
            await storage.delivery_done(delivery, at)


async def purge_entries(storage: Storage) -> list[dict[str, Any]]:
    rows = await storage.audit_search(warehouse_ids=[], include_global=True, query="alert.outbox_purged")
    return [r.entry.detail for r in rows if r.entry.kind == "alert.outbox_purged"]


async def test_finished_events_past_retention_are_purged_and_audited(storage: Storage) -> None:
    now = time.time()
    old = now - 40 * DAY
    await storage.raise_events([event("delivered", days_ago=40), event("dead", days_ago=40)])
    await fan_out(storage, {"delivered": ["hook-a", "hook-b"], "dead": ["hook-c"]}, old)
    await finish(storage, old, fail={"hook-c"})
    replayed = await storage.deliveries("dead")

    summary = await retention.purge_finished(storage, retention_days=30, now=now)

    assert (summary.events, summary.deliveries) == (2, 3)
    assert await storage.alert_events() == []
    assert await storage.deliveries("delivered") == [] and await storage.deliveries("dead") == []
    [detail] = await purge_entries(storage)
    assert detail["retention_days"] == 30 and detail["cutoff"] == summary.cutoff
    named = {e["key"]: e["deliveries"] for e in detail["events"]}
    assert sorted(named) == ["dead", "delivered"]
    assert {(d[2], d[3]) for d in named["delivered"]} == {("hook-a", "delivered"), ("hook-b", "delivered")}
    assert all(d[5] == old for d in named["delivered"])  # when each was delivered
    [(dead_id, channel, target, status, attempts, delivered_at)] = named["dead"]
    assert (dead_id, channel, target, status, attempts, delivered_at) == (
        replayed[0].id, "webhook", "hook-c", "dead", 1, None)  # fmt: skip
    report = await verify_log(storage)
    assert report.ok and report.heads[SYSTEM_CHAIN].id >= 1
    # Nothing left: a second purge removes nothing and audits nothing.
    assert (await retention.purge_finished(storage, retention_days=30, now=now)).events == 0
    assert len(await purge_entries(storage)) == 1


async def test_nothing_to_deliver_or_recent_is_purged(storage: Storage) -> None:
    now = time.time()
    old = now - 40 * DAY
    await storage.raise_events([event("pending", days_ago=40), event("mixed", days_ago=40)])
    await fan_out(storage, {"pending": ["down"], "mixed": ["up", "down"]}, old)
    for delivery in await storage.claim_deliveries(old, 60.0, 100):
        if delivery.target_id == "down":  # retried later: still pending
            await storage.delivery_failed(delivery, retry_at=now + 60, error="HTTP 503")
        else:
            await storage.delivery_done(delivery, old)
    await storage.raise_events([event("recent", days_ago=2)])
    await fan_out(storage, {"recent": ["up"]}, now - 2 * DAY)
    await storage.raise_events([event("replayed", days_ago=40)])
    await fan_out(storage, {"replayed": ["hook"]}, old)
    await finish(storage, old, fail={"hook"})
    [dead] = [d for d in await storage.deliveries("dead") if d.target_id == "hook"]
    assert await storage.replay_delivery(dead.id, now - DAY)  # a new window, counted from the replay
    await finish(storage, now - DAY)
    await storage.raise_events([event("undispatched", days_ago=40)])  # not fanned out yet

    summary = await retention.purge_finished(storage, retention_days=30, now=now)

    assert summary.events == 0 and await purge_entries(storage) == []
    assert sorted(e.key for e in await storage.alert_events()) == [
        "mixed", "pending", "recent", "replayed", "undispatched"]  # fmt: skip
    pending = await storage.deliveries("pending")
    assert sorted(d.target_id for d in pending) == ["down", "down"]
    # Once delivered, the pending ones go too (retention counted from when they were made).
    await finish(storage, now + 60)
    await finish(storage, now + 60)  # "mixed" to "down" waited for "pending" (order per warehouse)
    await fan_out(storage, {}, now)  # "undispatched": no target at all
    summary = await retention.purge_finished(storage, retention_days=30, now=now + 60)
    assert sorted(e.key for e in await storage.alert_events()) == ["recent", "replayed"]
    assert summary.events == 3
    # 0 keeps everything.
    assert (await retention.purge_finished(storage, retention_days=0, now=now + 100 * DAY)).events == 0


async def test_the_newest_scheduled_occurrence_stays_so_it_is_not_raised_again(storage: Storage) -> None:
    now = time.time()
    old = now - 40 * DAY
    overdue = {"name": "inspection.overdue", "subject": "warehouses/w1"}
    first = event("inspection.overdue:w1:2026-10-01", days_ago=45, **overdue)
    second = event("inspection.overdue:w1:2026-10-20", days_ago=40, **overdue)
    await storage.raise_events([first, second])
    await fan_out(storage, {first.key: ["hook"], second.key: ["hook"]}, old)
    await finish(storage, old)
    await finish(storage, old)  # the second waited for the first (order per warehouse)

    assert (await retention.purge_finished(storage, retention_days=30, now=now)).events == 1

    assert [e.key for e in await storage.alert_events()] == [second.key]
    await storage.raise_events([second])  # the next scan notices the same occurrence
    assert [e.key for e in await storage.alert_events()] == [second.key]
    assert await storage.undispatched_events(10) == []


async def test_batches_each_audited(storage: Storage) -> None:
    now = time.time()
    await storage.raise_events([event(f"e{i}", days_ago=40) for i in range(5)])
    await fan_out(storage, {f"e{i}": ["hook"] for i in range(5)}, now - 40 * DAY)
    for _ in range(5):
        await finish(storage, now - 40 * DAY)
    summary = await retention.purge_finished(storage, retention_days=30, now=now, batch=2)
    assert (summary.events, summary.deliveries) == (5, 5)
    assert sorted(len(d["events"]) for d in await purge_entries(storage)) == [1, 2, 2]
    assert (await verify_log(storage)).ok


async def test_the_worker_purges_at_its_scan(
    client: httpx.AsyncClient, factory: Factory, app: Litestar, config: Config, storage: Storage
) -> None:
    await factory.reference_data()
    now = time.time()
    await storage.raise_events([event("old", days_ago=40)])
    await fan_out(storage, {"old": ["hook"]}, now - 40 * DAY)
    await finish(storage, now - 40 * DAY)
    worker = worker_for(app, config, storage, alert_retention_days=30)
    try:
        await worker.round()  # its first round scans
    finally:
        await worker.close()
    assert "old" not in {e.key for e in await storage.alert_events()}
    assert len(await purge_entries(storage)) == 1


def test_serve_help_names_the_retention() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--alert-retention-days" in shown and "TIGAPILAR_ALERT_RETENTION_DAYS" in shown

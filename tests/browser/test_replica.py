"""The phone's replica checks itself against the server's per-warehouse digest."""

from __future__ import annotations

from tests.browser.conftest import Server
from tests.browser.helpers import WAREHOUSE, local_record, login, sync_now

DAMAGE = """async (id) => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const session = await loadSession();
  const db = await openUserDb(session.userId);
  await db.delete('records', id);
  db.close();
}"""

DIGEST = """async (warehouseId) => {
  const { loadSession } = await import('/js/session.js');
  const { openUserDb } = await import('/js/db.js');
  const { localDigest } = await import('/js/replica.js');
  const session = await loadSession();
  const db = await openUserDb(session.userId);
  const digest = await localDigest(db, warehouseId);
  db.close();
  return digest;
}"""


async def test_a_damaged_replica_is_detected_and_pulled_again(open_app, server: Server) -> None:
    app = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    with server.api("slamet") as api:
        records = api.pull_all()
    victim = next(
        r for r in records.values() if r["warehouse_id"] == WAREHOUSE and r["collection"] == "incidents"
    )
    assert await local_record(page, victim["id"]) is not None

    # Storage loses a record (a "cleaning" app, a bug): the cursor still says we have it all.
    await page.evaluate(DAMAGE, victim["id"])
    assert await local_record(page, victim["id"]) is None

    # The next pull's digest does not match: the warehouse is wiped and pulled again from 0.
    await sync_now(page)
    restored = await local_record(page, victim["id"])
    assert restored is not None and restored["revision"] == victim["revision"]
    local = await page.evaluate(DIGEST, WAREHOUSE)
    assert local["count"] == sum(1 for r in records.values() if r["warehouse_id"] == WAREHOUSE)


async def test_a_purge_on_the_server_leaves_an_up_to_date_phone_in_agreement(
    open_app, server: Server
) -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    from server.retention import purge_tombstones
    from server.storage.sqlite import SqliteStorage

    app = await open_app("slamet")
    await login(app, "slamet")
    page = app.page
    gone = str(uuid.uuid4())
    with server.api("slamet") as api:
        fields = {"category": "lainnya", "severity": "rendah", "description": "Laporan ganda"}
        api.push(
            {
                "collection": "incidents",
                "op": "create",
                "id": gone,
                "warehouse_id": WAREHOUSE,
                "fields": fields,
            }
        )
        revision = api.pull_all()[gone]["revision"]
        api.push({"collection": "incidents", "op": "delete", "id": gone, "base_rev": revision})
    await sync_now(page)
    held = await local_record(page, gone)
    assert held is not None and held["deleted"]

    # An admin purges tombstones; the phone is up to date (its cursor is past the horizon).
    storage = SqliteStorage(server.database)
    await storage.open()
    try:
        report = await purge_tombstones(
            storage, older_than_days=1, actor_id="test-admin", now=datetime.now(UTC) + timedelta(days=2)
        )
    finally:
        await storage.close()
    assert gone in report.purged

    # The next pull tells the horizon: the phone drops its own tombstone, its digest agrees, and it
    # never wipes the warehouse to pull it again from 0.
    pulls: list[dict] = []
    page.on("request", lambda r: pulls.append(r.post_data_json) if r.url.endswith("/api/sync/pull") else None)
    await sync_now(page)
    assert await local_record(page, gone) is None
    assert pulls and all(WAREHOUSE in (p.get("cursors") or {}) for p in pulls), pulls
    with server.api("slamet") as api:
        records = api.pull_all()
    local = await page.evaluate(DIGEST, WAREHOUSE)
    assert local["count"] == sum(1 for r in records.values() if r["warehouse_id"] == WAREHOUSE)

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

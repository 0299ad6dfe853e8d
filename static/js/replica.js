// The local replica: the server's records exactly as pulled, per warehouse, with the cursors
// that say how far each warehouse is. Local edits never touch it (they wait in the outbox), so
// its digest can be compared with the server's.

import { computeDigest } from './digest.js';
import { loadClock, noteServerTime, saveClock } from './server-time.js';

/**
 * Apply one pull response in a single transaction: drops and resets first, then the changes,
 * then the cursors, the acknowledged mutation number and the clock (the offset to the server's
 * clock first, measured at `arrivedAt`, so the stamp received never meets a wrong wall clock).
 */
export function applyPull(db, response, arrivedAt = Date.now()) {
  return db.tx(['records', 'meta'], 'readwrite', async ({ records, meta }) => {
    const cursors = { ...((await meta.get('cursors')) ?? {}) };
    const gone = [...(response.drop ?? []), ...(response.reset ?? [])];
    for (const warehouseId of gone) {
      for (const id of await records.getAllKeysFromIndex('warehouse_id', warehouseId)) await records.delete(id);
    }
    // A purge on the server: a warehouse's digest no longer counts its tombstones at or below
    // that warehouse's horizon, so this phone forgets its own too (they say only that a record
    // is gone). Revisions are counted per warehouse, and so are horizons.
    const known = { ...((await meta.get('tombstone_horizons')) ?? {}) };
    let raised = false;
    for (const [warehouseId, horizon] of Object.entries(response.tombstone_horizons ?? {})) {
      if (horizon <= (known[warehouseId] ?? 0)) continue;
      for (const id of await records.getAllKeysFromIndex('warehouse_id', warehouseId)) {
        const record = await records.get(id);
        if (record?.deleted && record.revision <= horizon) await records.delete(id);
      }
      known[warehouseId] = horizon;
      raised = true;
    }
    if (raised) await meta.put(known, 'tombstone_horizons');
    for (const change of response.changes ?? []) {
      await records.put({
        id: change.id,
        collection: change.collection,
        warehouse_id: change.warehouse_id,
        revision: change.revision,
        fields: change.fields ?? {},
        deleted: Boolean(change.deleted),
        created_by: change.created_by ?? '',
        updated_by: change.updated_by ?? '',
        updated_at: change.updated_at ?? '',
      });
    }
    Object.assign(cursors, response.cursors ?? {});
    for (const warehouseId of gone) delete cursors[warehouseId];
    await meta.put(cursors, 'cursors');
    await meta.put(response.scope ?? [], 'scope');
    const acked = (await meta.get('acked_seq')) ?? 0;
    await meta.put(Math.max(acked, response.reflected_seq ?? 0), 'acked_seq');
    if (response.server_hlc) {
      await noteServerTime(meta, response, arrivedAt);
      const clock = await loadClock(meta);
      clock.receive(response.server_hlc);
      await saveClock(meta, clock);
    }
  });
}

export async function localDigest(db, warehouseId) {
  return computeDigest(await db.getAllFromIndex('records', 'warehouse_id', warehouseId));
}

/** Forget a warehouse's local copy; the next pull backfills it from 0. */
export function wipeWarehouse(db, warehouseId) {
  return db.tx(['records', 'meta'], 'readwrite', async ({ records, meta }) => {
    for (const id of await records.getAllKeysFromIndex('warehouse_id', warehouseId)) await records.delete(id);
    const cursors = (await meta.get('cursors')) ?? {};
    delete cursors[warehouseId];
    await meta.put(cursors, 'cursors');
  });
}

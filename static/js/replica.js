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
    // A purge: a warehouse's digest no longer counts its tombstones at or below its horizon,
    // so this phone forgets its own too.
    const known = { ...((await meta.get('tombstone_horizons')) ?? {}) };
    for (const [w, horizon] of Object.entries(response.tombstone_horizons ?? {})) {
      if (horizon <= (known[w] ?? 0)) continue;
      for (const r of await records.getAll()) if (r.deleted && r.warehouse_id === w && r.revision <= horizon) await records.delete(r.id);
      known[w] = horizon;
      await meta.put(known, 'tombstone_horizons');
    }
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

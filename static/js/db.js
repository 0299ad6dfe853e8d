// A tiny promise layer over IndexedDB, in the spirit of Jake Archibald's idb.
//
// The one rule that matters: never await anything but IndexedDB requests inside a transaction
// (no fetch, no timers): the transaction commits as soon as it has no pending request, and a
// later request throws TransactionInactiveError. Read what you need, let the transaction end,
// do the network work, then write in a new transaction.

export function promisify(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('Transaction aborted', 'AbortError'));
    tx.onerror = () => reject(tx.error);
  });
}

/** One object store inside a running transaction; every method returns a promise. */
class Store {
  constructor(store) {
    this.raw = store;
  }
  get(key) { return promisify(this.raw.get(key)); }
  getAll(query, count) { return promisify(this.raw.getAll(query, count)); }
  getAllFromIndex(index, query) { return promisify(this.raw.index(index).getAll(query)); }
  getAllKeysFromIndex(index, query) { return promisify(this.raw.index(index).getAllKeys(query)); }
  count(query) { return promisify(this.raw.count(query)); }
  put(value, key) { return promisify(this.raw.put(value, key)); }
  delete(key) { return promisify(this.raw.delete(key)); }
  clear() { return promisify(this.raw.clear()); }
}

export class Database extends EventTarget {
  constructor(idb) {
    super();
    this.idb = idb;
    /** When a write last failed for want of space, or null. Emits "storage". */
    this.quotaErrorAt = null;
    // Another tab upgrading or deleting this database: let it, we reopen on next start.
    idb.onversionchange = () => idb.close();
  }

  get name() { return this.idb.name; }

  /**
   * Run `work(stores)` in one transaction over `names`; resolves with work's result once the
   * transaction has committed. `stores` maps each name to a Store. If work throws, the
   * transaction is aborted and nothing is written.
   */
  async tx(names, mode, work) {
    const list = Array.isArray(names) ? names : [names];
    const tx = this.idb.transaction(list, mode);
    const finished = done(tx);
    const stores = Object.fromEntries(list.map((name) => [name, new Store(tx.objectStore(name))]));
    let result;
    try {
      result = await work(stores);
    } catch (error) {
      try { tx.abort(); } catch { /* already finished */ }
      finished.catch(() => {});
      this.noteFailure(error);
      throw error;
    }
    await finished.catch((error) => {
      this.noteFailure(error);
      throw error;
    });
    return result;
  }

  /** A write that did not fit: the officer is told (sync-state.js). */
  noteFailure(error) {
    if (error?.name !== 'QuotaExceededError') return;
    this.quotaErrorAt = Date.now();
    this.dispatchEvent(new Event('storage'));
  }

  /** A large write (a photo) went through: there is room again. */
  noteRoom() {
    if (this.quotaErrorAt === null) return;
    this.quotaErrorAt = null;
    this.dispatchEvent(new Event('storage'));
  }

  get(store, key) { return this.tx(store, 'readonly', (s) => s[store].get(key)); }
  getAll(store, query) { return this.tx(store, 'readonly', (s) => s[store].getAll(query)); }
  getAllFromIndex(store, index, query) {
    return this.tx(store, 'readonly', (s) => s[store].getAllFromIndex(index, query));
  }
  put(store, value, key) { return this.tx(store, 'readwrite', (s) => s[store].put(value, key)); }
  delete(store, key) { return this.tx(store, 'readwrite', (s) => s[store].delete(key)); }
  count(store, query) { return this.tx(store, 'readonly', (s) => s[store].count(query)); }

  close() { this.idb.close(); }
}

/** Open (and create or upgrade) a database. upgrade(idb, oldVersion, tx) runs in versionchange. */
export function openDatabase(name, version, upgrade) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onupgradeneeded = (event) => upgrade(request.result, event.oldVersion, request.transaction);
    request.onsuccess = () => resolve(new Database(request.result));
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`Database ${name} is blocked by another tab`));
  });
}

export function deleteDatabase(name) {
  return promisify(indexedDB.deleteDatabase(name));
}

// --- The two databases of the app -------------------------------------------------------------

/**
 * Device database: who is logged in on this phone. Nothing else lives here, so one officer's
 * data never sits in a database another officer's session opens.
 */
export function openDeviceDb() {
  return openDatabase('tigapilar-device', 1, (idb) => {
    idb.createObjectStore('kv');
  });
}

export const USER_STORES = ['meta', 'records', 'outbox', 'drafts', 'photos'];

/**
 * One database per user ("tigapilar-<userId>"): a second officer on the same phone opens a
 * different database and never sees the first one's drafts, outbox or photos.
 *
 *   meta     key → value: client id, next mutation number, clock, cursors, cached reference data
 *   records  the server's records as last pulled (the replica), by id
 *   outbox   queued mutations, by seq
 *   drafts   unsent forms (a new incident, a stock count), by key
 *   photos   compressed JPEG blobs, by sha256
 */
export function userDbName(userId) {
  return `tigapilar-${userId}`;
}

export function openUserDb(userId) {
  return openDatabase(userDbName(userId), 1, (idb) => {
    idb.createObjectStore('meta');
    const records = idb.createObjectStore('records', { keyPath: 'id' });
    records.createIndex('warehouse_id', 'warehouse_id');
    records.createIndex('collection', 'collection');
    const outbox = idb.createObjectStore('outbox', { keyPath: 'seq' });
    outbox.createIndex('record', 'id');
    idb.createObjectStore('drafts', { keyPath: 'key' });
    idb.createObjectStore('photos', { keyPath: 'sha' });
  });
}

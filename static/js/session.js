// Who is logged in on this phone, kept in the small device database so the service worker can
// read it too (localStorage does not exist in a worker).
//
//   session     {token, userId, username, clientId, loggedInAt}
//   client_ids  {username: clientId}: a device keeps one client id per officer, so a re-login on
//               the same phone continues the same mutation numbering.

import { openDeviceDb, openUserDb } from './db.js';
import { randomId } from './uuid7.js';

async function withDevice(work) {
  const db = await openDeviceDb();
  try {
    return await work(db);
  } finally {
    db.close();
  }
}

export function loadSession() {
  return withDevice((db) => db.get('kv', 'session')).then((s) => s ?? null);
}

export function saveSession(session) {
  return withDevice((db) => db.put('kv', session, 'session'));
}

export function clearSession() {
  return withDevice((db) => db.delete('kv', 'session'));
}

/** The client id this device uses for `username` (made on first login). */
export function clientIdFor(username) {
  return withDevice((db) =>
    db.tx('kv', 'readwrite', async ({ kv }) => {
      const ids = (await kv.get('client_ids')) ?? {};
      if (!ids[username]) {
        ids[username] = `dev-${randomId()}`;
        await kv.put(ids, 'client_ids');
      }
      return ids[username];
    }),
  );
}

export function forgetClientId(username) {
  return withDevice((db) =>
    db.tx('kv', 'readwrite', async ({ kv }) => {
      const ids = (await kv.get('client_ids')) ?? {};
      delete ids[username];
      await kv.put(ids, 'client_ids');
    }),
  );
}

/**
 * Open the user's database and make sure it knows its client id. The client id and the mutation
 * counter live together in the user database: they are only ever wiped together, so a client id
 * can never restart its numbering at 1 (which the server would answer with old, replayed results).
 */
export async function openSessionDb(session) {
  const db = await openUserDb(session.userId);
  const clientId = await db.tx('meta', 'readwrite', async ({ meta }) => {
    let id = await meta.get('client_id');
    if (!id) {
      id = session.clientId;
      await meta.put(id, 'client_id');
      await meta.put(1, 'next_seq');
    }
    return id;
  });
  return { db, clientId };
}

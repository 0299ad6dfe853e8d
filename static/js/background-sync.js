// Background Sync, run by the service worker when the browser says the network is back.
// If the app is open, the page does the work (it also refreshes the screen); otherwise the
// worker runs one sync round itself with the stored session.

import { createApi } from './api.js';
import { loadSession, openSessionDb } from './session.js';
import { syncOnce } from './sync-client.js';

export const SYNC_TAG = 'tigapilar-outbox';

export async function backgroundSync(clients) {
  const windows = await clients.matchAll({ type: 'window' });
  if (windows.length) {
    for (const client of windows) client.postMessage({ type: 'sync' });
    return;
  }
  const session = await loadSession();
  if (!session) return;
  const { db, clientId } = await openSessionDb(session);
  try {
    // A failure rejects the waitUntil promise, and the browser retries later with its own backoff.
    await syncOnce({ db, api: createApi(session.token), clientId });
  } finally {
    db.close();
  }
}

// Who is logged in on this supervisor page, and its sync-client state.
//
// The supervisor's browser is a sync client like a phone: it logs in with a client id of its own
// (one per user on this browser, "sup-…"), numbers its mutations 1, 2, 3… and stamps them with a
// hybrid logical clock whose node is that client id. All of it lives in localStorage.

import { randomId } from '/js/uuid7.js';

const SESSION_KEY = 'tigapilar.supervisor.session';
const IDS_KEY = 'tigapilar.supervisor.client_ids';

function read(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null') ?? fallback;
  } catch {
    return fallback;
  }
}

export const loadSession = () => read(SESSION_KEY, null);

export function saveSession(session) {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

/** The client id this browser uses for `username` (made on first login, kept after logout so the
 * numbering of its mutations continues). */
export function clientIdFor(username) {
  const ids = read(IDS_KEY, {});
  if (!ids[username]) {
    ids[username] = `sup-${randomId(10)}`;
    localStorage.setItem(IDS_KEY, JSON.stringify(ids));
  }
  return ids[username];
}

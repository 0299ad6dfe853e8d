// What the officer is told about sync, worked out once for the status bar and the sync page so
// the two never disagree: the connection as the server's answers show it, what is being sent
// (changes and photos counted apart), what waits, when the next try is, and the problems only
// the officer can solve, each with what to do.

import { formatClock, t } from '../i18n.js';
import { allEntries, referencedPhotos } from '../outbox.js';
import { allConflicts } from '../records.js';
import { OFFSET_KEY, clockIsOff } from '../server-time.js';

/** Storage this full counts as full: new photos may no longer fit. */
const STORAGE_FULL_RATIO = 0.95;

const kb = (bytes) => Math.round(bytes / 1024);

/** The server's reason for a 401 (docs/sync-protocol.md) → the problem the officer is shown. */
const SESSION_ENDS = { token_revoked: 'token_revoked', account_disabled: 'account_disabled' };
/** Problems that do not stop syncing. */
const NOT_BLOCKING = new Set(['clock_off', 'storage_full']);

/** After a write that did not fit, storage counts as full this long unless a photo fits again. */
const QUOTA_ERROR_SHOWN_MS = 10 * 60_000;

/** Storage is full: a write did not fit (db.quotaErrorAt, until a photo fits), or nearly used up. */
async function storageFull(db) {
  if (db.quotaErrorAt !== null && Date.now() - db.quotaErrorAt < QUOTA_ERROR_SHOWN_MS) return true;
  try {
    const { usage, quota } = (await navigator.storage?.estimate?.()) ?? {};
    return Boolean(quota) && usage / quota > STORAGE_FULL_RATIO;
  } catch {
    return false;
  }
}

/**
 * {net, netLabel, state, activity, pending, photosWaiting, photoBytesWaiting, rejected,
 *  refusedPhotos, conflictsOpen, lastSync, retryAt, problems: [{code, short, advice}]}
 *
 * net: online | offline | unreachable | unknown (from reachability, never navigator.onLine).
 * state: attention (a problem only the officer can solve) | offline | unreachable | syncing |
 * waiting (something to send, the next round is due) | synced | never.
 */
export async function describeSync(app) {
  const { ctx } = app;
  const sync = ctx.sync;
  const [entries, conflicts, lastSync, clockOffset, photos, full] = await Promise.all([
    allEntries(ctx.db),
    allConflicts(ctx.db),
    ctx.db.get('meta', 'last_sync'),
    ctx.db.get('meta', OFFSET_KEY),
    ctx.db.getAll('photos'),
    storageFull(ctx.db),
  ]);
  const pending = entries.filter((e) => e.state === 'pending');
  const rejected = entries.filter((e) => e.state === 'rejected');
  const byHash = new Map(photos.map((photo) => [photo.sha, photo]));
  const waitingPhotos = [...new Set(pending.flatMap(referencedPhotos))]
    .map((sha) => byHash.get(sha))
    .filter((photo) => photo && !photo.uploaded && !photo.refused);

  const problems = [];
  if (app.sessionExpired) {
    const code = SESSION_ENDS[app.sessionEndReason] ?? 'session_expired';
    problems.push({ code, short: t(`status.${code}`), advice: t(`sync.${code}`) });
  }
  if (app.upgradeRequired) problems.push({ code: 'upgrade_required', short: t('status.upgrade_required'), advice: t('sync.upgrade_required') });
  if (clockIsOff(clockOffset)) problems.push({ code: 'clock_off', short: t('status.clock_off'), advice: null, offset: clockOffset });
  if (full) {
    problems.push({ code: 'storage_full', short: t('status.storage_full'), advice: t('sync.storage_full') });
  }

  const net = sync.reachability.state;
  const waiting = pending.length > 0 || waitingPhotos.length > 0;
  let state;
  // Storage full and a wrong date are told with what to do, but syncing goes on meanwhile.
  if (problems.some((p) => !NOT_BLOCKING.has(p.code))) state = 'attention';
  else if (sync.syncing && net !== 'offline' && net !== 'unreachable') state = 'syncing';
  else if (net === 'offline' || net === 'unreachable') state = net;
  else if (sync.syncing) state = 'syncing';
  else if (waiting) state = 'waiting';
  else state = lastSync ? 'synced' : 'never';

  return {
    net,
    netLabel: t(`status.net.${net}`),
    state,
    activity: state === 'syncing' ? activityText(sync.progress) : null,
    pending: pending.length,
    photosWaiting: waitingPhotos.length,
    photoBytesWaiting: waitingPhotos.reduce((sum, photo) => sum + (photo.size ?? photo.blob?.size ?? 0), 0),
    rejected,
    refusedPhotos: photos.filter((photo) => photo.refused),
    conflictsOpen: conflicts.filter((c) => c.fields.status === 'open'),
    conflictsClosed: conflicts.filter((c) => c.fields.status !== 'open'),
    lastSync: lastSync ?? 0,
    retryAt: (state === 'offline' || state === 'unreachable') && sync.nextAttemptAt ? sync.nextAttemptAt : null,
    problems,
  };
}

/** "2 dari 5 foto · 380 dari 975 KB", "3 dari 12 perubahan", "mengambil pembaruan…". */
export function activityText(progress) {
  const photos = progress?.photos;
  if (progress?.phase === 'push' && photos?.photos && photos.photosDone < photos.photos) {
    return t('status.sending_photos', {
      done: photos.photosDone,
      count: photos.photos,
      sent: kb(photos.bytesDone),
      size: kb(photos.bytes),
    });
  }
  const mutations = progress?.mutations;
  if (progress?.phase === 'push' && mutations?.total) {
    return t('status.sending_changes', { done: mutations.done, count: mutations.total });
  }
  if (progress?.phase === 'pull') return t('status.pulling');
  return t('status.syncing');
}

/** When the next try is, for "coba lagi 14.05.30". */
export function retryText(at) {
  return at ? t('status.retry_at', { time: formatClock(Math.max(at, Date.now())) }) : null;
}

// Synchronisation: upload photos, push the outbox in order, then pull until caught up.
//
// `syncOnce` is one complete round and runs in a page or in the service worker (Background
// Sync). `SyncClient` decides when to run it in a page: on start, every 30 s while the app is
// open, shortly after a local edit, and after a failure with exponential backoff and jitter.
// Whether the server is reachable comes from what it answers (reachability.js): while it is not,
// something waiting is retried by a cheap probe first; `online`/`offline` events only bring that
// probe forward. A round whose requests hang is watched: the officer sees within seconds that the
// server does not answer, and a request stuck after the server answers again is given up on.
//
// Photos go up in ranges sized to the link; the server keeps what arrived (server/uploads.py) and
// says how much it holds, also while a range goes (progress, and a silent link shows in seconds).
//
// Safety rules:
// - No network request inside an IndexedDB transaction: read, let the transaction commit, send,
//   then write the answer in a new transaction.
// - Entries are marked as sent before the push; a retry after a lost answer sends the same
//   numbers again and the server replays its stored answers (exactly once).
// - Photos go up before the mutations that reference them.
// - Every answer's server_hlc updates the offset to the server's clock (server-time.js); a push
//   refused 400 clock_ahead (stamps made under a wrong date) is stamped again, with the times it
//   wrote into records by that date, and sent once more (outbox.js restampPending). A phone whose
//   date went back since its last sync pulls first and moves the times it wrote since forward.

import { ApiError, NetworkError } from './api.js';
import { Reachability } from './reachability.js';
import {
  PROTOCOL,
  SCHEMA_VERSION,
  applyResults,
  correctTimesBehind,
  pendingEntries,
  referencedPhotos,
  removeReflected,
  renumberFrom,
  restampPending,
  takeBatch,
  toWire,
} from './outbox.js';
import { applyPull, localDigest, wipeWarehouse } from './replica.js';
import { NOTICE_MS, OFFSET_KEY, noteServerTime, serverTimeOf } from './server-time.js';

const PUSH_BATCH = 500;
// Changes per pull page: a new phone loading a warehouse's history is ~1.5x faster with pages of
// 2,000 than of 500 (docs/benchmarks.md), and a page is still only ~1-2 MB of JSON.
const PULL_LIMIT = 2000;
const MAX_PULL_ROUNDS = 200;

/** Run `work` under a cross-tab lock (page and service worker never sync at the same time). */
export function withLock(name, work) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(name, work) : work();
}

/** Refusals of a photo's bytes that no retry can change (the photo itself is the problem). */
const PHOTO_REFUSALS = new Set([400, 413, 415]);
const CHUNK_MIN = 16 * 1024;
const CHUNK_MAX = 1024 * 1024;
const CHUNK_TARGET_MS = 4000;
/** Upload speed measured on the last ranges (bytes per ms); starts low, like a weak signal. */
const link = { upRate: 8, answerMs: 0 };

// A slow link is not a dead one.
function noteAnswer(ms) {
  link.answerMs = link.answerMs ? 0.5 * link.answerMs + 0.5 * ms : ms;
}
/** While a range goes, the server is asked how much it holds this often (progress; probe). */
export const RANGE_POLL_MS = 1200;
/** A range whose bytes stop arriving this long while the server answers is stuck. */
const RANGE_STUCK_MS = 10_000;

function chunkSize() {
  return Math.max(CHUNK_MIN, Math.min(CHUNK_MAX, Math.round(link.upRate * CHUNK_TARGET_MS)));
}

function noteUpload(bytes, ms) {
  if (bytes <= 0 || ms <= 0) return;
  link.upRate = 0.5 * link.upRate + 0.5 * (bytes / ms);
}

async function refuse(db, photo, error) {
  await db.tx('photos', 'readwrite', async ({ photos }) => {
    const stored = await photos.get(photo.sha);
    if (stored) await photos.put({ ...stored, refused: { code: error.code, message: error.message } });
  });
}

/**
 * PUT one range, asking the server meanwhile how far it got (`onStored(n)`). No answer, or bytes
 * that stop arriving, give the range up (NetworkError); the next round goes on from what arrived.
 */
async function putRange(api, photo, part, offset, total, onStored) {
  const range = new AbortController();
  let polling = true;
  const watch = (async () => {
    let held = offset;
    let movedAt = Date.now();
    let next = Date.now() + RANGE_POLL_MS / 2;
    while (polling) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      if (!polling) return;
      next = Date.now() + RANGE_POLL_MS;
      let status;
      const asked = Date.now();
      try {
        const timeout = Math.max(PROBE_TIMEOUT_MS, 1.5 * link.answerMs);
        status = await api.uploadStatus(photo.sha, { timeout, signal: range.signal });
        noteAnswer(Date.now() - asked);
      } catch (error) {
        if (polling && error instanceof NetworkError) range.abort();
        return;
      }
      if (!polling) return;
      if (status.stored > held) {
        held = status.stored;
        movedAt = Date.now();
        onStored(Math.min(held, offset + part.size));
      } else if (Date.now() - movedAt > RANGE_STUCK_MS) {
        range.abort();
        return;
      }
    }
  })();
  try {
    return await api.putAttachmentRange(photo.sha, part, offset, total, { signal: range.signal });
  } finally {
    polling = false;
    range.abort();
    await watch;
  }
}

/**
 * PUT one photo, range by range, from where the server's copy ends. A photo the server refuses
 * (corrupt, unsupported type, too large) is marked `refused` and skipped from then on, so one bad
 * photo never blocks the rest of the outbox; the sync screen lists it. `onBytes(n)` reports bytes
 * the server confirmed.
 */
async function putPhoto(db, api, photo, onBytes = () => {}) {
  const total = photo.blob.size;
  let offset = 0;
  let confirmed = 0;
  const confirm = (stored) => {
    if (stored === confirmed) return;
    onBytes(stored - confirmed);
    confirmed = stored;
  };
  if (photo.upload_started) {
    const status = await api.uploadStatus(photo.sha);
    if (status.complete) {
      onBytes(total);
      return true;
    }
    offset = status.stored;
  } else {
    await db.tx('photos', 'readwrite', async ({ photos }) => {
      const stored = await photos.get(photo.sha);
      if (stored) await photos.put({ ...stored, upload_started: true });
    });
  }
  confirm(offset);
  while (offset < total) {
    const part = photo.blob.slice(offset, Math.min(total, offset + chunkSize()));
    const started = Date.now();
    let answer;
    try {
      answer = await putRange(api, photo, part, offset, total, confirm);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'upload_offset_mismatch' && Number.isInteger(error.body.stored)) {
        offset = error.body.stored;
        confirm(offset);
        continue;
      }
      if (!(error instanceof ApiError) || !PHOTO_REFUSALS.has(error.status)) throw error;
      await refuse(db, photo, error);
      return false;
    }
    noteUpload(part.size, Date.now() - started);
    offset = answer.complete ? total : answer.stored;
    confirm(offset);
  }
  return true;
}

/**
 * Make sure the server holds every photo in `hashes` that we have locally. `progress` (optional)
 * is told {photos, photosDone, bytes, bytesDone} as the upload goes.
 */
export async function uploadPhotos(db, api, hashes, progress = () => {}) {
  const wanted = [...new Set(hashes)];
  if (!wanted.length) return 0;
  const local = (await Promise.all(wanted.map((sha) => db.get('photos', sha)))).filter(Boolean);
  const candidates = local.filter((photo) => !photo.uploaded && !photo.refused);
  if (!candidates.length) return 0;
  let uploaded = 0;
  for (let i = 0; i < candidates.length; i += 1000) {
    const chunk = candidates.slice(i, i + 1000);
    const asked = Date.now();
    const { missing } = await api.missingAttachments(chunk.map((photo) => photo.sha));
    noteAnswer(Date.now() - asked);
    const absent = new Set(missing);
    // Counted over every photo the waiting changes carry (those the server has count as done),
    // so "2 dari 5 foto" stays the same five across a dropped connection.
    const counts = { photos: 0, photosDone: 0, bytes: 0, bytesDone: 0 };
    for (const photo of local.filter((p) => !p.refused)) {
      const size = photo.blob?.size ?? photo.size ?? 0;
      counts.photos += 1;
      counts.bytes += size;
      if (!absent.has(photo.sha)) {
        counts.photosDone += 1;
        counts.bytesDone += size;
      }
    }
    if (absent.size) progress({ ...counts });
    for (const photo of chunk) {
      if (absent.has(photo.sha)) {
        const sent = await putPhoto(db, api, photo, (bytes) => {
          counts.bytesDone += bytes;
          progress({ ...counts });
        });
        counts.photosDone += 1;
        progress({ ...counts });
        if (!sent) continue;
        uploaded += 1;
      }
      await markUploaded(db, photo.sha);
    }
  }
  return uploaded;
}

function markUploaded(db, sha) {
  return db.tx('photos', 'readwrite', async ({ photos }) => {
    const photo = await photos.get(sha);
    if (photo && !photo.uploaded) {
      photo.uploaded = true;
      await photos.put(photo);
    }
  });
}

/** Upload photos the server reported missing; they may be marked uploaded by mistake. */
async function reupload(db, api, hashes) {
  const unique = [...new Set(hashes)];
  for (const sha of unique) {
    const photo = await db.get('photos', sha);
    if (photo && !photo.refused) await putPhoto(db, api, photo);
  }
}

function noteServerClock(db, answer, arrivedAt) {
  return db.tx('meta', 'readwrite', ({ meta }) => noteServerTime(meta, answer, arrivedAt));
}

async function push(db, api, clientId, progress) {
  let results = [];
  let renumbered = false;
  let restamped = false;
  let sent = 0;
  for (;;) {
    const pending = await pendingEntries(db);
    if (!pending.length) return results;
    await uploadPhotos(db, api, pending.flatMap(referencedPhotos), (photos) => progress({ photos }));
    progress({ mutations: { total: sent + pending.length, done: sent } });
    const batch = await takeBatch(db, PUSH_BATCH);
    let response;
    let arrived;
    try {
      response = await api.push({
        protocol: PROTOCOL,
        client_id: clientId,
        schema_version: SCHEMA_VERSION,
        mutations: batch.map(toWire),
      });
      arrived = Date.now();
    } catch (error) {
      const expected = error instanceof ApiError && error.code === 'sequence_gap' ? error.body.expected_seq : null;
      if (expected && !renumbered && expected < batch[0].seq) {
        renumbered = true;
        await renumberFrom(db, expected);
        continue;
      }
      if (error instanceof ApiError && error.code === 'clock_ahead' && !restamped) {
        // Stamped while the phone's date was ahead: take the server's clock, stamp again, retry
        // once at once (nothing was applied). A second refusal goes to the normal backoff.
        restamped = true;
        const refusedAt = Date.now();
        const serverHlc = typeof error.body.server_hlc === 'string' ? error.body.server_hlc : null;
        // The offset the queued times were made with, and the one the refusal tells.
        const before = (await db.get('meta', OFFSET_KEY)) ?? 0;
        const serverNowMs = serverTimeOf(error.body);
        if (serverHlc) await noteServerClock(db, error.body, refusedAt);
        await restampPending(db, serverHlc, { serverNowMs, shiftMs: serverNowMs - refusedAt - before });
        continue;
      }
      throw error;
    }
    await noteServerClock(db, response, arrived);
    await applyResults(db, response.results);
    results = results.concat(response.results);
    sent += batch.length;
    progress({ mutations: { total: sent + pending.length - batch.length, done: sent } });
    const pendingPhotos = response.results.flatMap((result) => result.pending_attachments ?? []);
    if (pendingPhotos.length) await reupload(db, api, pendingPhotos);
  }
}

async function pull(db, api, clientId) {
  let changes = 0;
  const repaired = new Set();
  for (let round = 0; round < MAX_PULL_ROUNDS; round += 1) {
    const [cursors, acked] = await db.tx('meta', 'readonly', async ({ meta }) => [
      (await meta.get('cursors')) ?? {},
      (await meta.get('acked_seq')) ?? 0,
    ]);
    const response = await api.pull({
      protocol: PROTOCOL,
      client_id: clientId,
      cursors,
      limit: PULL_LIMIT,
      acked_seq: acked,
    });
    await applyPull(db, response, Date.now());
    changes += response.changes.length;
    await removeReflected(db, response.reflected_seq ?? 0);
    if (response.missing_attachments?.length) await reupload(db, api, response.missing_attachments);

    let again = (response.reset ?? []).length > 0;
    for (const [warehouseId, digest] of Object.entries(response.digests ?? {})) {
      const local = await localDigest(db, warehouseId);
      if (local.count !== digest.count || local.checksum !== digest.checksum) {
        if (repaired.has(warehouseId)) continue; // wiped once this round already; try next time
        repaired.add(warehouseId);
        await wipeWarehouse(db, warehouseId);
        again = true;
      }
    }
    if (!response.has_more && !again) return changes;
  }
  return changes;
}

const PHOTO_KEEP_MS = 14 * 24 * 3600_000;

/**
 * Free space on the phone: photos the server has had for two weeks are dropped locally (they are
 * shown from the server's thumbnails). Photos not uploaded yet are never touched.
 */
export function pruneUploadedPhotos(db, now = Date.now()) {
  return db.tx('photos', 'readwrite', async ({ photos }) => {
    for (const photo of await photos.getAll()) {
      if (photo.uploaded && now - photo.created_at > PHOTO_KEEP_MS) await photos.delete(photo.sha);
    }
  });
}

/**
 * A phone whose date went back since its last sync has written times that far in the past, and a
 * push would carry them: its clock stamps hide the jump from the server (the hybrid clock never
 * goes back). Its wall clock is then behind its own clock's last stamp. So it pulls first, which
 * tells it the server's time, and moves those times forward (outbox.js correctTimesBehind).
 */
async function catchUpWithAClockGoneBack(db, api, clientId) {
  const [offset, stamp] = await db.tx('meta', 'readonly', async ({ meta }) => [
    (await meta.get(OFFSET_KEY)) ?? 0,
    await meta.get('hlc'),
  ]);
  if (!stamp || Date.now() + offset >= stamp.ms - NOTICE_MS) return;
  await pull(db, api, clientId);
  const learnt = (await db.get('meta', OFFSET_KEY)) ?? 0;
  if (learnt - offset > NOTICE_MS) await correctTimesBehind(db, learnt - offset, Date.now() + learnt);
}

/**
 * One complete round: photos, push, pull. Throws ApiError / NetworkError on failure. `progress`
 * (optional) is told {phase, mutations: {total, done}, photos: {photos, photosDone, bytes,
 * bytesDone}} as the round goes.
 */
export async function syncOnce({ db, api, clientId, lockName = `tigapilar-sync-${db.name}`, progress = () => {} }) {
  return withLock(lockName, async () => {
    await catchUpWithAClockGoneBack(db, api, clientId);
    progress({ phase: 'push' });
    const results = await push(db, api, clientId, (part) => progress({ phase: 'push', ...part }));
    progress({ phase: 'pull' });
    const changes = await pull(db, api, clientId);
    await pruneUploadedPhotos(db);
    await db.tx('meta', 'readwrite', async ({ meta }) => {
      await meta.put(Date.now(), 'last_sync');
      await meta.put(null, 'last_error');
    });
    return { results, changes };
  });
}

/** How long a round may go without any sign of life before the server is asked whether it answers. */
export const STALL_MS = 1200;
/** A probe's own time limit: short, so a silent server shows within seconds. */
export const PROBE_TIMEOUT_MS = 2500;
/** A request with no sign of life this long (beyond what its body needs) is stuck once the server answers again. */
const STUCK_MS = 10_000;
const WATCH_MS = 500;
/** At most this much of a request body's expected sending time is waited before a probe. */
const BODY_GRACE_MS = 2500;
/** Longest wait between probes while something waits and the server does not answer. */
const PROBE_EVERY_MS = 4_000;
/** Status events at most this often while bytes move (the bar shows progress, not every byte). */
const PROGRESS_EVENT_MS = 400;

/**
 * Scheduling in a page. Emits "status" (state, progress or reachability changed) and "synced"
 * (data may have changed), "failed" (a refusal that waits for the officer).
 *
 * What the officer is shown comes from: `reachability.state`, `syncing`, `progress`,
 * `nextAttemptAt` (when the next try is due while the server does not answer), `lastError`.
 */
export class SyncClient extends EventTarget {
  constructor({ db, api, clientId, intervalMs = 30_000, debounceMs = 1_500 }) {
    super();
    this.db = db;
    this.api = api;
    this.clientId = clientId;
    this.intervalMs = intervalMs;
    this.debounceMs = debounceMs;
    this.running = null;
    this.failures = 0;
    this.timer = null;
    this.nextAttemptAt = null;
    this.lastError = null;
    this.stopped = false;
    this.progress = null;
    this.probing = null;
    this.reachability = new Reachability();
    this.reachability.addEventListener('change', () => this.status());
    api.observe?.((outcome) => this.reachability.note(outcome));
    this.lastProgressEvent = 0;
    // Hints only: they bring the next probe forward, the answer decides.
    this.onOnline = () => {
      this.failures = 0;
      this.now('online');
    };
    this.onOffline = () => this.now('offline');
    this.onVisible = () => {
      if (document.visibilityState === 'visible') this.now('visible');
    };
  }

  start() {
    addEventListener('online', this.onOnline);
    addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
    this.now('start');
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchTimer);
    removeEventListener('online', this.onOnline);
    removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
  }

  /** Stop, cancel what is on the wire and wait for the round to end (before the token is revoked:
   *  an upload still running would be answered 401). Nothing queued is lost: it stays in the db. */
  async halt() {
    this.stop();
    this.api.abortAll();
    await this.running?.catch(() => {});
  }

  get syncing() {
    return this.running !== null;
  }

  status() {
    this.dispatchEvent(new Event('status'));
  }

  /** A local edit was queued: sync soon, after the officer stops typing. */
  soon() {
    this.schedule(this.debounceMs);
  }

  schedule(delay) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.nextAttemptAt = Date.now() + delay;
    this.timer = setTimeout(() => this.now('timer'), delay);
  }

  /** 2 s, 4 s, 8 s … up to 5 min, each ±50 % so phones that lost signal together spread out. */
  backoffDelay() {
    const base = Math.min(5 * 60_000, 1_000 * 2 ** Math.min(this.failures, 9));
    return Math.round(base * (0.5 + Math.random()));
  }

  /** While the server does not answer and something waits: 1 s, 2 s, 3 s, then every ~4 s. */
  probeDelay() {
    return Math.round(Math.min(PROBE_EVERY_MS, 1_000 * this.failures) * (0.85 + 0.15 * Math.random()));
  }

  /**
   * Sync now (joins a round already running). Never throws; the outcome is in lastError and
   * reachability. While the server is not known to answer, a probe goes first: a round is only
   * started against a server that answers.
   */
  now(reason = 'manual') {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    clearTimeout(this.timer);
    this.nextAttemptAt = null;
    this.reason = reason;
    this.running = this.round();
    this.status();
    return this.running;
  }

  async round() {
    let delay = this.intervalMs;
    this.progress = null;
    this.watch();
    try {
      if (!this.reachability.reachable && !(await this.probe())) {
        throw new NetworkError(null, { kind: this.reachability.state === 'offline' ? 'failed' : 'timeout' });
      }
      const outcome = await syncOnce({
        db: this.db,
        api: this.api,
        clientId: this.clientId,
        progress: (part) => this.noteProgress(part),
      });
      this.failures = 0;
      this.lastError = null;
      this.dispatchEvent(new CustomEvent('synced', { detail: outcome }));
    } catch (error) {
      this.lastError = error;
      await this.db
        .put('meta', { code: error.code || error.kind || error.name, at: Date.now() }, 'last_error')
        .catch(() => {});
      this.failures += 1;
      if (error instanceof ApiError && !error.retryable) {
        this.dispatchEvent(new CustomEvent('failed', { detail: error }));
        // 401 and 426 wait for the officer (log in again / update); other refusals back off.
        delay = error.status === 401 || error.status === 426 ? null : this.backoffDelay();
      } else if (error instanceof NetworkError && !this.reachability.reachable) {
        // No answer: probe again soon while something waits, so the officer sees within seconds
        // when the server answers again (a probe is a few hundred bytes).
        delay = (await pendingEntries(this.db)).length ? this.probeDelay() : this.intervalMs;
      } else {
        if (!(error instanceof NetworkError) && !(error instanceof ApiError)) console.warn('sync failed', error);
        delay = error instanceof NetworkError && error.kind === 'aborted' && this.reachability.reachable ? 0 : this.backoffDelay();
      }
    } finally {
      this.running = null;
      this.progress = null;
      clearInterval(this.watchTimer);
    }
    if (this.again) {
      this.again = false;
      delay = Math.min(delay ?? this.debounceMs, this.debounceMs);
    }
    if (delay !== null) this.schedule(delay);
    this.status();
  }

  /** GET /healthz with a short time limit; the outcome also goes to reachability. */
  probe() {
    if (!this.probing) {
      this.probing = this.api.probe(PROBE_TIMEOUT_MS).finally(() => {
        this.probing = null;
      });
    }
    return this.probing;
  }

  /**
   * While a round runs: after STALL_MS without any sign of life, ask the server (a probe on its
   * own connection). No answer → the officer sees it at once, and the round gives up until the
   * next probe. An answer while a request stays silent far longer than its body needs → that
   * request is stuck on a dead connection: give it up, and the round starts again at once.
   */
  watch() {
    clearInterval(this.watchTimer);
    this.watchTimer = setInterval(async () => {
      if (!this.running || this.probing) return;
      const now = Date.now();
      const requests = this.api.inFlight?.() ?? [];
      if (!requests.length) return;
      // A request is silent once it had the time its body needs on this link (an upload shows
      // no sign of life until its answer) plus STALL_MS; the round is, when all of them are.
      const silent = requests.every(
        (r) => now - Math.max(r.lastActivity, this.reachability.lastActivityAt) >= STALL_MS + Math.min(BODY_GRACE_MS, r.bytes / link.upRate),
      );
      if (!silent) return;
      const answered = await this.probe();
      if (!answered) {
        // The server does not answer a fresh request either: stop waiting on the silent ones,
        // and retry on the probe schedule (what is sent resumes where the server's copy ends).
        this.api.abortAll();
        return;
      }
      const stuck = requests.some((r) => Date.now() - r.lastActivity > STUCK_MS + 3 * (r.bytes / link.upRate));
      if (stuck) this.api.abortAll();
    }, WATCH_MS);
  }

  noteProgress(part) {
    this.progress = { ...(this.progress ?? {}), ...part };
    const wait = this.lastProgressEvent + PROGRESS_EVENT_MS - Date.now();
    if (wait > 0 && !part.phase) {
      this.progressTimer ??= setTimeout(() => {
        this.progressTimer = null;
        this.lastProgressEvent = Date.now();
        this.status();
      }, wait);
      return;
    }
    this.lastProgressEvent = Date.now();
    this.status();
  }
}

// The outbox: every offline edit as a numbered mutation, replayed to the server in order
// (like Workbox's background-sync Queue, but speaking the sync protocol).
//
// An entry is a Mutation of sync/messages.py plus local bookkeeping:
//   state     pending → applied | conflict | rejected (from the push result)
//   attempts  how many pushes carried it; an entry that was sent once is frozen, because a retry
//             must carry exactly the same mutation under the same number (only its clock stamp
//             may change, after a 400 clock_ahead: see restampPending)
//   result    the server's MutationResult
// Applied and conflicting entries are removed once a pull reflects them (reflected_seq); rejected
// ones stay so the officer can see what was refused and why.

import { CLOCK_FIELDS } from './domain.js';
import { parseHlc } from './hlc.js';
import { APPEND_FIELDS as APPENDED, PROTOCOL, SCHEMA_VERSION } from './protocol.js';
import { NOTICE_MS, loadClock, saveClock } from './server-time.js';

export { PROTOCOL, SCHEMA_VERSION };

const APPEND_FIELDS = new Set(APPENDED);

export function bySeq(a, b) {
  return a.seq - b.seq;
}

/** Fold a later patch into an earlier, unsent one: appends concatenate, deltas add up. */
export function mergeFields(earlier, later) {
  const merged = { ...earlier };
  for (const [name, value] of Object.entries(later)) {
    const previous = merged[name];
    if (APPEND_FIELDS.has(name) && Array.isArray(previous) && Array.isArray(value)) {
      const seen = new Set(previous.map((entry) => entry.id));
      merged[name] = [...previous, ...value.filter((entry) => !seen.has(entry.id))];
    } else if (isDelta(previous) && isDelta(value)) {
      merged[name] = { delta: previous.delta + value.delta };
    } else {
      merged[name] = value;
    }
  }
  return merged;
}

function isDelta(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'delta' in value;
}

/**
 * Queue a mutation {id, collection, op, warehouse_id, fields[, base_rev]}. Numbering and the
 * clock stamp are taken in the same transaction as the write, so numbers have no gaps even with
 * two tabs or the service worker writing.
 *
 * With coalesce, a patch folds into the record's last patch if that one was never sent: typing
 * into a form does not queue one mutation per keystroke.
 */
export function enqueue(db, mutation, { coalesce = false } = {}) {
  return db.tx(['meta', 'outbox', 'records'], 'readwrite', async ({ meta, outbox, records }) => {
    const clock = await loadClock(meta); // its wall clock is server time (server-time.js)
    const hlc = clock.now();
    await saveClock(meta, clock);

    if (coalesce && mutation.op === 'patch') {
      const same = (await outbox.getAllFromIndex('record', mutation.id)).sort(bySeq);
      const last = same.at(-1);
      if (last && last.op === 'patch' && last.state === 'pending' && last.attempts === 0) {
        last.fields = mergeFields(last.fields, withoutNul(mutation.fields));
        last.hlc = hlc;
        last.updated_at = Date.now();
        await outbox.put(last);
        return last;
      }
    }

    const seq = (await meta.get('next_seq')) ?? 1;
    await meta.put(seq + 1, 'next_seq');
    const entry = {
      seq,
      id: mutation.id,
      collection: mutation.collection,
      op: mutation.op,
      // The server revision the officer's view was built on: the replica's, when it was edited.
      base_rev: mutation.op === 'create' ? 0 : mutation.base_rev ?? (await records.get(mutation.id))?.revision ?? 0,
      warehouse_id: mutation.warehouse_id,
      fields: withoutNul(mutation.fields ?? {}),
      hlc,
      schema_version: SCHEMA_VERSION,
      state: 'pending',
      attempts: 0,
      result: null,
      created_at: Date.now(),
      updated_at: Date.now(),
    };
    await outbox.put(entry);
    return entry;
  });
}

/**
 * Text without U+0000: the server refuses a push holding one (400 invalid_text, the whole batch),
 * so a NUL pasted into a field would keep the outbox stuck. It carries no meaning in any field.
 */
export function withoutNul(value) {
  if (typeof value === 'string') return value.includes('\0') ? value.replaceAll('\0', '') : value;
  if (Array.isArray(value)) return value.map(withoutNul);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [withoutNul(k), withoutNul(v)]));
  }
  return value;
}

/** The wire form of an entry: exactly the fields of sync.messages.Mutation. */
export function toWire(entry) {
  const wire = {
    seq: entry.seq,
    id: entry.id,
    collection: entry.collection,
    op: entry.op,
    base_rev: entry.base_rev,
    fields: withoutNul(entry.fields),
    hlc: entry.hlc,
    schema_version: entry.schema_version,
  };
  if (entry.op === 'create') wire.warehouse_id = entry.warehouse_id;
  return wire;
}

export async function allEntries(db) {
  return (await db.getAll('outbox')).sort(bySeq);
}

/** Entries still waiting for an answer, in order. */
export async function pendingEntries(db) {
  return (await allEntries(db)).filter((entry) => entry.state === 'pending');
}

/**
 * Take the next batch to push and mark it as sent, in one transaction, before any network I/O.
 * From here on the entries are frozen: a retry sends the same bytes.
 */
export function takeBatch(db, limit) {
  return db.tx('outbox', 'readwrite', async ({ outbox }) => {
    const pending = (await outbox.getAll()).filter((e) => e.state === 'pending').sort(bySeq).slice(0, limit);
    for (const entry of pending) {
      entry.attempts += 1;
      await outbox.put(entry);
    }
    return pending;
  });
}

/** Record the push results: state, revision and the server's answer per entry. */
export function applyResults(db, results) {
  return db.tx('outbox', 'readwrite', async ({ outbox }) => {
    for (const result of results) {
      const entry = await outbox.get(result.seq);
      if (!entry) continue;
      entry.state = result.status;
      entry.result = result;
      entry.updated_at = Date.now();
      await outbox.put(entry);
    }
  });
}

/**
 * After a pull: drop answered entries up to reflected_seq, their effect is now in the replica.
 * Pending entries stay even if reflected (their answer was lost): the next push replays it.
 */
export function removeReflected(db, reflectedSeq) {
  return db.tx('outbox', 'readwrite', async ({ outbox }) => {
    const entries = await outbox.getAll(IDBKeyRange.upperBound(reflectedSeq));
    for (const entry of entries) {
      if (entry.state === 'applied' || entry.state === 'conflict') await outbox.delete(entry.seq);
    }
  });
}

/**
 * 409 sequence_gap: the server has seen nothing at or after `expectedSeq`, yet our first pending
 * entry has a higher number. Renumber the pending entries from expectedSeq so none is skipped.
 */
export function renumberFrom(db, expectedSeq) {
  return db.tx(['meta', 'outbox'], 'readwrite', async ({ meta, outbox }) => {
    const entries = (await outbox.getAll()).sort(bySeq);
    const pending = entries.filter((entry) => entry.state === 'pending' && entry.seq >= expectedSeq);
    let seq = expectedSeq;
    for (const entry of pending) await outbox.delete(entry.seq);
    for (const entry of pending) {
      entry.seq = seq;
      entry.attempts = 0;
      await outbox.put(entry);
      seq += 1;
    }
    await meta.put(seq, 'next_seq');
    return pending.length;
  });
}

/**
 * 400 clock_ahead: the server refused the batch because a stamp was too far in the future (made
 * while the phone's date was wrong and the offset to the server's clock unknown or stale). Stamp
 * every entry the server has not answered again, in order by number (a later number gets a later
 * stamp), from a clock restarted at server time (`serverHlc`, the refusal's stamp).
 *
 * The times the phone wrote into those records from the same clock (CLOCK_FIELDS: when an
 * inspection started, an incident happened, a count was made) are as far off. Each one later than
 * the server's time `serverNowMs` (plus the 5 minutes the sync screen tolerates) was written by
 * the wrong date, and moves by `shiftMs`: how far the phone's idea of server time was off (the
 * offset learnt from the refusal minus the one the times were made with). Times that are not in
 * the future were made before the date jumped and stay as they are.
 *
 * This is safe for entries already sent: the server recognises a mutation by (client id, number)
 * and answers one it has applied from its stored outcome, whatever the stamp or the fields.
 */
export function restampPending(db, serverHlc, { serverNowMs = NaN, shiftMs = 0 } = {}) {
  return db.tx(['meta', 'outbox'], 'readwrite', async ({ meta, outbox }) => {
    const clock = await loadClock(meta, { reset: true });
    if (serverHlc) clock.receive(serverHlc);
    const pending = (await outbox.getAll()).filter((entry) => entry.state === 'pending').sort(bySeq);
    for (const entry of pending) {
      if (Number.isFinite(serverNowMs) && shiftMs < 0) {
        entry.fields = movedClockFields(entry, shiftMs, (ms) => ms > serverNowMs + NOTICE_MS);
      }
      entry.hlc = clock.now();
      await outbox.put(entry);
    }
    await saveClock(meta, clock);
    return pending.length;
  });
}

/**
 * The phone's date went *back* after its last sync (sync-client.js finds out before pushing, and
 * pulls first to learn the server's time `serverNowMs`): the times it wrote since into CLOCK_FIELDS
 * are behind by `shiftMs`. Its clock stamps are not (the hybrid clock never goes back), which is
 * how such a time is told from a time written before the jump: it is earlier than its own entry's
 * stamp by more than the 5 minutes the sync screen tolerates, and moved it is not in the future (a
 * stamp can run ahead of real time when the server's clock was pulled ahead by another phone).
 * Returns how many entries changed.
 */
export function correctTimesBehind(db, shiftMs, serverNowMs) {
  return db.tx('outbox', 'readwrite', async ({ outbox }) => {
    let changed = 0;
    for (const entry of await outbox.getAll()) {
      if (entry.state !== 'pending') continue;
      const stampMs = parseHlc(entry.hlc)[0];
      const wrong = (ms) => ms < stampMs - NOTICE_MS && ms + shiftMs <= serverNowMs + NOTICE_MS;
      const fields = movedClockFields(entry, shiftMs, wrong);
      if (fields === entry.fields) continue;
      entry.fields = fields;
      await outbox.put(entry);
      changed += 1;
    }
    return changed;
  });
}

/** The entry's fields with every CLOCK_FIELDS time that is `wrong` moved by `shiftMs` (the same
 * object when none is). */
function movedClockFields(entry, shiftMs, wrong) {
  let fields = entry.fields;
  for (const name of CLOCK_FIELDS[entry.collection] ?? []) {
    const ms = typeof fields?.[name] === 'string' ? Date.parse(fields[name]) : NaN;
    if (Number.isFinite(ms) && wrong(ms)) {
      fields = { ...fields, [name]: new Date(ms + shiftMs).toISOString() };
    }
  }
  return fields;
}

export function dismiss(db, seq) {
  return db.delete('outbox', seq);
}

/** Photo hashes an entry references: `photos` and every `p.<item>` answer. */
export function referencedPhotos(entry) {
  const hashes = [];
  for (const [name, value] of Object.entries(entry.fields ?? {})) {
    if ((name === 'photos' || name.startsWith('p.')) && Array.isArray(value)) hashes.push(...value);
  }
  return hashes;
}

export async function summary(db) {
  const entries = await allEntries(db);
  return {
    pending: entries.filter((e) => e.state === 'pending').length,
    rejected: entries.filter((e) => e.state === 'rejected'),
  };
}

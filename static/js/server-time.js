// Server time: the phone's clock, corrected by the server's.
//
// Why: cheap Android phones often show a wrong date (set by hand, reset when the battery died).
// Stamps made from such a clock are days off. AHEAD, an edit beats everyone's real later edits
// (last writer wins), so the server refuses stamps more than an hour ahead of its own clock
// (400 clock_ahead). BEHIND, the hybrid clock cannot go back, so every offline edit keeps the time
// of the last sync, and a stock count looks as if it was made then.
//
// So every push and pull answer (and a clock_ahead refusal) tells us the server's clock
// (`server_time_ms`, its wall clock; from an older server, the time part of `server_hlc`, which
// can run up to an hour ahead after a fast phone's push), and the meta store keeps
//
//     clock_offset_ms = server time − Date.now() when the answer arrived
//
// (network delay ignored: a second off does not matter here). Clock stamps (the HLC's wall clock)
// and times written into records use Date.now() + offset. Purely local times (the outbox's
// created_at for ordering, "saved at 10:42" on screen) keep the phone's own clock.

import { HybridClock, parseHlc } from './hlc.js';

export const OFFSET_KEY = 'clock_offset_ms';

/** How far ahead of its clock the server accepts a stamp (sync/engine.py MAX_CLOCK_AHEAD_MS). */
export const SERVER_AHEAD_LIMIT_MS = 60 * 60_000;

/** From this far off, the sync screen asks the officer to fix the phone's date and time. */
export const NOTICE_MS = 5 * 60_000;

/** Smaller moves of the measured offset are network delay, not worth a write. */
const NOISE_MS = 2_000;

// This page's (or service worker's) copy of the offset, for now(). It stays when another officer
// logs in on the same phone: the offset belongs to the phone's clock, not to the officer.
// null until an answer from the server (or the meta store) says it.
let offsetMs = null;

/** The server's time (ms) an answer (or a clock_ahead error body) tells. */
export function serverTimeOf(answer) {
  const wall = answer?.server_time_ms;
  if (Number.isFinite(wall) && wall > 0) return wall;
  return typeof answer?.server_hlc === 'string' && answer.server_hlc ? parseHlc(answer.server_hlc)[0] : NaN;
}

/** server time − local time, from an answer received at `arrivedAt` (local ms). */
export function offsetFrom(answer, arrivedAt = Date.now()) {
  return serverTimeOf(answer) - arrivedAt;
}

export function setOffset(ms) {
  if (Number.isFinite(ms)) offsetMs = ms;
}

/** The time now by the server's clock, in ms. Use it for any time that goes to the server. */
export function now() {
  return Date.now() + (offsetMs ?? 0);
}

export function nowIso() {
  return new Date(now()).toISOString();
}

/** The stored offset (null if the server was never reached); also sets now()'s copy. */
export async function loadOffset(db) {
  const stored = await db.get('meta', OFFSET_KEY);
  setOffset(stored);
  return typeof stored === 'number' ? stored : null;
}

/** Whether the phone's clock is off by enough (`offset` from loadOffset) to tell the officer. */
export function clockIsOff(offset) {
  return typeof offset === 'number' && Math.abs(offset) > NOTICE_MS;
}

/** Note the server's clock from an answer, inside a transaction over the meta store. */
export async function noteServerTime(meta, answer, arrivedAt = Date.now()) {
  const measured = offsetFrom(answer, arrivedAt);
  if (!Number.isFinite(measured)) return;
  const stored = await meta.get(OFFSET_KEY);
  if (typeof stored === 'number' && Math.abs(measured - stored) <= NOISE_MS) {
    setOffset(stored);
    return;
  }
  await meta.put(measured, OFFSET_KEY);
  setOffset(measured);
}

/**
 * A hybrid clock whose wall clock is server time (`offset` null: not known yet, the phone's own).
 *
 * A saved state further ahead of server time than the server accepts, once a new offset has been
 * measured since it was saved, was pushed there by a wrong date (before the offset was known, or
 * after the phone's date jumped ahead): no stamp from it was ever accepted (the server's clock only
 * moves forward), so it is dropped rather than making every later stamp too far ahead as well.
 * Saved under the offset still in use, it is ahead because the phone's date went *back* since:
 * it is kept, as a hybrid clock never goes back (were it in fact too far ahead, the server refuses
 * its stamps with clock_ahead, and the phone starts again from the server's clock).
 * `reset` drops the state whatever it holds (the server has just refused our stamps).
 */
export function clockWith(node, state, offset, { reset = false } = {}) {
  const wall = () => Date.now() + (offset ?? 0);
  const known = typeof offset === 'number';
  const savedUnderThisOffset = state?.offset === offset;
  const tooFarAhead = known && state && !savedUnderThisOffset && state.ms > wall() + SERVER_AHEAD_LIMIT_MS;
  return new HybridClock(node, reset || tooFarAhead ? null : state, wall);
}

/** The device's clock, from the meta store (inside a transaction); save it with saveClock. */
export async function loadClock(meta, options = {}) {
  const stored = await meta.get(OFFSET_KEY);
  const offset = typeof stored === 'number' ? stored : offsetMs;
  return clockWith(await meta.get('client_id'), await meta.get('hlc'), offset, options);
}

/** Save the device's clock (inside a transaction) with the offset it runs by (see clockWith). */
export async function saveClock(meta, clock) {
  const offset = await meta.get(OFFSET_KEY);
  return meta.put({ ...clock.toJSON(), offset: typeof offset === 'number' ? offset : null }, 'hlc');
}

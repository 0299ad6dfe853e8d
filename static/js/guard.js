// The guard post on the phone: which shifts are the officer's today, where they stand in them,
// and what a handover needs before a commander may confirm it. The same rules as sync/roster.py
// and the `shifts` / `handovers` operations of sync/ops.py, checked here only to help the
// officer: the server decides (ids, check-ins, confirmations, locking).

import { RULES } from './rules-data.js';

const ROSTER = RULES.roster;
const MINUTE = 60_000;
const DAY_MS = 86_400_000;

export const shiftId = (warehouseId, day, period) => `sh.${warehouseId}.${day}.${period}`;
export const handoverId = (outgoingShiftId) => `ho.${outgoingShiftId.slice('sh.'.length)}`;
export const sealRegisterId = (warehouseId) => `seals.${warehouseId}`;

/** (warehouse, yyyy-mm-dd, period) of a shift id, or null. */
export function parseShiftId(id) {
  const match = /^sh\.(.+)\.(\d{4}-\d{2}-\d{2})\.([a-z]+)$/.exec(id);
  if (!match || !ROSTER.periods.includes(match[3])) return null;
  // a day that exists (not 2026-02-30), as the server's canonical_day reads it
  const day = new Date(`${match[2]}T00:00:00Z`);
  return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === match[2]
    ? { warehouseId: match[1], day: match[2], period: match[3] }
    : null;
}

/** The shifts that may take over from a shift, nearest first: the next two periods. */
export function followingShifts(id) {
  const parsed = parseShiftId(id);
  if (!parsed) return [];
  const index = ROSTER.periods.indexOf(parsed.period);
  return [1, 2].map((n) => {
    const days = Math.floor((index + n) / ROSTER.periods.length);
    const day = new Date(new Date(`${parsed.day}T00:00:00Z`).getTime() + days * DAY_MS).toISOString().slice(0, 10);
    return shiftId(parsed.warehouseId, day, ROSTER.periods[(index + n) % ROSTER.periods.length]);
  });
}

/** The shift that takes over: the nearest planned one of the next two periods. */
export function incomingShift(shiftsById, outgoingId) {
  for (const id of followingShifts(outgoingId)) {
    const shift = shiftsById.get(id);
    if (shift && !shift.deleted) return shift;
  }
  return null;
}

export const plannedPeople = (fields) => Object.values(fields.personnel ?? {}).flat();

const ms = (value) => (value ? new Date(value).getTime() : NaN);

/**
 * The officer's shifts of today: planned for them (or checked in to) and not over, or ended but
 * still waiting for their check-out; the next one within a day included. Earliest first.
 */
export function myShifts(shifts, userId, nowMs) {
  return shifts
    .filter((shift) => {
      const f = shift.fields;
      const mine = plannedPeople(f).includes(userId) || f.attendance?.[userId];
      if (!mine || shift.deleted) return false;
      const start = ms(f.starts_at);
      const end = ms(f.ends_at);
      const entry = f.attendance?.[userId];
      if (entry && !entry.out_at && end + ROSTER.farOutsideMinutes * MINUTE > nowMs) return true;
      return end > nowMs && start < nowMs + DAY_MS;
    })
    .sort((a, b) => ms(a.fields.starts_at) - ms(b.fields.starts_at));
}

/** '' on time, 'late' after the grace, 'outside' far before the start or after the end (as the server flags it). */
export function checkInFlag(atMs, shift) {
  const start = ms(shift.fields.starts_at);
  const end = ms(shift.fields.ends_at);
  if (atMs < start - ROSTER.farOutsideMinutes * MINUTE || atMs > end) return 'outside';
  if (atMs > start + ROSTER.lateAfterMinutes * MINUTE) return 'late';
  return '';
}

/** Which side of a handover the officer commands ('outgoing', 'incoming'), or null. */
export function handoverSide(userId, outgoing, incoming) {
  if (outgoing?.fields.commander === userId) return 'outgoing';
  if (incoming?.fields.commander === userId) return 'incoming';
  return null;
}

/** open, half (one commander confirmed) or confirmed (both: locked); missing without a record. */
export function handoverState(handover) {
  if (!handover) return 'missing';
  if (handover.fields.status === 'confirmed') return 'confirmed';
  return Object.keys(handover.fields.confirmations ?? {}).length ? 'half' : 'open';
}

/** A handover changes only while nobody has confirmed it (the server's handover_confirmed). */
export const handoverEditable = (handover) => handoverState(handover) === 'missing' || handoverState(handover) === 'open';

/** The last recorded number of each seal of the warehouse ({code: {number, at, ...}}). */
export const lastSeals = (register) => register?.fields?.numbers ?? {};

/** Whether a seal number read now differs from the last recorded one (a finding on the server). */
export function sealDiffers(register, code, number) {
  const last = lastSeals(register)[code];
  return Boolean(number && last && last.number !== number);
}

/** Why the officer cannot confirm their side yet (an i18n key), or null. */
export function confirmBlocker(handover, side, userId, acknowledged) {
  const confirmations = handover?.fields.confirmations ?? {};
  if (!handover) return 'handover.save_first';
  if (confirmations[side]) return null;
  const other = confirmations[side === 'outgoing' ? 'incoming' : 'outgoing'];
  if (other?.user === userId) return 'handover.four_eyes';
  if (side === 'incoming' && (handover.fields.incidents ?? []).some((id) => !acknowledged.has(id))) {
    return 'handover.acknowledge_all';
  }
  return null;
}

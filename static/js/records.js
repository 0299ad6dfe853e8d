// What the screens show: the replica with the still-unanswered outbox mutations re-applied on
// top ("rebase for display"). Once a pull reflects a mutation, it leaves the outbox and the
// record shows the server's result, conflicts included.

import { allEntries } from './outbox.js';
import { APPEND_FIELDS as APPENDED } from './protocol.js';

const APPEND_FIELDS = new Set(APPENDED);

function isoFrom(ms) {
  return new Date(ms).toISOString();
}

function createdFields(entry, me) {
  const at = isoFrom(entry.created_at);
  switch (entry.collection) {
    case 'inspections':
      return { status: 'draft', inspector_id: me.id, inspector_agency: me.agency };
    case 'incidents':
      return { status: 'open', reported_by: me.id, reporter_agency: me.agency };
    case 'stock_counts':
      return { counted_by: me.id, counter_agency: me.agency, counted_at: at };
    case 'handovers':
      return { status: 'open', confirmations: {} };
    default:
      return {};
  }
}

function mergePatch(fields, patch) {
  const next = { ...fields };
  for (const [name, value] of Object.entries(patch)) {
    if (APPEND_FIELDS.has(name) && Array.isArray(value)) {
      const current = Array.isArray(next[name]) ? next[name] : [];
      const seen = new Set(current.map((entry) => entry.id));
      next[name] = [...current, ...value.filter((entry) => !seen.has(entry.id))];
    } else if (value && typeof value === 'object' && !Array.isArray(value) && 'delta' in value) {
      next[name] = (Number(next[name]) || 0) + value.delta;
    } else {
      next[name] = value;
    }
  }
  return next;
}

const ACTION_STATUS = {
  submit: 'submitted',
  review: 'reviewed',
  request_changes: 'needs_fix',
  acknowledge: 'acknowledged',
  resolve: 'resolved',
  reopen: 'open',
};

/** The guard post's actions as the server will record them (sync/ops.py check_in, check_out,
 * confirm_handover): the fields they change, from the record's fields and the entry. */
const GUARD_ACTIONS = {
  'shifts.check_in': (fields, entry, me, at) => {
    const attendance = { ...(fields.attendance ?? {}) };
    attendance[me.id] ??= { at, agency: me.agency, photos: entry.fields.photos ?? [] };
    return { attendance };
  },
  'shifts.check_out': (fields, entry, me, at) => {
    const attendance = { ...(fields.attendance ?? {}) };
    if (attendance[me.id] && !attendance[me.id].out_at) attendance[me.id] = { ...attendance[me.id], out_at: at };
    return { attendance };
  },
  'handovers.confirm': (fields, entry, me, at) => {
    const confirmations = { ...(fields.confirmations ?? {}) };
    confirmations[entry.fields.side] ??= { user: me.id, agency: me.agency, at, acknowledged: entry.fields.acknowledged };
    return Object.keys(confirmations).length === 2 ? { confirmations, status: 'confirmed' } : { confirmations };
  },
};

/** One outbox entry applied to a display record (or to nothing, for a create). */
export function applyEntry(record, entry, me) {
  const at = isoFrom(entry.created_at);
  if (entry.op === 'create') {
    if (record) return record; // already on the server: the pulled state wins
    return {
      id: entry.id,
      collection: entry.collection,
      warehouse_id: entry.warehouse_id,
      revision: 0,
      fields: { ...createdFields(entry, me), ...entry.fields },
      deleted: false,
      created_by: me.id,
      updated_by: me.id,
      updated_at: at,
      pending: true,
    };
  }
  if (!record) return record;
  const guard = GUARD_ACTIONS[`${entry.collection}.${entry.op}`];
  if (guard) return { ...record, fields: { ...record.fields, ...guard(record.fields, entry, me, at) }, pending: true, updated_at: at };
  const next = { ...record, fields: mergePatch(record.fields, entry.fields), pending: true, updated_at: at };
  if (entry.op === 'delete') next.deleted = true;
  const status = ACTION_STATUS[entry.op];
  if (status) next.fields.status = status;
  if (entry.op === 'submit') Object.assign(next.fields, { submitted_at: at, submitted_by: me.id });
  if (entry.op === 'acknowledge') Object.assign(next.fields, { acknowledged_at: at, acknowledged_by: me.id });
  if (entry.op === 'resolve' && entry.collection === 'incidents') {
    Object.assign(next.fields, { resolved_at: at, resolved_by: me.id });
  }
  return next;
}

/** Replica records + outbox entries (rejected ones excluded) → Map of display records. */
export function rebase(records, entries, me) {
  const byId = new Map(records.map((record) => [record.id, { ...record, pending: false }]));
  for (const entry of entries) {
    if (entry.state === 'rejected') continue;
    const next = applyEntry(byId.get(entry.id), entry, me);
    if (next) byId.set(entry.id, next);
  }
  return byId;
}

function newestFirst(key) {
  return (a, b) => String(b.fields[key] || b.updated_at).localeCompare(String(a.fields[key] || a.updated_at));
}

/** Everything a warehouse screen needs, rebased. */
export async function warehouseData(db, warehouseId, me) {
  const [records, entries] = await Promise.all([
    db.getAllFromIndex('records', 'warehouse_id', warehouseId),
    allEntries(db),
  ]);
  const mine = entries.filter((entry) => entry.warehouse_id === warehouseId);
  const all = [...rebase(records, mine, me).values()].filter(
    (record) => record.warehouse_id === warehouseId && !record.deleted,
  );
  const of = (collection) => all.filter((record) => record.collection === collection);
  const stockLevels = {};
  for (const level of of('stock_levels')) stockLevels[level.fields.item_type] = level;
  return {
    inspections: of('inspections').sort(newestFirst('started_at')),
    incidents: of('incidents').sort(newestFirst('occurred_at')),
    stockCounts: of('stock_counts').sort(newestFirst('counted_at')),
    stockLevels,
    conflicts: of('conflicts'),
    shifts: of('shifts'),
    handovers: of('handovers'),
    seals: of('seals')[0] ?? null,
  };
}

/** One record, rebased; null if unknown. */
export async function getRecord(db, id, me) {
  const [record, entries] = await Promise.all([
    db.get('records', id),
    db.getAllFromIndex('outbox', 'record', id),
  ]);
  entries.sort((a, b) => a.seq - b.seq);
  return rebase(record ? [record] : [], entries, me).get(id) ?? null;
}

/** Conflict records about one record. */
export async function conflictsFor(db, recordId) {
  const conflicts = await db.getAllFromIndex('records', 'collection', 'conflicts');
  return conflicts.filter((c) => !c.deleted && c.fields.record_id === recordId);
}

export async function allConflicts(db) {
  return (await db.getAllFromIndex('records', 'collection', 'conflicts')).filter((c) => !c.deleted);
}

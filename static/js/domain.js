// Domain rules the phone needs, ported from sync/domain.py and sync/collections.py; the codes of
// every enumeration come from protocol.js, generated from sync/.

export {
  AGENCIES,
  SHIFTS,
  INCIDENT_CATEGORIES,
  SEVERITIES,
  NOTIFY_TARGETS as NOTIFY_OPTIONS,
  YES_NO,
} from './protocol.js';

/**
 * Record fields the phone fills in from its clock (by server time, server-time.js): when they
 * were stamped by a wrong date, restampPending (outbox.js) moves them with the clock stamps.
 */
export const CLOCK_FIELDS = {
  inspections: ['started_at'],
  incidents: ['occurred_at'],
  stock_counts: ['counted_at'],
};

/** Record field holding an item's answer: photo items are hash lists ("p."), others "a.". */
export function answerField(item) {
  return (item.kind === 'photo' ? 'p.' : 'a.') + item.code;
}

export function templateItems(template) {
  return template.sections.flatMap((section) => section.items);
}

/** The expected value of a number item: the warehouse's stock level if it counts a stock item. */
export function expectedFor(item, stockLevels = {}) {
  if (item.stock_item && stockLevels[item.stock_item]) {
    const expected = stockLevels[item.stock_item].fields.expected;
    if (typeof expected === 'number') return expected;
  }
  return item.expected ?? null;
}

/** Same rule as sync.domain.is_finding. */
export function isFinding(item, answer, expected = null) {
  if (answer === null || answer === undefined || answer === '') return false;
  if (item.kind === 'yes_no' || item.kind === 'choice') return (item.finding_if ?? []).includes(answer);
  if (item.kind === 'number' && typeof answer === 'number') {
    const target = expected ?? item.expected;
    return target !== null && target !== undefined && Math.abs(answer - target) > (item.tolerance ?? 0);
  }
  return false;
}

export function isAnswered(item, fields) {
  const value = fields[answerField(item)];
  if (item.kind === 'photo') return Array.isArray(value) && value.length > 0;
  return value !== null && value !== undefined && value !== '';
}

/** Required items without an answer, in template order. */
export function missingRequired(template, fields) {
  return templateItems(template).filter((item) => item.required && !isAnswered(item, fields));
}

/** Where an inspection stands in one section: items answered of all, required items still
 * unanswered (in order) and findings, as the form's section list shows them. */
export function sectionProgress(section, fields, stockLevels) {
  const open = [];
  let answered = 0;
  let found = 0;
  for (const item of section.items) {
    if (isAnswered(item, fields)) answered += 1;
    else if (item.required) open.push(item);
    if (isFinding(item, fields[answerField(item)], expectedFor(item, stockLevels))) found += 1;
  }
  return { answered, total: section.items.length, open, findings: found };
}

export function findings(template, fields, stockLevels) {
  return templateItems(template).filter((item) =>
    isFinding(item, fields[answerField(item)], expectedFor(item, stockLevels)),
  );
}

export function shiftFor(date = new Date()) {
  const hour = date.getHours();
  if (hour >= 6 && hour < 14) return 'pagi';
  if (hour >= 14 && hour < 22) return 'siang';
  return 'malam';
}

export function isSupervisor(user) {
  return user.role === 'supervisor' || user.role === 'admin';
}

/**
 * Who may acknowledge or resolve an incident (same rule as the server): supervisors, the agency
 * it is assigned to, and anyone while it is assigned to no agency.
 */
export function canHandleIncident(user, incident) {
  const assigned = incident.fields.assigned_agency;
  if (isOwnReport(user, incident)) return false; // four eyes: someone else takes up a report
  return isSupervisor(user) || !assigned || assigned === user.agency;
}

/** Whether the user reported this incident (the server refuses him acknowledge and resolve). */
export function isOwnReport(user, incident) {
  return (incident.fields.reported_by ?? incident.created_by) === user.id;
}

/**
 * A co-inspector's part in an inspection: 'confirmed' (signed from their own account), 'pending'
 * (listed, not confirmed yet) or null (not listed).
 */
export function coInspectorState(inspection, userId) {
  if (!(inspection.fields.co_inspectors ?? []).includes(userId)) return null;
  return inspection.fields.confirmations?.[userId] ? 'confirmed' : 'pending';
}

/** Who may keep editing an inspection: its inspector and co-inspectors, while draft or sent back. */
export function canEditInspection(user, inspection) {
  const { status, inspector_id: inspector, co_inspectors: co = [] } = inspection.fields;
  if (status !== 'draft' && status !== 'needs_fix') return false;
  return inspection.created_by === user.id || inspector === user.id || co.includes(user.id);
}

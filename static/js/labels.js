// Human-readable names for codes and values, from the i18n tables.

import { formatDateTime, has, t } from './i18n.js';
import { templateItems } from './domain.js';

export function agencyLabel(code) {
  return code && has(`agency.${code}`) ? t(`agency.${code}`) : code || '';
}
export const categoryLabel = (code) => t(`category.${code}`);
export const severityLabel = (code) => t(`severity.${code}`);
export const shiftLabel = (code) => t(`shift.${code}`);
export const collectionLabel = (code) => t(`collection.${code}`);
export const opLabel = (code) => t(`op.${code}`);

export function statusLabel(collection, status) {
  return t(`status.${collection}.${status}`);
}

export function answerLabel(value) {
  if (value === 'ya' || value === 'tidak' || value === 'na') return t(`answer.${value}`);
  return value;
}

/** Label of a record field, e.g. "severity" → "Tingkat", "a.segel_pintu" → the item's label. */
export function fieldLabel(collection, field, template) {
  if ((field.startsWith('a.') || field.startsWith('p.')) && template) {
    const item = templateItems(template).find((i) => i.code === field.slice(2));
    if (item) return item.label;
  }
  const key = `field.${collection}.${field}`;
  return has(key) ? t(key) : field;
}

/** A field value as text, for conflict lists and read-only views. */
export function valueLabel(field, value) {
  if (value === null || value === undefined || value === '') return t('value.empty');
  if (field === 'severity') return severityLabel(value);
  if (field === 'category') return categoryLabel(value);
  if (field === 'shift') return shiftLabel(value);
  if (field === 'assigned_agency') return agencyLabel(value);
  if (field.endsWith('_at') && typeof value === 'string') return formatDateTime(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' ? v.text ?? JSON.stringify(v) : v)).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? t('answer.ya') : t('answer.tidak');
  return String(answerLabel(value));
}

/** Name of a person by id, from the cached colleagues; falls back to the id. */
export function personLabel(people, id) {
  if (!id) return '';
  const person = people.get(id);
  return person ? `${person.rank ? `${person.rank} ` : ''}${person.full_name} (${agencyLabel(person.agency)})` : id;
}

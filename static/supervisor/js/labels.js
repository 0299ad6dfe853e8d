// Names for codes and ids: agencies, categories, statuses, people, warehouses, answer values.

import { formatDateTime, has, t } from './i18n.js';

export const agencyLabel = (code) => (code && has(`agency.${code}`) ? t(`agency.${code}`) : code || '—');
export const categoryLabel = (code) => (has(`category.${code}`) ? t(`category.${code}`) : code);
export const severityLabel = (code) => (has(`severity.${code}`) ? t(`severity.${code}`) : code);
export const statusLabel = (collection, status) =>
  has(`status.${collection}.${status}`) ? t(`status.${collection}.${status}`) : status;

export function personName(ctx, id) {
  if (!id) return '—';
  const person = ctx.people.get(id);
  if (!person) return id.startsWith('cli:') ? id : id.slice(0, 8);
  return `${person.rank ? `${person.rank} ` : ''}${person.full_name}`;
}

export function personWithAgency(ctx, id) {
  const person = ctx.people.get(id);
  return person ? `${personName(ctx, id)} (${agencyLabel(person.agency)})` : personName(ctx, id);
}

export const warehouseName = (ctx, id) => ctx.warehouses.get(id)?.name ?? id;

/** Label of a record field: a template item's label for answers, else from the strings table. */
export function fieldLabel(collection, field, template) {
  if ((field.startsWith('a.') || field.startsWith('p.')) && template) {
    for (const section of template.sections) {
      const item = section.items.find((i) => i.code === field.slice(2));
      if (item) return item.label;
    }
  }
  if (field === '_deleted') return t('field._deleted');
  const key = `field.${collection}.${field}`;
  return has(key) ? t(key) : field;
}

export function valueLabel(field, value) {
  if (value === null || value === undefined || value === '') return t('value.empty');
  if (field === 'severity') return severityLabel(value);
  if (field === 'category') return categoryLabel(value);
  if (field === 'assigned_agency') return agencyLabel(value);
  if (field === '_deleted') return value ? t('value.deleted') : t('value.kept');
  if (field.endsWith('_at') && typeof value === 'string') return formatDateTime(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' ? v.text ?? JSON.stringify(v) : v)).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? t('answer.ya') : t('answer.tidak');
  if (value === 'ya' || value === 'tidak' || value === 'na') return t(`answer.${value}`);
  return String(value);
}

/** An answer as text, by the template item's kind. */
export function answerText(item, value) {
  if (value === null || value === undefined || value === '') return t('value.unanswered');
  if (item.kind === 'yes_no') return t(`answer.${value}`);
  if (item.kind === 'number') return `${value}${item.unit ? ` ${item.unit}` : ''}`;
  if (item.kind === 'choice') return has(`choice.${value}`) ? t(`choice.${value}`) : String(value).replaceAll('_', ' ');
  return String(value);
}

export function templateItem(template, code) {
  for (const section of template?.sections ?? []) {
    const item = section.items.find((i) => i.code === code);
    if (item) return { item, section };
  }
  return null;
}

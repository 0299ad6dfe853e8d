// Names for codes and ids, shared by the phone and the supervisor pages: agencies, categories,
// statuses, fields, answers, people, warehouses, devices. Never a code on screen: a value without
// a word falls back to a readable form, never to the raw code of another language.

import { formatDateTime, has, localized, t } from './i18n.js';

const word = (key, fallback) => (has(key) ? t(key) : fallback);

export const agencyLabel = (code) => (code ? word(`agency.${code}`, code) : '');
export const notifyLabel = (code) => word(`notify.${code}`, agencyLabel(code));
export const categoryLabel = (code) => word(`category.${code}`, String(code ?? ''));
export const severityLabel = (code) => word(`severity.${code}`, String(code ?? ''));
export const shiftLabel = (code) => word(`shift.${code}`, String(code ?? ''));
export const roleLabel = (code) => word(`role.${code}`, String(code ?? ''));
export const collectionLabel = (code) => word(`collection.${code}`, String(code ?? ''));
/** An operation in words; `collection` picks its own word where one op means something else there. */
export const opLabel = (code, collection) => word(`op.${collection}.${code}`, word(`op.${code}`, String(code ?? '')));
export const statusLabel = (collection, status) => word(`status.${collection}.${status}`, String(status ?? ''));

/** The item of a template with this code, and its section; null if the version has none. */
export function templateItem(template, code) {
  for (const section of template?.sections ?? []) {
    const item = section.items.find((i) => i.code === code);
    if (item) return { item, section };
  }
  return null;
}

/** What a choice of a checklist item is called: its own label, else the shared word. */
export function choiceLabel(item, code) {
  const own = item?.choice_labels?.[code];
  if (own) return localized(own);
  return word(`choice.${code}`, String(code).replaceAll('_', ' '));
}

/** An answer as text, by the template item's kind. */
export function answerText(item, value) {
  if (value === null || value === undefined || value === '') return t('value.unanswered');
  if (item.kind === 'yes_no') return word(`answer.${value}`, String(value));
  if (item.kind === 'number') return `${value}${item.unit ? ` ${localized(item.unit)}` : ''}`;
  if (item.kind === 'choice') return choiceLabel(item, value);
  if (item.kind === 'photo' && Array.isArray(value)) return t('value.photos', { count: value.length });
  return String(value);
}

/** Label of a record field: a template item's label for answers, else from the vocabulary. */
export function fieldLabel(collection, field, template) {
  if (field.startsWith('a.') || field.startsWith('p.')) {
    const found = templateItem(template, field.slice(2));
    if (found) return localized(found.item.label);
  }
  if (field === '_deleted') return t('field._deleted');
  return word(`field.${collection}.${field}`, field.replaceAll('_', ' '));
}

/** A field value as text, for conflict lists, histories and read-only views. */
export function valueLabel(field, value, template) {
  if (value === null || value === undefined || value === '') return t('value.empty');
  if (field.startsWith('a.') || field.startsWith('p.')) {
    const found = templateItem(template, field.slice(2));
    if (found) return answerText(found.item, value);
  }
  if (field === 'severity') return severityLabel(value);
  if (field === 'category') return categoryLabel(value);
  if (field === 'shift') return shiftLabel(value);
  if (field === 'assigned_agency') return agencyLabel(value);
  if (field === 'notified' && Array.isArray(value)) return value.map(notifyLabel).join(', ');
  if (field === '_deleted') return value ? t('value.deleted') : t('value.kept');
  if (field.endsWith('_at') && typeof value === 'string') return formatDateTime(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' ? v.text ?? '' : v)).join(', ');
  if (typeof value === 'object') return Object.values(value).join(', ');
  if (typeof value === 'boolean') return value ? t('answer.ya') : t('answer.tidak');
  if (value === 'ya' || value === 'tidak' || value === 'na') return t(`answer.${value}`);
  return String(value);
}

/** A person by id from a Map of people: "Aipda Slamet Riyadi"; an unknown id stays short. */
export function personName(people, id) {
  if (!id) return '—';
  const person = people.get(id);
  if (!person) return t('person.unknown');
  return `${person.rank ? `${person.rank} ` : ''}${person.full_name}`;
}

/** "Aipda Slamet Riyadi (Polri)". */
export function personWithAgency(people, id) {
  const person = people.get(id);
  return person ? `${personName(people, id)} (${agencyLabel(person.agency)})` : personName(people, id);
}

export const personLabel = personWithAgency;

export const warehouseName = (warehouses, id) => warehouses.get(id)?.name ?? id;

/** A stock item type by its name and unit ("Kotak suara (buah)"), from a Map of item types. */
export function stockItemLabel(ctx, code) {
  const item = ctx.stockItems?.get?.(code) ?? (Array.isArray(ctx.stockItems) ? ctx.stockItems.find((i) => i.code === code) : null);
  return item ? `${item.name}${item.unit ? ` (${item.unit})` : ''}` : String(code ?? '').replaceAll('_', ' ');
}

/** Why the server refused a change, in words (sync/errors.py codes). */
export const rejectionText = (code) => word(`reject.${code}`, t('reject.other'));

/** Why the server refused a photo, in words (server/images.py and server/api/attachments.py codes). */
export const photoRefusalText = (code) => word(`photo_refused.${code}`, t('photo_refused.other'));

/** What an audit entry records ("Masuk", "Template diterbitkan"), by its kind. */
export const auditKindLabel = (kind) => word(`audit.kind.${kind}`, String(kind ?? '').replaceAll('_', ' ').replaceAll('.', ' · '));

/** A device by the name its officer gave it, with the model the browser reported. */
export function deviceLabel(device) {
  if (!device) return t('device.unknown');
  const name = device.name || device.device_name || t('device.unnamed');
  return device.model ? `${name} · ${device.model}` : name;
}

/** The parts of a warehouse's address, each once ("Johar Baru, Johar Baru" said once). */
export function warehouseAddress(warehouse, { withFloor = true } = {}) {
  const { kelurahan, kecamatan } = warehouse;
  const parts = [
    withFloor ? warehouse.floor_room : '',
    warehouse.address,
    ...(kelurahan && kelurahan === kecamatan
      ? [t('address.kelurahan_kecamatan', { name: kelurahan })]
      : [kelurahan && t('address.kelurahan', { name: kelurahan }), kecamatan && t('address.kecamatan', { name: kecamatan })]),
    warehouse.kota,
  ].filter(Boolean);
  return parts.filter((part, i) => parts.indexOf(part) === i).join(', ');
}

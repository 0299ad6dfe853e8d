// Audit trail: the tamper-evident log, searchable by person, device, record, kind and date.

import { h, replace, append } from '/js/dom.js';
import { formatDateTime, t } from '/js/i18n.js';
import { agencyLabel, auditKindLabel, collectionLabel, deviceLabel, fieldLabel, opLabel, personName, warehouseName } from '/js/labels.js';
import { badge, empty, select } from '../ui.js';

function what(entry) {
  const d = entry.detail ?? {};
  if (entry.kind === 'mutation') {
    const [collection] = entry.subject.split('/');
    // Field names in words; answers by "jawaban daftar periksa" (the item labels live in the template).
    const fields = [...new Set(Object.keys(d.fields ?? {}).map((f) => (f.startsWith('a.') || f.startsWith('p.') ? t('audit.answers') : fieldLabel(collection, f))))];
    return [opLabel(d.op, collection), ' · ', collectionLabel(collection),
      fields.length ? h('span', { class: 'muted small' }, ` (${fields.slice(0, 4).join(', ')}${fields.length > 4 ? ', …' : ''})`) : null,
      d.status && d.status !== 'applied' ? [' ', badge(d.status === 'rejected' ? 'bad' : 'warn', t(`outcome.${d.status}`))] : null];
  }
  return auditKindLabel(entry.kind);
}

/** What an entry is about, in words: a record (linked), a person, a warehouse, a device, a checklist. */
function subject(ctx, entry) {
  const s = entry.subject ?? '';
  const d = entry.detail ?? {};
  if (s.includes('/')) {
    const [collection, id] = s.split('/');
    const href = collection === 'inspections' ? `#/inspection/${id}` : collection === 'incidents' ? '#/incidents' : collection === 'conflicts' ? '#/conflicts' : null;
    return href ? h('a', { href }, collectionLabel(collection)) : collectionLabel(collection);
  }
  if (ctx.people.has(s)) return personName(ctx.people, s);
  if (ctx.warehouses.has(s)) return warehouseName(ctx.warehouses, s);
  if (d.device_name || d.new) return d.new ?? d.device_name;
  if (entry.kind === 'template.published') return t('audit.template_version', { version: d.version ?? '' });
  return '—';
}

export async function renderAudit(ctx, main) {
  const q = h('input', { type: 'search', id: 'audit-q', placeholder: t('audit.search_hint') });
  const start = h('input', { type: 'date', id: 'audit-from' });
  const end = h('input', { type: 'date', id: 'audit-to' });
  let warehouse = '';
  let before = null;
  const body = h('tbody', {});
  const more = h('button', { class: 'button ghost', hidden: true, on: { click: () => load(false) } }, t('audit.more'));

  function row(e) {
    return h('tr', { dataset: { audit: String(e.id) } },
      h('td', { class: 'small' }, formatDateTime(e.at)),
      h('td', {}, personName(ctx.people, e.actor_id), h('span', { class: 'muted small' }, ` (${agencyLabel(e.actor_agency)})`)),
      h('td', { class: 'small' }, e.device ? deviceLabel(e.device_label) : '—'),
      h('td', { class: 'small' }, e.warehouse_id ? warehouseName(ctx.warehouses, e.warehouse_id) : '—'),
      h('td', {}, what(e)),
      h('td', { class: 'small' }, subject(ctx, e)),
      h('td', { class: 'small mono muted', title: e.hash }, e.hash.slice(0, 10)));
  }

  async function load(fresh) {
    if (fresh) {
      before = null;
      replace(body);
    }
    const page = await ctx.http.get('/api/supervisor/audit', { q: q.value.trim() || undefined, warehouse_id: warehouse || undefined, from: start.value || undefined, to: end.value || undefined, before: before ?? undefined });
    append(body, page.entries.map(row));
    if (fresh && !page.entries.length) append(body, [h('tr', {}, h('td', { colspan: 7 }, empty(t('audit.none'))))]);
    before = page.next_before;
    more.hidden = before === null;
  }

  replace(main,
    h('h1', {}, t('audit.title')),
    h('form', { class: 'filters', on: { submit: (e) => { e.preventDefault(); load(true); } } },
      h('label', { class: 'field grow' }, h('span', { class: 'field-label' }, t('audit.search')), q),
      select(t('inspection.warehouse'), [['', t('common.all')], ...[...ctx.warehouses.values()].map((w) => [w.id, w.name])], warehouse, (v) => { warehouse = v; load(true); }),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('common.from')), start),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('common.to')), end),
      h('button', { class: 'button', type: 'submit' }, t('audit.search_button'))),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table audit' },
      h('thead', {}, h('tr', {}, [t('audit.when'), t('audit.who'), t('audit.device'), t('inspection.warehouse'), t('audit.what'), t('audit.subject'), t('audit.hash')].map((c) => h('th', {}, c)))),
      body)),
    more);
  await load(true);
  return {};
}

// The officer's assigned warehouses, with a banner on top for every critical incident still open at
// one of them (it arrives with the next sync; docs/alerts.md).

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { warehouseData } from '../records.js';
import { todaysShifts } from './shift-card.js';

export function warehouseAddress(warehouse) {
  return [warehouse.floor_room, warehouse.address, warehouse.kelurahan && `Kel. ${warehouse.kelurahan}`,
    warehouse.kecamatan && `Kec. ${warehouse.kecamatan}`, warehouse.kota].filter(Boolean).join(', ');
}

export async function render(app) {
  const { ctx } = app;
  const warehouses = (ctx.me?.warehouses ?? []).map((w) => (typeof w === 'object' ? w : { id: w, name: w }));
  const dataOf = new Map();
  const cards = await Promise.all(
    warehouses.map(async (warehouse) => {
      const data = await warehouseData(ctx.db, warehouse.id, ctx.me);
      dataOf.set(warehouse.id, data);
      const openIncidents = data.incidents.filter((i) => i.fields.status !== 'resolved').length;
      const drafts = data.inspections.filter((i) => i.fields.status === 'draft' || i.fields.status === 'needs_fix').length;
      return h(
        'li',
        {},
        h(
          'a',
          { class: 'card link-card', href: `#/w/${encodeURIComponent(warehouse.id)}` },
          h('span', { class: 'card-title' }, warehouse.name),
          warehouse.code ? h('span', { class: 'muted' }, warehouse.code) : null,
          h('span', { class: 'muted small' }, warehouseAddress(warehouse)),
          h(
            'span',
            { class: 'chips' },
            openIncidents ? h('span', { class: 'chip chip-warn' }, t('warehouses.open_incidents', { count: openIncidents })) : null,
            drafts ? h('span', { class: 'chip' }, t('warehouses.drafts', { count: drafts })) : null,
          ),
        ),
      );
    }),
  );
  const critical = warehouses.flatMap((w) => dataOf.get(w.id).incidents
    .filter((i) => i.fields.severity === 'kritis' && i.fields.status !== 'resolved')
    .map((i) => h('a', { class: 'banner banner-critical', role: 'alert', href: `#/w/${encodeURIComponent(w.id)}/incident/${encodeURIComponent(i.id)}`, dataset: { incident: i.id } },
      h('strong', {}, t('warehouses.critical_incident', { warehouse: w.name })),
      h('span', {}, i.fields.title || i.fields.description || ''))));
  const greeting = ctx.me ? t('warehouses.greeting', { name: ctx.me.full_name || ctx.me.username }) : '';
  const node = h(
    'section',
    {},
    critical,
    h('h1', { tabindex: '-1' }, t('warehouses.title')),
    h('p', { class: 'muted' }, greeting),
    await todaysShifts(app, warehouses, dataOf),
    cards.length ? h('ul', { class: 'list' }, cards) : h('p', { class: 'empty' }, t('warehouses.none')),
  );
  return { node, live: true };
}

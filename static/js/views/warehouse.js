// One warehouse: start an inspection, report an incident, count stock; the latest inspections,
// open incidents and stock levels.

import { h } from '../dom.js';
import { templateOf, warehouseOf } from '../context.js';
import { coInspectorState, shiftFor } from '../domain.js';
import { formatDateTime, formatNumber, t } from '../i18n.js';
import { agencyLabel, categoryLabel, severityLabel, shiftLabel, statusLabel, warehouseAddress } from '../labels.js';
import { warehouseData } from '../records.js';
import { now as serverNow, nowIso } from '../server-time.js';
import { uuid7 } from '../uuid7.js';

/** Whether the server has this record as shown: every record says one or the other. */
export function pendingBadge(record) {
  return record.pending
    ? h('span', { class: 'chip chip-pending', dataset: { sync: 'pending' } }, t('common.pending'))
    : h('span', { class: 'chip chip-synced', dataset: { sync: 'on-server' } }, t('common.on_server'));
}

export function statusChip(collection, status) {
  return h('span', { class: ['chip', `status-${status}`] }, statusLabel(collection, status));
}

export async function startInspection(app, warehouseId) {
  const { ctx } = app;
  const template = templateOf(ctx);
  if (!template) {
    app.toast(t('inspection.no_template'), 'error');
    return;
  }
  const id = uuid7();
  await ctx.enqueue({
    id,
    collection: 'inspections',
    op: 'create',
    warehouse_id: warehouseId,
    fields: {
      template_id: template.id,
      shift: shiftFor(new Date(serverNow())),
      started_at: nowIso(),
      co_inspectors: [],
    },
  });
  app.navigate(`#/w/${encodeURIComponent(warehouseId)}/inspection/${id}`);
}

function inspectionItem(ctx, warehouseId, inspection) {
  const f = inspection.fields;
  const who = ctx.people.get(f.inspector_id ?? inspection.created_by);
  return h(
    'li',
    {},
    h(
      'a',
      { class: 'row-link', href: `#/w/${encodeURIComponent(warehouseId)}/inspection/${inspection.id}` },
      h('span', { class: 'row-title' }, `${formatDateTime(f.started_at)} · ${shiftLabel(f.shift)}`),
      h(
        'span',
        { class: 'row-meta' },
        statusChip('inspections', f.status),
        pendingBadge(inspection),
        (f.findings ?? []).length ? h('span', { class: 'chip chip-finding' }, t('inspection.findings_count', { count: f.findings.length })) : null,
        // A co-inspector's own phone shows what still needs their confirmation.
        coInspectorState(inspection, ctx.me.id) === 'pending' && f.status !== 'reviewed'
          ? h('span', { class: 'chip chip-warn co-pending' }, t('inspection.co_pending')) : null,
        who ? h('span', { class: 'muted small' }, `${who.full_name} · ${agencyLabel(who.agency)}`) : null,
      ),
    ),
  );
}

function incidentItem(warehouseId, incident) {
  const f = incident.fields;
  return h(
    'li',
    {},
    h(
      'a',
      { class: 'row-link', href: `#/w/${encodeURIComponent(warehouseId)}/incident/${incident.id}` },
      h('span', { class: 'row-title' }, f.title || categoryLabel(f.category)),
      h(
        'span',
        { class: 'row-meta' },
        h('span', { class: ['chip', `severity-${f.severity}`] }, severityLabel(f.severity)),
        statusChip('incidents', f.status),
        pendingBadge(incident),
        h('span', { class: 'muted small' }, formatDateTime(f.occurred_at)),
      ),
    ),
  );
}

export async function render(app, { warehouseId }) {
  const { ctx } = app;
  const warehouse = warehouseOf(ctx, warehouseId);
  if (!warehouse) {
    return { node: h('section', { class: 'card' }, h('h1', { tabindex: '-1' }, t('warehouse.unknown'))) };
  }
  const data = await warehouseData(ctx.db, warehouseId, ctx.me);
  const base = `#/w/${encodeURIComponent(warehouseId)}`;
  const openIncidents = data.incidents.filter((i) => i.fields.status !== 'resolved');
  const itemName = new Map(ctx.stockItems.map((item) => [item.code, item]));
  const levels = Object.values(data.stockLevels);

  const node = h(
    'section',
    {},
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, t('nav.warehouses'))),
    h('h1', { tabindex: '-1' }, warehouse.name),
    h('p', { class: 'muted small' }, warehouseAddress(warehouse)),
    h(
      'div',
      { class: 'actions stack' },
      h('button', { type: 'button', class: 'button block', on: { click: () => startInspection(app, warehouseId) } }, t('warehouse.start_inspection')),
      h('a', { class: 'button block secondary', href: `${base}/incident/new` }, t('warehouse.report_incident')),
      h('a', { class: 'button block secondary', href: `${base}/stock` }, t('warehouse.count_stock')),
    ),
    h('h2', {}, t('warehouse.open_incidents')),
    openIncidents.length
      ? h('ul', { class: 'rows' }, openIncidents.map((i) => incidentItem(warehouseId, i)))
      : h('p', { class: 'empty' }, t('warehouse.no_open_incidents')),
    h('h2', {}, t('warehouse.inspections')),
    data.inspections.length
      ? h('ul', { class: 'rows' }, data.inspections.slice(0, 10).map((i) => inspectionItem(ctx, warehouseId, i)))
      : h('p', { class: 'empty' }, t('warehouse.no_inspections')),
    h('h2', {}, t('warehouse.stock')),
    levels.length
      ? h(
          'ul',
          { class: 'rows' },
          levels.map((level) =>
            h(
              'li',
              { class: 'row-plain' },
              h('span', {}, itemName.get(level.fields.item_type)?.name ?? level.fields.item_type),
              h('span', { class: 'muted' }, `${formatNumber(level.fields.expected ?? 0)} ${itemName.get(level.fields.item_type)?.unit ?? ''}`),
            ),
          ),
        )
      : h('p', { class: 'empty' }, t('warehouse.no_stock')),
  );
  return { node, live: true };
}

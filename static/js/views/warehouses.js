// The officer's home screen: first a banner for every critical incident still open at one of their
// warehouses (it arrives with the next sync; docs/alerts.md), then what needs them (inspections
// sent back with the supervisor's note, co-inspections to confirm, drafts, conflicts, unsent or
// refused changes, today's open incidents), then their warehouses. Every count here is the length
// of a list on this screen or of the one the status bar reads (describeSync), so a badge never
// says something else.

import { h } from '../dom.js';
import { coInspectorState } from '../domain.js';
import { formatDateTime, t } from '../i18n.js';
import { categoryLabel, personName, severityLabel, warehouseAddress } from '../labels.js';
import { warehouseData } from '../records.js';
import { todaysShifts } from './shift-card.js';
import { describeSync } from './sync-state.js';
import { recordLink } from './sync.js';

const isMine = (me, inspection) =>
  inspection.created_by === me.id || inspection.fields.inspector_id === me.id ||
  (inspection.fields.co_inspectors ?? []).includes(me.id);

const sameDay = (iso, day) => Boolean(iso) && new Date(iso).toDateString() === day;

function taskRow({ href, title, meta = [], note = null, kind }) {
  return h('li', { class: ['task', `task-${kind}`], dataset: { task: kind } },
    h('a', { class: 'row-link', href },
      h('span', { class: 'row-title' }, title),
      meta.length ? h('span', { class: 'row-meta' }, meta) : null,
      note ? h('span', { class: 'task-note' }, note) : null));
}

function inspectionTitle(ctx, warehouse, inspection) {
  return t('home.inspection', { warehouse: warehouse.name, at: formatDateTime(inspection.fields.started_at) });
}

/** What needs this officer, from the warehouses' records and the sync state. */
export async function tasks(ctx, warehouses, sync) {
  const me = ctx.me;
  const today = new Date().toDateString();
  const out = { returned: [], confirm: [], drafts: [], incidents: [], byWarehouse: new Map() };
  for (const warehouse of warehouses) {
    const data = await warehouseData(ctx.db, warehouse.id, me);
    const open = data.incidents.filter((i) => i.fields.status !== 'resolved');
    out.byWarehouse.set(warehouse.id, {
      data,
      openIncidents: open.length,
      drafts: data.inspections.filter((i) => i.fields.status === 'draft' || i.fields.status === 'needs_fix').length,
    });
    for (const inspection of data.inspections) {
      const status = inspection.fields.status;
      if (status === 'needs_fix' && isMine(me, inspection)) out.returned.push({ warehouse, inspection });
      else if (status === 'draft' && isMine(me, inspection)) out.drafts.push({ warehouse, inspection });
      if (status !== 'reviewed' && status !== 'needs_fix' && coInspectorState(inspection, me.id) === 'pending') {
        out.confirm.push({ warehouse, inspection });
      }
    }
    for (const incident of open) {
      if (sameDay(incident.fields.occurred_at || incident.created_at, today)) out.incidents.push({ warehouse, incident });
    }
  }
  out.conflicts = sync.conflictsOpen;
  out.pending = sync.pending;
  out.rejected = sync.rejected.length;
  return out;
}

function section(id, title, rows) {
  return rows.length
    ? h('section', { class: 'task-group', id }, h('h2', {}, title, ' ', h('span', { class: 'count', dataset: { count: rows.length } }, `(${rows.length})`)), h('ul', { class: 'rows' }, rows))
    : null;
}

export async function render(app) {
  const { ctx } = app;
  const warehouses = (ctx.me?.warehouses ?? []).map((w) => (typeof w === 'object' ? w : { id: w, name: w }));
  const sync = await describeSync(app);
  const todo = await tasks(ctx, warehouses, sync);
  const link = (warehouse, inspection) => `#/w/${encodeURIComponent(warehouse.id)}/inspection/${inspection.id}`;

  const returned = todo.returned.map(({ warehouse, inspection }) => taskRow({
    kind: 'returned',
    href: link(warehouse, inspection),
    title: inspectionTitle(ctx, warehouse, inspection),
    meta: [h('span', { class: 'chip status-needs_fix' }, t('status.inspections.needs_fix')),
      inspection.fields.reviewed_by ? h('span', { class: 'muted small' }, personName(ctx.people, inspection.fields.reviewed_by)) : null],
    note: inspection.fields.review_comment ? t('home.supervisor_note', { text: inspection.fields.review_comment }) : null,
  }));
  const confirm = todo.confirm.map(({ warehouse, inspection }) => taskRow({
    kind: 'confirm',
    href: link(warehouse, inspection),
    title: inspectionTitle(ctx, warehouse, inspection),
    meta: [h('span', { class: 'chip chip-warn' }, t('inspection.co_pending')),
      h('span', { class: 'muted small' }, personName(ctx.people, inspection.fields.inspector_id ?? inspection.created_by))],
  }));
  const drafts = todo.drafts.map(({ warehouse, inspection }) => taskRow({
    kind: 'draft',
    href: link(warehouse, inspection),
    title: inspectionTitle(ctx, warehouse, inspection),
    meta: [h('span', { class: 'chip status-draft' }, t('status.inspections.draft'))],
  }));
  const incidents = todo.incidents.map(({ warehouse, incident }) => taskRow({
    kind: 'incident',
    href: `#/w/${encodeURIComponent(warehouse.id)}/incident/${incident.id}`,
    title: incident.fields.title || categoryLabel(incident.fields.category),
    meta: [h('span', { class: ['chip', `severity-${incident.fields.severity}`] }, severityLabel(incident.fields.severity)),
      h('span', { class: 'chip' }, t(`status.incidents.${incident.fields.status}`)),
      h('span', { class: 'muted small' }, `${warehouse.name} · ${formatDateTime(incident.fields.occurred_at)}`)],
  }));
  const conflicts = todo.conflicts.map((c) => taskRow({
    kind: 'conflict',
    href: recordLink(c.fields.record_collection, c.fields.record_id, c.warehouse_id) ?? '#/sync',
    title: t('home.conflict', { what: t(`collection.${c.fields.record_collection}`) }),
    meta: [h('span', { class: 'chip chip-warn' }, t('status.conflicts.open'))],
  }));
  const unsent = [];
  if (todo.pending) unsent.push(taskRow({ kind: 'unsent', href: '#/sync', title: t('home.unsent', { count: todo.pending }) }));
  if (todo.rejected) unsent.push(taskRow({ kind: 'rejected', href: '#/sync', title: t('home.rejected', { count: todo.rejected }) }));

  const groups = [
    section('home-returned', t('home.returned'), returned),
    section('home-confirm', t('home.confirm'), confirm),
    section('home-conflicts', t('home.conflicts'), conflicts),
    section('home-unsent', t('home.sync'), unsent),
    section('home-drafts', t('home.drafts'), drafts),
    section('home-incidents', t('home.incidents_today'), incidents),
  ].filter(Boolean);

  const cards = warehouses.map((warehouse) => {
    const counts = todo.byWarehouse.get(warehouse.id);
    return h('li', {},
      h('a', { class: 'card link-card', href: `#/w/${encodeURIComponent(warehouse.id)}` },
        h('span', { class: 'card-title' }, warehouse.name),
        h('span', { class: 'muted small' }, warehouseAddress(warehouse)),
        h('span', { class: 'chips' },
          counts.openIncidents ? h('span', { class: 'chip chip-warn' }, t('warehouses.open_incidents', { count: counts.openIncidents })) : null,
          counts.drafts ? h('span', { class: 'chip' }, t('warehouses.drafts', { count: counts.drafts })) : null)));
  });
  const dataOf = new Map(warehouses.map((w) => [w.id, todo.byWarehouse.get(w.id).data]));
  const critical = warehouses.flatMap((w) => dataOf.get(w.id).incidents
    .filter((i) => i.fields.severity === 'kritis' && i.fields.status !== 'resolved')
    .map((i) => h('a', { class: 'banner banner-critical', role: 'alert', href: `#/w/${encodeURIComponent(w.id)}/incident/${encodeURIComponent(i.id)}`, dataset: { incident: i.id } },
      h('strong', {}, t('warehouses.critical_incident', { warehouse: w.name })),
      h('span', {}, i.fields.title || i.fields.description || ''))));
  const greeting = ctx.me ? t('warehouses.greeting', { name: ctx.me.full_name || ctx.me.username }) : '';
  const node = h(
    'section',
    { class: 'home' },
    critical,
    h('h1', { tabindex: '-1' }, t('home.title')),
    h('p', { class: 'muted' }, greeting),
    await todaysShifts(app, warehouses, dataOf),
    groups.length ? groups : h('p', { class: 'empty', id: 'home-nothing' }, t('home.nothing')),
    h('h2', {}, t('warehouses.title')),
    cards.length ? h('ul', { class: 'list' }, cards) : h('p', { class: 'empty' }, t('warehouses.none')),
  );
  return { node, live: true };
}

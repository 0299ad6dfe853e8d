// Incident queue: open → acknowledged → resolved, most severe first, with the time taken to
// acknowledge and to resolve. Every action is a sync mutation on the incident.

import { h, replace } from '/js/dom.js';
import { uuid7 } from '/js/uuid7.js';
import { ago, formatDateTime, hours, t } from '/js/i18n.js';
import { agencyLabel, categoryLabel, notifyLabel, personName, personWithAgency, severityLabel, statusLabel, warehouseName } from '/js/labels.js';
import { photoThumb } from '../photos.js';
import { badge, empty, errorText, formDialog, reportResult, select, toast } from '../ui.js';

const FILTERS = ['unresolved', 'open', 'acknowledged', 'resolved', ''];

export async function renderIncidents(ctx, main, focus = null) {
  // #/incident/<id> (a conflict card's link): every status, that incident marked and in view.
  let status = focus ? '' : 'unresolved';
  let warehouse = '';
  const list = h('div', { class: 'list' });

  async function run(incident, op, fields = {}, okKey = `incident.${op}.done`) {
    try {
      const result = await ctx.push({ id: incident.id, collection: 'incidents', op, baseRev: incident.revision, fields });
      if (reportResult(result, t(okKey))) await reload();
    } catch (error) {
      toast(errorText(error), 'error');
    }
  }

  async function resolve(incident) {
    const values = await formDialog({ title: t('incident.resolve.title'), fields: [{ name: 'resolution', label: t('incident.resolution'), type: 'textarea', required: true }], submit: t('incident.resolve') });
    if (values) await run(incident, 'resolve', { resolution: values.resolution.trim() });
  }

  async function note(incident) {
    const values = await formDialog({ title: t('incident.note.title'), fields: [{ name: 'text', label: t('incident.note'), type: 'textarea', required: true }], submit: t('common.save') });
    if (values) await run(incident, 'patch', { notes: [{ id: uuid7(), text: values.text.trim() }] }, 'incident.note.done');
  }

  async function assign(incident, agency) {
    await run(incident, 'patch', { assigned_agency: agency }, 'incident.assign.done');
  }

  function card(row) {
    const f = row.fields;
    const state = f.status ?? 'open';
    const agencies = Object.keys(ctx.me.agencies ?? {});
    return h('article', { class: ['panel', 'incident', `sev-${f.severity}`, row.id === focus ? 'is-focused' : null], id: `incident-${row.id}`, dataset: { incident: row.id, status: state } },
      h('header', { class: 'incident-head' },
        badge(`sev-${f.severity}`, severityLabel(f.severity)), ' ',
        badge(state, statusLabel('incidents', state)), ' ',
        h('strong', {}, f.title || categoryLabel(f.category))),
      h('p', { class: 'muted small' }, `${categoryLabel(f.category)} · ${warehouseName(ctx.warehouses, row.warehouse_id)} · ${t('incident.reported', { who: personWithAgency(ctx.people, f.reported_by), when: formatDateTime(row.created_at), ago: ago(row.created_at) })}`),
      h('p', {}, f.description),
      f.location ? h('p', { class: 'small' }, `${t('incident.location')}: ${f.location}`) : null,
      f.action_taken ? h('p', { class: 'small' }, `${t('incident.action_taken')}: ${f.action_taken}`) : null,
      (f.notified ?? []).length ? h('p', { class: 'small' }, `${t('incident.notified')}: ${f.notified.map(notifyLabel).join(', ')}`) : null,
      (f.photos ?? []).length ? h('div', { class: 'thumbs' }, f.photos.map((sha) => photoThumb(ctx.http, sha))) : null,
      h('dl', { class: 'meta-list small' },
        h('dt', {}, t('incident.assigned')), h('dd', {}, agencyLabel(f.assigned_agency) || t('incident.unassigned')),
        h('dt', {}, t('incident.time_to_ack')), h('dd', { dataset: { field: 'ack' } }, f.acknowledged_at ? `${hours(row.hours_to_acknowledge)} · ${personName(ctx.people, f.acknowledged_by)}` : t('incident.waiting', { hours: hours(row.open_hours) })),
        h('dt', {}, t('incident.time_to_resolve')), h('dd', {}, state === 'resolved' ? `${hours(row.hours_to_resolve)} · ${personName(ctx.people, f.resolved_by)}` : '—'),
        f.resolution ? [h('dt', {}, t('incident.resolution')), h('dd', {}, f.resolution)] : null),
      (f.notes ?? []).length ? h('ul', { class: 'plain small notes' }, f.notes.map((n) => h('li', {}, h('strong', {}, personName(ctx.people, n.by)), ` (${formatDateTime(n.at)}): ${n.text}`))) : null,
      h('div', { class: 'actions no-print' },
        state === 'open' ? h('button', { class: 'button', on: { click: () => run(row, 'acknowledge') } }, t('incident.acknowledge')) : null,
        state !== 'resolved' ? h('button', { class: 'button secondary', on: { click: () => resolve(row) } }, t('incident.resolve')) : null,
        state === 'resolved' ? h('button', { class: 'button ghost', on: { click: () => run(row, 'reopen') } }, t('incident.reopen')) : null,
        h('button', { class: 'button ghost', on: { click: () => note(row) } }, t('incident.add_note')),
        select(t('incident.assign'), [['', '—'], ...agencies.map((a) => [a, agencyLabel(a)])], f.assigned_agency ?? '', (v) => v && assign(row, v))));
  }

  async function reload() {
    const rows = await ctx.http.get('/api/supervisor/incidents', { status: status || undefined, warehouse_id: warehouse || undefined });
    replace(list, rows.length ? rows.map(card) : empty(t('incident.none')));
    if (focus) list.querySelector(`[data-incident="${CSS.escape(focus)}"]`)?.scrollIntoView({ block: 'center' });
  }

  replace(main,
    h('h1', {}, t('incidents.title')),
    h('div', { class: 'filters' },
      select(t('incident.status'), FILTERS.map((s) => [s, s ? t(`incident.filter.${s}`) : t('common.all')]), status, (v) => { status = v; reload(); }),
      select(t('inspection.warehouse'), [['', t('common.all')], ...[...ctx.warehouses.values()].map((w) => [w.id, w.name])], warehouse, (v) => { warehouse = v; reload(); })),
    list);
  await reload();
  return { onLive: (e) => { if (e.type === 'incidents') reload(); } };
}

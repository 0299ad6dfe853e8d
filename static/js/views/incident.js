// One incident: its details (editable until resolved: fields, photos added or removed), status
// with acknowledge / resolve / reopen where the role allows, notes, and any conflict on it with
// both values.

import { autosaver } from '../autosave.js';
import { h } from '../dom.js';
import { warehouseOf } from '../context.js';
import { INCIDENT_CATEGORIES, SEVERITIES, canHandleIncident, isOwnReport, isSupervisor } from '../domain.js';
import { formatShortDateTime, t } from '../i18n.js';
import { localErrorText } from '../error-text.js';
import { agencyLabel, categoryLabel, notifyLabel, personLabel, severityLabel } from '../labels.js';
import { conflictsFor, getRecord } from '../records.js';
import { pendingBadge, statusChip } from './warehouse.js';
import { choiceGroup, conflictList, labelled, notesSection, photoPicker, thumbnails } from './widgets.js';

export async function render(app, { warehouseId, id }) {
  const { ctx } = app;
  const back = h('p', { class: 'crumbs' }, h('a', { href: `#/w/${encodeURIComponent(warehouseId)}` }, warehouseOf(ctx, warehouseId)?.name ?? t('nav.back')));
  const record = await getRecord(ctx.db, id, ctx.me);
  if (!record) return { node: h('section', {}, back, h('h1', { tabindex: '-1' }, t('incident.not_found'))) };
  const f = { ...record.fields };
  const conflicts = await conflictsFor(ctx.db, id);
  const editable = f.status !== 'resolved';

  // base_rev is the revision this screen shows, not the replica's newest: a pull landing while the
  // screen is open must make the server merge this edit with what the officer has not seen
  // (a photo list edited from the older list would otherwise replace the newer one).
  const mutate = (op, fields = {}, options = {}) =>
    ctx.enqueue({ id, collection: 'incidents', op, warehouse_id: warehouseId, fields, base_rev: record.revision }, options);
  const saver = autosaver(ctx.db, `incident:${id}`, (name, value) => mutate('patch', { [name]: value }, { coalesce: true }));
  if (editable) Object.assign(f, await saver.recover(f));
  const patch = (name, value, { debounce = false } = {}) =>
    saver.change(name, value, { debounce }).catch((error) => app.toast(localErrorText(error), 'error'));

  const severity = choiceGroup({
    legend: t('field.incidents.severity'),
    name: 'severity',
    value: f.severity,
    disabled: !editable,
    options: SEVERITIES.map((s) => ({ value: s, label: severityLabel(s), className: `severity-${s}` })),
    onChange: (value) => patch('severity', value),
  });
  const category = h(
    'select',
    { name: 'category', disabled: !editable, on: { change: (e) => patch('category', e.target.value) } },
    INCIDENT_CATEGORIES.map((c) => h('option', { value: c, selected: f.category === c }, categoryLabel(c))),
  );
  const textField = (name, rows) => {
    const el = rows
      ? h('textarea', { name, rows: String(rows), value: f[name] ?? '', disabled: !editable })
      : h('input', { name, value: f[name] ?? '', disabled: !editable });
    el.addEventListener('input', () => patch(name, el.value, { debounce: true }));
    el.addEventListener('change', () => saver.flush());
    return labelled(t(`field.incidents.${name}`), el);
  };

  const actions = [];
  const canHandle = canHandleIncident(ctx.me, record);
  if (f.status === 'open' && canHandle) {
    actions.push(h('button', { type: 'button', class: 'button', id: 'acknowledge', on: { click: async () => {
      await mutate('acknowledge');
      app.toast(t('incident.acknowledged'));
      app.rerender({ keepFocus: true });
    } } }, t('incident.acknowledge')));
  }
  let resolution = null;
  // Officers acknowledge before they resolve; a supervisor may resolve straight away.
  if ((f.status === 'acknowledged' || (f.status === 'open' && isSupervisor(ctx.me))) && canHandle) {
    resolution = h('textarea', { name: 'resolution', rows: '2' });
    actions.push(labelled(t('field.incidents.resolution'), resolution));
    actions.push(h('button', { type: 'button', class: 'button secondary', on: { click: async () => {
      if (!resolution.value.trim()) {
        resolution.focus();
        return;
      }
      await mutate('resolve', { resolution: resolution.value.trim() });
      app.toast(t('incident.resolved'));
      app.rerender();
    } } }, t('incident.resolve')));
  }
  // Locked once resolved (the server refuses every edit until a supervisor reopens it); the
  // reporter's own phone never offers to acknowledge or resolve his report.
  const notices = [];
  if (f.status === 'resolved') notices.push(h('p', { class: 'notice locked', id: 'incident-locked' }, t('incident.locked')));
  else if (isOwnReport(ctx.me, record)) notices.push(h('p', { class: 'notice', id: 'incident-own' }, t('incident.own_report')));
  if (f.status === 'resolved' && isSupervisor(ctx.me)) {
    actions.push(h('button', { type: 'button', class: 'button secondary', on: { click: async () => {
      await mutate('reopen');
      app.rerender();
    } } }, t('incident.reopen')));
  }

  const node = h(
    'section',
    { class: 'incident' },
    back,
    h('h1', { tabindex: '-1' }, f.title || categoryLabel(f.category)),
    h(
      'div',
      { class: 'card meta-card' },
      h('p', {}, statusChip('incidents', f.status), ' ', h('span', { class: ['chip', `severity-${f.severity}`] }, severityLabel(f.severity)), ' ', pendingBadge(record)),
      h('dl', { class: 'facts facts-stacked' },
        h('dt', {}, t('field.incidents.occurred_at')), h('dd', {}, formatShortDateTime(f.occurred_at)),
        h('dt', {}, t('field.incidents.reported_by')), h('dd', {}, personLabel(ctx.people, f.reported_by ?? record.created_by)),
        f.assigned_agency ? [h('dt', {}, t('field.incidents.assigned_agency')), h('dd', {}, agencyLabel(f.assigned_agency))] : null,
        f.acknowledged_at ? [h('dt', {}, t('field.incidents.acknowledged_at')), h('dd', {}, `${formatShortDateTime(f.acknowledged_at)} — ${personLabel(ctx.people, f.acknowledged_by)}`)] : null,
        f.resolved_at ? [h('dt', {}, t('field.incidents.resolved_at')), h('dd', {}, `${formatShortDateTime(f.resolved_at)} — ${personLabel(ctx.people, f.resolved_by)}`)] : null,
        f.resolution ? [h('dt', {}, t('field.incidents.resolution')), h('dd', {}, f.resolution)] : null,
        (f.notified ?? []).length ? [h('dt', {}, t('field.incidents.notified')), h('dd', {}, f.notified.map(notifyLabel).join(', '))] : null,
      ),
      notices,
    ),
    conflicts.length
      ? h('section', { class: 'card conflict-card', id: 'conflicts' }, h('h2', {}, t('conflict.title')), conflictList(ctx, conflicts))
      : null,
    actions.length ? h('section', { class: 'card' }, h('h2', {}, t('incident.follow_up')), actions) : null,
    h(
      'section',
      { class: 'card' },
      h('h2', {}, t('incident.details')),
      severity,
      labelled(t('field.incidents.category'), category),
      textField('description', 4),
      textField('title'),
      textField('location'),
      textField('action_taken', 2),
      editable
        ? photoPicker(ctx, {
            label: t('field.incidents.photos'),
            hashes: f.photos ?? [],
            onAdd: (sha, all) => patch('photos', all),
            onRemove: (sha, all) => patch('photos', all),
          })
        : h('div', {}, h('span', { class: 'label' }, t('field.incidents.photos')), thumbnails(ctx, f.photos ?? [])),
    ),
    notesSection(app, {
      record,
      onAdd: (entry) => mutate('patch', { notes: [entry] }, { coalesce: true }).then(() => app.rerender({ keepFocus: true })),
    }),
  );
  return { node, live: true, flush: () => saver.flush(), cleanup: () => saver.flush() };
}

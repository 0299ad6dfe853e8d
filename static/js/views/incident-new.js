// Report an incident (laporan kejadian). Every keystroke is kept as a draft; "Laporkan" queues
// the create and opens the incident's page, where its status can be followed.

import { h } from '../dom.js';
import { warehouseOf } from '../context.js';
import { AGENCIES, INCIDENT_CATEGORIES, NOTIFY_OPTIONS, SEVERITIES } from '../domain.js';
import { t } from '../i18n.js';
import { agencyLabel, categoryLabel, severityLabel } from '../labels.js';
import { now, nowIso } from '../server-time.js';
import { uuid7 } from '../uuid7.js';
import { choiceGroup, labelled, photoPicker } from './widgets.js';

/** "2024-11-27T21:05" in the phone's time zone (server time by default), for <input type=datetime-local>. */
export function localInputValue(date = new Date(now())) {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

export function isoFromLocalInput(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? nowIso() : date.toISOString();
}

export async function render(app, { warehouseId }) {
  const { ctx } = app;
  const draftKey = `incident-new:${warehouseId}`;
  const draft = (await ctx.db.get('drafts', draftKey)) ?? {
    key: draftKey,
    id: uuid7(),
    category: '',
    severity: '',
    title: '',
    description: '',
    occurred_at: localInputValue(),
    location: '',
    assigned_agency: '',
    notified: [],
    action_taken: '',
    photos: [],
  };
  const persist = () => ctx.db.put('drafts', { ...draft, at: Date.now() });
  const set = (name, value) => {
    draft[name] = value;
    return persist();
  };
  const bind = (el, name) => {
    el.addEventListener('input', () => set(name, el.value));
    el.addEventListener('change', () => set(name, el.value));
    return el;
  };

  const category = bind(
    h('select', { name: 'category', required: true },
      h('option', { value: '' }, t('incident.choose_category')),
      INCIDENT_CATEGORIES.map((c) => h('option', { value: c, selected: draft.category === c }, categoryLabel(c)))),
    'category',
  );
  const severity = choiceGroup({
    legend: t('field.incidents.severity'),
    name: 'severity',
    required: true,
    value: draft.severity,
    options: SEVERITIES.map((s) => ({ value: s, label: severityLabel(s), className: `severity-${s}` })),
    onChange: (value) => set('severity', value),
  });
  const title = bind(h('input', { name: 'title', maxlength: '200', value: draft.title }), 'title');
  const description = bind(h('textarea', { name: 'description', rows: '4', required: true, value: draft.description }), 'description');
  const occurredAt = bind(h('input', { name: 'occurred_at', type: 'datetime-local', value: draft.occurred_at }), 'occurred_at');
  const location = bind(h('input', { name: 'location', maxlength: '200', value: draft.location }), 'location');
  const agency = bind(
    h('select', { name: 'assigned_agency' },
      h('option', { value: '' }, t('incident.no_agency')),
      AGENCIES.map((a) => h('option', { value: a, selected: draft.assigned_agency === a }, agencyLabel(a)))),
    'assigned_agency',
  );
  const actionTaken = bind(h('textarea', { name: 'action_taken', rows: '2', value: draft.action_taken }), 'action_taken');
  const notified = new Set(draft.notified);
  const notifiedBox = h(
    'fieldset',
    { class: 'checks' },
    h('legend', {}, t('field.incidents.notified')),
    NOTIFY_OPTIONS.map((code) =>
      h('label', { class: 'check' },
        h('input', { type: 'checkbox', value: code, checked: notified.has(code), on: { change: (e) => {
          if (e.target.checked) notified.add(code);
          else notified.delete(code);
          set('notified', [...notified]);
        } } }),
        h('span', {}, t(`notify.${code}`))),
    ),
  );
  const photos = photoPicker(ctx, {
    label: t('field.incidents.photos'),
    hashes: draft.photos,
    onAdd: (sha, all) => set('photos', all),
    onRemove: (sha, all) => set('photos', all),
  });
  const error = h('div', { class: 'error-box', role: 'alert', hidden: true, tabindex: '-1' });

  async function onSubmit(event) {
    event.preventDefault();
    const missing = [];
    if (!draft.category) missing.push(t('field.incidents.category'));
    if (!draft.severity) missing.push(t('field.incidents.severity'));
    if (!draft.description.trim()) missing.push(t('field.incidents.description'));
    if (missing.length) {
      error.replaceChildren(h('p', {}, t('incident.missing', { fields: missing.join(', ') })));
      error.hidden = false;
      error.focus();
      return;
    }
    const fields = {
      category: draft.category,
      severity: draft.severity,
      description: draft.description.trim(),
      occurred_at: isoFromLocalInput(draft.occurred_at),
      photos: draft.photos,
      notified: draft.notified,
    };
    for (const name of ['title', 'location', 'assigned_agency', 'action_taken']) {
      if (draft[name]?.trim()) fields[name] = draft[name].trim();
    }
    await ctx.enqueue({ id: draft.id, collection: 'incidents', op: 'create', warehouse_id: warehouseId, fields });
    await ctx.db.delete('drafts', draftKey);
    app.toast(t('incident.reported'));
    app.navigate(`#/w/${encodeURIComponent(warehouseId)}/incident/${draft.id}`, { replace: true });
  }

  const node = h(
    'section',
    {},
    h('p', { class: 'crumbs' }, h('a', { href: `#/w/${encodeURIComponent(warehouseId)}` }, warehouseOf(ctx, warehouseId)?.name ?? t('nav.back'))),
    h('h1', { tabindex: '-1' }, t('incident.new_title')),
    h('p', { class: 'hint' }, t('incident.draft_hint')),
    h(
      'form',
      { class: 'card', novalidate: true, on: { submit: onSubmit } },
      labelled(t('field.incidents.category'), category, { required: true }),
      severity,
      labelled(t('field.incidents.description'), description, { required: true }),
      labelled(t('field.incidents.title'), title),
      labelled(t('field.incidents.occurred_at'), occurredAt),
      labelled(t('field.incidents.location'), location, { hint: t('incident.location_hint') }),
      labelled(t('field.incidents.assigned_agency'), agency),
      notifiedBox,
      labelled(t('field.incidents.action_taken'), actionTaken),
      photos,
      error,
      h('button', { type: 'submit', class: 'button block', id: 'report-incident' }, t('incident.submit')),
    ),
  );
  return { node };
}

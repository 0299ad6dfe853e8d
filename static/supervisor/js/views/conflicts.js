// Conflict queue: every conflict record (both values side by side, who and when) and every
// rejected mutation. Deciding is one `resolve` mutation on the conflict record with the value to
// keep; the decision reaches the phones through the normal pull feed.

import { h, replace } from '/js/dom.js';
import { formatDateTime, localized, t } from '/js/i18n.js';
import { answerText, categoryLabel, collectionLabel, deviceLabel, fieldLabel, opLabel, personWithAgency, rejectionText, shiftLabel, statusLabel, stockItemLabel, valueLabel, warehouseName } from '/js/labels.js';
import { badge, empty, errorText, formDialog, reportResult, section, select, toast } from '../ui.js';

function parseLike(text, example) {
  if (typeof example === 'number') {
    const n = Number(text);
    return Number.isFinite(n) ? n : text;
  }
  if (Array.isArray(example)) return text.split(',').map((s) => s.trim()).filter(Boolean);
  return text;
}

export async function renderConflicts(ctx, main) {
  let status = 'open';
  const conflictsBox = h('div', { class: 'list' });
  const rejectedBox = h('div', { class: 'list' });

  async function decide(item, value) {
    try {
      const result = await ctx.push({ id: item.conflict.id, collection: 'conflicts', op: 'resolve', baseRev: item.conflict.revision, fields: { value } });
      if (reportResult(result, t('conflict.resolved'))) await reload();
    } catch (error) {
      toast(errorText(error), 'error');
    }
  }

  async function other(item) {
    const c = item.conflict.fields;
    const values = await formDialog({ title: t('conflict.other.title'), fields: [{ name: 'value', label: fieldLabel(c.record_collection, c.field), required: true, value: '' }], submit: t('conflict.decide') });
    if (values) await decide(item, parseLike(values.value.trim(), c.server_value ?? c.client_value));
  }

  async function apply(item) {
    try {
      const result = await ctx.push({ id: item.record_id, collection: item.collection, op: 'patch', baseRev: item.record_revision, fields: item.fields });
      if (reportResult(result, t('rejected.applied'))) await reload();
    } catch (error) {
      toast(errorText(error), 'error');
    }
  }

  // A value as text: by the checklist item for answers (choice labels, units), else by field.
  const text = (item, value) => {
    const c = item.conflict.fields;
    return item.item ? answerText(item.item, value) : valueLabel(c.field, value);
  };
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  /**
   * One side of a conflict: the value, who wrote it (with agency) and when, and plainly whether it
   * is in force: before a decision the kept value is "berlaku sekarang" and the other waits; after
   * it, only the value decided on is in force, the other "tidak dipakai".
   */
  function side(item, kind, who, when, value, state) {
    return h('div', { class: ['side', `side-${kind}`], dataset: { side: kind, state } },
      h('h3', {}, t(`conflict.${kind}`)),
      h('p', { class: 'value' }, text(item, value)),
      h('p', { class: 'muted small' }, `${personWithAgency(ctx.people, who)}${when ? ` · ${formatDateTime(when)}` : ''}`),
      badge(state === 'in_force' ? 'ok' : state === 'waiting' ? 'warn' : 'muted', t(`conflict.side.${state}`)));
  }

  /** "Kejadian: Segel rak B longgar" / "Inspeksi 5 Des 08.00 · Pagi", linked to the record. */
  function recordLink(item) {
    const c = item.conflict.fields;
    const s = item.record_summary ?? {};
    let title;
    if (c.record_collection === 'incidents') title = s.title || categoryLabel(s.category);
    else if (c.record_collection === 'inspections') title = [s.report_number, formatDateTime(s.started_at), s.shift ? shiftLabel(s.shift) : null].filter(Boolean).join(' · ');
    else if (c.record_collection === 'stock_counts' || c.record_collection === 'stock_levels') title = stockItemLabel(ctx, s.item_type);
    const label = `${collectionLabel(c.record_collection)}: ${title || t('conflict.untitled')}`;
    const href = !item.record_exists ? null
      : c.record_collection === 'inspections' ? `#/inspection/${encodeURIComponent(c.record_id)}`
      : c.record_collection === 'incidents' ? `#/incident/${encodeURIComponent(c.record_id)}`
      : c.record_collection.startsWith('stock') ? '#/stock' : null;
    return href ? h('a', { class: 'record-link', href }, label) : h('span', { class: 'record-link' }, label);
  }

  function conflictCard(item) {
    const c = item.conflict.fields;
    const open = c.status === 'open';
    const isDelete = c.field === '_deleted';
    const kept = c.winner === 'client' ? c.client_value : c.server_value;
    const decided = c.status === 'resolved' ? c.resolution : kept;
    const stateOf = (value, wonBefore) => {
      if (open) return wonBefore ? 'in_force' : 'waiting';
      return same(value, decided) ? 'in_force' : 'not_used';
    };
    const fieldName = item.field_label === c.field ? fieldLabel(c.record_collection, c.field) : localized(item.field_label);
    return h('article', { class: ['panel', 'conflict'], dataset: { conflict: item.conflict.id, status: c.status } },
      h('header', {}, badge(open ? 'warn' : 'muted', statusLabel('conflicts', c.status)), ' ',
        h('strong', {}, recordLink(item)), ' · ', h('span', { class: 'conflict-field' }, fieldName),
        h('span', { class: 'muted small' }, ` · ${warehouseName(ctx.warehouses, item.conflict.warehouse_id)} · ${t(`conflict.reason.${c.reason}`)}`)),
      h('div', { class: 'sides' },
        side(item, 'server', c.server_by, c.server_hlc ? new Date(Number(c.server_hlc.slice(0, 13))).toISOString() : '', c.server_value, stateOf(c.server_value, c.winner !== 'client')),
        side(item, 'client', c.client_by, c.at, c.client_value, stateOf(c.client_value, c.winner === 'client'))),
      c.status === 'resolved' ? h('p', { class: 'small decision' }, t('conflict.decided', { who: personWithAgency(ctx.people, c.resolved_by), when: formatDateTime(c.resolved_at), value: text(item, c.resolution) })) : null,
      // Changed since: the record now holds neither the kept value nor the one decided on.
      item.record_exists && !isDelete && !same(item.current_value, decided)
        ? h('p', { class: 'banner warn small' }, t('conflict.changed_since', { value: text(item, item.current_value) })) : null,
      open && item.record_exists ? h('div', { class: 'actions no-print' },
        isDelete
          ? [h('button', { class: 'button danger', on: { click: () => decide(item, true) } }, t('conflict.delete')),
            h('button', { class: 'button', on: { click: () => decide(item, false) } }, t('conflict.keep'))]
          : [h('button', { class: 'button', dataset: { pick: 'server' }, on: { click: () => decide(item, c.server_value) } }, t('conflict.pick_server')),
            h('button', { class: 'button', dataset: { pick: 'client' }, on: { click: () => decide(item, c.client_value) } }, t('conflict.pick_client')),
            h('button', { class: 'button ghost', on: { click: () => other(item) } }, t('conflict.pick_other'))]) : null,
      !item.record_exists ? h('p', { class: 'muted small' }, t('conflict.record_gone')) : null);
  }

  function rejectedCard(item) {
    const fields = Object.entries(item.fields);
    return h('article', { class: ['panel', 'rejected'], dataset: { client: item.client_id, seq: String(item.seq) } },
      h('header', {}, badge('bad', t('rejected.badge')), ' ', h('strong', {}, `${collectionLabel(item.collection)} · ${opLabel(item.op, item.collection)}`),
        h('span', { class: 'muted small' }, ` · ${warehouseName(ctx.warehouses, item.warehouse_id)} · ${personWithAgency(ctx.people, item.user_id)} · ${formatDateTime(item.at)} · ${t('timeline.device', { device: deviceLabel(item.device_label) })}`)),
      h('p', { class: 'small' }, rejectionText(item.code)),
      fields.length ? h('table', { class: 'table small' },
        h('thead', {}, h('tr', {}, h('th', {}, t('conflict.field')), h('th', {}, t('conflict.client')), h('th', {}, t('rejected.now')))),
        h('tbody', {}, fields.map(([name, value]) => h('tr', {}, h('td', {}, fieldLabel(item.collection, name)), h('td', {}, valueLabel(name, value)), h('td', {}, item.record_exists ? valueLabel(name, item.current[name]) : '—'))))) : null,
      item.op === 'patch' && item.record_exists && fields.length
        ? h('div', { class: 'actions no-print' }, h('button', { class: 'button ghost', on: { click: () => apply(item) } }, t('rejected.apply'))) : null);
  }

  async function reload() {
    const data = await ctx.http.get('/api/supervisor/conflicts', { status });
    replace(conflictsBox, data.conflicts.length ? data.conflicts.map(conflictCard) : empty(t('conflict.none')));
    replace(rejectedBox, data.rejected.length ? data.rejected.map(rejectedCard) : empty(t('rejected.none')));
  }

  replace(main,
    h('h1', {}, t('conflicts.title')),
    h('p', { class: 'muted' }, t('conflicts.hint')),
    h('div', { class: 'filters' }, select(t('conflict.status'), ['open', 'auto', 'resolved', 'all'].map((s) => [s, t(`conflict.filter.${s}`)]), status, (v) => { status = v; reload(); })),
    conflictsBox,
    section(t('rejected.title'), h('p', { class: 'muted small' }, t('rejected.hint')), rejectedBox));
  await reload();
  return { onLive: (e) => { if (e.type === 'conflicts') reload(); } };
}

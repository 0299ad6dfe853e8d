// Stock count: per item type, the count against the warehouse's expected quantity, with damage
// (rusak ringan / berat). The form is a draft until "Simpan hitungan" queues one stock_counts
// record per counted item. Each item shows its latest count, from a stock count or from a sent
// inspection's answer for that item (as the supervisor's stock page reconciles them,
// server/reports.py), with who counted it and when.

import { h } from '../dom.js';
import { templateOf, warehouseOf } from '../context.js';
import { formatDateTime, formatNumber, t } from '../i18n.js';
import { personName } from '../labels.js';
import { conflictsFor, warehouseData } from '../records.js';
import { nowIso } from '../server-time.js';
import { uuid7 } from '../uuid7.js';
import { pendingBadge } from './warehouse.js';
import { conflictList, labelled } from './widgets.js';

function toInt(value) {
  if (value === '' || value === null || value === undefined) return null;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : NaN;
}

const SENT = new Set(['submitted', 'needs_fix', 'reviewed']);

/** Per item type, its latest count: a stock count, or a sent inspection's answer to an item of
 * its checklist that counts that stock ({value, at, by, source, record}). */
export function latestCounts(ctx, data) {
  const latest = new Map();
  const offer = (code, entry) => {
    const was = latest.get(code);
    if (entry.at && (!was || entry.at > was.at)) latest.set(code, entry);
  };
  for (const count of data.stockCounts) {
    const f = count.fields;
    if (typeof f.counted === 'number') offer(f.item_type, { value: f.counted, at: f.counted_at || count.created_at, by: f.counted_by || count.created_by, source: 'stock_count', record: count });
  }
  for (const inspection of data.inspections) {
    const f = inspection.fields;
    if (!SENT.has(f.status)) continue;
    for (const section of templateOf(ctx, f.template_id)?.sections ?? []) {
      for (const item of section.items) {
        const value = f[`a.${item.code}`];
        if (item.stock_item && typeof value === 'number') {
          offer(item.stock_item, { value, at: f.submitted_at || f.started_at || inspection.updated_at, by: f.inspector_id || inspection.created_by, source: 'inspection', record: inspection });
        }
      }
    }
  }
  return latest;
}

export async function render(app, { warehouseId }) {
  const { ctx } = app;
  const base = `#/w/${encodeURIComponent(warehouseId)}`;
  const data = await warehouseData(ctx.db, warehouseId, ctx.me);
  const draftKey = `stock:${warehouseId}`;
  const draft = (await ctx.db.get('drafts', draftKey)) ?? { key: draftKey, rows: {}, note: '' };
  const persist = () => ctx.db.put('drafts', { ...draft, at: Date.now() });

  const items = new Map(ctx.stockItems.map((item) => [item.code, item]));
  for (const code of Object.keys(data.stockLevels)) if (!items.has(code)) items.set(code, { code, name: code, unit: '' });

  const lastCount = latestCounts(ctx, data);

  const rows = [...items.values()].map((item) => {
    const expected = data.stockLevels[item.code]?.fields.expected ?? null;
    const row = (draft.rows[item.code] ??= { counted: '', damaged_light: '', damaged_heavy: '' });
    const diff = h('p', { class: 'diff', 'aria-live': 'polite' });
    const showDiff = () => {
      const counted = toInt(row.counted);
      if (expected === null || counted === null || Number.isNaN(counted)) {
        diff.textContent = '';
        return;
      }
      const d = counted - expected;
      diff.textContent = t('inspection.difference', { diff: `${d > 0 ? '+' : ''}${formatNumber(d)}` });
      diff.classList.toggle('diff-bad', d !== 0);
    };
    const input = (name, label) => {
      const el = h('input', { type: 'number', inputmode: 'numeric', min: '0', step: '1', name: `${item.code}.${name}`, value: row[name] });
      el.addEventListener('input', () => {
        row[name] = el.value;
        showDiff();
        persist();
      });
      return labelled(label, el);
    };
    showDiff();
    const last = lastCount.get(item.code);
    return h(
      'fieldset',
      { class: 'stock-row', dataset: { item: item.code } },
      h('legend', {}, item.name),
      h('p', { class: 'muted small' }, expected !== null
        ? t('stock.expected', { value: formatNumber(expected), unit: item.unit ?? '' })
        : t('stock.no_expected')),
      last
        ? h('p', { class: 'muted small last-count', dataset: { source: last.source } },
            t(last.source === 'inspection' ? 'stock.last_inspection' : 'stock.last', {
              value: formatNumber(last.value), at: formatDateTime(last.at), who: personName(ctx.people, last.by),
            }), ' ', pendingBadge(last.record))
        : null,
      h('div', { class: 'grid3' },
        input('counted', t('stock.counted')),
        input('damaged_light', t('stock.damaged_light')),
        input('damaged_heavy', t('stock.damaged_heavy'))),
      diff,
    );
  });

  const note = h('textarea', { rows: '2', name: 'note', value: draft.note ?? '' });
  note.addEventListener('input', () => {
    draft.note = note.value;
    persist();
  });
  const error = h('div', { class: 'error-box', role: 'alert', hidden: true, tabindex: '-1' });

  async function onSubmit(event) {
    event.preventDefault();
    const counted = [];
    for (const [code, row] of Object.entries(draft.rows)) {
      const values = { counted: toInt(row.counted), damaged_light: toInt(row.damaged_light), damaged_heavy: toInt(row.damaged_heavy) };
      if (Object.values(values).some((v) => Number.isNaN(v))) {
        error.replaceChildren(h('p', {}, t('stock.invalid', { item: items.get(code)?.name ?? code })));
        error.hidden = false;
        error.focus();
        return;
      }
      if (values.counted !== null) counted.push([code, values]);
    }
    if (!counted.length) {
      error.replaceChildren(h('p', {}, t('stock.nothing')));
      error.hidden = false;
      error.focus();
      return;
    }
    const inspectionId = new URLSearchParams(location.hash.split('?')[1] ?? '').get('inspection');
    const at = nowIso();
    for (const [code, values] of counted) {
      // What the count is compared with is set by the server from its stock level at the count.
      const fields = { item_type: code, counted: values.counted, counted_at: at };
      if (values.damaged_light !== null) fields.damaged_light = values.damaged_light;
      if (values.damaged_heavy !== null) fields.damaged_heavy = values.damaged_heavy;
      if (draft.note?.trim()) fields.note = draft.note.trim();
      if (inspectionId) fields.inspection_id = inspectionId;
      await ctx.enqueue({ id: uuid7(), collection: 'stock_counts', op: 'create', warehouse_id: warehouseId, fields });
    }
    await ctx.db.delete('drafts', draftKey);
    app.toast(t('stock.saved', { count: counted.length }));
    app.navigate(base);
  }

  const countConflicts = (await Promise.all(data.stockCounts.slice(0, 20).map((c) => conflictsFor(ctx.db, c.id)))).flat();

  const node = h(
    'section',
    {},
    h('p', { class: 'crumbs' }, h('a', { href: base }, warehouseOf(ctx, warehouseId)?.name ?? t('nav.back'))),
    h('h1', { tabindex: '-1' }, t('stock.title')),
    h('p', { class: 'hint' }, t('stock.hint')),
    countConflicts.length ? h('section', { class: 'card' }, h('h2', {}, t('conflict.title')), conflictList(ctx, countConflicts)) : null,
    h(
      'form',
      { novalidate: true, on: { submit: onSubmit } },
      rows.length ? rows : h('p', { class: 'empty' }, t('stock.no_items')),
      labelled(t('stock.note'), note),
      error,
      h('button', { type: 'submit', class: 'button block', id: 'save-stock' }, t('stock.save')),
    ),
  );
  return { node };
}

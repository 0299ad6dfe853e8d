// Charts computed by the server (/api/supervisor/charts; the findings are those the sync core
// recorded at submission), drawn here as inline SVG and redrawn when inspections or incidents change.

import { h, replace } from '/js/dom.js';
import { getLang, localized, t } from '/js/i18n.js';
import { agencyLabel, categoryLabel } from '/js/labels.js';
import { stackedDays, horizontalBars } from '../svg-charts.js';
import { downloadFile, empty, select, toast } from '../ui.js';

const EXPORTS = ['inspections', 'answers', 'incidents', 'stock_counts'];

export async function renderCharts(ctx, main) {
  let warehouse = '';
  const start = h('input', { type: 'date', id: 'chart-from', on: { change: () => reload() } });
  const end = h('input', { type: 'date', id: 'chart-to', on: { change: () => reload() } });
  const box = h('div', { class: 'charts' });

  let latest = 0;
  async function reload() {
    // Filters and live events may overlap: only the newest answer is drawn.
    const mine = ++latest;
    const data = await ctx.http.get('/api/supervisor/charts', { warehouse_id: warehouse || undefined, from: start.value || undefined, to: end.value || undefined });
    if (mine !== latest) return;
    if (!start.value) start.value = data.start;
    if (!end.value) end.value = data.end;
    const day = (d) => `${Number(d.slice(8, 10))}/${Number(d.slice(5, 7))}`;
    replace(box,
      stackedDays(data.inspections_per_day, { title: t('charts.inspections'), labelOf: agencyLabel, dayLabel: day }),
      data.findings_by_section.length
        ? horizontalBars(data.findings_by_section.map((s) => ({ label: localized(s.title), value: s.count })), { title: t('charts.findings'), head: [t('charts.section'), t('field.inspections.findings')] })
        : h('figure', { class: 'chart-figure' }, h('figcaption', {}, t('charts.findings')), empty(t('charts.no_findings'))),
      stackedDays(data.incidents_by_category, { title: t('charts.incidents'), labelOf: categoryLabel, dayLabel: day }));
  }

  async function download(kind) {
    // For people, in the language the page is shown in.
    const response = await downloadFile(ctx, `/api/exports/${kind}.csv`, { warehouse_id: warehouse || undefined, from: start.value || undefined, to: end.value || undefined, lang: getLang() });
    if (response) toast(t('export.done', { head: (response.headers.get('x-audit-head') ?? '').slice(0, 12) }), 'ok');
  }

  const exportsPanel = h('section', { class: 'panel no-print' },
    h('h2', {}, t('export.title')),
    h('p', { class: 'muted small' }, t('export.hint')),
    h('div', { class: 'actions' }, EXPORTS.map((kind) => h('button', { class: 'button ghost', dataset: { export: kind }, on: { click: () => download(kind) } }, t(`export.${kind}`)))));

  replace(main,
    h('h1', {}, t('charts.title')),
    h('div', { class: 'filters' },
      select(t('inspection.warehouse'), [['', t('common.all')], ...[...ctx.warehouses.values()].map((w) => [w.id, w.name])], warehouse, (v) => { warehouse = v; reload(); }),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('common.from')), start),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('common.to')), end)),
    box,
    exportsPanel);
  await reload();
  return { onLive: (e) => { if (['inspections', 'incidents'].includes(e.type)) reload(); } };
}

// Charts computed by the server (/api/supervisor/charts), drawn here as inline SVG.

import { h, replace } from '/js/dom.js';
import { t } from '../i18n.js';
import { agencyLabel, categoryLabel } from '../labels.js';
import { stackedDays, horizontalBars } from '../svg-charts.js';
import { empty, errorText, select, toast } from '../ui.js';

const EXPORTS = ['inspections', 'answers', 'incidents', 'stock_counts'];

export async function renderCharts(ctx, main) {
  let warehouse = '';
  const start = h('input', { type: 'date', id: 'chart-from', on: { change: () => reload() } });
  const end = h('input', { type: 'date', id: 'chart-to', on: { change: () => reload() } });
  const box = h('div', { class: 'charts' });

  async function reload() {
    const data = await ctx.http.get('/api/supervisor/charts', { warehouse_id: warehouse || undefined, from: start.value || undefined, to: end.value || undefined });
    if (!start.value) start.value = data.start;
    if (!end.value) end.value = data.end;
    const day = (d) => `${Number(d.slice(8, 10))}/${Number(d.slice(5, 7))}`;
    replace(box,
      stackedDays(data.inspections_per_day, { title: t('charts.inspections'), labelOf: agencyLabel, dayLabel: day }),
      data.findings_by_section.length
        ? horizontalBars(data.findings_by_section.map((s) => ({ label: s.title, value: s.count })), { title: t('charts.findings') })
        : h('figure', { class: 'chart-figure' }, h('figcaption', {}, t('charts.findings')), empty(t('charts.no_findings'))),
      stackedDays(data.incidents_by_category, { title: t('charts.incidents'), labelOf: categoryLabel, dayLabel: day }));
  }

  async function download(kind) {
    try {
      const response = await ctx.http.request('GET', `/api/exports/${kind}.csv`, {
        params: { warehouse_id: warehouse || undefined, from: start.value || undefined, to: end.value || undefined },
        raw: true,
      });
      const url = URL.createObjectURL(await response.blob());
      const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? `${kind}.csv`;
      const link = h('a', { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast(t('export.done', { head: (response.headers.get('x-audit-head') ?? '').slice(0, 12) }), 'ok');
    } catch (error) {
      toast(errorText(error), 'error');
    }
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
  return {};
}

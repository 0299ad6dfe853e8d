// Stock reconciliation: expected (stock level) against the last count per item type, from stock
// count records or inspection answers; discrepancies highlighted, history of counts on demand.

import { h, replace } from '/js/dom.js';
import { formatDateTime, formatNumber, t } from '/js/i18n.js';
import { personWithAgency, warehouseName } from '/js/labels.js';
import { badge, empty, select } from '../ui.js';

export async function renderStock(ctx, main) {
  let warehouse = '';
  let onlyBad = false;
  const box = h('div', {});

  function diffText(d) {
    if (d === null || d === undefined) return '—';
    return d > 0 ? `+${formatNumber(d)}` : formatNumber(d);
  }

  function table(lines) {
    return h('table', { class: 'table stock' },
      h('thead', {}, h('tr', {}, [t('stock.item'), t('stock.expected'), t('stock.counted'), t('stock.difference'), t('stock.damaged'), t('stock.counted_by'), t('stock.history')].map((c) => h('th', {}, c)))),
      h('tbody', {}, lines.map((line) => h('tr', { class: line.discrepancy ? 'is-discrepancy' : '', dataset: { item: line.item_type, warehouse: line.warehouse_id } },
        h('td', {}, line.name, line.unit ? h('span', { class: 'muted small' }, ` (${line.unit})`) : null),
        h('td', { class: 'num' }, line.expected === null ? '—' : formatNumber(line.expected)),
        h('td', { class: 'num' }, line.last ? formatNumber(line.last.value) : '—'),
        h('td', { class: 'num' }, line.discrepancy ? badge('bad', diffText(line.difference)) : diffText(line.difference)),
        h('td', { class: 'num' }, line.damaged_light || line.damaged_heavy ? `${line.damaged_light} / ${line.damaged_heavy}` : '—'),
        h('td', { class: 'small' }, line.last ? [personWithAgency(ctx.people, line.last.by), h('br'), formatDateTime(line.last.at), ' · ', t(`stock.source.${line.last.source}`)] : '—'),
        h('td', {},
          // Counts still waiting for a supervisor that differ or report damage: a later clean count
          // never hides them.
          (line.open_counts ?? []).length
            ? h('ul', { class: 'plain small open-counts' }, line.open_counts.map((c) => h('li', { dataset: { record: c.record_id } },
              badge('bad', t('stock.open_count')), ' ', countText(c))))
            : null,
          line.history.length > 1 ? h('details', {}, h('summary', {}, t('stock.counts', { count: line.history.length })),
            h('ol', { class: 'plain small' }, line.history.map((c) => h('li', {}, countText(c))))) : (line.open_counts ?? []).length ? null : '—')))));
  }

  function countText(c) {
    const compared = c.expected === null || c.expected === undefined ? '' : ` (${t('stock.expected')} ${formatNumber(c.expected)}, ${t('stock.difference')} ${diffText(c.difference)})`;
    const damaged = c.damaged_light || c.damaged_heavy ? ` · ${t('stock.damaged')} ${c.damaged_light ?? 0} / ${c.damaged_heavy ?? 0}` : '';
    return `${formatDateTime(c.at)}: ${formatNumber(c.value)}${compared}${damaged} · ${personWithAgency(ctx.people, c.by)} · ${t(`stock.source.${c.source}`)}${c.note ? ` · ${c.note}` : ''}`;
  }

  async function reload() {
    const lines = await ctx.http.get('/api/supervisor/stock', { warehouse_id: warehouse || undefined });
    const byWarehouse = new Map();
    for (const line of lines) {
      if (!byWarehouse.has(line.warehouse_id)) byWarehouse.set(line.warehouse_id, []);
      byWarehouse.get(line.warehouse_id).push(line);
    }
    // No stock data at all is not the same as nothing to show under "only differences": there,
    // a warehouse whose counts all match says so, with how many item types were counted.
    replace(box, byWarehouse.size
      ? [...byWarehouse].map(([id, rows]) => {
        const bad = rows.filter((r) => r.discrepancy);
        return h('section', { class: 'panel', dataset: { warehouse: id } },
          h('h2', {}, warehouseName(ctx.warehouses, id), bad.length ? [' ', badge('bad', t('overview.discrepancies', { count: bad.length }))] : null),
          onlyBad && !bad.length ? allMatch(rows) : table(onlyBad ? bad : rows));
      })
      : empty(t('stock.none')));
  }

  function allMatch(rows) {
    const counted = rows.filter((r) => r.last).length;
    const never = rows.length - counted;
    return h('p', { class: ['stock-all-match', counted ? 'is-ok' : 'muted'] },
      counted ? t('stock.all_match', { count: counted }) : t('stock.none_counted'),
      never && counted ? [' ', h('span', { class: 'muted' }, t('stock.never_counted', { count: never }))] : null);
  }

  replace(main,
    h('h1', {}, t('stock.title')),
    h('div', { class: 'filters' },
      select(t('inspection.warehouse'), [['', t('common.all')], ...[...ctx.warehouses.values()].map((w) => [w.id, w.name])], warehouse, (v) => { warehouse = v; reload(); }),
      select(t('stock.show'), [['all', t('stock.show_all')], ['bad', t('stock.show_bad')]], 'all', (v) => { onlyBad = v === 'bad'; reload(); })),
    box);
  await reload();
  return { onLive: (e) => { if (['stock_counts', 'stock_levels', 'inspections'].includes(e.type)) reload(); } };
}

// Charts as inline SVG, no library: stacked daily bars and horizontal bars. The SVG scales with
// its container (viewBox), so it stays readable on a phone; colours come from CSS classes
// (.series-0 … .series-7), never from inline styles (strict CSP). Every chart carries its figures
// three ways: on the bars (values and a scale), in its accessible name (a sentence with the
// figures), and in a table beside it that anyone can open.

import { h } from '/js/dom.js';
import { formatNumber, t } from '/js/i18n.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  // Nested arrays (a row of a label, a bar and its value) are flattened all the way: a nested
  // array turned into text ("[object SVGLineElement],…") once blanked the bars and the names.
  for (const child of children.flat(Infinity)) if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** The scale: a round step (1, 2 or 5 × 10^k) giving at most five intervals, and its top. */
export function scale(value) {
  const top = Math.max(value, 1);
  const magnitude = 10 ** Math.floor(Math.log10(top));
  const step = [1, 2, 5].map((m) => m * magnitude).find((candidate) => top / candidate <= 5) ?? magnitude * 10;
  const max = Math.ceil(top / step) * step;
  const ticks = [];
  for (let v = 0; v <= max; v += step) ticks.push(v);
  return { max, ticks };
}

function legend(series, labelOf) {
  return h(
    'ul',
    { class: 'legend' },
    series.map((item, i) => h('li', {}, h('span', { class: ['swatch', `series-${i % 8}`], 'aria-hidden': 'true' }), labelOf(item.key))),
  );
}

/** The figures as a table, folded under the chart (and read by screen readers as they are). */
function dataTable(title, head, rows) {
  return h('details', { class: 'chart-table' },
    h('summary', {}, t('charts.as_table')),
    h('table', { class: 'table' },
      h('caption', { class: 'sr-only' }, title),
      h('thead', {}, h('tr', {}, head.map((cell, i) => h('th', { scope: 'col', class: i ? 'num' : undefined }, cell)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell, i) => (i
        ? h('td', { class: 'num' }, formatNumber(cell))
        : h('th', { scope: 'row' }, cell))))))));
}

/** Stacked bars per day. data: {days: [...], series: [{key, values}]}. */
export function stackedDays(data, { title, labelOf = (k) => k, dayLabel = (d) => d.slice(5) }) {
  const width = 640;
  const height = 250;
  const pad = { left: 40, right: 8, top: 22, bottom: 34 };
  const n = data.days.length || 1;
  const totals = data.days.map((_, i) => data.series.reduce((sum, serie) => sum + serie.values[i], 0));
  const { max, ticks } = scale(Math.max(0, ...totals));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const band = plotW / n;
  const barW = Math.max(2, band * 0.7);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const axis = [
    ticks.map((v) => [
      s('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: v ? 'grid' : 'baseline' }),
      s('text', { x: pad.left - 6, y: y(v) + 4, class: 'axis tick', 'text-anchor': 'end' }, formatNumber(v)),
    ]),
    s('line', { x1: pad.left, x2: pad.left, y1: pad.top, y2: y(0), class: 'baseline' }),
  ];
  const bars = [];
  data.days.forEach((day, i) => {
    let base = 0;
    const x = pad.left + i * band + (band - barW) / 2;
    data.series.forEach((serie, k) => {
      const v = serie.values[i];
      if (!v) return;
      bars.push(s('rect', { x, y: y(base + v), width: barW, height: y(base) - y(base + v), class: `bar series-${k % 8}`, 'data-value': v, 'data-key': serie.key, 'data-day': day },
        s('title', {}, `${dayLabel(day)} · ${labelOf(serie.key)}: ${formatNumber(v)}`)));
      base += v;
    });
    if (totals[i]) bars.push(s('text', { x: x + barW / 2, y: y(totals[i]) - 5, class: 'axis value', 'text-anchor': 'middle', 'data-day': day }, formatNumber(totals[i])));
  });
  const every = Math.ceil(n / 8);
  const labels = data.days.map((day, i) => (i % every === 0
    ? s('text', { x: pad.left + i * band + band / 2, y: height - pad.bottom + 18, class: 'axis', 'text-anchor': 'middle' }, dayLabel(day))
    : null));
  const sum = totals.reduce((a, b) => a + b, 0);
  const span = data.days.length ? `${dayLabel(data.days[0])}–${dayLabel(data.days[data.days.length - 1])}` : '';
  const figures = data.series.map((serie) => `${labelOf(serie.key)} ${formatNumber(serie.values.reduce((a, b) => a + b, 0))}`);
  const name = `${title}, ${span}: ${t('charts.total')} ${formatNumber(sum)}${figures.length ? ` (${figures.join(', ')})` : ''}`;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': name, class: 'chart' }, axis, bars, labels);
  const table = dataTable(title, [t('charts.day'), ...data.series.map((serie) => labelOf(serie.key)), t('charts.total')],
    data.days.map((day, i) => [dayLabel(day), ...data.series.map((serie) => serie.values[i]), totals[i]]));
  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), svg, legend(data.series, labelOf), table);
}

/** Horizontal bars. rows: [{label, value}]; `head`: the table's two column headings. */
export function horizontalBars(rows, { title, head }) {
  const width = 640;
  const rowH = 28;
  const labelW = 220;
  const axisH = 24;
  const plotH = Math.max(rowH, rows.length * rowH);
  const height = plotH + 8 + axisH;
  const { max, ticks } = scale(Math.max(0, ...rows.map((r) => r.value)));
  const plotW = width - labelW - 40;
  const x = (v) => labelW + (v / max) * plotW;
  const axis = ticks.map((v) => [
    s('line', { x1: x(v), x2: x(v), y1: 0, y2: plotH + 4, class: v ? 'grid' : 'baseline' }),
    s('text', { x: x(v), y: plotH + 20, class: 'axis tick', 'text-anchor': 'middle' }, formatNumber(v)),
  ]);
  const items = rows.map((row, i) => [
    s('text', { x: labelW - 8, y: i * rowH + 19, class: 'axis label', 'text-anchor': 'end' }, row.label),
    s('rect', { x: labelW, y: i * rowH + 6, width: Math.max(1, x(row.value) - labelW), height: rowH - 12, class: 'bar series-0', 'data-value': row.value, 'data-label': row.label },
      s('title', {}, `${row.label}: ${formatNumber(row.value)}`)),
    s('text', { x: x(row.value) + 6, y: i * rowH + 19, class: 'axis value' }, formatNumber(row.value)),
  ]);
  const name = `${title}: ${rows.map((row) => `${row.label} ${formatNumber(row.value)}`).join(', ')}`;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': name, class: 'chart' }, axis, items);
  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), svg,
    dataTable(title, head, rows.map((row) => [row.label, row.value])));
}

// Charts as inline SVG, no library: stacked daily bars and horizontal bars. The SVG scales with
// its container (viewBox), so it stays readable on a phone; colours come from CSS classes
// (.series-0 … .series-7), never from inline styles (strict CSP).

import { h } from '/js/dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  for (const child of children.flat()) if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

function niceMax(value) {
  if (value <= 4) return 4;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function legend(series, labelOf) {
  return h(
    'ul',
    { class: 'legend' },
    series.map((item, i) => h('li', {}, h('span', { class: ['swatch', `series-${i % 8}`], 'aria-hidden': 'true' }), labelOf(item.key))),
  );
}

/** Stacked bars per day. data: {days: [...], series: [{key, values}]}. */
export function stackedDays(data, { title, labelOf = (k) => k, dayLabel = (d) => d.slice(5) }) {
  const width = 640;
  const height = 240;
  const pad = { left: 34, right: 8, top: 10, bottom: 34 };
  const n = data.days.length || 1;
  const totals = data.days.map((_, i) => data.series.reduce((sum, serie) => sum + serie.values[i], 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const band = plotW / n;
  const barW = Math.max(2, band * 0.7);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const grid = [0, max / 2, max].map((v) => [
    s('line', { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: 'grid' }),
    s('text', { x: pad.left - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(v))),
  ]);
  const bars = [];
  data.days.forEach((day, i) => {
    let base = 0;
    data.series.forEach((serie, k) => {
      const v = serie.values[i];
      if (!v) return;
      const rect = s('rect', { x: pad.left + i * band + (band - barW) / 2, y: y(base + v), width: barW, height: y(base) - y(base + v), class: `series-${k % 8}` },
        s('title', {}, `${day} · ${labelOf(serie.key)}: ${v}`));
      bars.push(rect);
      base += v;
    });
  });
  const every = Math.ceil(n / 8);
  const labels = data.days.map((day, i) => (i % every === 0
    ? s('text', { x: pad.left + i * band + band / 2, y: height - pad.bottom + 16, class: 'axis', 'text-anchor': 'middle' }, dayLabel(day))
    : null));
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart' }, s('title', {}, title), grid, bars, labels);
  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), svg, legend(data.series, labelOf));
}

/** Horizontal bars. rows: [{label, value}]. */
export function horizontalBars(rows, { title }) {
  const width = 640;
  const rowH = 28;
  const labelW = 220;
  const height = Math.max(rowH, rows.length * rowH) + 8;
  const max = niceMax(Math.max(0, ...rows.map((r) => r.value)));
  const plotW = width - labelW - 40;
  const items = rows.map((row, i) => [
    s('text', { x: labelW - 8, y: i * rowH + 19, class: 'axis label', 'text-anchor': 'end' }, row.label),
    s('rect', { x: labelW, y: i * rowH + 6, width: Math.max(1, (row.value / max) * plotW), height: rowH - 12, class: 'series-0' }, s('title', {}, `${row.label}: ${row.value}`)),
    s('text', { x: labelW + (row.value / max) * plotW + 6, y: i * rowH + 19, class: 'axis' }, String(row.value)),
  ]);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart' }, s('title', {}, title), items);
  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), svg);
}

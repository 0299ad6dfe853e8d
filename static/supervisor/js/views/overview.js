// Overview: one row per warehouse in scope, most urgent first, updated live while open. A page
// of PAGE_SIZE rows at a time, filtered by kota and kecamatan on the server: a national admin's
// 8,000 warehouses are never loaded at once.

import { h, replace } from '/js/dom.js';
import { ago, formatDateTime, formatNumber, localized, t } from '/js/i18n.js';
import { agencyLabel, categoryLabel, personWithAgency, severityLabel, templateItem } from '/js/labels.js';
import { badge, empty, select } from '../ui.js';

const STATUSES = ['critical', 'overdue', 'attention', 'ok'];
const FLAGS = ['findings', 'incidents', 'stock', 'conflicts', 'needs_review', 'stale_devices'];
const GUARD_FLAGS = ['understaffed', 'pillar_missing', 'handover_missing', 'handover_unconfirmed', 'seal_mismatch'];
const SORTS = ['status', 'name', 'kecamatan', 'last_inspection'];
const FILTER_KEY = 'tigapilar.supervisor.overview';
const DEBOUNCE_MS = 250;
const MAX_WAIT_MS = 3000;
const PAGE_SIZE = 50;
/** Live events trigger a reload DEBOUNCE_MS after the last one, but never more than MAX_WAIT_MS after the first. */

function loadFilters() {
  try {
    return { sort: 'status', ...JSON.parse(sessionStorage.getItem(FILTER_KEY) ?? '{}') };
  } catch {
    return { sort: 'status' };
  }
}

export async function renderOverview(ctx, main) {
  const filters = loadFilters();
  const template = await ctx.http.get('/api/templates/current').catch(() => null);
  const activity = [];
  const table = h('div', { class: 'overview-rows' });
  const feed = h('ol', { class: 'activity', 'aria-live': 'polite' });
  const summary = h('p', { class: 'muted', id: 'overview-summary' });
  let timer = null;
  let loading = Promise.resolve();
  let waitingSince = 0;

  const agencies = Object.keys(ctx.me.agencies ?? {});
  // The kota and kecamatan choices come with each answer (`kotas`, `kecamatans` of the scope).
  const places = h('div', { class: 'filters-places' });
  const pager = h('nav', { class: 'pager no-print', id: 'overview-pager', 'aria-label': t('overview.pages') });
  const controls = h(
    'div',
    { class: 'filters no-print' },
    places,
    select(t('overview.agency'), [['', t('common.all')], ...agencies.map((a) => [a, agencyLabel(a)])], filters.agency ?? '', (v) => change('agency', v), { id: 'filter-agency' }),
    select(t('overview.status'), [['', t('common.all')], ...STATUSES.map((s) => [s, t(`overview.status.${s}`)]), ...[...FLAGS, ...GUARD_FLAGS].map((f) => [f, t(`overview.flag.${f}`)])], filters.status ?? '', (v) => change('status', v), { id: 'filter-status' }),
    select(t('overview.sort'), SORTS.map((s) => [s, t(`overview.sort.${s}`)]), filters.sort, (v) => change('sort', v), { id: 'filter-sort' }),
  );

  function change(name, value) {
    filters[name] = value;
    if (name === 'kota') filters.kecamatan = '';
    filters.offset = 0;
    keep();
  }

  function keep() {
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(filters));
    loading = loading.then(reload).catch(() => {});
  }

  function choices(names, chosen) {
    // A kept choice the scope no longer has stays selectable, so the page says what it shows.
    const all = chosen && !names.includes(chosen) ? [...names, chosen] : names;
    return [['', t('common.all')], ...all.map((k) => [k, k])];
  }

  function renderPlaces(data) {
    replace(places,
      select(t('overview.kota'), choices(data.kotas, filters.kota), filters.kota ?? '', (v) => change('kota', v), { id: 'filter-kota' }),
      select(t('overview.kecamatan'), choices(data.kecamatans, filters.kecamatan), filters.kecamatan ?? '', (v) => change('kecamatan', v), { id: 'filter-kecamatan' }));
  }

  function renderPager(data) {
    const from = data.total ? data.offset + 1 : 0;
    const to = data.offset + data.warehouses.length;
    const go = (offset) => { filters.offset = offset; keep(); };
    replace(pager,
      h('button', { class: 'button ghost small', id: 'page-prev', disabled: data.offset <= 0, on: { click: () => go(Math.max(0, data.offset - PAGE_SIZE)) } }, t('overview.prev')),
      h('span', { class: 'muted small', id: 'page-range' }, t('overview.range', { from: formatNumber(from), to: formatNumber(to), total: formatNumber(data.total) })),
      h('button', { class: 'button ghost small', id: 'page-next', disabled: to >= data.total, on: { click: () => go(data.offset + PAGE_SIZE) } }, t('overview.next')));
  }

  function findingLabel(code) {
    const found = templateItem(template, code);
    return found ? localized(found.item.label) : code;
  }

  function row(w) {
    const last = w.last_inspection;
    const incidents = Object.entries(w.open_incidents);
    const staleDevices = w.devices.filter((d) => d.stale || d.missing_attachments);
    return h(
      'article',
      { class: ['wh-row', `status-${w.status}`], dataset: { warehouse: w.warehouse.id, status: w.status } },
      h('div', { class: 'wh-name' },
        h('h3', {}, w.warehouse.name),
        h('p', { class: 'muted small' }, [w.warehouse.kecamatan, w.warehouse.kota].filter(Boolean).join(', ')),
        badge(w.status, t(`overview.status.${w.status}`), { dataset: { field: 'status' } })),
      h('div', { class: 'wh-cell', dataset: { field: 'last-inspection' } },
        h('span', { class: 'cell-label' }, t('overview.last_inspection')),
        last
          ? [h('a', { href: `#/inspection/${last.id}` }, ago(last.at)),
            h('span', { class: 'small' }, ` · ${personWithAgency(ctx.people, last.by)}`),
            h('span', { class: 'small muted', title: formatDateTime(last.at) }, ` · ${formatDateTime(last.at)}`)]
          : h('span', {}, t('overview.never')),
        w.overdue ? badge('overdue', t('overview.overdue', { hours: ctx.intervalHours })) : null),
      h('div', { class: 'wh-cell', dataset: { field: 'findings', count: String(w.open_findings.length) } },
        h('span', { class: 'cell-label' }, t('overview.findings')),
        w.open_findings.length
          ? h('ul', { class: 'chips' }, w.open_findings.map((code) => h('li', { class: 'chip chip-bad' }, findingLabel(code))))
          : h('span', { class: 'ok-text' }, t('overview.no_findings'))),
      h('div', { class: 'wh-cell', dataset: { field: 'incidents' } },
        h('span', { class: 'cell-label' }, t('overview.incidents')),
        incidents.length
          ? h('a', { href: '#/incidents', class: 'chips' }, incidents.map(([sev, n]) => badge(`sev-${sev}`, `${n} ${severityLabel(sev)}`)))
          : h('span', { class: 'ok-text' }, t('overview.no_incidents'))),
      h('div', { class: 'wh-cell', dataset: { field: 'stock' } },
        h('span', { class: 'cell-label' }, t('overview.stock')),
        w.stock_discrepancies
          ? h('a', { href: '#/stock', class: 'bad-text' }, t('overview.discrepancies', { count: w.stock_discrepancies }))
          : h('span', { class: 'ok-text' }, t('overview.stock_ok'))),
      h('div', { class: 'wh-cell', dataset: { field: 'queue' } },
        h('span', { class: 'cell-label' }, t('overview.queue')),
        w.awaiting_review ? h('a', { href: '#/inspections' }, t('overview.awaiting_review', { count: w.awaiting_review })) : null,
        w.open_conflicts ? h('a', { href: '#/conflicts', class: 'bad-text' }, t('overview.conflicts', { count: w.open_conflicts })) : null,
        w.drafts ? h('span', { class: 'muted small' }, t('overview.drafts', { count: w.drafts })) : null,
        !w.awaiting_review && !w.open_conflicts && !w.drafts ? h('span', { class: 'muted' }, '—') : null),
      h('div', { class: 'wh-cell', dataset: { field: 'guard' } },
        h('span', { class: 'cell-label' }, t('overview.guard')),
        w.guard.flags.length
          ? h('ul', { class: 'chips' }, w.guard.flags.map((f) => h('li', { class: 'chip chip-bad', dataset: { flag: f } }, t(`overview.flag.${f}`))))
          : h('span', { class: 'ok-text' }, t('overview.guard_ok')),
        h('a', { class: 'small', href: `#/roster/${w.warehouse.id}` }, t('overview.guard_roster'))),
      h('div', { class: 'wh-cell', dataset: { field: 'devices' } },
        h('span', { class: 'cell-label' }, t('overview.devices')),
        staleDevices.length
          ? h('ul', { class: 'plain small' }, staleDevices.map((d) => h('li', { class: 'warn-text' },
            `${personWithAgency(ctx.people, d.user_id)} · ${d.name} · ${t('overview.last_contact', { ago: ago(d.last_contact) })}`,
            d.missing_attachments ? ` · ${t('overview.missing_photos', { count: d.missing_attachments })}` : '')))
          : h('span', { class: 'ok-text' }, t('overview.devices_ok', { count: w.devices.length }))),
    );
  }

  async function reload() {
    const params = {
      kota: filters.kota, kecamatan: filters.kecamatan, agency: filters.agency, status: filters.status,
      sort: filters.sort, limit: PAGE_SIZE, offset: filters.offset || 0,
    };
    let data = await ctx.http.get('/api/supervisor/overview', params);
    if (data.offset > 0 && data.offset >= data.total) {
      // Fewer rows than before (a filter, a warehouse resolved): the last page that has rows.
      filters.offset = Math.floor(Math.max(0, data.total - 1) / PAGE_SIZE) * PAGE_SIZE;
      data = await ctx.http.get('/api/supervisor/overview', { ...params, offset: filters.offset });
    }
    ctx.intervalHours = data.interval_hours;
    const counts = Object.fromEntries(STATUSES.map((s) => [s, data.by_status[s] ?? 0]));
    summary.textContent = t('overview.summary', { total: formatNumber(data.total), ...counts, hours: formatNumber(data.interval_hours) });
    renderPlaces(data);
    renderPager(data);
    replace(table, data.warehouses.length ? data.warehouses.map(row) : empty(t('overview.none')));
    main.dataset.revision = String(data.revision);
    main.dataset.reloads = String(Number(main.dataset.reloads ?? 0) + 1);
  }

  function describe(event) {
    const where = ctx.warehouses.get(event.warehouse_id)?.name ?? event.warehouse_id;
    const who = personWithAgency(ctx.people, event.updated_by);
    const f = event.fields;
    if (event.type === 'inspections') return t(`activity.inspection.${f.status ?? 'draft'}`, { who, where, findings: (f.findings ?? []).length });
    if (event.type === 'incidents') return t(`activity.incident.${f.status ?? 'open'}`, { who, where, category: categoryLabel(f.category), severity: severityLabel(f.severity) });
    if (event.type === 'conflicts') return t(`activity.conflict.${f.status ?? 'open'}`, { who, where });
    return t('activity.stock', { who, where });
  }

  function onLive(event) {
    if (event.type === 'inspections' && event.fields.status === 'draft') return; // typing in progress
    main.dataset.liveEvents = String(Number(main.dataset.liveEvents ?? 0) + 1);
    activity.unshift(h('li', { dataset: { collection: event.type } }, h('time', {}, formatDateTime(event.updated_at)), ' ', describe(event)));
    activity.splice(8);
    replace(feed, activity);
    scheduleReload();
  }

  // A trailing debounce that can wait at most MAX_WAIT_MS: under a continuous stream of events
  // (a busy province) the overview still refreshes every few seconds instead of never.
  function scheduleReload() {
    const now = Date.now();
    if (!waitingSince) waitingSince = now;
    clearTimeout(timer);
    const wait = Math.max(0, Math.min(DEBOUNCE_MS, waitingSince + MAX_WAIT_MS - now));
    timer = setTimeout(() => {
      waitingSince = 0;
      loading = loading.then(reload).catch(() => {});
    }, wait);
  }

  replace(
    main,
    h('h1', {}, t('overview.title')),
    summary,
    controls,
    table,
    pager,
    h('section', { class: 'panel no-print' }, h('h2', {}, t('overview.activity')), feed, h('p', { class: 'muted small' }, t('overview.activity_hint'))),
  );
  await reload();
  return { onLive, dispose: () => clearTimeout(timer) };
}

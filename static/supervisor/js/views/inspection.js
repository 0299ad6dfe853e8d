// The review queue and one inspection: answers with the template's labels, findings, photos,
// co-inspectors, stock counts, conflicts and the timeline from the audit log. "Tandai diperiksa"
// (review, locks it) and "Perlu perbaikan" (request_changes with a comment) are sync mutations.

import { h, replace } from '/js/dom.js';
import { ago, formatDateTime, localized, t } from '/js/i18n.js';
import { agencyLabel, answerText, auditKindLabel, deviceLabel, fieldLabel, opLabel, personName, personWithAgency, statusLabel, stockItemLabel, valueLabel, warehouseName } from '/js/labels.js';
import { photoThumb } from '../photos.js';
import { badge, empty, errorText, formDialog, reportResult, section, select, toast } from '../ui.js';

const STATUSES = ['submitted', 'needs_fix', 'reviewed', 'draft'];

export async function renderInspections(ctx, main) {
  let status = 'submitted';
  let warehouse = '';
  const list = h('div', { class: 'list' });

  async function reload() {
    const rows = await ctx.http.get('/api/supervisor/inspections', { status: status || undefined, warehouse_id: warehouse || undefined });
    replace(list, rows.length ? h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('inspection.when'), t('inspection.warehouse'), t('inspection.inspector'), t('inspection.status'), t('inspection.findings')].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.map((r) => h('tr', { dataset: { inspection: r.id } },
        h('td', {}, h('a', { href: `#/inspection/${r.id}` }, formatDateTime(r.submitted_at || r.created_at))),
        h('td', {}, warehouseName(ctx.warehouses, r.warehouse_id)),
        h('td', {}, personWithAgency(ctx.people, r.inspector_id)),
        h('td', {}, badge(r.status, statusLabel('inspections', r.status))),
        h('td', {}, r.findings.length ? badge('bad', t('inspection.findings_count', { count: r.findings.length })) : '—'))))) : empty(t('inspection.none')));
  }

  replace(
    main,
    h('h1', {}, t('inspections.title')),
    h('div', { class: 'filters' },
      select(t('inspection.status'), [['', t('common.all')], ...STATUSES.map((s) => [s, statusLabel('inspections', s)])], status, (v) => { status = v; reload(); }),
      select(t('inspection.warehouse'), [['', t('common.all')], ...[...ctx.warehouses.values()].map((w) => [w.id, w.name])], warehouse, (v) => { warehouse = v; reload(); })),
    list,
  );
  await reload();
  return { onLive: (e) => { if (e.type === 'inspections') reload(); } };
}

export function answersBlock(ctx, record, template, { thumbs = true } = {}) {
  const f = record.fields;
  const findings = new Set(f.findings ?? []);
  if (!template) return empty(t('inspection.no_template'));
  return template.sections.map((s) => h('section', { class: 'panel answers' },
    h('h2', {}, localized(s.title)),
    h('dl', { class: 'answer-list' }, s.items.map((item) => {
      const name = `${item.kind === 'photo' ? 'p' : 'a'}.${item.code}`;
      const value = f[name];
      const finding = findings.has(item.code);
      return h('div', { class: ['answer', finding ? 'is-finding' : ''], dataset: { item: item.code } },
        h('dt', {}, localized(item.label), finding ? badge('bad', t('inspection.finding')) : null),
        h('dd', {}, item.kind === 'photo'
          ? (value?.length ? h('div', { class: 'thumbs' }, value.map((sha) => (thumbs ? photoThumb(ctx.http, sha) : sha))) : t('value.unanswered'))
          : answerText(item, value)));
    }))));
}

/** The server's PDF of the berita acara, fetched with the bearer token (never in the URL) and saved. */
export async function downloadReportPdf(ctx, id) {
  try {
    const response = await ctx.http.request('GET', `/api/inspections/${encodeURIComponent(id)}/report.pdf`, { raw: true });
    const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '')?.[1] ?? `berita-acara-${id}.pdf`;
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    toast(errorText(error), 'error');
  }
}

function timelineBlock(ctx, entries) {
  return h('ol', { class: 'timeline' }, entries.map((e) => {
    const d = e.detail ?? {};
    const changed = Object.keys(d.fields ?? {}).length;
    return h('li', {},
      h('time', {}, formatDateTime(e.at)), ' ',
      h('strong', {}, personWithAgency(ctx.people, e.actor_id)), ' · ',
      e.kind === 'mutation' ? opLabel(d.op, 'inspections') : auditKindLabel(e.kind), changed ? ` (${t('timeline.fields', { count: changed })})` : '',
      d.status && d.status !== 'applied' ? [' · ', badge(d.status === 'rejected' ? 'bad' : 'warn', t(`outcome.${d.status}`))] : null,
      h('span', { class: 'muted small' }, ` · ${t('timeline.device', { device: deviceLabel(e.device_label) })}`));
  }));
}

export async function renderInspection(ctx, main, id) {
  const detail = await ctx.http.get(`/api/supervisor/inspections/${encodeURIComponent(id)}`);
  const { record, template, stock_counts: counts, conflicts, timeline } = detail;
  const f = record.fields;
  const status = f.status ?? 'draft';
  const currentReview = status === 'reviewed' || status === 'needs_fix';

  async function act(op) {
    const review = op === 'review';
    const values = await formDialog({
      title: t(review ? 'review.title' : 'request_changes.title'),
      text: t(review ? 'review.text' : 'request_changes.text'),
      fields: [{ name: 'comment', label: t('review.comment'), type: 'textarea', required: !review }],
      submit: t(review ? 'review.submit' : 'request_changes.submit'),
    });
    if (!values) return;
    const fields = values.comment.trim() ? { comment: values.comment.trim() } : {};
    try {
      const result = await ctx.push({ id: record.id, collection: 'inspections', op, baseRev: record.revision, fields });
      if (reportResult(result, t(review ? 'review.done' : 'request_changes.done'))) await rerender();
    } catch (error) {
      toast(errorText(error), 'error');
    }
  }

  async function rerender() {
    const view = await renderInspection(ctx, main, id);
    Object.assign(handle, view);
  }

  const co = f.co_inspectors ?? [];
  const notes = f.notes ?? [];
  // Four eyes: nobody reviews what they created, submitted or co-inspected (the server refuses it).
  const me = ctx.me.user.id;
  const mine = [record.created_by, f.inspector_id, f.submitted_by, ...co].includes(me);
  const reviewable = status === 'submitted' && !mine;
  const coText = (p) => {
    const at = f.confirmations?.[p]?.at;
    return h('span', { class: 'co-inspector', dataset: { person: p, confirmed: String(Boolean(at)) } }, personWithAgency(ctx.people, p), ' ',
      at ? badge('ok', t('inspection.co_confirmed', { time: formatDateTime(at) })) : badge('warn', t('inspection.co_pending')));
  };
  const actions = h('div', { class: 'actions no-print' },
    reviewable ? h('button', { class: 'button', id: 'action-review', on: { click: () => act('review') } }, t('review.submit')) : null,
    reviewable ? h('button', { class: 'button secondary', id: 'action-request-changes', on: { click: () => act('request_changes') } }, t('request_changes.submit')) : null,
    status === 'submitted' && mine ? h('p', { class: 'muted', id: 'four-eyes' }, t('inspection.four_eyes')) : null,
    h('a', { class: 'button ghost', href: `#/print/${record.id}` }, t('print.open')),
    h('button', { class: 'button ghost', id: 'action-report-pdf', type: 'button', on: { click: () => downloadReportPdf(ctx, record.id) } }, `${t('print.open')} (PDF)`));

  replace(
    main,
    h('p', { class: 'no-print' }, h('a', { href: '#/inspections' }, `← ${t('inspections.title')}`)),
    h('h1', {}, t('inspection.heading', { warehouse: warehouseName(ctx.warehouses, record.warehouse_id) })),
    h('div', { class: 'panel meta', dataset: { status } },
      h('p', {}, badge(status, statusLabel('inspections', status), { id: 'inspection-status' }), ' ',
        (f.findings ?? []).length ? badge('bad', t('inspection.findings_count', { count: f.findings.length })) : badge('ok', t('inspection.no_findings'))),
      h('dl', { class: 'meta-list' },
        h('dt', {}, t('field.inspections.report_number')), h('dd', { id: 'report-number' }, f.report_number || t('report.number_pending')),
        h('dt', {}, t('inspection.inspector')), h('dd', {}, personWithAgency(ctx.people, f.inspector_id)),
        h('dt', {}, t('inspection.co_inspectors')), h('dd', { id: 'co-inspectors' }, co.length ? co.flatMap((p, i) => (i ? [', ', coText(p)] : [coText(p)])) : '—'),
        h('dt', {}, t('inspection.shift')), h('dd', {}, f.shift ? t(`shift.${f.shift}`) : '—'),
        h('dt', {}, t('inspection.started')), h('dd', {}, formatDateTime(f.started_at) || '—'),
        h('dt', {}, t('inspection.submitted')), h('dd', {}, f.submitted_at ? `${formatDateTime(f.submitted_at)} (${ago(f.submitted_at)})` : '—'),
        // The current review round only (a resubmitted inspection awaits a new review).
        currentReview && f.reviewed_by ? [h('dt', {}, t('inspection.reviewed_by')), h('dd', {}, `${personWithAgency(ctx.people, f.reviewed_by)}${status === 'reviewed' && f.reviewed_at ? ` · ${formatDateTime(f.reviewed_at)}` : ''}`)] : null,
        currentReview && f.review_comment ? [h('dt', {}, t('inspection.review_comment')), h('dd', { id: 'review-comment' }, f.review_comment)] : null,
        f.summary ? [h('dt', {}, t('inspection.summary')), h('dd', {}, f.summary)] : null),
      actions),
    status === 'reviewed' ? h('p', { class: 'banner', id: 'inspection-locked' }, t('inspection.locked')) : null,
    conflicts.some((c) => c.fields.status === 'open')
      ? h('p', { class: 'banner warn' }, t('inspection.open_conflicts', { count: conflicts.filter((c) => c.fields.status === 'open').length }), ' ', h('a', { href: '#/conflicts' }, t('nav.conflicts')))
      : null,
    answersBlock(ctx, record, template),
    (f.photos ?? []).length ? section(t('inspection.photos'), h('div', { class: 'thumbs' }, f.photos.map((sha) => photoThumb(ctx.http, sha)))) : null,
    notes.length ? section(t('inspection.notes'), h('ul', { class: 'plain' }, notes.map((n) => h('li', {}, h('strong', {}, personName(ctx.people, n.by)), ` (${agencyLabel(n.agency)}, ${formatDateTime(n.at)}): `, n.text)))) : null,
    counts.length ? section(t('inspection.stock_counts'), h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('stock.item'), t('stock.expected'), t('stock.counted'), t('stock.difference'), t('stock.damaged')].map((c) => h('th', {}, c)))),
      h('tbody', {}, counts.map((c) => {
        const diff = typeof c.fields.expected === 'number' ? c.fields.counted - c.fields.expected : null;
        return h('tr', { class: diff ? 'is-discrepancy' : '' },
          h('td', {}, stockItemLabel(ctx, c.fields.item_type)), h('td', {}, c.fields.expected ?? '—'), h('td', {}, c.fields.counted),
          h('td', {}, diff === null ? '—' : diff > 0 ? `+${diff}` : String(diff)),
          h('td', {}, `${c.fields.damaged_light ?? 0} / ${c.fields.damaged_heavy ?? 0}`));
      })))) : null,
    conflicts.length ? section(t('inspection.conflicts'), h('ul', { class: 'plain' }, conflicts.map((c) => h('li', {},
      badge(c.fields.status === 'open' ? 'warn' : 'muted', statusLabel('conflicts', c.fields.status)), ' ',
      fieldLabel('inspections', c.fields.field, template), ': ',
      `${valueLabel(c.fields.field, c.fields.server_value, template)} ↔ ${valueLabel(c.fields.field, c.fields.client_value, template)}`)))) : null,
    section(t('inspection.timeline'), timeline.length ? timelineBlock(ctx, timeline) : empty('—')),
  );
  const handle = {
    onLive(event) {
      if (event.id === record.id && event.revision > record.revision) rerender().catch(() => {});
    },
  };
  return handle;
}

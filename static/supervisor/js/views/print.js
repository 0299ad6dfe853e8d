// A printable berita acara (official report) of one inspection: A4, its number, answers by section,
// findings, stock counts, photo thumbnails, a signatures block per pillar with the KPU witness and
// the reviewing supervisor's "Mengetahui" (as the PDF, server/report_pdf.py, in the same words).
// The state and note printed are the current ones only. The print CSS hides everything else, so
// "Print → Save as PDF" gives a clean document.

import { h, replace } from '/js/dom.js';
import { formatDate, formatDateTime, getLang, localized, t } from '/js/i18n.js';
import { agencyLabel, answerText, personName, personWithAgency, statusLabel, templateItem, warehouseAddress } from '/js/labels.js';
import { photoThumb, thumbsReady } from '../photos.js';
import { downloadReportPdf } from './inspection.js';

const PILLARS = [
  ['polri', ['POLRI']],
  ['tni', ['TNI']],
  ['pemda', ['SATPOL_PP', 'DISHUB', 'FKDM']],
];

function row(label, value) {
  return h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, value || '—'));
}

export async function renderPrint(ctx, main, id) {
  const { record, template, stock_counts: counts } = await ctx.http.get(`/api/supervisor/inspections/${encodeURIComponent(id)}`);
  const f = record.fields;
  const warehouse = ctx.warehouses.get(record.warehouse_id) ?? { name: record.warehouse_id };
  const findings = new Set(f.findings ?? []);
  const when = f.started_at || f.submitted_at || record.created_at;
  const day = new Date(when).toLocaleDateString(getLang() === 'id' ? 'id-ID' : 'en-GB', { weekday: 'long' });
  const officers = [f.inspector_id, ...(f.co_inspectors ?? [])].filter(Boolean);
  const photos = [];
  // The current state only: the note and reviewer of an earlier round (sent back, then sent
  // again) are not this report's; they stay in the history.
  const current = f.status === 'reviewed' || f.status === 'needs_fix';
  const stateText = () => {
    const state = statusLabel('inspections', f.status ?? 'draft');
    if (!current || !f.reviewed_by) return state;
    return `${state} — ${personName(ctx.people, f.reviewed_by)}${f.status === 'reviewed' ? ` ${formatDateTime(f.reviewed_at)}` : ''}`;
  };
  const stockItemName = (code) => {
    const item = ctx.stockItems?.get(code);
    return item ? `${item.name} (${item.unit})` : code;
  };
  const reviewed = f.status === 'reviewed' && f.reviewed_by;
  const acknowledged = h('section', { class: 'acknowledged', id: 'ba-acknowledged' },
    h('p', { class: 'sign-role' }, t('report.acknowledged')),
    h('p', { class: 'sign-agency' }, t('report.reviewer')),
    h('div', { class: 'sign-line' }),
    h('p', { class: 'sign-name' }, reviewed ? personWithAgency(ctx.people, f.reviewed_by) : t('report.not_reviewed')),
    reviewed ? h('p', { class: 'sign-agency' }, formatDateTime(f.reviewed_at)) : null);

  const sections = (template?.sections ?? []).map((s, n) => h('section', { class: 'ba-section' },
    h('h3', {}, `${String.fromCharCode(65 + n)}. ${localized(s.title)}`),
    h('table', { class: 'ba-table' },
      h('thead', {}, h('tr', {}, h('th', { class: 'no' }, t('report.no')), h('th', {}, t('report.item')), h('th', {}, t('report.result')), h('th', { class: 'note' }, t('report.remark')))),
      h('tbody', {}, s.items.map((item, i) => {
        const value = f[`${item.kind === 'photo' ? 'p' : 'a'}.${item.code}`];
        if (item.kind === 'photo') for (const sha of value ?? []) photos.push([localized(item.label), sha]);
        return h('tr', { class: findings.has(item.code) ? 'is-finding' : '' },
          h('td', { class: 'no' }, String(i + 1)),
          h('td', {}, localized(item.label)),
          h('td', {}, item.kind === 'photo' ? t('report.photos', { count: (value ?? []).length }) : answerText(item, value)),
          h('td', { class: 'note' }, findings.has(item.code) ? t('report.finding') : ''));
      })))));
  for (const sha of f.photos ?? []) photos.push([t('field.inspections.photos'), sha]);

  const signatures = PILLARS.map(([pillar, agencies]) => {
    const people = officers.filter((p) => agencies.includes(ctx.people.get(p)?.agency));
    return h('div', { class: 'sign', dataset: { pillar } },
      h('p', { class: 'sign-role' }, t(`report.pillar.${pillar}`)),
      (people.length ? people : [null]).map((p) => h('div', { class: 'sign-person' },
        h('div', { class: 'sign-line' }),
        h('p', { class: 'sign-name' }, p ? personName(ctx.people, p) : t('report.name_blank')),
        h('p', { class: 'sign-agency' }, p ? agencyLabel(ctx.people.get(p)?.agency) : agencies.map(agencyLabel).join(' / ')),
        // A co-inspector signs only once confirmed from their own account (as in the PDF).
        p && p !== f.inspector_id ? h('p', { class: 'sign-confirmation', dataset: { confirmed: String(Boolean(f.confirmations?.[p])) } },
          f.confirmations?.[p] ? t('inspection.co_confirmed', { time: formatDateTime(f.confirmations[p].at) }) : t('inspection.co_pending')) : null)));
  });
  signatures.push(h('div', { class: 'sign', dataset: { pillar: 'kpu' } },
    h('p', { class: 'sign-role' }, t('report.kpu_witness')),
    h('div', { class: 'sign-person' }, h('div', { class: 'sign-line' }),
      h('p', { class: 'sign-name' }, f['a.saksi_kpu'] || t('report.name_blank')), h('p', { class: 'sign-agency' }, agencyLabel('KPU')))));

  const sheet = h('article', { class: 'sheet', id: 'berita-acara' },
    h('header', { class: 'ba-head' },
      h('p', { class: 'ba-org' }, t('report.org')),
      h('h1', {}, t('report.title')),
      h('p', { class: 'ba-number', id: 'ba-number' }, f.report_number ? t('report.number', { number: f.report_number }) : t('report.number_none'))),
    h('p', { class: 'ba-intro' }, t('report.intro', { day, date: formatDate(when), time: new Date(when).toLocaleTimeString(getLang() === 'id' ? 'id-ID' : 'en-GB', { hour: '2-digit', minute: '2-digit' }), warehouse: warehouse.name, address: warehouseAddress(warehouse) })),
    h('table', { class: 'ba-data' }, h('tbody', {},
      row(t('report.warehouse'), warehouse.name),
      row(t('report.shift'), f.shift ? t(`shift.${f.shift}`) : ''),
      row(t('report.started'), formatDateTime(f.started_at)),
      row(t('report.sent'), formatDateTime(f.submitted_at)),
      row(t('field.inspections.inspector_id'), `${personName(ctx.people, f.inspector_id)} (${agencyLabel(f.inspector_agency)})`),
      row(t('field.inspections.co_inspectors'), (f.co_inspectors ?? []).map((p) => personWithAgency(ctx.people, p)).join(', ')),
      row(t('report.state'), stateText()),
      current && f.review_comment ? row(t('report.review_note'), f.review_comment) : null)),
    sections,
    h('section', { class: 'ba-section' }, h('h3', {}, t('report.findings')),
      findings.size ? h('ol', {}, [...findings].map((code) => h('li', {}, localized(templateItem(template, code)?.item.label ?? code)))) : h('p', {}, t('inspection.no_findings')),
      f.summary ? h('p', {}, h('strong', {}, `${t('field.inspections.summary')}: `), f.summary) : null,
      (f.notes ?? []).length ? h('ul', {}, f.notes.map((n) => h('li', {}, `${personName(ctx.people, n.by)}: ${n.text}`))) : null),
    counts.length ? h('section', { class: 'ba-section' }, h('h3', {}, t('report.stock')),
      h('table', { class: 'ba-table' },
        h('thead', {}, h('tr', {}, ['report.stock_item', 'report.expected', 'report.counted', 'report.difference', 'report.damaged'].map((c) => h('th', {}, t(c))))),
        h('tbody', {}, counts.map((c) => h('tr', {}, h('td', {}, stockItemName(c.fields.item_type)), h('td', {}, c.fields.expected ?? '—'), h('td', {}, c.fields.counted),
          h('td', {}, typeof c.fields.expected === 'number' ? String(c.fields.counted - c.fields.expected) : '—'), h('td', {}, `${c.fields.damaged_light ?? 0} / ${c.fields.damaged_heavy ?? 0}`)))))) : null,
    photos.length ? h('section', { class: 'ba-section ba-photos' }, h('h3', {}, t('report.photo_annex')),
      h('div', { class: 'photo-grid' }, photos.map(([label, sha]) => h('figure', {}, photoThumb(ctx.http, sha, { enlarge: false }), h('figcaption', {}, label))))) : null,
    h('p', { class: 'ba-closing' }, t('report.closing')),
    h('section', { class: 'signatures' }, signatures),
    acknowledged,
    h('footer', { class: 'ba-foot' }, t('report.footer', { at: formatDateTime(new Date().toISOString()), revision: record.revision })));

  replace(main,
    h('div', { class: 'print-toolbar no-print' },
      h('a', { class: 'button ghost', href: `#/inspection/${record.id}` }, `← ${t('nav.back')}`),
      h('button', { class: 'button', id: 'print-button', on: { click: async () => { await thumbsReady(sheet); window.print(); } } }, t('print.print')),
      h('button', { class: 'button ghost', id: 'report-pdf-button', type: 'button', on: { click: () => downloadReportPdf(ctx, record.id) } }, 'PDF')),
    sheet);
  await thumbsReady(sheet);
  main.dataset.ready = 'true';
  return { dispose: () => { delete main.dataset.ready; } };
}

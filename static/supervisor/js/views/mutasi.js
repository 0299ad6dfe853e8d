// A printable buku mutasi jaga (the guard post's log book) of one warehouse and day: each shift's
// hours, commander and people with their check-in and check-out, then what was handed over (seal
// numbers, keys, open incidents, notes) and whether each commander confirmed it. The print CSS
// hides everything else, so "Print → Save as PDF" gives a clean page.
//
//   #/mutasi/<warehouse>/<yyyy-mm-dd>

import { h, replace } from '/js/dom.js';
import { formatDate, formatDateTime, localized, t } from '/js/i18n.js';
import { agencyLabel, personName, templateItem } from '/js/labels.js';
import { localTime, peopleOf } from './roster.js';

export async function renderMutasi(ctx, main, warehouseId, day) {
  const data = await ctx.http.get('/api/supervisor/mutasi', { warehouse_id: warehouseId, date: day });
  const offset = data.utc_offset_hours;
  const people = peopleOf(ctx, data);
  const name = (id) => personName(people, id);
  const at = (value) => (value ? localTime(value, offset) : '—');
  const shifts = (data.days[0]?.shifts ?? []).filter(Boolean);
  // A handover's seals are the checklist's seal items: each named by its item's label.
  const template = await ctx.template('current');
  const sealName = (code) => {
    const found = templateItem(template, code);
    return found ? localized(found.item.label) : t('mutasi.seal', { code });
  };

  const blocks = shifts.map((s) => {
    const ho = s.handover;
    const confirmation = (side) => {
      const c = ho.confirmations[side];
      return h('p', { class: 'sign-confirmation', dataset: { side, confirmed: String(Boolean(c)) } },
        `${t(`mutasi.${side}`)}: `, c ? t('mutasi.confirmed_by', { who: name(c.user), time: formatDateTime(c.at) }) : t('inspection.co_pending'));
    };
    return h('section', { class: 'ba-section', dataset: { shift: s.id } },
      h('h3', {}, `${t(`roster.period.${s.period}`)} · ${at(s.starts_at)}–${at(s.ends_at)}`,
        s.commander ? ` · ${t('roster.commander')}: ${name(s.commander)}` : ''),
      h('table', { class: 'ba-table' },
        h('thead', {}, h('tr', {}, ['mutasi.name', 'mutasi.agency', 'mutasi.state', 'mutasi.in', 'mutasi.out'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, s.people.map((p) => h('tr', { class: p.state === 'absent' ? 'is-finding' : '', dataset: { person: p.user_id, state: p.state } },
          h('td', {}, name(p.user_id)), h('td', {}, agencyLabel(p.agency)), h('td', {}, t(`roster.state.${p.state}`)), h('td', {}, at(p.at)), h('td', {}, at(p.out_at)))))),
      h('h4', {}, t('mutasi.handover'), ' — ', t(`roster.handover.${ho.state}`)),
      h('table', { class: 'ba-table' }, h('tbody', {},
        Object.entries(ho.seals).map(([code, number]) => h('tr', { class: ho.findings.includes(code) ? 'is-finding' : '', dataset: { seal: code } },
          h('th', { scope: 'row' }, sealName(code)),
          h('td', {}, number, ho.findings.includes(code) ? ` — ${t('roster.seal_mismatch')}` : ''))),
        h('tr', {}, h('th', { scope: 'row' }, t('mutasi.keys')), h('td', {}, ho.keys || '—')),
        h('tr', {}, h('th', { scope: 'row' }, t('mutasi.incidents')), h('td', {}, ho.incidents.length ? t('mutasi.incident_count', { count: ho.incidents.length }) : '—')),
        h('tr', {}, h('th', { scope: 'row' }, t('mutasi.notes')), h('td', { dataset: { field: 'notes' } }, ho.notes.length ? ho.notes.map((n) => h('p', {}, n)) : '—')))),
      h('div', { class: 'signatures' }, confirmation('outgoing'), confirmation('incoming')));
  });

  replace(main,
    h('p', { class: 'no-print' }, h('a', { href: `#/roster/${warehouseId}/${day}` }, `← ${t('nav.back')}`), ' ',
      h('button', { class: 'button', type: 'button', on: { click: () => window.print() } }, t('mutasi.print'))),
    h('article', { class: 'sheet mutasi' },
      h('h1', {}, t('mutasi.title')),
      h('p', {}, data.warehouse.name, h('br'), formatDate(day)),
      blocks.length ? blocks : h('p', { class: 'empty' }, t('mutasi.none'))));
  return null;
}

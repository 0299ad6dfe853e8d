// The guard post's roster (jadwal jaga) of one warehouse and week: per shift, who of which agency
// was planned and who checked in (present, late, absent), the pillars missing, and whether both
// commanders confirmed the handover. Supervisors plan a shift here (a sync mutation, like every
// decision of this page) and copy the week before in one action (`copy_week`).
//
//   #/roster                     the first warehouse in scope, this week
//   #/roster/<warehouse>         that warehouse, this week (the warehouse's local time)
//   #/roster/<warehouse>/<date>  that warehouse, the week of that day

import { h, replace } from '/js/dom.js';
import { RULES } from '/js/rules-data.js';
import { formatDate, t } from '/js/i18n.js';
import { agencyLabel, personName, personWithAgency } from '/js/labels.js';
import { AGENCIES } from '/js/protocol.js';
import { badge, downloadFile, reportResult, select, toast } from '../ui.js';

const PERIODS = RULES.roster.periods;
const DAY_MS = 86_400_000;

/** The Monday (yyyy-mm-dd) of the week of a day. */
export function mondayOf(day) {
  const date = new Date(`${day}T00:00:00Z`);
  return new Date(date.getTime() - ((date.getUTCDay() + 6) % 7) * DAY_MS).toISOString().slice(0, 10);
}

const addDays = (day, n) => new Date(new Date(`${day}T00:00:00Z`).getTime() + n * DAY_MS).toISOString().slice(0, 10);

/** Local "HH:MM" of an instant at the warehouse's UTC offset. */
export function localTime(value, offsetHours) {
  if (!value) return '';
  return new Date(new Date(value).getTime() + offsetHours * 3_600_000).toISOString().slice(11, 16);
}

/** The instant of a local day and "HH:MM" at the warehouse's UTC offset. */
function instantOf(day, hhmm, offsetHours) {
  return new Date(new Date(`${day}T${hhmm}:00Z`).getTime() - offsetHours * 3_600_000).toISOString();
}

const today = (offsetHours) => new Date(Date.now() + offsetHours * 3_600_000).toISOString().slice(0, 10);

/** Everyone the page may name: the people in scope and the roster's officers. */
export const peopleOf = (ctx, data) => new Map([...ctx.people, ...data.officers.map((o) => [o.id, o])]);

const personLabel = (ctx, data, id) => personName(peopleOf(ctx, data), id);

function stateBadge(state) {
  const kind = { present: 'ok', late: 'warn', outside: 'warn', absent: 'bad', expected: 'muted', unplanned: 'warn' }[state] ?? 'muted';
  return badge(kind, t(`roster.state.${state}`), { dataset: { state } });
}

function handoverBadge(handover) {
  const kind = handover.state === 'confirmed' ? 'ok' : handover.overdue ? 'bad' : 'muted';
  return badge(kind, t(`roster.handover.${handover.state}`), { dataset: { handover: handover.state, overdue: String(handover.overdue) } });
}

function shiftCell(ctx, data, shift, plan) {
  const offset = data.utc_offset_hours;
  const agencies = AGENCIES.filter((a) => shift.agencies[a]);
  return h('div', { class: ['shift', shift.understaffed ? 'is-understaffed' : ''], dataset: { shift: shift.id } },
    h('p', { class: 'shift-time' }, `${localTime(shift.starts_at, offset)}–${localTime(shift.ends_at, offset)}`,
      shift.commander ? h('span', { class: 'muted small' }, ` · ${t('roster.commander')}: ${personLabel(ctx, data, shift.commander)}`) : null),
    h('ul', { class: 'chips' }, agencies.map((a) => {
      const c = shift.agencies[a];
      return h('li', { class: ['chip', c.absent ? 'chip-bad' : ''], dataset: { agency: a } }, `${agencyLabel(a)} ${c.present}/${c.planned}`);
    })),
    shift.missing_pillars.length ? h('p', { class: 'bad-text small', dataset: { field: 'missing-pillars' } }, t('roster.missing_pillars', { pillars: shift.missing_pillars.map((p) => t(`roster.pillar.${p}`)).join(', ') })) : null,
    h('ul', { class: 'plain small people' }, shift.people.map((p) => h('li', { dataset: { person: p.user_id, state: p.state } },
      `${personLabel(ctx, data, p.user_id)} (${agencyLabel(p.agency)})`, p.at ? ` · ${localTime(p.at, offset)}` : '', ' ', stateBadge(p.state)))),
    h('p', { class: 'small' }, `${t('roster.handover')}: `, handoverBadge(shift.handover),
      shift.handover.findings.length ? badge('bad', t('roster.seal_mismatch'), { dataset: { field: 'seal-mismatch' } }) : null),
    h('button', { class: 'button ghost small no-print', type: 'button', on: { click: () => plan(shift.date, shift.period, shift) } }, t('roster.edit')),
  );
}

/** The plan of one shift: hours and people per agency, with its commander. */
function planDialog(data, day, period, shift) {
  return new Promise((resolve) => {
    const offset = data.utc_offset_hours;
    const [startHour, endHour] = RULES.roster.defaultHours[period];
    const hh = (n) => `${String(n).padStart(2, '0')}:00`;
    const start = h('input', { type: 'time', name: 'start', required: true, value: shift ? localTime(shift.starts_at, offset) : hh(startHour) });
    const end = h('input', { type: 'time', name: 'end', required: true, value: shift ? localTime(shift.ends_at, offset) : hh(endHour) });
    const planned = new Set((shift?.people ?? []).filter((p) => p.planned).map((p) => p.user_id));
    const people = new Map(data.officers.map((o) => [o.id, o]));
    const boxes = data.officers.map((o) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'person', value: o.id, checked: planned.has(o.id), dataset: { agency: o.agency } }),
      ` ${personWithAgency(people, o.id)}`));
    const commander = h('select', { name: 'commander' }, h('option', { value: '' }, '—'),
      data.officers.map((o) => h('option', { value: o.id, selected: shift?.commander === o.id }, personWithAgency(people, o.id))));
    const dialog = h('dialog', { class: 'form-dialog' },
      h('form', { method: 'dialog' },
        h('h2', {}, t('roster.plan_title', { period: t(`roster.period.${period}`), day: formatDate(day) })),
        h('div', { class: 'filters' },
          h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('roster.start')), start),
          h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('roster.end')), end)),
        h('fieldset', { class: 'people-picker' }, h('legend', {}, t('roster.personnel')), boxes),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, t('roster.commander')), commander),
        h('div', { class: 'actions' },
          h('button', { class: 'button', value: 'ok', type: 'submit' }, t('common.save')),
          h('button', { class: 'button ghost', type: 'button', on: { click: () => dialog.close('cancel') } }, t('common.cancel')))));
    dialog.addEventListener('close', () => {
      const personnel = {};
      for (const box of dialog.querySelectorAll('input[name=person]:checked')) (personnel[box.dataset.agency] ??= []).push(box.value);
      const endDay = end.value <= start.value ? addDays(day, 1) : day; // a night shift ends the next day
      const fields = { starts_at: instantOf(day, start.value, offset), ends_at: instantOf(endDay, end.value, offset), personnel, commander: commander.value || null };
      dialog.remove();
      resolve(dialog.returnValue === 'ok' ? fields : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function renderRoster(ctx, main, warehouseId, day) {
  const warehouses = [...ctx.warehouses.values()];
  const warehouse = warehouseId ?? warehouses[0]?.id;
  if (!warehouse) {
    replace(main, h('h1', {}, t('roster.title')), h('p', { class: 'empty' }, t('overview.none')));
    return null;
  }
  let data = await ctx.http.get('/api/supervisor/roster', { warehouse_id: warehouse, week: day });
  const monday = data.week;
  const body = h('div', { class: 'roster' });

  async function reload() {
    data = await ctx.http.get('/api/supervisor/roster', { warehouse_id: warehouse, week: monday });
    draw();
  }

  async function plan(date, period, shift) {
    const fields = await planDialog(data, date, period, shift);
    if (!fields) return;
    const id = `sh.${warehouse}.${date}.${period}`;
    if (!fields.commander) delete fields.commander;
    const result = shift
      ? await ctx.push({ id, collection: 'shifts', op: 'patch', fields, baseRev: shift.revision })
      : await ctx.push({ id, collection: 'shifts', op: 'create', warehouseId: warehouse, fields: { date, period, ...fields } });
    if (reportResult(result, t('roster.saved'))) await reload();
  }

  async function copyWeek() {
    const result = await ctx.push({ id: `wk.${warehouse}.${monday}`, collection: 'shifts', op: 'copy_week', warehouseId: warehouse, fields: { from: addDays(monday, -7) } });
    if (reportResult(result, t('roster.copied'))) await reload();
  }

  function draw() {
    const days = data.days;
    replace(body, h('table', { class: 'roster-table' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), days.map((d) => h('th', { scope: 'col', dataset: { day: d.date } },
        formatDate(d.date), h('br'), h('a', { class: 'small no-print', href: `#/mutasi/${warehouse}/${d.date}` }, t('roster.mutasi')))))),
      h('tbody', {}, PERIODS.map((period, p) => h('tr', {},
        h('th', { scope: 'row' }, t(`roster.period.${period}`)),
        days.map((d) => h('td', { dataset: { day: d.date, period } },
          d.shifts[p] ? shiftCell(ctx, data, d.shifts[p], plan)
            : h('button', { class: 'button ghost small no-print', type: 'button', on: { click: () => plan(d.date, period, null) } }, t('roster.plan')))))))));
  }

  const controls = h('div', { class: 'filters no-print' },
    select(t('roster.warehouse'), warehouses.map((w) => [w.id, w.name]), warehouse, (v) => ctx.go(`#/roster/${v}/${monday}`), { id: 'roster-warehouse' }),
    h('a', { class: 'button ghost', href: `#/roster/${warehouse}/${addDays(monday, -7)}` }, t('roster.previous')),
    h('a', { class: 'button ghost', href: `#/roster/${warehouse}/${mondayOf(today(data.utc_offset_hours))}` }, t('roster.this_week')),
    h('a', { class: 'button ghost', href: `#/roster/${warehouse}/${addDays(monday, 7)}` }, t('roster.next')),
    h('button', { class: 'button', type: 'button', id: 'roster-copy', on: { click: copyWeek } }, t('roster.copy_week')),
    h('button', { class: 'button ghost', type: 'button', id: 'roster-csv', on: { click: () => downloadFile(ctx, '/api/supervisor/roster.csv', { warehouse_id: warehouse, week: monday }) } }, t('roster.csv')),
  );
  replace(main,
    h('h1', {}, t('roster.title')),
    h('p', { class: 'muted' }, t('roster.week_of', { warehouse: data.warehouse.name, from: formatDate(monday), to: formatDate(addDays(monday, 6)) })),
    controls, body);
  draw();
  if (!data.planned) toast(t('roster.empty_week'), 'info');
  return {
    onLive(event) {
      if (event.warehouse_id === warehouse && (event.type === 'shifts' || event.type === 'handovers')) reload().catch(() => {});
    },
  };
}

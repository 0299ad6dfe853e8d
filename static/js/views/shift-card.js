// Today's shift on the home screen: the officer's shifts (jaga) with their check-in and
// check-out, queued offline like every edit (a photo optional), and the way to the handover for
// the shift's commander. The server records the time from the mutation's clock stamp, so a
// check-in made without signal keeps the moment it was made.

import { h } from '../dom.js';
import { checkInFlag, handoverId, handoverSide, handoverState, incomingShift, myShifts } from '../guard.js';
import { formatTime, t } from '../i18n.js';
import { agencyLabel, personLabel, shiftLabel } from '../labels.js';
import { RULES } from '../rules-data.js';
import { now } from '../server-time.js';
import { pendingBadge } from './warehouse.js';
import { photoPicker, refusedChanges } from './widgets.js';

function hours(shift) {
  return `${formatTime(shift.fields.starts_at)}–${formatTime(shift.fields.ends_at)}`;
}

/** The attendance chip of the officer in a shift. */
function attendanceChip(shift, userId) {
  const entry = shift.fields.attendance?.[userId];
  if (!entry) return h('span', { class: 'chip', dataset: { attendance: 'none' } }, t('guard.not_checked_in'));
  const flag = entry.flag ?? checkInFlag(new Date(entry.at).getTime(), shift);
  return h('span', { class: ['chip', flag ? 'chip-warn' : 'chip-good'], dataset: { attendance: entry.out_at ? 'out' : 'in', flag } },
    entry.out_at
      ? t('guard.checked_out', { in: formatTime(entry.at), out: formatTime(entry.out_at) })
      : t('guard.checked_in', { time: formatTime(entry.at) }),
    flag ? ` · ${t(`guard.flag.${flag}`)}` : '');
}

/** The shift before `shift` that hands over to it (its incoming side), or null. */
function previousShift(shiftsById, shift) {
  for (const candidate of shiftsById.values()) {
    if (candidate.id !== shift.id && incomingShift(shiftsById, candidate.id)?.id === shift.id) return candidate;
  }
  return null;
}

function handoverLink(warehouseId, outgoing, handovers, label) {
  const state = handoverState(handovers.get(handoverId(outgoing.id)));
  return h('a', { class: 'button block secondary', href: `#/w/${encodeURIComponent(warehouseId)}/handover/${outgoing.id}`, dataset: { handover: handoverId(outgoing.id), state } },
    label, ' · ', t(`guard.handover.${state}`));
}

async function shiftCard(app, warehouse, shift, data) {
  const { ctx } = app;
  const me = ctx.me.id;
  const f = shift.fields;
  const entry = f.attendance?.[me];
  const shiftsById = new Map(data.shifts.map((s) => [s.id, s]));
  const handovers = new Map(data.handovers.map((r) => [r.id, r]));
  // The photo taken for the check-in waits as a draft, so a refresh of the screen keeps it.
  const draftKey = `check-in:${shift.id}`;
  const draft = (await ctx.db.get('drafts', draftKey)) ?? { key: draftKey, photos: [] };
  const keep = (all) => ctx.db.put('drafts', { ...draft, photos: (draft.photos = all), at: Date.now() });
  const actions = [];

  const opensAt = new Date(f.starts_at).getTime() - RULES.roster.farOutsideMinutes * 60_000;
  if (!entry && now() < opensAt) {
    // Far before the start the server would flag a check-in: the button comes when it is due.
    actions.push(h('p', { class: 'hint', dataset: { opens: new Date(opensAt).toISOString() } }, t('guard.opens_at', { time: formatTime(opensAt) })));
  } else if (!entry) {
    actions.push(
      photoPicker(ctx, {
        label: t('guard.photo'),
        hashes: draft.photos,
        onAdd: (sha, all) => keep(all),
        onRemove: (sha, all) => keep(all),
      }),
      h('button', { type: 'button', class: 'button block', dataset: { action: 'check-in' }, on: { click: async () => {
        const fields = draft.photos.length ? { photos: draft.photos } : {};
        await ctx.enqueue({ id: shift.id, collection: 'shifts', op: 'check_in', warehouse_id: warehouse.id, fields });
        await ctx.db.delete('drafts', draftKey);
        app.toast(t('guard.checked_in_toast'));
        await app.rerender({ keepFocus: true });
      } } }, t('guard.check_in')),
    );
  } else if (!entry.out_at) {
    actions.push(h('button', { type: 'button', class: 'button block secondary', dataset: { action: 'check-out' }, on: { click: async () => {
      await ctx.enqueue({ id: shift.id, collection: 'shifts', op: 'check_out', warehouse_id: warehouse.id, fields: {} });
      app.toast(t('guard.checked_out_toast'));
      await app.rerender({ keepFocus: true });
    } } }, t('guard.check_out')));
  }

  // A commander hands this shift over to the next, and takes it over from the one before.
  const incoming = incomingShift(shiftsById, shift.id);
  if (handoverSide(me, shift, incoming) === 'outgoing') {
    actions.push(handoverLink(warehouse.id, shift, handovers, t('guard.hand_over')));
  }
  const previous = previousShift(shiftsById, shift);
  if (previous && f.commander === me) actions.push(handoverLink(warehouse.id, previous, handovers, t('guard.take_over')));

  return h('li', { class: 'card shift-card', dataset: { shift: shift.id } },
    h('p', { class: 'card-title' }, t('guard.shift_title', { period: shiftLabel(f.period), hours: hours(shift) })),
    h('p', { class: 'muted small' }, warehouse.name),
    f.commander ? h('p', { class: 'small' }, t('guard.commander'), ': ', personLabel(ctx.people, f.commander)) : null,
    h('p', { class: 'chips' }, attendanceChip(shift, me), ' ', pendingBadge(shift), ' ',
      h('span', { class: 'muted small' }, agencyLabel(ctx.me.agency))),
    await refusedChanges(ctx, shift.id),
    actions);
}

/** The "Jaga hari ini" section of the home screen, or null when the officer has no shift today. */
export async function todaysShifts(app, warehouses, dataOf) {
  const cards = [];
  for (const warehouse of warehouses) {
    const data = dataOf.get(warehouse.id);
    for (const shift of myShifts(data.shifts, app.ctx.me.id, now())) cards.push(await shiftCard(app, warehouse, shift, data));
  }
  if (!cards.length) return h('p', { class: 'muted small', id: 'no-shift' }, t('guard.no_shift'));
  return h('section', { id: 'todays-shifts' }, h('h2', {}, t('guard.today')), h('ul', { class: 'list' }, cards));
}

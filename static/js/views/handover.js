// Serah terima jaga: the handover at the end of a shift, written and confirmed by the outgoing
// and the incoming commander, each on their own phone, offline like every edit. The record's id
// is derived from the outgoing shift, so both commanders writing it without signal write one
// record (merged on the server field by field). What it holds: the seal numbers read now
// (compared with the last recorded ones), the keys, the open incidents handed over (each
// acknowledged by the incoming commander), notes. Once a commander confirmed, it no longer
// changes; with both confirmations it counts and is locked. The server enforces all of it.

import { h } from '../dom.js';
import { checkAnswer } from '../answers.js';
import { templateOf, warehouseOf } from '../context.js';
import { templateItems } from '../domain.js';
import {
  confirmBlocker, handoverEditable, handoverId, handoverSide, handoverState, incomingShift, lastSeals, sealDiffers,
} from '../guard.js';
import { formatDateTime, formatTime, getLang, t } from '../i18n.js';
import { categoryLabel, personLabel, shiftLabel } from '../labels.js';
import { getRecord, warehouseData } from '../records.js';
import { pendingBadge } from './warehouse.js';
import { labelled, notesSection, refusedChanges } from './widgets.js';

/** A checklist text: one Indonesian string, or {id, en} per language (checklists of issue 17). */
const textOf = (text) => (typeof text === 'string' ? text : text?.[getLang()] ?? text?.id ?? '');

function shiftLine(ctx, shift) {
  if (!shift) return t('handover.no_incoming');
  const f = shift.fields;
  return `${shiftLabel(f.period)} ${formatTime(f.starts_at)}–${formatTime(f.ends_at)} · ${t('guard.commander')}: ${f.commander ? personLabel(ctx.people, f.commander) : '—'}`;
}

export async function render(app, { warehouseId, shiftId }) {
  const { ctx } = app;
  const me = ctx.me.id;
  const base = `#/w/${encodeURIComponent(warehouseId)}`;
  const data = await warehouseData(ctx.db, warehouseId, ctx.me);
  const shiftsById = new Map(data.shifts.map((s) => [s.id, s]));
  const outgoing = shiftsById.get(shiftId);
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '#/' }, t('nav.warehouses')));
  if (!outgoing) return { node: h('section', {}, crumbs, h('h1', { tabindex: '-1' }, t('handover.unknown'))) };
  const incoming = incomingShift(shiftsById, shiftId);
  const id = handoverId(shiftId);
  const handover = await getRecord(ctx.db, id, ctx.me);
  const fields = handover?.fields ?? {};
  const side = handoverSide(me, outgoing, incoming);
  const state = handoverState(handover);
  const editable = Boolean(side && incoming?.fields.commander) && handoverEditable(handover);
  const template = templateOf(ctx);
  const seals = template ? templateItems(template).filter((item) => item.kind === 'seal') : [];
  const register = data.seals;
  const openIncidents = data.incidents.filter((i) => i.fields.status !== 'resolved');
  const incidentsById = new Map(data.incidents.map((i) => [i.id, i]));
  let dirty = false; // the form holds changes not queued yet
  let ticked = false; // the incoming commander ticked an acknowledgement (kept only on screen)
  const markDirty = () => { dirty = true; };

  // --- what is handed over: seals, keys, incidents ---
  const sealInputs = seals.map((item) => {
    const last = lastSeals(register)[item.code];
    const value = fields[`s.${item.code}`] ?? '';
    const input = h('input', { type: 'text', name: `s.${item.code}`, autocapitalize: 'characters', autocomplete: 'off', spellcheck: 'false', value, disabled: !editable });
    const warning = h('p', { class: 'answer-error', role: 'alert', dataset: { seal: item.code }, hidden: true }, t('handover.seal_differs'));
    const check = () => {
      const checked = checkAnswer(item, input.value);
      warning.textContent = checked.ok ? t('handover.seal_differs') : t(checked.reason, checked.params);
      warning.hidden = checked.ok ? !sealDiffers(register, item.code, checked.value) : false;
    };
    input.addEventListener('input', () => { markDirty(); check(); });
    check();
    const block = labelled(textOf(item.label), input, { hint: last ? t('inspection.last_seal', { value: last.number, at: formatDateTime(last.at) }) : t('handover.no_last_seal') });
    block.append(warning);
    return { item, input, block };
  });
  const keys = h('textarea', { name: 'keys', rows: '2', value: fields.keys ?? '', disabled: !editable, on: { input: markDirty } });
  const handedOver = new Set(fields.incidents ?? (handover ? [] : openIncidents.map((i) => i.id)));
  const incidentChoices = editable
    ? h('fieldset', { class: 'checks', id: 'handover-incidents' }, h('legend', {}, t('handover.incidents')),
        openIncidents.length
          ? openIncidents.map((incident) => h('label', { class: 'check' },
              h('input', { type: 'checkbox', value: incident.id, checked: handedOver.has(incident.id), on: { change: (e) => {
                markDirty();
                if (e.target.checked) handedOver.add(incident.id);
                else handedOver.delete(incident.id);
              } } }),
              h('span', {}, incident.fields.title || categoryLabel(incident.fields.category))))
          : h('p', { class: 'empty' }, t('handover.no_incidents')))
    : null;
  const error = h('div', { class: 'error-box', role: 'alert', hidden: true, tabindex: '-1' });

  /** The form's content as a create (first time on this phone) or a patch of what it read. */
  async function save() {
    const values = {};
    for (const { item, input } of sealInputs) {
      const checked = checkAnswer(item, input.value);
      if (!checked.ok) {
        error.replaceChildren(h('p', {}, `${textOf(item.label)}: ${t(checked.reason, checked.params)}`));
        error.hidden = false;
        error.focus();
        return false;
      }
      if (checked.value !== (fields[`s.${item.code}`] ?? '')) values[`s.${item.code}`] = checked.value;
    }
    const keysText = keys.value.trim();
    if (keysText !== (fields.keys ?? '')) values.keys = keysText;
    const chosen = [...handedOver].sort();
    if (!handover || chosen.join() !== [...(fields.incidents ?? [])].sort().join()) values.incidents = chosen;
    if (!handover) {
      await ctx.enqueue({ id, collection: 'handovers', op: 'create', warehouse_id: warehouseId, fields: { outgoing_shift: shiftId, ...values } });
    } else if (Object.keys(values).length) {
      await ctx.enqueue({ id, collection: 'handovers', op: 'patch', warehouse_id: warehouseId, fields: values });
    }
    dirty = false;
    return true;
  }

  // --- confirmation, per side ---
  const confirmations = fields.confirmations ?? {};
  const acknowledged = new Set(confirmations.incoming?.acknowledged ?? []);
  const confirmButton = h('button', { type: 'button', class: 'button block', id: 'confirm-handover' }, t(`handover.confirm_${side ?? 'outgoing'}`));
  const blockerText = h('p', { class: 'hint', id: 'confirm-blocker' });
  const refreshBlocker = () => {
    // A handover not on this phone yet is saved by the confirmation itself (create, then confirm).
    const why = !side ? null : handover ? confirmBlocker(handover, side, me, acknowledged) : editable ? null : 'handover.save_first';
    blockerText.textContent = why ? t(why) : '';
    confirmButton.disabled = Boolean(why);
  };
  const handedList = (fields.incidents ?? []).map((incidentId) => {
    const incident = incidentsById.get(incidentId);
    const label = incident ? incident.fields.title || categoryLabel(incident.fields.category) : incidentId;
    if (side !== 'incoming' || confirmations.incoming) {
      return h('li', { dataset: { incident: incidentId } }, label, acknowledged.has(incidentId) ? ` · ${t('handover.acknowledged')}` : '');
    }
    return h('li', { dataset: { incident: incidentId } }, h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'acknowledge', value: incidentId, on: { change: (e) => {
        ticked = true;
        if (e.target.checked) acknowledged.add(incidentId);
        else acknowledged.delete(incidentId);
        refreshBlocker();
      } } }),
      h('span', {}, t('handover.acknowledge', { incident: label }))));
  });
  confirmButton.addEventListener('click', async () => {
    error.hidden = true;
    if (editable && (dirty || !handover) && !(await save())) return;
    const confirmFields = { side };
    if (side === 'incoming') confirmFields.acknowledged = [...acknowledged].sort();
    await ctx.enqueue({ id, collection: 'handovers', op: 'confirm', warehouse_id: warehouseId, fields: confirmFields });
    app.toast(t('handover.confirmed_toast'));
    await app.rerender({ keepFocus: true });
  });

  const confirmationLine = (which) => {
    const c = confirmations[which];
    return h('p', { class: 'small', dataset: { side: which, confirmed: String(Boolean(c)) } },
      `${t(`handover.side.${which}`)}: `,
      c ? t('handover.confirmed_by', { who: personLabel(ctx.people, c.user), time: formatDateTime(c.at) }) : t('handover.not_confirmed'));
  };
  const findings = fields.findings ?? [];
  const saveButton = editable
    ? h('button', { type: 'button', class: 'button block secondary', id: 'save-handover', on: { click: async () => {
        error.hidden = true;
        if (await save()) {
          app.toast(t('handover.saved'));
          await app.rerender({ keepFocus: true });
        }
      } } }, t('handover.save'))
    : null;
  const canConfirm = side && incoming?.fields.commander && !confirmations[side] && state !== 'confirmed';
  refreshBlocker();

  const refused = await refusedChanges(ctx, id);
  const node = h('section', { class: 'handover', dataset: { handover: id, state } },
    crumbs,
    h('h1', { tabindex: '-1' }, t('handover.title')),
    h('p', { class: 'muted small' }, warehouseOf(ctx, warehouseId)?.name ?? warehouseId),
    refused,
    h('div', { class: 'card' },
      h('p', {}, h('strong', {}, `${t('handover.side.outgoing')}: `), shiftLine(ctx, outgoing)),
      h('p', {}, h('strong', {}, `${t('handover.side.incoming')}: `), shiftLine(ctx, incoming)),
      h('p', { class: 'chips' }, h('span', { class: ['chip', state === 'confirmed' ? 'chip-good' : 'chip-warn'], id: 'handover-state', dataset: { state } }, t(`guard.handover.${state}`)),
        handover ? [' ', pendingBadge(handover)] : null),
      state === 'confirmed' ? h('p', { class: 'hint', id: 'handover-locked' }, t('handover.locked')) : null,
      !side ? h('p', { class: 'hint' }, t('handover.not_commander')) : null,
      side && !incoming?.fields.commander ? h('p', { class: 'hint warn-text' }, t('handover.incoming_unplanned')) : null),
    h('form', { class: 'card', novalidate: true, on: { submit: (e) => e.preventDefault() } },
      h('h2', {}, t('handover.seals')),
      sealInputs.length ? sealInputs.map((s) => s.block) : h('p', { class: 'empty' }, t('handover.no_seal_items')),
      findings.length ? h('p', { class: 'answer-error', id: 'seal-findings' }, t('handover.findings', { count: findings.length })) : null,
      labelled(t('handover.keys'), keys),
      incidentChoices,
      saveButton),
    handover ? notesSection(app, {
      record: handover,
      canAdd: editable,
      onAdd: (note) => ctx.enqueue({ id, collection: 'handovers', op: 'patch', warehouse_id: warehouseId, fields: { notes: [note] } }).then(() => app.rerender({ keepFocus: true })),
    }) : null,
    h('section', { class: 'card', id: 'handover-confirm' },
      h('h2', {}, t('handover.confirmation')),
      handedList.length ? [h('p', {}, t('handover.incidents_handed')), h('ul', { class: 'plain' }, handedList)] : null,
      confirmationLine('outgoing'),
      confirmationLine('incoming'),
      canConfirm ? [h('p', { class: 'hint' }, t('handover.confirm_hint')), blockerText, confirmButton] : null),
    error,
  );
  return {
    node,
    get live() {
      return !dirty && !ticked; // a refresh from a sync would lose them
    },
  };
}

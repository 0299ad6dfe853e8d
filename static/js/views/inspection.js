// The inspection form: the template's sections and items, saved on every change (each change is
// queued in the outbox at once, so a killed tab loses nothing), findings marked as they are made,
// required items enforced on submit. After submit it is read-only.

import { checkAnswer } from '../answers.js';
import { autosaver } from '../autosave.js';
import { h } from '../dom.js';
import { loadTemplate, warehouseOf } from '../context.js';
import {
  SHIFTS,
  YES_NO,
  answerField,
  canEditInspection,
  coInspectorState,
  expectedFor,
  findings,
  isFinding,
  missingRequired,
} from '../domain.js';
import { formatDateTime, formatNumber, formatTime, localized, t } from '../i18n.js';
import { localErrorText } from '../error-text.js';
import { choiceLabel, personLabel, shiftLabel } from '../labels.js';
import { conflictsFor, getRecord, warehouseData } from '../records.js';
import { formNavigator } from './inspection-nav.js';
import { pendingBadge, statusChip } from './warehouse.js';
import { choiceGroup, conflictList, labelled, notesSection, photoPicker } from './widgets.js';

/** The class that marks an answer which is a finding by the item's rule. */
function findingAnswer(item, value) {
  return (item.finding_if ?? []).includes(value) ? 'seg-finding-answer' : null;
}

function lastValue(inspections, selfId, field) {
  for (const inspection of inspections) {
    if (inspection.id === selfId) continue;
    const value = inspection.fields[field];
    if (value !== undefined && value !== null && value !== '') return { value, at: inspection.fields.started_at };
  }
  return null;
}

export async function render(app, { warehouseId, id }) {
  const { ctx } = app;
  const record = await getRecord(ctx.db, id, ctx.me);
  const back = h('p', { class: 'crumbs' }, h('a', { href: `#/w/${encodeURIComponent(warehouseId)}` }, warehouseOf(ctx, warehouseId)?.name ?? t('nav.back')));
  if (!record) return { node: h('section', {}, back, h('h1', { tabindex: '-1' }, t('inspection.not_found'))) };
  const template = await loadTemplate(ctx, record.fields.template_id);
  if (!template) return { node: h('section', {}, back, h('h1', { tabindex: '-1' }, t('inspection.no_template'))) };

  const data = await warehouseData(ctx.db, warehouseId, ctx.me);
  const conflicts = await conflictsFor(ctx.db, id);
  const editable = canEditInspection(ctx.me, record);
  const fields = { ...record.fields };
  const itemViews = new Map();
  const saver = autosaver(ctx.db, `inspection:${id}`, (name, value) =>
    ctx.enqueue(
      // base_rev: the revision this screen was drawn from (see views/incident.js).
      { id, collection: 'inspections', op: 'patch', warehouse_id: warehouseId, fields: { [name]: value }, base_rev: record.revision },
      { coalesce: true },
    ),
  );
  if (editable) Object.assign(fields, await saver.recover(fields));

  // Shows the officer that the last change is stored on the phone (data-state: saving | saved).
  const saveState = h('span', { class: 'save-state', 'aria-live': 'polite', dataset: { state: 'idle' } }, t('inspection.autosave'));
  let saving = 0;

  /** Save a change of one field: kept on the phone at once, queued (typing: after a pause). */
  function save(name, value, { debounce = false } = {}) {
    fields[name] = value;
    saving += 1;
    saveState.dataset.state = 'saving';
    saveState.textContent = t('inspection.saving');
    refreshSummary();
    return saver
      .change(name, value, { debounce })
      .then(() => {
        saving -= 1;
        if (saving === 0) {
          saveState.dataset.state = 'saved';
          saveState.textContent = t('inspection.saved', { time: formatTime(Date.now()) });
        }
      })
      .catch((error) => app.toast(localErrorText(error), 'error'));
  }

  function markFinding(item) {
    const view = itemViews.get(item.code);
    if (!view) return;
    const finding = isFinding(item, fields[answerField(item)], expectedFor(item, data.stockLevels));
    view.el.classList.toggle('is-finding', finding);
    view.badge.hidden = !finding;
    view.el.classList.remove('is-missing');
  }

  function itemControl(item) {
    const field = answerField(item);
    const value = fields[field];
    // The server's answer rules, checked before queueing: an answer it would refuse stays on
    // the screen with the reason, and is queued once it is valid.
    const onChange = (next, options) => {
      const checked = checkAnswer(item, next);
      const error = itemViews.get(item.code)?.error;
      if (error) {
        error.hidden = checked.ok;
        error.textContent = checked.ok ? '' : t('inspection.answer_invalid', { reason: t(checked.reason, checked.params) });
        itemViews.get(item.code).el.classList.toggle('is-invalid', !checked.ok);
      }
      if (!checked.ok) return Promise.resolve();
      const saved = save(field, checked.value, options);
      markFinding(item);
      return saved;
    };
    switch (item.kind) {
      case 'yes_no':
        return choiceGroup({
          legend: localized(item.label),
          required: item.required,
          value,
          disabled: !editable,
          // The answer that is a finding is marked on its button, so a tap on it is never a surprise.
          options: YES_NO.map((v) => ({ value: v, label: t(`answer.${v}`), className: [`seg-${v}`, findingAnswer(item, v)] })),
          onChange,
        });
      case 'choice':
        return choiceGroup({
          legend: localized(item.label),
          required: item.required,
          value,
          disabled: !editable,
          extraClass: 'choice-wrap',
          options: item.choices.map((v) => ({ value: v, label: choiceLabel(item, v), className: findingAnswer(item, v) })),
          onChange,
        });
      case 'number': {
        const expected = expectedFor(item, data.stockLevels);
        const diff = h('p', { class: 'diff', 'aria-live': 'polite' });
        const showDiff = (n) => {
          if (expected === null || typeof n !== 'number') {
            diff.textContent = '';
            return;
          }
          const d = n - expected;
          diff.textContent = t('inspection.difference', { diff: `${d > 0 ? '+' : ''}${formatNumber(d)}` });
          diff.classList.toggle('diff-bad', Math.abs(d) > (item.tolerance ?? 0));
        };
        const input = h('input', {
          type: 'number',
          inputmode: item.integer === false ? 'decimal' : 'numeric',
          step: item.integer === false ? 'any' : '1',
          min: item.min === null ? undefined : String(item.min ?? 0),
          max: item.max === null || item.max === undefined ? undefined : String(item.max),
          value: typeof value === 'number' ? String(value) : '',
          disabled: !editable,
          on: {
            input: () => {
              const n = input.value === '' ? null : Number(input.value);
              showDiff(n);
              onChange(Number.isFinite(n) ? n : null, { debounce: true });
            },
            change: () => saver.flush(),
          },
        });
        showDiff(typeof value === 'number' ? value : null);
        const hint = expected !== null
          ? t('inspection.expected', { value: formatNumber(expected), unit: localized(item.unit), tolerance: item.tolerance ?? 0 })
          : localized(item.help);
        const block = labelled(localized(item.label), input, { hint, required: item.required });
        block.append(diff);
        return block;
      }
      case 'seal':
      case 'text': {
        const input = item.kind === 'text'
          ? h('textarea', { rows: '3', value: value ?? '', disabled: !editable })
          : h('input', { type: 'text', autocapitalize: 'characters', autocomplete: 'off', spellcheck: 'false', value: value ?? '', disabled: !editable });
        input.addEventListener('input', () => onChange(input.value, { debounce: true }));
        input.addEventListener('change', () => saver.flush());
        let hint = localized(item.help);
        if (item.kind === 'seal') {
          const last = lastValue(data.inspections, id, field);
          if (last) hint = t('inspection.last_seal', { value: last.value, at: formatDateTime(last.at) });
        }
        return labelled(localized(item.label), input, { hint, required: item.required });
      }
      case 'photo':
        return photoPicker(ctx, {
          label: localized(item.label),
          required: item.required,
          hashes: Array.isArray(value) ? value : [],
          disabled: !editable,
          onAdd: (sha, all) => onChange(all),
          onRemove: (sha, all) => onChange(all),
        });
      default:
        return h('p', {}, localized(item.label));
    }
  }

  function itemView(item) {
    const badge = h('span', { class: 'badge-finding', hidden: true }, t('inspection.finding'));
    const error = h('p', { class: 'answer-error', role: 'alert', hidden: true });
    const el = h('div', { class: 'item', id: `item-${item.code}`, dataset: { kind: item.kind, code: item.code } }, badge);
    itemViews.set(item.code, { el, badge, error });
    el.append(itemControl(item), error);
    if (item.help && item.kind !== 'number' && item.kind !== 'seal' && item.kind !== 'text') {
      el.append(h('p', { class: 'hint' }, localized(item.help)));
    }
    return el;
  }

  // --- header ---
  const inspector = ctx.people.get(fields.inspector_id ?? record.created_by);
  const shift = h(
    'select',
    { disabled: !editable, on: { change: (e) => save('shift', e.target.value) } },
    SHIFTS.map((s) => h('option', { value: s, selected: fields.shift === s }, shiftLabel(s))),
  );

  // Ticking adds a co-inspector, unticking removes one (the list goes out whole, like photos). One
  // no longer assigned to this warehouse stays listed, so a wrong pick can still be unticked.
  const colleagues = (ctx.colleagues[warehouseId] ?? []).filter((p) => p.id !== ctx.me.id);
  for (const personId of fields.co_inspectors ?? []) {
    if (personId !== ctx.me.id && !colleagues.some((p) => p.id === personId)) colleagues.push({ id: personId });
  }
  colleagues.sort((a, b) => Number(a.agency === ctx.me.agency) - Number(b.agency === ctx.me.agency));
  const coInspectors = new Set(fields.co_inspectors ?? []);
  const coBox = h(
    'fieldset',
    { class: 'checks' },
    h('legend', {}, t('inspection.co_inspectors')),
    colleagues.length
      ? colleagues.map((person) =>
          h(
            'label',
            { class: 'check' },
            h('input', {
              type: 'checkbox',
              value: person.id,
              checked: coInspectors.has(person.id),
              disabled: !editable,
              on: {
                change: (e) => {
                  if (e.target.checked) coInspectors.add(person.id);
                  else coInspectors.delete(person.id);
                  save('co_inspectors', [...coInspectors]);
                },
              },
            }),
            h('span', {}, personLabel(ctx.people, person.id)),
            coInspectors.has(person.id) ? confirmationChip(person.id) : null,
          ),
        )
      : h('p', { class: 'empty' }, t('inspection.no_colleagues')),
  );

  // A listed co-inspector signs only by confirming from their own account (queued like any edit).
  const myPart = coInspectorState(record, ctx.me.id);
  const confirmCard = myPart && fields.status !== 'reviewed'
    ? h('section', { class: 'card confirm-card', id: 'co-inspector-confirm' },
        h('p', {}, t('inspection.co_inspectors'), ': ', personLabel(ctx.people, ctx.me.id), ' ', confirmationChip(ctx.me.id)),
        myPart === 'pending'
          ? [h('p', { class: 'hint' }, t('inspection.confirm_part_hint')),
             h('button', { type: 'button', class: 'button', id: 'confirm-part', on: { click: async () => {
               await ctx.enqueue({ id, collection: 'inspections', op: 'confirm', warehouse_id: warehouseId, fields: {} });
               app.toast(t('inspection.confirmed_part'));
               app.rerender();
             } } }, t('inspection.confirm_part'))]
          : null)
    : null;

  function confirmationChip(personId) {
    const at = fields.confirmations?.[personId]?.at;
    return at
      ? h('span', { class: 'chip chip-good co-confirmed', dataset: { person: personId } }, t('inspection.co_confirmed', { time: formatDateTime(at) }))
      : h('span', { class: 'chip chip-warn co-pending', dataset: { person: personId } }, t('inspection.co_pending'));
  }

  // --- sections ---
  const sectionEls = new Map(template.sections.map((section) => [
    section.code,
    h('section', { class: 'tpl-section', id: `section-${section.code}` }, h('h2', { tabindex: '-1' }, localized(section.title)), section.items.map(itemView)),
  ]));
  for (const item of template.sections.flatMap((s) => s.items)) markFinding(item);

  // --- summary, general photos, notes ---
  const summaryText = h('textarea', { rows: '3', value: fields.summary ?? '', disabled: !editable });
  summaryText.addEventListener('input', () => save('summary', summaryText.value, { debounce: true }));
  summaryText.addEventListener('change', () => saver.flush());

  const findingsBox = h('p', { class: 'findings-summary', 'aria-live': 'polite' });
  const summarySection = h(
    'section',
    { class: 'tpl-section', id: 'inspection-summary' },
    h('h2', { tabindex: '-1' }, t('inspection.summary_title')),
    findingsBox,
    labelled(t('inspection.summary'), summaryText),
    photoPicker(ctx, {
      label: t('inspection.general_photos'),
      hashes: fields.photos ?? [],
      disabled: !editable,
      onAdd: (sha, all) => save('photos', all),
      onRemove: (sha, all) => save('photos', all),
    }),
  );
  const formNav = formNavigator({
    template,
    stockLevels: data.stockLevels,
    editable,
    sectionEl: (code) => sectionEls.get(code),
    itemEl: (code) => itemViews.get(code)?.el,
    focusItem,
    saveState,
    summaryEl: summarySection,
  });
  function refreshSummary() {
    const found = findings(template, fields, data.stockLevels);
    findingsBox.textContent = found.length ? t('inspection.findings_now', { count: found.length }) : t('inspection.no_findings');
    findingsBox.classList.toggle('has-findings', found.length > 0);
    formNav.refresh(fields);
  }
  refreshSummary();

  const errorBox = h('div', { class: 'error-box', role: 'alert', hidden: true, tabindex: '-1' });

  async function submit() {
    await saver.flush();
    const missing = missingRequired(template, fields);
    if (missing.length) {
      errorBox.replaceChildren(
        h('p', {}, t('inspection.missing', { count: missing.length })),
        h('ul', {}, missing.map((item) =>
          h('li', {}, h('a', { href: `#/w/${encodeURIComponent(warehouseId)}/inspection/${id}`, on: { click: (e) => { e.preventDefault(); focusItem(item.code); } } }, localized(item.label))),
        )),
      );
      errorBox.hidden = false;
      for (const item of missing) itemViews.get(item.code)?.el.classList.add('is-missing');
      errorBox.focus();
      return;
    }
    errorBox.hidden = true;
    const dialog = document.getElementById('confirm-submit') ?? buildConfirm();
    dialog.showModal();
  }

  function buildConfirm() {
    const dialog = h(
      'dialog',
      { id: 'confirm-submit', 'aria-labelledby': 'confirm-submit-title' },
      h('h2', { id: 'confirm-submit-title' }, t('inspection.confirm_title')),
      h('p', {}, t('inspection.confirm_text')),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: 'button', on: { click: async () => {
          dialog.close();
          await ctx.enqueue({ id, collection: 'inspections', op: 'submit', warehouse_id: warehouseId, fields: {} });
          app.toast(t('inspection.submitted'));
          dialog.remove();
          app.rerender();
        } } }, t('inspection.confirm_yes')),
        h('button', { type: 'button', class: 'button ghost', on: { click: () => dialog.close() } }, t('common.cancel')),
      ),
    );
    document.body.append(dialog);
    return dialog;
  }

  function focusItem(code) {
    const el = itemViews.get(code)?.el;
    el?.scrollIntoView({ block: 'center' });
    el?.querySelector('input, textarea, select')?.focus({ preventScroll: true });
  }

  let readonlyText = null;
  if (fields.status === 'reviewed') readonlyText = t('inspection.locked');
  else if (!editable) readonlyText = fields.status === 'submitted' ? t('inspection.readonly_submitted') : t('inspection.readonly_other');
  const readonlyNote = readonlyText
    ? h('p', { class: ['notice', fields.status === 'reviewed' ? 'locked' : null], id: 'inspection-readonly' }, readonlyText)
    : null;

  const node = h(
    'section',
    { class: ['inspection', editable ? 'editable' : 'readonly'] },
    back,
    h('h1', { tabindex: '-1' }, localized(template.title)),
    h(
      'div',
      { class: 'card meta-card' },
      h('p', {}, statusChip('inspections', fields.status), ' ', pendingBadge(record)),
      h('p', { class: 'muted small' }, t('inspection.started', { at: formatDateTime(fields.started_at) })),
      inspector ? h('p', { class: 'muted small' }, t('inspection.inspector', { name: personLabel(ctx.people, inspector.id) })) : null,
      fields.status === 'needs_fix' && fields.review_comment ? h('p', { class: 'notice' }, t('inspection.review_comment', { text: fields.review_comment })) : null,
      labelled(t('inspection.shift'), shift),
      readonlyNote,
    ),
    conflicts.length ? h('section', { class: 'card' }, h('h2', {}, t('conflict.title')), conflictList(ctx, conflicts, () => template)) : null,
    confirmCard,
    coBox,
    [...sectionEls.values()],
    summarySection,
    notesSection(app, {
      record,
      onAdd: (entry) =>
        ctx.enqueue({ id, collection: 'inspections', op: 'patch', warehouse_id: warehouseId, fields: { notes: [entry] } }, { coalesce: true })
          .then(() => app.rerender({ keepFocus: true })),
    }),
    errorBox,
    editable
      ? h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'button block', id: 'submit-inspection', on: { click: submit } }, t('inspection.submit')))
      : null,
    formNav.bar,
    formNav.dialog,
  );

  return {
    node,
    flush: () => saver.flush(),
    cleanup: () => {
      saver.flush();
      document.getElementById('confirm-submit')?.remove();
    },
  };
}

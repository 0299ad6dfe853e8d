// Form pieces shared by the screens: labelled fields, button-like radio groups, the photo picker,
// a confirmation dialog, notes, and the conflict list (server value next to mine).

import { h, uniqueId } from '../dom.js';
import { formatDateTime, t } from '../i18n.js';
import { localErrorText } from '../error-text.js';
import { fieldLabel, opLabel, personLabel, rejectionText, statusLabel, valueLabel } from '../labels.js';
import { PhotoError, addPhoto, forgetPhoto, photoUrl } from '../photos.js';
import { uuid7 } from '../uuid7.js';

/** A label + control (+ optional hint) block. The control gets an id the label points to. */
export function labelled(label, control, { hint, required = false } = {}) {
  const id = control.id || uniqueId('f');
  control.id = id;
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h(
    'div',
    { class: 'field' },
    h('label', { htmlFor: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control,
    hintEl,
  );
}

/**
 * Radio buttons that look like big toggle buttons: one tap, thumb-sized, keyboard usable
 * (arrow keys move within the group, as for any radio group).
 */
export function choiceGroup({ legend, options, value, onChange, disabled = false, required = false, name = uniqueId('g'), extraClass }) {
  const inputs = options.map((option) =>
    h(
      'label',
      { class: ['seg', option.className] },
      h('input', {
        type: 'radio',
        name,
        value: option.value,
        checked: value === option.value,
        disabled,
        on: { change: (event) => event.target.checked && onChange(option.value) },
      }),
      h('span', {}, option.label),
    ),
  );
  return h(
    'fieldset',
    { class: ['choice', extraClass] },
    h('legend', {}, legend, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    h('div', { class: 'segs' }, inputs),
  );
}

function photoErrorText(error) {
  if (error instanceof PhotoError) {
    const mb = error.detail.size ? (error.detail.size / 1024 / 1024).toFixed(1) : '';
    return t(`photo.${error.code}`, { size: mb });
  }
  // Not the photo (decoding fails as a PhotoError): the phone could not keep it.
  return localErrorText(error);
}

/**
 * Thumbnails of photo hashes (local blob, else the server's thumbnail). With onRemove, each has a
 * "Hapus" button: onRemove(sha, img).
 */
export function thumbnails(ctx, hashes, onRemove) {
  const list = h('ul', { class: 'thumbs' });
  hashes.forEach((sha, index) => {
    const img = h('img', { alt: t('photo.alt', { n: index + 1 }), width: '96', height: '96', dataset: { sha } });
    const remove = onRemove
      ? h('button', {
          type: 'button',
          class: 'button small ghost thumb-remove',
          'aria-label': t('photo.remove_label', { n: index + 1 }),
          on: { click: () => onRemove(sha, img) },
        }, t('photo.remove'))
      : null;
    list.append(h('li', { class: 'thumb', dataset: { sha } }, img, remove));
    photoUrl(ctx.db, ctx.api, sha).then((url) => {
      if (url) img.src = url;
      else img.replaceWith(h('span', { class: 'thumb-missing', title: sha }, t('photo.not_here')));
    });
  });
  return list;
}

/** Ask before a step that cannot be undone; resolves true when the officer confirms. */
export function confirmDialog({ title, text, yes, media = null }) {
  return new Promise((resolve) => {
    const titleId = uniqueId('confirm');
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      media,
      text ? h('p', {}, text) : null,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', class: 'button danger', on: { click: () => dialog.close('yes') } }, yes),
        h('button', { type: 'button', class: 'button ghost', on: { click: () => dialog.close() } }, t('common.cancel')),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Photo picker: camera input + thumbnails. onAdd(sha, all) is awaited for each compressed photo.
 * With onRemove, each thumbnail can be removed after a confirmation: onRemove(sha, all) gets the
 * list without it (like onAdd, the whole list as the phone shows it), then the blob is dropped
 * if nothing else on the phone refers to it.
 */
export function photoPicker(ctx, { label, hashes = [], onAdd, onRemove, disabled = false, required = false }) {
  const current = [...hashes];
  const wrap = h('div', { class: 'photo-picker' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  const removable = onRemove && !disabled;
  let thumbs = thumbnails(ctx, current, removable ? remove : null);
  const redraw = () => {
    const next = thumbnails(ctx, current, removable ? remove : null);
    thumbs.replaceWith(next);
    thumbs = next;
  };

  async function remove(sha, img) {
    const preview = img.src ? h('img', { class: 'confirm-photo', src: img.src, alt: img.alt }) : null;
    const yes = await confirmDialog({ title: t('photo.remove_title'), text: t('photo.remove_text'), yes: t('photo.remove_yes'), media: preview });
    if (!yes || !current.includes(sha)) return;
    current.splice(current.indexOf(sha), 1);
    redraw();
    status.textContent = t('photo.removed');
    input.focus();
    try {
      await onRemove(sha, [...current]);
      await forgetPhoto(ctx.db, sha);
    } catch (err) {
      error.textContent = localErrorText(err);
      error.hidden = false;
    }
  }

  const input = h('input', {
    type: 'file',
    accept: 'image/*',
    capture: 'environment',
    multiple: true,
    class: 'file-input',
    disabled,
    on: {
      change: async () => {
        error.hidden = true;
        const files = [...input.files];
        input.value = '';
        for (const file of files) {
          status.textContent = t('photo.processing');
          try {
            const sha = await addPhoto(ctx.db, file);
            if (!current.includes(sha)) {
              current.push(sha);
              await onAdd(sha, [...current]);
            }
          } catch (err) {
            error.textContent = photoErrorText(err);
            error.hidden = false;
          }
        }
        status.textContent = current.length ? t('photo.count', { count: current.length }) : '';
        redraw();
      },
    },
  });
  const id = uniqueId('photo');
  input.id = id;
  input.setAttribute('aria-label', `${label}: ${t('photo.take')}`);
  append(wrap, [
    h('span', { class: 'label' }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    thumbs,
    disabled ? null : h('label', { class: 'button secondary file-button', htmlFor: id }, t('photo.take'), input),
    status,
    error,
  ]);
  return wrap;
}

function append(el, children) {
  for (const child of children) if (child) el.append(child);
}

/** Notes (append-only): the list and a box to add one. The typed text is kept as a draft. */
export function notesSection(app, { record, onAdd, canAdd = true }) {
  const { ctx } = app;
  const notes = Array.isArray(record.fields.notes) ? record.fields.notes : [];
  const draftKey = `note:${record.id}`;
  const text = h('textarea', { rows: '3', name: 'note' });
  ctx.db.get('drafts', draftKey).then((draft) => {
    if (draft && !text.value) text.value = draft.text;
  });
  text.addEventListener('input', () => ctx.db.put('drafts', { key: draftKey, text: text.value, at: Date.now() }));
  const add = h('button', {
    type: 'button',
    class: 'button secondary',
    on: {
      click: async () => {
        const value = text.value.trim();
        if (!value) {
          text.focus();
          return;
        }
        await onAdd({ id: uuid7(), text: value });
        text.value = '';
        await ctx.db.delete('drafts', draftKey);
        app.toast(t('notes.added'));
      },
    },
  }, t('notes.add'));
  return h(
    'section',
    { class: 'notes' },
    h('h2', {}, t('notes.title')),
    notes.length
      ? h(
          'ul',
          { class: 'rows' },
          notes.map((note) =>
            h(
              'li',
              { class: 'note' },
              h('p', {}, note.text),
              note.by || note.at
                ? h('p', { class: 'muted small' }, [personLabel(ctx.people, note.by), formatDateTime(note.at)].filter(Boolean).join(' · '))
                : null,
            ),
          ),
        )
      : h('p', { class: 'empty' }, t('notes.none')),
    canAdd ? labelled(t('notes.new'), text) : null,
    canAdd ? add : null,
  );
}

/** Conflicts: for each, the field, the server's value and mine, side by side. */
export function conflictList(ctx, conflicts, templateFor) {
  if (!conflicts.length) return null;
  return h(
    'ul',
    { class: 'conflicts' },
    conflicts.map((conflict) => {
      const f = conflict.fields;
      const template = templateFor?.(conflict);
      // Which value the record holds now: the one already there ("server"), or the incoming one
      // when it won by its later stamp ("client"). Labelled by who wrote it, so each author's
      // phone says correctly whose value is in force and whose waits for a decision.
      // Once decided, only the value decided on is in force (a third value: neither side).
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      const clientWon = f.winner === 'client';
      const side = (which, value, by) => {
        const inForce = f.status === 'resolved' ? same(value, f.resolution) : (which === 'client') === clientWon;
        const label = inForce ? t('conflict.in_force') : f.status === 'open' ? t('conflict.awaiting') : t('conflict.kept');
        const yours = by && by === ctx.me?.id;
        return h('div', { class: ['conflict-side', `conflict-${which}`, inForce ? 'in-force' : 'not-in-force'], dataset: { side: which, inForce: String(inForce) } },
          h('dt', {}, label, yours ? h('span', { class: 'chip chip-mine' }, t('conflict.yours')) : null),
          h('dd', {}, h('span', { class: 'value' }, valueLabel(f.field ?? '', value, template)),
            by ? h('span', { class: 'muted small' }, ` — ${personLabel(ctx.people, by)}`) : null));
      };
      return h(
        'li',
        { class: ['conflict', `conflict-${f.status}`], dataset: { field: f.field ?? '', id: conflict.id, status: f.status ?? '' } },
        h(
          'p',
          { class: 'conflict-title' },
          h('strong', {}, fieldLabel(f.record_collection, f.field ?? '', template)),
          ' ',
          h('span', { class: ['chip', `status-${f.status}`] }, statusLabel('conflicts', f.status)),
        ),
        h('dl', { class: 'conflict-values' }, side('server', f.server_value, f.server_by), side('client', f.client_value, f.client_by)),
        f.status === 'open' ? h('p', { class: 'hint' }, t('conflict.open_hint')) : null,
        f.resolution !== undefined && f.resolution !== null && f.status === 'resolved'
          ? h('p', { class: 'hint' }, t('conflict.resolution', { value: valueLabel(f.field ?? '', f.resolution, template) }))
          : null,
      );
    }),
  );
}

/**
 * The changes of one record the server refused, told where the officer made them: what was done
 * and why, by the refusal's code in the page's language (never the server's own sentence), with
 * the way to the sync page, which lists them all and lets the officer set them aside. Null when
 * none.
 */
export async function refusedChanges(ctx, recordId) {
  const refused = (await ctx.db.getAll('outbox')).filter((entry) => entry.state === 'rejected' && entry.id === recordId);
  if (!refused.length) return null;
  return h(
    'div',
    { class: 'error-box refused-changes', role: 'alert', dataset: { record: recordId } },
    refused.map((entry) =>
      h('p', { class: 'rejected-reason', dataset: { code: entry.result?.code ?? '', seq: entry.seq } },
        t('refused.change', { what: opLabel(entry.op, entry.collection), time: formatDateTime(entry.created_at) }), ' ',
        h('strong', {}, rejectionText(entry.result?.code)))),
    h('a', { href: '#/sync' }, t('refused.open_sync')),
  );
}

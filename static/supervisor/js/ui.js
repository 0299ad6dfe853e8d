// Small UI pieces shared by the views: badges, toasts, dialogs, selects, empty states.

import { h } from '/js/dom.js';
import { t } from '/js/i18n.js';

export function badge(kind, text, extra = {}) {
  return h('span', { class: ['badge', `badge-${kind}`], ...extra }, text);
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toast');
  const item = h('div', { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9000 : 4500);
}

export function select(label, options, value, onChange, attrs = {}) {
  const control = h(
    'select',
    { ...attrs, on: { change: (event) => onChange(event.target.value) } },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
  );
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control);
}

export function input(label, attrs = {}) {
  const control = h(attrs.multiline ? 'textarea' : 'input', { ...attrs, multiline: undefined });
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control);
}

export const empty = (text) => h('p', { class: 'empty' }, text);

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
}

/**
 * A modal form: resolves to the FormData-like object of its fields, or null when cancelled.
 * fields: [{name, label, type: 'text'|'textarea'|'number', required, value}]
 */
export function formDialog({ title, text, fields = [], submit, danger = false }) {
  return new Promise((resolve) => {
    const controls = fields.map((f) => {
      const attrs = { name: f.name, required: f.required, value: f.value ?? '', 'aria-label': f.label };
      // A choice among codes is a select of their words ([value, label] pairs), never a code to type.
      const control = f.options
        ? h('select', { name: f.name, required: f.required, 'aria-label': f.label }, f.options.map(([v, label]) => h('option', { value: v, selected: v === f.value }, label)))
        : f.type === 'textarea' ? h('textarea', { ...attrs, rows: 3 }) : h('input', { ...attrs, type: f.type ?? 'text', step: 'any' });
      return h('label', { class: 'field' }, h('span', { class: 'field-label' }, f.label), control);
    });
    const dialog = h(
      'dialog',
      { class: 'form-dialog' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', {}, title),
        text ? h('p', {}, text) : null,
        controls,
        h(
          'div',
          { class: 'actions' },
          h('button', { class: ['button', danger ? 'danger' : ''], value: 'ok', type: 'submit' }, submit ?? t('common.ok')),
          h('button', { class: 'button ghost', value: 'cancel', type: 'button', formnovalidate: true, on: { click: () => dialog.close('cancel') } }, t('common.cancel')),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok';
      const values = {};
      for (const el of dialog.querySelectorAll('[name]')) values[el.name] = el.value;
      dialog.remove();
      resolve(ok ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Announce a push result: applied, conflict (kept for review) or rejected (with its reason). */
export function reportResult(result, okText) {
  if (result.status === 'rejected') {
    toast(t('push.rejected', { message: result.message || result.code }), 'error');
    return false;
  }
  toast(result.status === 'conflict' ? t('push.conflict') : okText, result.status === 'conflict' ? 'warn' : 'ok');
  return true;
}

export function errorText(error) {
  if (error?.name === 'NetworkError') return t('error.network');
  return error?.message || String(error);
}

/** Download a file the server answers (with the session's token); the response, or null after
 * telling the user what went wrong. */
export async function downloadFile(ctx, path, params) {
  try {
    const response = await ctx.http.request('GET', path, { params, raw: true });
    const url = URL.createObjectURL(await response.blob());
    const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? path.split('/').pop();
    const link = h('a', { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return response;
  } catch (error) {
    toast(errorText(error), 'error');
    return null;
  }
}

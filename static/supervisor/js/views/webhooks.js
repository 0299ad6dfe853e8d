// Administration of alerts (unassigned admins): webhooks (list, add with a secret, remove) and the
// dead-letter list with replay. docs/alerts.md says what a delivery is.

import { h, replace } from '/js/dom.js';
import { formatDateTime, t } from '/js/i18n.js';
import { badge, empty, errorText, formDialog, section, toast } from '../ui.js';

export const EVENTS = ['incident.created', 'incident.severity_raised', 'incident.acknowledged', 'incident.resolved', 'inspection.findings', 'inspection.overdue', 'device.stale'];

/** The webhooks section of the admin page; null for an admin assigned to warehouses. */
export function webhooksSection(ctx) {
  if (ctx.me.user.warehouses.length) return null;
  const list = h('div', { class: 'table-wrap', id: 'webhooks' });
  const dead = h('div', { class: 'table-wrap', id: 'dead-letters' });

  async function guarded(work, okText) {
    try {
      await work();
      if (okText) toast(okText, 'ok');
    } catch (error) {
      toast(errorText(error), 'error');
    }
    await reload();
  }

  async function add() {
    const values = await formDialog({
      title: t('webhooks.new'),
      text: t('webhooks.new_text'),
      fields: [
        { name: 'url', label: t('webhooks.url'), required: true, type: 'url' },
        { name: 'events', label: `${t('webhooks.events')} (${EVENTS.join(', ')})`, required: true, value: 'incident.created, incident.severity_raised' },
        { name: 'warehouses', label: t('webhooks.warehouses'), value: '' },
        { name: 'secret', label: t('webhooks.secret'), type: 'password', required: true },
        { name: 'allow_private', label: t('webhooks.allow_private'), value: 'no' },
      ],
      submit: t('webhooks.add'),
    });
    if (!values) return;
    const split = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
    const body = { url: values.url.trim(), events: split(values.events), warehouses: split(values.warehouses), secret: values.secret, allow_private: ['ya', 'yes', 'y'].includes(values.allow_private.trim().toLowerCase()) };
    await guarded(() => ctx.http.post('/api/admin/webhooks', body), t('webhooks.added'));
  }

  async function reload() {
    const [hooks, letters] = await Promise.all([ctx.http.get('/api/admin/webhooks'), ctx.http.get('/api/admin/alerts/dead')]);
    replace(list, hooks.length ? h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('webhooks.url'), t('webhooks.events'), t('webhooks.warehouses'), ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, hooks.map((w) => h('tr', { dataset: { webhook: w.id } },
        h('td', { class: 'mono small' }, w.url, w.allow_private ? [' ', badge('warn', t('webhooks.private'))] : null),
        h('td', { class: 'small' }, w.events.join(', ')),
        h('td', { class: 'small' }, w.warehouses.map((id) => ctx.warehouses.get(id)?.name ?? id).join(', ') || t('admin.all_warehouses')),
        h('td', {}, h('button', { class: 'button ghost small', on: { click: () => remove(w) } }, t('webhooks.remove')))))))
      : empty(t('webhooks.none')));
    replace(dead, letters.length ? h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('webhooks.event'), t('webhooks.made'), t('webhooks.attempts'), t('webhooks.last_error'), ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, letters.map((d) => h('tr', { dataset: { delivery: d.id } },
        h('td', { class: 'small' }, d.event, h('br'), h('span', { class: 'muted mono' }, d.subject)),
        h('td', {}, formatDateTime(new Date(d.created_at * 1000).toISOString())),
        h('td', {}, String(d.attempts)),
        h('td', { class: 'small' }, d.last_error),
        h('td', {}, h('button', { class: 'button ghost small', on: { click: () => guarded(() => ctx.http.post(`/api/admin/alerts/dead/${d.id}/replay`, {}), t('webhooks.replayed')) } }, t('webhooks.replay')))))))
      : empty(t('webhooks.no_dead')));
  }

  async function remove(w) {
    const ok = await formDialog({ title: t('webhooks.remove_title'), text: w.url, submit: t('webhooks.remove'), danger: true });
    if (ok) await guarded(() => ctx.http.delete(`/api/admin/webhooks/${w.id}`), t('webhooks.removed'));
  }

  const box = h('div', {},
    section(t('webhooks.title'), h('p', { class: 'muted small' }, t('webhooks.hint')),
      h('div', { class: 'actions' }, h('button', { class: 'button', id: 'webhook-add', on: { click: add } }, t('webhooks.add'))), list),
    section(t('webhooks.dead'), h('p', { class: 'muted small' }, t('webhooks.dead_hint')), dead));
  reload().catch((error) => toast(errorText(error), 'error'));
  return box;
}

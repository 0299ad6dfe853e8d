// The always-visible status line: online or not, what is waiting, when we last synced, and
// whether anything needs the officer's attention. Tapping it opens #/sync.

import { h, replace } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { summary } from '../outbox.js';
import { allConflicts } from '../records.js';
import { OFFSET_KEY, clockIsOff } from '../server-time.js';

export async function renderStatusBar(app, el) {
  const online = navigator.onLine;
  const parts = [
    h('span', { class: ['dot', online ? 'dot-online' : 'dot-offline'], 'aria-hidden': 'true' }),
    h('span', { class: 'status-net', dataset: { state: online ? 'online' : 'offline' } }, online ? t('status.online') : t('status.offline')),
  ];
  const { ctx } = app;
  if (ctx) {
    const [{ pending, rejected }, conflicts, lastSync, clockOffset] = await Promise.all([
      summary(ctx.db),
      allConflicts(ctx.db),
      ctx.db.get('meta', 'last_sync'),
      ctx.db.get('meta', OFFSET_KEY),
    ]);
    const open = conflicts.filter((c) => c.fields.status === 'open').length;
    if (ctx.sync.syncing) parts.push(h('span', { class: 'status-syncing' }, t('status.syncing')));
    parts.push(
      h(
        'span',
        { class: 'status-pending', dataset: { count: pending } },
        pending ? t('status.pending', { count: pending }) : t('status.all_sent'),
      ),
    );
    parts.push(
      h('span', { class: 'status-last' }, lastSync ? t('status.last_sync', { time: formatTime(lastSync) }) : t('status.never')),
    );
    if (open) parts.push(h('span', { class: 'status-alert status-conflicts', dataset: { count: open } }, t('status.conflicts', { count: open })));
    if (rejected.length) {
      parts.push(h('span', { class: 'status-alert status-rejected', dataset: { count: rejected.length } }, t('status.rejected', { count: rejected.length })));
    }
    if (app.sessionExpired) parts.push(h('span', { class: 'status-alert' }, t('status.session_expired')));
    if (app.upgradeRequired) parts.push(h('span', { class: 'status-alert' }, t('status.upgrade_required')));
    if (clockIsOff(clockOffset)) parts.push(h('span', { class: 'status-alert status-clock' }, t('status.clock_off')));
  }
  parts.push(h('span', { class: 'sr-only' }, t('status.open_details')));
  replace(el, ...parts);
}

// Sync status: connection, last sync, what is still waiting, conflicts (the server's value next
// to mine) and changes the server refused (with its code and message).

import { h } from '../dom.js';
import { templateOf } from '../context.js';
import { formatDateTime, formatDuration, t } from '../i18n.js';
import { collectionLabel, opLabel } from '../labels.js';
import { allEntries, dismiss } from '../outbox.js';
import { allConflicts } from '../records.js';
import { OFFSET_KEY, clockIsOff } from '../server-time.js';
import { conflictList } from './widgets.js';

function recordLink(ctx, collection, id, warehouseId) {
  if (!warehouseId) return null;
  const base = `#/w/${encodeURIComponent(warehouseId)}`;
  if (collection === 'inspections') return `${base}/inspection/${id}`;
  if (collection === 'incidents') return `${base}/incident/${id}`;
  if (collection === 'stock_counts') return `${base}/stock`;
  return base;
}

export async function render(app) {
  const { ctx } = app;
  const [entries, conflicts, lastSync, lastError, photos, clockOffset] = await Promise.all([
    allEntries(ctx.db),
    allConflicts(ctx.db),
    ctx.db.get('meta', 'last_sync'),
    ctx.db.get('meta', 'last_error'),
    ctx.db.getAll('photos'),
    ctx.db.get('meta', OFFSET_KEY),
  ]);
  const refusedPhotos = photos.filter((photo) => photo.refused);
  const pending = entries.filter((e) => e.state === 'pending');
  const rejected = entries.filter((e) => e.state === 'rejected');
  const open = conflicts.filter((c) => c.fields.status === 'open');
  const closed = conflicts.filter((c) => c.fields.status !== 'open');
  const templateFor = (conflict) => (conflict.fields.record_collection === 'inspections' ? templateOf(ctx) : null);
  const records = new Map((await ctx.db.getAll('records')).map((r) => [r.id, r]));

  const syncButton = h('button', { type: 'button', class: 'button block', id: 'sync-now', disabled: !navigator.onLine, on: { click: async () => {
    syncButton.disabled = true;
    syncButton.textContent = t('status.syncing');
    await ctx.sync.now('manual');
    app.rerender({ keepFocus: true });
  } } }, navigator.onLine ? t('sync.now') : t('sync.offline'));

  const entryRow = (entry, extra) =>
    h(
      'li',
      { class: 'row-plain entry', dataset: { seq: entry.seq, state: entry.state } },
      h('span', {}, `#${entry.seq} · ${collectionLabel(entry.collection)} · ${opLabel(entry.op)}`),
      h('span', { class: 'muted small' }, formatDateTime(entry.created_at), entry.attempts ? ` · ${t('sync.attempts', { count: entry.attempts })}` : ''),
      extra,
    );

  const node = h(
    'section',
    { class: 'sync-view' },
    h('h1', { tabindex: '-1' }, t('sync.title')),
    h(
      'div',
      { class: 'card' },
      h('dl', { class: 'facts' },
        h('dt', {}, t('sync.connection')), h('dd', {}, navigator.onLine ? t('status.online') : t('status.offline')),
        h('dt', {}, t('sync.last')), h('dd', { id: 'last-sync', dataset: { at: lastSync ?? 0 } }, lastSync ? formatDateTime(lastSync) : t('status.never')),
        h('dt', {}, t('sync.pending')), h('dd', { id: 'pending-count' }, String(pending.length)),
        lastError ? [h('dt', {}, t('sync.last_error')), h('dd', {}, `${lastError.code}: ${lastError.message}`)] : null,
      ),
      app.sessionExpired ? h('p', { class: 'notice' }, t('sync.session_expired'), ' ', h('a', { href: '#/login' }, t('login.again_title'))) : null,
      app.upgradeRequired ? h('p', { class: 'notice' }, t('sync.upgrade_required')) : null,
      // The phone's date is wrong: say so (the app works anyway, with the server's time).
      clockIsOff(clockOffset)
        ? h('p', { class: 'notice', id: 'clock-notice', dataset: { offset: clockOffset } },
            t(clockOffset < 0 ? 'sync.clock_ahead' : 'sync.clock_behind', { amount: formatDuration(clockOffset) }))
        : null,
      syncButton,
      h('p', { class: 'hint' }, t('sync.explain')),
    ),
    h('h2', {}, t('sync.conflicts_open', { count: open.length })),
    open.length ? conflictList(ctx, open, templateFor) : h('p', { class: 'empty' }, t('sync.no_conflicts')),
    open.length ? h('ul', { class: 'links' }, open.map((c) => {
      const href = recordLink(ctx, c.fields.record_collection, c.fields.record_id, c.warehouse_id);
      return href ? h('li', {}, h('a', { href }, t('sync.open_record', { what: collectionLabel(c.fields.record_collection) }))) : null;
    })) : null,
    h('h2', {}, t('sync.rejected', { count: rejected.length })),
    rejected.length
      ? h('ul', { class: 'rows' }, rejected.map((entry) =>
          entryRow(entry, [
            h('p', { class: 'rejected-reason' }, h('code', {}, entry.result?.code ?? ''), ' ', entry.result?.message ?? ''),
            h('button', { type: 'button', class: 'button ghost small', on: { click: async () => {
              await dismiss(ctx.db, entry.seq);
              app.rerender({ keepFocus: true });
              ctx.sync.status();
            } } }, t('sync.dismiss')),
          ]),
        ))
      : h('p', { class: 'empty' }, t('sync.no_rejected')),
    refusedPhotos.length
      ? h('ul', { class: 'rows' }, refusedPhotos.map((photo) =>
          h('li', { class: 'row-plain' },
            h('span', {}, t('sync.photo_refused', { time: formatDateTime(photo.created_at) })),
            h('p', { class: 'rejected-reason' }, h('code', {}, photo.refused.code), ' ', photo.refused.message))))
      : null,
    h('h2', {}, t('sync.pending_title', { count: pending.length })),
    pending.length ? h('ul', { class: 'rows' }, pending.map((entry) => {
      const href = recordLink(ctx, entry.collection, entry.id, entry.warehouse_id ?? records.get(entry.id)?.warehouse_id);
      return entryRow(entry, href ? h('a', { href, class: 'small' }, t('sync.open')) : null);
    })) : h('p', { class: 'empty' }, t('status.all_sent')),
    closed.length
      ? h('details', { class: 'card' }, h('summary', {}, t('sync.conflicts_closed', { count: closed.length })), conflictList(ctx, closed, templateFor))
      : null,
  );
  return { node, live: true };
}

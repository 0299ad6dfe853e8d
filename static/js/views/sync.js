// Sync status: connection (as the server's answers show it, the same words as the status bar:
// sync-state.js), what is being sent, last sync, what is still waiting, conflicts (the server's
// value next to mine) and changes the server refused (with its code and message).
// "Sinkronkan sekarang" is never disabled and always answers in words.

import { h, replace } from '../dom.js';
import { templateOf } from '../context.js';
import { formatClock, formatDateTime, formatDuration, formatTime, t } from '../i18n.js';
import { collectionLabel, opLabel, photoRefusalText, rejectionText } from '../labels.js';
import { allEntries, dismiss } from '../outbox.js';
import { conflictList } from './widgets.js';
import { describeSync } from './sync-state.js';

const kb = (bytes) => Math.round(bytes / 1024);

/** The connection card's facts: rebuilt on every status change while the page is open. */
function connectionFacts(s) {
  const problems = s.problems.filter((p) => p.advice);
  return [
    h('p', { class: 'sync-state', id: 'sync-state', dataset: { state: s.state, net: s.net } }, t(`sync.state.${s.state}`),
      s.retryAt ? [' ', h('span', { class: 'next-try' }, t('sync.next_try', { time: formatClock(s.retryAt) }))] : null),
    h('dl', { class: 'facts' },
      h('dt', {}, t('sync.connection')), h('dd', { id: 'connection', dataset: { state: s.net } }, s.netLabel),
      s.activity ? [h('dt', {}, t('sync.sending')), h('dd', { id: 'sync-activity' }, s.activity)] : null,
      h('dt', {}, t('sync.last')), h('dd', { id: 'last-sync', dataset: { at: s.lastSync } }, s.lastSync ? formatDateTime(s.lastSync) : t('status.never')),
      h('dt', {}, t('sync.pending')), h('dd', { id: 'pending-count' }, String(s.pending)),
      h('dt', {}, t('sync.photos_waiting')), h('dd', { id: 'photos-waiting', dataset: { count: s.photosWaiting } },
        t('sync.photos_waiting_value', { count: s.photosWaiting, size: kb(s.photoBytesWaiting) })),
    ),
    problems.map((p) => h('p', { class: 'notice', dataset: { problem: p.code } }, p.advice,
      p.code === 'session_expired' || p.code === 'token_revoked' ? [' ', h('a', { href: '#/login' }, t('login.again_title'))] : null)),
  ];
}

/**
 * The answer to the last tap, kept for a minute: the page may be redrawn while the round ends. It
 * keeps what happened, not its words, so a page redrawn in the other language says it in that one.
 */
let lastResult = null;
const RESULT_KEEP_MS = 60_000;

function showResult(el, { after, outcome }) {
  el.textContent = after ? resultText(after) : t('sync.trying');
  el.dataset.outcome = outcome;
}

/** What a tap on "Sinkronkan sekarang" came to, in words (never the browser's error text). */
function resultText(s) {
  if (s.state === 'attention') return t('sync.result.attention');
  if (s.net === 'offline') return t('sync.result.offline');
  if (s.net === 'unreachable') return t('sync.result.unreachable');
  if (s.rejected.length) return t('sync.result.refused');
  return t('sync.result.ok', { time: formatTime(s.lastSync || Date.now()) });
}

export function recordLink(collection, id, warehouseId) {
  if (!warehouseId) return null;
  const base = `#/w/${encodeURIComponent(warehouseId)}`;
  if (collection === 'inspections') return `${base}/inspection/${id}`;
  if (collection === 'incidents') return `${base}/incident/${id}`;
  if (collection === 'stock_counts') return `${base}/stock`;
  return base;
}

export async function render(app) {
  const { ctx } = app;
  const s = await describeSync(app);
  const entries = await allEntries(ctx.db);
  const { refusedPhotos, rejected } = s;
  const pending = entries.filter((e) => e.state === 'pending');
  const open = s.conflictsOpen;
  const closed = s.conflictsClosed;
  const clockProblem = s.problems.find((p) => p.code === 'clock_off');
  const clockOffset = clockProblem?.offset;
  const templateFor = (conflict) => (conflict.fields.record_collection === 'inspections' ? templateOf(ctx) : null);
  const records = new Map((await ctx.db.getAll('records')).map((r) => [r.id, r]));

  const facts = h('div', { class: 'sync-facts' }, connectionFacts(s));
  const result = h('p', { class: 'sync-result', id: 'sync-result', role: 'status', 'aria-live': 'polite' });
  if (lastResult && lastResult.ctx === ctx && Date.now() - lastResult.at < RESULT_KEEP_MS) {
    showResult(result, lastResult);
  }
  // Always enabled, whatever the browser says about the network: the answer decides, and is shown.
  const syncButton = h('button', { type: 'button', class: 'button block', id: 'sync-now', on: { click: async () => {
    syncButton.disabled = true;
    syncButton.textContent = t('sync.trying');
    lastResult = { ctx, at: Date.now(), after: null, outcome: 'trying' };
    showResult(result, lastResult);
    ctx.sync.failures = 0; // the officer asked: try now, and soon again if it fails
    await ctx.sync.now('manual');
    const after = await describeSync(app);
    const outcome = after.net === 'online' && after.state !== 'attention' && !after.rejected.length ? 'ok' : 'failed';
    lastResult = { ctx, at: Date.now(), after, outcome };
    syncButton.disabled = false;
    syncButton.textContent = t('sync.now');
    replace(facts, ...connectionFacts(after));
    // The page may have been redrawn meanwhile (new data arrived): answer on the one shown.
    showResult(document.getElementById('sync-result') ?? result, lastResult);
  } } }, t('sync.now'));
  let refreshing = false;
  const onStatus = async () => {
    if (refreshing || !facts.isConnected) return;
    refreshing = true;
    try {
      replace(facts, ...connectionFacts(await describeSync(app)));
    } finally {
      refreshing = false;
    }
  };
  ctx.sync.addEventListener('status', onStatus);

  // Alerts on this phone: its module is loaded only now (not precached); offline, nothing shows.
  const alertsSlot = h('div', { class: 'card', id: 'alerts-phone', hidden: true });
  if ('PushManager' in window) {
    import('../lazy/alert-subscribe.js')
      .then((m) => m.mount(alertsSlot, ctx.api.http))
      .then(() => { alertsSlot.hidden = !alertsSlot.childElementCount; })
      .catch(() => {});
  }

  const entryRow = (entry, extra) =>
    h(
      'li',
      { class: 'row-plain entry', dataset: { seq: entry.seq, state: entry.state } },
      h('span', {}, `#${entry.seq} · ${collectionLabel(entry.collection)} · ${opLabel(entry.op, entry.collection)}`),
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
      facts,
      // The phone's date is wrong: say so (the app works anyway, with the server's time).
      clockProblem
        ? h('p', { class: 'notice', id: 'clock-notice', dataset: { offset: clockOffset } },
            t(clockOffset < 0 ? 'sync.clock_ahead' : 'sync.clock_behind', { amount: formatDuration(clockOffset) }))
        : null,
      syncButton,
      result,
      h('p', { class: 'hint' }, t('sync.explain')),
    ),
    alertsSlot,
    h('h2', {}, t('sync.conflicts_open', { count: open.length })),
    open.length ? conflictList(ctx, open, templateFor) : h('p', { class: 'empty' }, t('sync.no_conflicts')),
    open.length ? h('ul', { class: 'links' }, open.map((c) => {
      const href = recordLink(c.fields.record_collection, c.fields.record_id, c.warehouse_id);
      return href ? h('li', {}, h('a', { href }, t('sync.open_record', { what: collectionLabel(c.fields.record_collection) }))) : null;
    })) : null,
    h('h2', {}, t('sync.rejected', { count: rejected.length })),
    rejected.length
      ? h('ul', { class: 'rows' }, rejected.map((entry) =>
          entryRow(entry, [
            h('p', { class: 'rejected-reason', dataset: { code: entry.result?.code ?? '' } }, rejectionText(entry.result?.code)),
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
            h('p', { class: 'rejected-reason', dataset: { code: photo.refused.code } }, photoRefusalText(photo.refused.code), ' ', t('sync.photo_retake')))))
      : null,
    h('h2', {}, t('sync.pending_title', { count: pending.length })),
    pending.length ? h('ul', { class: 'rows' }, pending.map((entry) => {
      const href = recordLink(entry.collection, entry.id, entry.warehouse_id ?? records.get(entry.id)?.warehouse_id);
      return entryRow(entry, href ? h('a', { href, class: 'small' }, t('sync.open')) : null);
    })) : h('p', { class: 'empty' }, t('status.all_sent')),
    closed.length
      ? h('details', { class: 'card' }, h('summary', {}, t('sync.conflicts_closed', { count: closed.length })), conflictList(ctx, closed, templateFor))
      : null,
  );
  return { node, live: true, cleanup: () => ctx.sync.removeEventListener('status', onStatus) };
}

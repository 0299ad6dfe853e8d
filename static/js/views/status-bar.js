// The always-visible status line: whether the server answers (not what the browser guesses),
// what is being sent with its progress, what is waiting, when we last synced or try next, and
// what needs the officer. Tapping it opens #/sync, which says the same in more words
// (both come from sync-state.js).

import { h, replace } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { describeSync, retryText } from './sync-state.js';

const DOT = { online: 'dot-online', offline: 'dot-offline', unreachable: 'dot-unreachable', unknown: 'dot-unknown' };

export async function renderStatusBar(app, el) {
  const { ctx } = app;
  if (!ctx) {
    replace(el, h('span', { class: 'sr-only' }, t('status.open_details')));
    return;
  }
  const s = await describeSync(app);
  const parts = [
    h('span', { class: ['dot', DOT[s.net]], 'aria-hidden': 'true' }),
    h('span', { class: 'status-net', dataset: { state: s.net } }, s.netLabel),
  ];
  if (s.activity) parts.push(h('span', { class: 'status-syncing' }, s.activity));
  parts.push(
    h(
      'span',
      { class: 'status-pending', dataset: { count: s.pending, photos: s.photosWaiting } },
      s.pending ? t('status.pending', { count: s.pending }) : t('status.all_sent'),
    ),
  );
  const retry = s.pending || s.photosWaiting ? retryText(s.retryAt) : null;
  if (retry) parts.push(h('span', { class: 'status-retry' }, retry));
  parts.push(
    h('span', { class: 'status-last' }, s.lastSync ? t('status.last_sync', { time: formatTime(s.lastSync) }) : t('status.never')),
  );
  if (s.conflictsOpen.length) {
    parts.push(h('span', { class: 'status-alert status-conflicts', dataset: { count: s.conflictsOpen.length } }, t('status.conflicts', { count: s.conflictsOpen.length })));
  }
  if (s.rejected.length) {
    parts.push(h('span', { class: 'status-alert status-rejected', dataset: { count: s.rejected.length } }, t('status.rejected', { count: s.rejected.length })));
  }
  for (const problem of s.problems) {
    parts.push(h('span', { class: ['status-alert', `status-${problem.code.replace('_off', '')}`], dataset: { problem: problem.code } }, problem.short));
  }
  parts.push(h('span', { class: 'sr-only' }, t('status.open_details')));
  el.dataset.state = s.state;
  replace(el, ...parts);
}

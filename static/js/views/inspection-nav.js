// The way around a long inspection on a phone: one slim bar at the foot of the screen (the
// section list, how much is answered, whether the last change is stored on the phone, a jump to
// the next required item still open) and the section list it opens, where each section says
// answered of all, required still open and findings, and a tap jumps there. On this screen the
// bar takes the place of the sticky status bar (css: body:has(.form-bar)), so the form keeps
// more than 90 % of a 740 px screen.

import { h } from '../dom.js';
import { sectionProgress } from '../domain.js';
import { localized, t } from '../i18n.js';

/**
 * template, stockLevels: what the counts are computed from; sectionEl(code) and itemEl(code):
 * where a jump goes; focusItem(code): how the form puts an item in front of the officer;
 * saveState: the form's "stored on the phone" line (shown in the bar when the form is editable);
 * summaryEl: the summary and submit section, the last entry of the list.
 */
export function formNavigator({ template, stockLevels, editable, sectionEl, itemEl, focusItem, saveState, summaryEl }) {
  const total = template.sections.reduce((n, section) => n + section.items.length, 0);
  let open = [];
  let lastJump = null;

  const progressText = h('span', { class: 'form-progress-text' });
  const meter = h('progress', { max: String(total), value: 0, 'aria-hidden': 'true' });
  const progress = h('div', { class: 'form-progress', id: 'form-progress', 'aria-live': 'polite' }, progressText, meter, editable ? saveState : null);

  const nextButton = h(
    'button',
    { type: 'button', class: 'button small form-bar-next', id: 'next-required', 'aria-label': t('inspection.next_required'), on: { click: jumpToNextOpen } },
    t('inspection.next_short'),
  );

  const dialogOverall = h('p', { class: 'section-overall' });
  const dialogNext = h(
    'button',
    { type: 'button', class: 'button block', on: { click: () => { dialog.close(); jumpToNextOpen(); } } },
    t('inspection.next_required'),
  );
  const entries = template.sections.map((section) => {
    const count = h('span', { class: 'section-count' });
    const open = h('span', { class: 'chip' });
    const found = h('span', { class: 'chip chip-finding', hidden: true });
    const button = h(
      'button',
      { type: 'button', class: 'section-jump', dataset: { section: section.code }, on: { click: () => jumpTo(sectionEl(section.code)) } },
      h('span', { class: 'section-name' }, localized(section.title)),
      count,
      h('span', { class: 'chips' }, open, found),
    );
    // The same count beside the section's own heading, for the officer who scrolls instead.
    const headingCount = h('span', { class: 'section-count heading-count' });
    sectionEl(section.code)?.querySelector('h2')?.append(' ', headingCount);
    const required = section.items.filter((item) => item.required).length;
    return { section, required, count, open, found, headingCount, li: h('li', {}, button) };
  });
  const summaryEntry = h(
    'li',
    {},
    h('button', { type: 'button', class: 'section-jump', dataset: { section: 'summary' }, on: { click: () => jumpTo(summaryEl) } },
      h('span', { class: 'section-name' }, editable ? t('inspection.summary_and_submit') : t('inspection.summary_title'))),
  );

  const dialog = h(
    'dialog',
    { class: 'section-dialog', id: 'section-list', 'aria-labelledby': 'section-list-title' },
    h('div', { class: 'section-dialog-head' },
      h('h2', { id: 'section-list-title' }, t('inspection.sections_title')),
      h('button', { type: 'button', class: 'button ghost small', on: { click: () => dialog.close() } }, t('common.close'))),
    dialogOverall,
    editable ? dialogNext : null,
    h('ol', { class: 'section-list' }, entries.map((e) => e.li), summaryEntry),
  );

  const bar = h(
    'div',
    { class: 'form-bar', role: 'navigation', 'aria-label': t('inspection.sections_title') },
    h('button', { type: 'button', class: 'button small form-bar-sections', 'aria-haspopup': 'dialog', on: { click: () => dialog.showModal() } }, t('inspection.sections')),
    progress,
    editable ? nextButton : null,
  );

  function jumpTo(el) {
    if (dialog.open) dialog.close();
    if (!el) return;
    el.scrollIntoView({ block: 'start' });
    (el.querySelector('h2') ?? el).focus({ preventScroll: true });
  }

  /** The first open required item from the top of the screen down; pressed again while the one
   * it went to is still open and on screen, the one after it. From the top again at the end. */
  function jumpToNextOpen() {
    if (!open.length) return;
    const top = (item) => itemEl(item.code)?.getBoundingClientRect().top ?? 0;
    const last = open.find((item) => item.code === lastJump);
    const lastTop = last ? top(last) : -1;
    const from = lastTop >= 0 && lastTop < innerHeight ? lastTop + 1 : 0;
    const next = open.find((item) => top(item) >= from) ?? open[0];
    lastJump = next.code;
    focusItem(next.code);
  }

  /** Counts follow the answers as they are given (called on every change of the form). */
  function refresh(fields) {
    let answered = 0;
    let findings = 0;
    open = [];
    for (const entry of entries) {
      const p = sectionProgress(entry.section, fields, stockLevels);
      answered += p.answered;
      findings += p.findings;
      open.push(...p.open);
      const counted = t('inspection.progress', { answered: p.answered, total: p.total });
      entry.count.textContent = counted;
      entry.headingCount.textContent = `${p.answered}/${p.total}`;
      entry.headingCount.classList.toggle('done', p.open.length === 0);
      entry.li.dataset.answered = String(p.answered);
      entry.li.dataset.open = String(p.open.length);
      entry.li.dataset.findings = String(p.findings);
      entry.open.textContent = p.open.length ? t('inspection.required_open', { count: p.open.length }) : t('inspection.required_done');
      entry.open.className = ['chip', p.open.length ? 'chip-warn' : 'chip-good'].join(' ');
      entry.open.hidden = entry.required === 0; // nothing required there: nothing to say
      entry.found.hidden = p.findings === 0;
      entry.found.textContent = t('inspection.findings_count', { count: p.findings });
    }
    const overall = t('inspection.progress', { answered, total });
    progressText.textContent = findings ? `${overall} · ${t('inspection.findings_count', { count: findings })}` : overall;
    progressText.classList.toggle('has-findings', findings > 0);
    meter.value = answered;
    Object.assign(progress.dataset, { answered: String(answered), total: String(total), open: String(open.length), findings: String(findings) });
    dialogOverall.textContent = [
      overall,
      open.length ? t('inspection.required_open', { count: open.length }) : t('inspection.required_done'),
      findings ? t('inspection.findings_count', { count: findings }) : null,
    ].filter(Boolean).join(' · ');
    nextButton.hidden = open.length === 0;
    dialogNext.hidden = open.length === 0;
  }

  return { bar, dialog, refresh };
}

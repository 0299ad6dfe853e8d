// The answer rules of sync/answers.py, checked on the phone before an answer is queued, so the
// officer hears at once what the server would refuse. The server decides; the data (patterns,
// bounds) comes from rules-data.js, generated from sync/, so the two cannot drift apart.

import { RULES } from './rules-data.js';

const SEAL = new RegExp(RULES.sealPattern);
const SPACES = new RegExp(RULES.spacesPattern, 'gu');
const REMOVED = new RegExp(RULES.removedCategories.map((c) => `\\p{${c}}`).join('|'), 'u');

/**
 * Same as sync.answers.normalise_text: NFC, control and format (zero-width) characters removed
 * (a line break kept in multi-line text), single-line text's runs of spaces collapsed, trimmed.
 */
export function normaliseText(value, { multiline = false } = {}) {
  let text = String(value).replace(/\r\n?/g, '\n').normalize('NFC');
  if (!multiline) text = text.replace(/[\n\t]/g, ' ');
  text = [...text].filter((ch) => (multiline && (ch === '\n' || ch === '\t')) || !REMOVED.test(ch)).join('');
  if (!multiline) text = text.replace(SPACES, ' ');
  return text.trim();
}

const keyword = (value) => normaliseText(value).toLowerCase();

/**
 * The value to queue for an answer to `item`, or why the server would refuse it:
 * { ok: true, value } or { ok: false, reason, params } (reason is an i18n key under answer.*).
 */
export function checkAnswer(item, value) {
  if (value === null || value === undefined) return { ok: true, value: null };
  switch (item.kind) {
    case 'photo':
      return { ok: true, value };
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return { ok: false, reason: 'answer.not_number' };
      if (item.integer !== false && !Number.isInteger(value)) return { ok: false, reason: 'answer.not_whole' };
      const min = item.min === undefined ? 0 : item.min ?? -RULES.maxQuantity;
      const max = item.max ?? RULES.maxQuantity;
      if (value < min || value > max) return { ok: false, reason: 'answer.out_of_range', params: { min, max } };
      return { ok: true, value };
    }
    case 'yes_no': {
      const answer = keyword(value);
      return RULES.yesNoValues.includes(answer) ? { ok: true, value: answer } : { ok: false, reason: 'answer.not_choice' };
    }
    case 'choice': {
      const wanted = keyword(value);
      const choice = (item.choices ?? []).find((c) => c.toLowerCase() === wanted);
      return choice === undefined ? { ok: false, reason: 'answer.not_choice' } : { ok: true, value: choice };
    }
    case 'seal': {
      const seal = normaliseText(value).toUpperCase();
      if (seal === '') return { ok: true, value: '' };
      if (!SEAL.test(seal) || !/[0-9]/.test(seal)) return { ok: false, reason: 'answer.bad_seal' };
      return { ok: true, value: seal };
    }
    default: {
      const text = normaliseText(value, { multiline: true });
      if (text.length > RULES.maxAnswerText) return { ok: false, reason: 'answer.too_long', params: { max: RULES.maxAnswerText } };
      return { ok: true, value: text };
    }
  }
}

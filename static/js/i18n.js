// The one i18n core of both web apps (the officer's phone and the supervisor pages): Bahasa
// Indonesia first, English on request. Words of the domain (statuses, agencies, fields, the berita
// acara...) come from vocabulary.js, generated from sync/vocabulary.py, which the PDF and the CSV
// exports read too; each app adds its own screen sentences with addStrings(). A key missing in
// English falls back to Indonesian.

import { WORDS } from './vocabulary.js';

const TABLES = { id: { ...WORDS.id }, en: { ...WORDS.en } };
const VOCABULARY = new Set(Object.keys(WORDS.id));
const STORAGE_KEY = 'tigapilar.lang';
export const LANGUAGES = Object.keys(TABLES);

let lang = readLang();

function readLang() {
  try {
    const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
    return saved && TABLES[saved] ? saved : 'id';
  } catch {
    return 'id';
  }
}

/**
 * Add the words of the shared vocabulary that only one app carries (the supervisor pages':
 * static/supervisor/js/vocabulary.js, generated like vocabulary.js). Call before addStrings().
 */
export function addWords(tables) {
  for (const [language, words] of Object.entries(tables)) {
    for (const key of Object.keys(words)) VOCABULARY.add(key);
    Object.assign(TABLES[language], words);
  }
}

/**
 * Add an app's own strings ({id: {...}, en: {...}}). A word of the shared vocabulary cannot be
 * redefined here: that is how the two apps' words drifted apart before.
 */
export function addStrings(tables) {
  for (const [language, strings] of Object.entries(tables)) {
    for (const key of Object.keys(strings)) {
      if (VOCABULARY.has(key)) throw new Error(`${key} is a word of the shared vocabulary (sync/vocabulary.py)`);
    }
    Object.assign(TABLES[language], strings);
  }
}

export const getLang = () => lang;

export function setLang(next) {
  if (!TABLES[next]) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* private mode: keep it for this page */
  }
  document.documentElement.lang = next;
}

/** t('time.hours_ago', {n: 3}) → "3 jam lalu". Unknown keys come back as the key itself. */
export function t(key, params = {}) {
  const text = TABLES[lang][key] ?? TABLES.id[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Whether a key exists (for optional labels such as agency codes added later). */
export const has = (key) => key in TABLES[lang] || key in TABLES.id;

/**
 * A checklist text in the current language: templates carry {id, en} per text; versions published
 * before that carry one Indonesian string.
 */
export function localized(text) {
  if (text === null || text === undefined) return '';
  if (typeof text === 'string') return text;
  return text[lang] ?? text.id ?? Object.values(text)[0] ?? '';
}

const locale = () => (lang === 'id' ? 'id-ID' : 'en-GB');

export function formatDateTime(value) {
  if (value === null || value === undefined || value === '') return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatDate(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value ?? '');
  return date.toLocaleDateString(locale(), { day: 'numeric', month: 'long', year: 'numeric' });
}

/** A short date ("5 Des"), for a line that has little room. */
export function formatShortDate(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleDateString(locale(), { day: 'numeric', month: 'short' });
}

/** A date and time for a narrow line: "5 Des 21.00", the year only when it is not this year's. */
export function formatShortDateTime(value) {
  if (value === null || value === undefined || value === '') return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const year = date.getFullYear() === new Date().getFullYear() ? undefined : 'numeric';
  return date.toLocaleString(locale(), { day: 'numeric', month: 'short', year, hour: '2-digit', minute: '2-digit' });
}

export function formatTime(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit' })
    : formatDateTime(value);
}

/** A time of day to the second ("14.05.30"): when the next try is, seconds away. */
export function formatClock(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A length of time, rounded to its largest unit: "3 hari", "5 jam", "12 menit" (en: "3 days"). */
export function formatDuration(ms) {
  const abs = Math.abs(ms);
  const [unit, size] = abs >= 86_400_000 ? ['day', 86_400_000] : abs >= 3_600_000 ? ['hour', 3_600_000] : ['minute', 60_000];
  const count = Math.max(1, Math.round(abs / size));
  return new Intl.NumberFormat(locale(), { style: 'unit', unit, unitDisplay: 'long' }).format(count);
}

export function formatNumber(value) {
  if (value === null || value === undefined || value === '') return '';
  return Number(value).toLocaleString(locale());
}

/** "3 jam lalu" / "2 hari lalu" from an ISO time. */
export function ago(value, now = Date.now()) {
  const then = new Date(value).getTime();
  if (Number.isNaN(then)) return '';
  const minutes = Math.max(0, Math.round((now - then) / 60000));
  if (minutes < 1) return t('time.just_now');
  if (minutes < 60) return t('time.minutes_ago', { n: minutes });
  const hours = Math.round(minutes / 60);
  if (hours < 48) return t('time.hours_ago', { n: hours });
  return t('time.days_ago', { n: Math.round(hours / 24) });
}

export function hours(value) {
  if (value === null || value === undefined) return '—';
  if (value < 1) return t('time.minutes', { n: Math.round(value * 60) });
  return t('time.hours', { n: formatNumber(Math.round(value * 10) / 10) });
}

/** Apply data-i18n="key" (text) and data-i18n-label="key" (aria-label) on static markup. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

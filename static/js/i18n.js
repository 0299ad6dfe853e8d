// UI strings: Bahasa Indonesia first, English on request. Every string the officer sees comes
// from js/strings/*.js; a key missing in English falls back to Indonesian.

import id from './strings/id.js';
import en from './strings/en.js';

const TABLES = { id, en };
const STORAGE_KEY = 'tigapilar.lang';

let lang = readLang();

function readLang() {
  try {
    const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
    return saved && TABLES[saved] ? saved : 'id';
  } catch {
    return 'id';
  }
}

export function getLang() {
  return lang;
}

export function setLang(next) {
  if (!TABLES[next]) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* private mode: keep it for this session */
  }
  document.documentElement.lang = next;
}

/** t('sync.pending', {count: 3}) → "3 menunggu". Unknown keys come back as the key itself. */
export function t(key, params = {}) {
  const text = TABLES[lang][key] ?? TABLES.id[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Whether a key exists (for optional labels such as agency codes added later). */
export function has(key) {
  return key in TABLES[lang] || key in TABLES.id;
}

function locale() {
  return lang === 'id' ? 'id-ID' : 'en-GB';
}

export function formatDateTime(value) {
  if (value === null || value === undefined || value === '') return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
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
  return Number(value).toLocaleString(locale());
}

/** Apply data-i18n="key" on static markup (index.html). */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

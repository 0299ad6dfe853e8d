// UI strings of the supervisor pages: Bahasa Indonesia first, English on request. Every string
// comes from ./strings/*.js; a key missing in English falls back to Indonesian.

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

/** t('overview.hours', {hours: 3}) → "3 jam lalu". Unknown keys come back as the key itself. */
export function t(key, params = {}) {
  const text = TABLES[lang][key] ?? TABLES.id[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export const has = (key) => key in TABLES[lang] || key in TABLES.id;

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

export function translateStatic(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}

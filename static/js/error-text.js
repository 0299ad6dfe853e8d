// Errors in the officer's words and language, never the browser's or server's raw text: server
// answers by their `code` (docs/sync-protocol.md), anything unknown as a generic sentence.

import { has, t } from './i18n.js';

/** A failure on the phone (IndexedDB, a view): storage full, or `fallbackKey`'s sentence. */
export function localErrorText(error, fallbackKey = 'error.save') {
  if (error?.name === 'QuotaExceededError') return t('error.storage_full');
  return t(fallbackKey);
}

/** A server's refusal by its code, else a generic sentence. */
export function serverErrorText(code) {
  return code && has(`error.code.${code}`) ? t(`error.code.${code}`) : t('error.code.other');
}

// Photos need the bearer token, which an <img src> cannot send: fetch them and show blob URLs.
// Thumbnails are cached for the page's lifetime; clicking one opens the full photo in a dialog.

import { h } from '/js/dom.js';
import { t } from '/js/i18n.js';

const cache = new Map();

function blobUrl(http, path) {
  if (!cache.has(path)) {
    cache.set(
      path,
      http.blob(path).then(
        (blob) => URL.createObjectURL(blob),
        (error) => {
          cache.delete(path);
          throw error;
        },
      ),
    );
  }
  return cache.get(path);
}

/** An <img> (in a button that enlarges it) for a photo hash; placeholder text if unavailable. */
export function photoThumb(http, sha, { enlarge = true } = {}) {
  const img = h('img', { alt: t('photo.alt'), class: 'thumb', dataset: { sha } });
  blobUrl(http, `/api/attachments/${sha}/thumb`).then(
    (url) => { img.src = url; },
    () => img.replaceWith(h('span', { class: 'thumb missing', text: t('photo.missing') })),
  );
  if (!enlarge) return img;
  return h('button', { type: 'button', class: 'thumb-button', 'aria-label': t('photo.enlarge'), on: { click: () => show(http, sha) } }, img);
}

async function show(http, sha) {
  const dialog = document.getElementById('photo-dialog');
  const img = dialog.querySelector('img');
  img.removeAttribute('src');
  dialog.showModal();
  try {
    img.src = await blobUrl(http, `/api/attachments/${sha}`);
  } catch {
    dialog.close();
  }
}

/** Resolves when every thumbnail under `root` has loaded (or failed): before printing. */
export async function thumbsReady(root) {
  const images = [...root.querySelectorAll('img.thumb')];
  await Promise.all(
    images.map((img) => (img.complete && img.src ? Promise.resolve() : new Promise((resolve) => {
      img.addEventListener('load', resolve, { once: true });
      img.addEventListener('error', resolve, { once: true });
      setTimeout(resolve, 5000);
    }))),
  );
}

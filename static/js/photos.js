// Photos: taken with the phone camera through <input type=file capture>, shrunk on a canvas to
// at most 1600 px on the long edge, JPEG quality 0.8, named by their SHA-256, and kept as blobs
// in IndexedDB until the server has them.

import { referencedPhotos } from './outbox.js';

export const MAX_INPUT_BYTES = 10 * 1024 * 1024;
export const MAX_OUTPUT_BYTES = 2 * 1024 * 1024;
export const MAX_EDGE = 1600;
export const QUALITY = 0.8;

export class PhotoError extends Error {
  constructor(code, detail = {}) {
    super(code);
    this.name = 'PhotoError';
    this.code = code; // photo_too_large_input | photo_too_large_output | photo_unreadable
    this.detail = detail;
  }
}

export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function decode(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new PhotoError('photo_unreadable');
  }
}

function canvasToBlob(canvas, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new PhotoError('photo_unreadable'))), 'image/jpeg', quality);
  });
}

/** File from the camera → {blob, sha, width, height}. Throws PhotoError with a clear code. */
export async function compress(file) {
  if (file.size > MAX_INPUT_BYTES) throw new PhotoError('photo_too_large_input', { size: file.size });
  const bitmap = await decode(file);
  const scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').drawImage(bitmap, 0, 0, width, height);
  bitmap.close?.();
  const blob = await canvasToBlob(canvas, QUALITY);
  if (blob.size > MAX_OUTPUT_BYTES) throw new PhotoError('photo_too_large_output', { size: blob.size });
  return { blob, sha: await sha256Hex(blob), width, height };
}

/** Compress and keep a photo; returns its sha256. */
export async function addPhoto(db, file) {
  const photo = await compress(file);
  const existing = await db.get('photos', photo.sha);
  if (!existing) {
    await db.put('photos', {
      sha: photo.sha,
      blob: photo.blob,
      size: photo.blob.size,
      width: photo.width,
      height: photo.height,
      uploaded: false,
      created_at: Date.now(),
    });
    db.noteRoom(); // a photo fitted: storage is no longer full
  }
  return photo.sha;
}

/**
 * A photo was removed from a record: drop its blob unless something on the phone still refers to
 * it (a record as last pulled, a queued change, a draft). While the pulled record still holds
 * the photo its blob stays (pruned later like any uploaded photo), so a removal the server does
 * not take (merged with a concurrent edit, see docs/sync-protocol.md) never loses the photo.
 */
export function forgetPhoto(db, sha) {
  return db.tx(['records', 'outbox', 'drafts', 'photos'], 'readwrite', async (stores) => {
    const holders = [
      ...(await stores.records.getAllFromIndex('collection', 'inspections')),
      ...(await stores.records.getAllFromIndex('collection', 'incidents')),
      ...(await stores.outbox.getAll()),
      ...(await stores.drafts.getAll()),
    ];
    // Drafts of a new incident keep their photos at the top level, the others under `fields`.
    if (holders.some((held) => referencedPhotos(held).includes(sha) || held.photos?.includes?.(sha))) return false;
    await stores.photos.delete(sha);
    return true;
  });
}

const urls = new Map();

/**
 * An object URL to show a photo: the local blob if we have it, else the server's thumbnail
 * (fetched with the token, since an <img> cannot send it). Null when neither is possible.
 */
export async function photoUrl(db, api, sha) {
  if (urls.has(sha)) return urls.get(sha);
  const local = await db.get('photos', sha);
  let blob = local?.blob ?? null;
  if (!blob && api && navigator.onLine) {
    try {
      blob = await api.attachment(sha, true);
    } catch {
      blob = null;
    }
  }
  if (!blob) return null;
  const url = URL.createObjectURL(blob);
  urls.set(sha, url);
  return url;
}

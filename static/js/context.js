// The logged-in officer's working context: database, API, sync client and cached reference data
// (profile, warehouses, template, stock items, colleagues), all readable offline.

import { createApi } from './api.js';
import { enqueue as enqueueMutation } from './outbox.js';
import { loadOffset } from './server-time.js';
import { openSessionDb } from './session.js';
import { SyncClient } from './sync-client.js';

const REFERENCE_KEYS = ['me', 'templates', 'template_id', 'stock_items', 'colleagues'];

async function readMeta(db, keys) {
  return db.tx('meta', 'readonly', async ({ meta }) => {
    const values = {};
    for (const key of keys) values[key] = await meta.get(key);
    return values;
  });
}

export async function openContext(session) {
  const { db, clientId } = await openSessionDb(session);
  await loadOffset(db); // times written offline follow the server's clock (server-time.js)
  const api = createApi(session.token);
  const ctx = {
    session,
    db,
    api,
    clientId,
    me: session.user,
    templates: {},
    templateId: null,
    stockItems: [],
    colleagues: {},
    people: new Map(),
    sync: new SyncClient({ db, api, clientId }),
  };
  applyReference(ctx, await readMeta(db, REFERENCE_KEYS));

  /** Queue a mutation and get it to the server as soon as possible. */
  ctx.enqueue = async (mutation, options) => {
    const entry = await enqueueMutation(db, mutation, options);
    ctx.sync.soon();
    ctx.sync.status();
    requestBackgroundSync();
    return entry;
  };
  return ctx;
}

function applyReference(ctx, values) {
  if (values.me) ctx.me = values.me;
  ctx.templates = values.templates ?? ctx.templates;
  ctx.templateId = values.template_id ?? ctx.templateId;
  ctx.stockItems = values.stock_items ?? ctx.stockItems;
  ctx.colleagues = values.colleagues ?? ctx.colleagues;
  ctx.people = new Map();
  for (const list of Object.values(ctx.colleagues)) for (const person of list) ctx.people.set(person.id, person);
  if (ctx.me) ctx.people.set(ctx.me.id, ctx.me);
}

/** The template an inspection follows (the current one for a new inspection); null if not cached. */
export function templateOf(ctx, templateId = ctx.templateId) {
  return ctx.templates[templateId ?? ctx.templateId] ?? null;
}

/** The template, fetched and cached when an older version is not on the phone yet. */
export async function loadTemplate(ctx, templateId) {
  const cached = templateOf(ctx, templateId);
  if (cached || !navigator.onLine) return cached;
  try {
    const template = await ctx.api.template(templateId);
    ctx.templates = { ...ctx.templates, [template.id]: template };
    await ctx.db.put('meta', ctx.templates, 'templates');
    return template;
  } catch {
    return null;
  }
}

export function warehouseOf(ctx, warehouseId) {
  return (ctx.me?.warehouses ?? []).find((w) => (typeof w === 'object' ? w.id : w) === warehouseId) ?? null;
}

/**
 * Fetch profile, warehouses, the current template, stock items and colleagues, and keep them for
 * offline use. Parts that fail keep their cached value. Returns true if all succeeded.
 */
export async function refreshReference(ctx) {
  const { api } = ctx;
  const settled = await Promise.allSettled([api.me(), api.currentTemplate(), api.stockItems()]);
  const [me, template, stockItems] = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  const values = {};
  // GET /api/me answers {user, warehouses (objects), client_id, agencies}.
  if (me) values.me = { ...(me.user ?? me), warehouses: me.warehouses ?? me.user?.warehouses ?? [] };
  if (template) {
    values.templates = { ...ctx.templates, [template.id]: template };
    values.template_id = template.id;
  }
  if (stockItems) values.stock_items = stockItems;
  const warehouses = (values.me ?? ctx.me)?.warehouses ?? [];
  const colleagues = { ...ctx.colleagues };
  let ok = settled.every((r) => r.status === 'fulfilled');
  for (const warehouse of warehouses) {
    const id = typeof warehouse === 'object' ? warehouse.id : warehouse;
    try {
      colleagues[id] = await api.colleagues(id);
    } catch {
      ok = false;
    }
  }
  values.colleagues = colleagues;
  await ctx.db.tx('meta', 'readwrite', async ({ meta }) => {
    for (const [key, value] of Object.entries(values)) await meta.put(value, key);
    await meta.put(Date.now(), 'reference_at');
  });
  applyReference(ctx, values);
  return ok;
}

function requestBackgroundSync() {
  navigator.serviceWorker?.ready
    .then((registration) => registration.sync?.register('tigapilar-outbox'))
    .catch(() => {
      /* no Background Sync here: the page syncs on start and on "online" */
    });
}

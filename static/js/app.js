// The app shell: start-up, hash router, header, status bar, update banner, toasts.
//
// Routes (location.hash):
//   #/login                         log in (online once)
//   #/                              my warehouses
//   #/w/<wh>                        warehouse: inspections, open incidents, stock
//   #/w/<wh>/inspection/<id>        inspection form (read-only once submitted)
//   #/w/<wh>/incident/new           report an incident
//   #/w/<wh>/incident/<id>          incident detail
//   #/w/<wh>/stock                  stock count
//   #/w/<wh>/handover/<shift>       serah terima jaga at the end of that shift (its commanders)
//   #/sync                          sync status, conflicts and refused changes

import './strings/index.js';
import { h, replace } from './dom.js';
import { getLang, setLang, t, translateStatic } from './i18n.js';
import { openContext, refreshReference } from './context.js';
import { deleteDatabase, userDbName } from './db.js';
import { localErrorText } from './error-text.js';
import { summary } from './outbox.js';
import { clearSession, forgetClientId, loadSession, saveSession } from './session.js';
import { registerServiceWorker } from './sw-update.js';
import { renderStatusBar } from './views/status-bar.js';
import * as loginView from './views/login.js';
import * as warehousesView from './views/warehouses.js';
import * as warehouseView from './views/warehouse.js';
import * as inspectionView from './views/inspection.js';
import * as incidentView from './views/incident.js';
import * as incidentNewView from './views/incident-new.js';
import * as stockView from './views/stock.js';
import * as handoverView from './views/handover.js';
import * as syncView from './views/sync.js';

const ROUTES = [
  [/^\/login$/, loginView],
  [/^\/?$/, warehousesView],
  [/^\/w\/([^/]+)$/, warehouseView, ['warehouseId']],
  [/^\/w\/([^/]+)\/inspection\/([^/]+)$/, inspectionView, ['warehouseId', 'id']],
  [/^\/w\/([^/]+)\/incident\/new$/, incidentNewView, ['warehouseId']],
  [/^\/w\/([^/]+)\/incident\/([^/]+)$/, incidentView, ['warehouseId', 'id']],
  [/^\/w\/([^/]+)\/stock$/, stockView, ['warehouseId']],
  [/^\/w\/([^/]+)\/handover\/([^/]+)$/, handoverView, ['warehouseId', 'shiftId']],
  [/^\/sync$/, syncView],
];

const main = document.getElementById('main');
const statusBar = document.getElementById('status-bar');
const banner = document.getElementById('update-banner');
const toastRegion = document.getElementById('toast');

/** The shell object every view receives. */
const app = {
  ctx: null,
  current: null,
  sessionExpired: false,
  upgradeRequired: false,

  navigate(hash, { replace: replaceEntry = false } = {}) {
    if (replaceEntry) location.replace(hash);
    else location.hash = hash;
  },

  toast(message, kind = 'info') {
    const item = h('div', { class: ['toast', `toast-${kind}`] }, message);
    toastRegion.append(item);
    setTimeout(() => item.remove(), 5000);
  },

  /** Save whatever the current view still holds (debounced text) before leaving or reloading. */
  async flush() {
    await app.current?.flush?.();
  },

  async login(session) {
    const previous = app.ctx;
    if (previous) {
      // Re-login after an expired session (same officer, same database) or a different officer.
      previous.sync.stop();
      previous.db.close();
    }
    await saveSession(session);
    await startSession(session);
    await refreshReference(app.ctx).catch(() => false);
    app.navigate('#/');
  },

  /** Log out. Unsent data is never thrown away: it stays in this officer's database. */
  async logout() {
    const { ctx } = app;
    if (!ctx) return;
    const { pending } = await summary(ctx.db);
    await ctx.sync.halt();
    if (navigator.onLine) await ctx.api.logout().catch(() => {});
    await clearSession();
    ctx.db.close();
    if (pending === 0) {
      // Nothing unsent: remove this officer's copy from the phone.
      await deleteDatabase(userDbName(ctx.session.userId)).catch(() => {});
      await forgetClientId(ctx.session.username).catch(() => {});
    }
    app.ctx = null;
    app.sessionExpired = false;
    renderHeader();
    renderStatus();
    app.navigate('#/login');
  },

  /** Render the current route again (after a local action changed what it shows). */
  rerender(options = {}) {
    return render(options);
  },

  /** Re-render the current view if it shows live data and the officer is not typing in it. */
  async refresh() {
    const handle = app.current;
    if (!handle?.live) return;
    const active = document.activeElement;
    const typing = active?.tagName === 'TEXTAREA' || active?.tagName === 'SELECT' ||
      (active?.tagName === 'INPUT' && !['radio', 'checkbox', 'button', 'submit', 'file'].includes(active.type));
    if (typing && main.contains(active)) return;
    await render({ keepFocus: true });
  },
};

async function startSession(session) {
  const ctx = await openContext(session);
  app.ctx = ctx;
  app.sessionExpired = false;
  ctx.sync.addEventListener('status', renderStatus);
  ctx.db.addEventListener('storage', () => ctx.sync.status()); // a write did not fit: say so at once
  ctx.sync.addEventListener('synced', (event) => {
    renderStatus();
    const { results, changes } = event.detail;
    if (results.length || changes) app.refresh();
  });
  ctx.sync.addEventListener('failed', (event) => {
    const error = event.detail;
    if (error.status === 401) {
      app.sessionExpired = true;
      // What the officer can do depends on why: log in again, or ask the admin first.
      app.sessionEndReason = error.body?.reason ?? null;
    }
    if (error.status === 426) app.upgradeRequired = true;
    renderStatus();
  });
  ctx.sync.start();
  renderHeader();
  renderStatus();
}

function matchRoute(hash) {
  const path = hash.replace(/^#/, '').split('?')[0] || '/';
  for (const [pattern, view, names = []] of ROUTES) {
    const match = pattern.exec(path);
    if (match) {
      const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
      return { view, params };
    }
  }
  return null;
}

let renderToken = 0;

/**
 * The app as one rendering of a screen sees it: its `rerender()` (called by an action after it has
 * saved, e.g. "Terima laporan") redraws only while that screen is still the one shown. By the time
 * the save is done the officer may have moved on to another screen, and redrawing that one would
 * wipe what they are typing into it.
 */
function viewApp(hash) {
  return Object.create(app, {
    rerender: { value: (options = {}) => (location.hash === hash ? render(options) : Promise.resolve()) },
  });
}

async function render({ keepFocus = false } = {}) {
  const token = ++renderToken;
  const route = matchRoute(location.hash);
  if (!route) {
    app.navigate('#/', { replace: true });
    return;
  }
  if (!app.ctx && route.view !== loginView) {
    app.navigate('#/login', { replace: true });
    return;
  }
  if (app.ctx && route.view === loginView && !app.sessionExpired) {
    app.navigate('#/', { replace: true });
    return;
  }
  let handle;
  try {
    handle = await route.view.render(viewApp(location.hash), route.params);
  } catch (error) {
    console.warn('view failed', error);
    handle = { node: h('section', { class: 'card' }, h('h1', {}, t('error.view')), h('p', {}, localErrorText(error, 'error.view_hint'))) };
  }
  if (token !== renderToken) {
    handle.cleanup?.();
    return;
  }
  const previous = app.current;
  previous?.cleanup?.();
  app.current = handle;
  const scroll = window.scrollY;
  replace(main, handle.node);
  if (keepFocus) {
    window.scrollTo(0, scroll);
  } else {
    window.scrollTo(0, 0);
    (main.querySelector('h1') ?? main).focus({ preventScroll: true });
  }
}

/**
 * Until boot has opened the stored session, a change of address (a link tapped while the app
 * starts, a notification's record) waits for boot's own first render, which shows wherever the
 * address is then: rendered earlier, with no session yet, it would be sent to the login screen.
 */
let booted = false;

async function onHashChange() {
  if (!booted) return;
  await app.flush();
  app.current?.cleanup?.();
  app.current = null;
  await render();
}

function renderHeader() {
  const langButton = document.getElementById('lang-toggle');
  langButton.textContent = getLang() === 'id' ? 'EN' : 'ID';
  langButton.setAttribute('aria-label', t('header.language'));
  const logout = document.getElementById('logout');
  logout.hidden = !app.ctx;
  logout.textContent = t('header.logout');
  translateStatic();
}

// One status bar drawing at a time: each reads IndexedDB first, and under load a slow one that
// started before a change landed would otherwise finish last and put back the count from before
// it (an unsent edit hidden until the next redraw). A request while one runs draws again after.
let statusTimer = null;
let statusDrawing = false;
let statusAgain = false;
function renderStatus() {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(drawStatus, 50);
}

async function drawStatus() {
  if (statusDrawing) {
    statusAgain = true;
    return;
  }
  statusDrawing = true;
  try {
    await renderStatusBar(app, statusBar);
  } finally {
    statusDrawing = false;
    if (statusAgain) {
      statusAgain = false;
      drawStatus();
    }
  }
}

async function onLogoutClick() {
  const { ctx } = app;
  if (!ctx) return;
  await app.flush();
  const { pending } = await summary(ctx.db);
  const dialog = document.getElementById('logout-dialog');
  const text = dialog.querySelector('[data-role=text]');
  const syncButton = dialog.querySelector('[data-role=sync]');
  text.textContent = pending ? t('logout.pending', { count: pending }) : t('logout.confirm');
  syncButton.hidden = !pending;
  dialog.showModal();
}

function setupDialogs() {
  const dialog = document.getElementById('logout-dialog');
  dialog.querySelector('[data-role=cancel]').addEventListener('click', () => dialog.close());
  dialog.querySelector('[data-role=sync]').addEventListener('click', () => {
    dialog.close();
    app.ctx?.sync.now('manual');
    app.navigate('#/sync');
  });
  dialog.querySelector('[data-role=logout]').addEventListener('click', async () => {
    dialog.close();
    await app.logout();
  });
}

function showUpdateBanner(activate) {
  replace(
    banner,
    h('span', {}, t('update.available')),
    h(
      'button',
      {
        type: 'button',
        class: 'button small',
        on: {
          click: async () => {
            await app.flush();
            await activate();
          },
        },
      },
      t('update.reload'),
    ),
  );
  banner.hidden = false;
}

async function boot() {
  setLang(getLang());
  translateStatic();
  document.getElementById('lang-toggle').addEventListener('click', () => {
    setLang(getLang() === 'id' ? 'en' : 'id');
    renderHeader();
    renderStatus();
    render({ keepFocus: true });
  });
  document.getElementById('logout').addEventListener('click', onLogoutClick);
  setupDialogs();
  addEventListener('online', renderStatus);
  addEventListener('offline', renderStatus);
  addEventListener('hashchange', onHashChange);
  addEventListener('pagehide', () => app.flush());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') app.flush();
  });
  setInterval(renderStatus, 30_000);

  // Ask the browser not to evict our data under storage pressure (offline for days).
  navigator.storage?.persist?.().catch(() => {});

  registerServiceWorker({
    onUpdateReady: showUpdateBanner,
    onSyncRequest: () => app.ctx?.sync.now('background-sync'),
  }).catch((error) => console.warn('service worker', error));

  const session = await loadSession();
  if (session) {
    await startSession(session);
    if (navigator.onLine) refreshReference(app.ctx).then(() => app.refresh()).catch(() => {});
  }
  renderHeader();
  renderStatus();
  booted = true;
  await render();
}

boot();

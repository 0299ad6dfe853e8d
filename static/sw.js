// Tiga Pilar service worker. Read top to bottom:
//   1. VERSION and the app shell (every file the app needs to start without signal)
//   2. install: cache the shell
//   3. activate: delete caches of older versions, take control of open pages
//   4. fetch: navigations to the app get the cached shell, its files come from the cache first,
//      /api/ always goes to the network (the app itself handles being offline)
//   5. message: the page says 'skipWaiting' when the officer taps "muat ulang"
//   6. sync: Background Sync sends the outbox when the network is back
//   7. push: an alert (docs/alerts.md) is shown as a notification, already in the language the
//      person subscribed with; tapping it opens the record
//
// An update only swaps these cached files. IndexedDB (drafts, outbox, photos) is never touched.

import { SYNC_TAG, backgroundSync } from './js/background-sync.js';

// A hash of the shell files (tests/browser/test_shell.py checks it and prints the new value):
// any change to a shell file changes sw.js too, which is how browsers notice an update.
const VERSION = '3936e9bc129d';
const CACHE = `tigapilar-shell-${VERSION}`;

const SHELL = [
  '/',
  '/manifest.webmanifest',
  '/css/app.css',
  '/icons/icon.svg',
  '/icons/icon-192.png',
  '/icons/maskable-192.png',
  '/js/answers.js',
  '/js/api.js',
  '/js/app.js',
  '/js/autosave.js',
  '/js/background-sync.js',
  '/js/context.js',
  '/js/db.js',
  '/js/digest.js',
  '/js/dom.js',
  '/js/domain.js',
  '/js/error-text.js',
  '/js/guard.js',
  '/js/hlc.js',
  '/js/i18n.js',
  '/js/labels.js',
  '/js/outbox.js',
  '/js/photos.js',
  '/js/protocol.js',
  '/js/reachability.js',
  '/js/records.js',
  '/js/replica.js',
  '/js/rules-data.js',
  '/js/server-time.js',
  '/js/session.js',
  '/js/strings/en.js',
  '/js/strings/id.js',
  '/js/strings/index.js',
  '/js/sw-update.js',
  '/js/sync-client.js',
  '/js/uuid7.js',
  '/js/vocabulary.js',
  '/js/views/handover.js',
  '/js/views/incident-new.js',
  '/js/views/incident.js',
  '/js/views/inspection-nav.js',
  '/js/views/inspection.js',
  '/js/views/login.js',
  '/js/views/status-bar.js',
  '/js/views/stock.js',
  '/js/views/shift-card.js',
  '/js/views/sync-state.js',
  '/js/views/sync.js',
  '/js/views/warehouse.js',
  '/js/views/warehouses.js',
  '/js/views/widgets.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // cache: 'reload' skips the HTTP cache, so a new version never stores a stale file.
      await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' })));
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('tigapilar-shell-') && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname === '/healthz') return; // network only

  if (request.mode === 'navigate') {
    // The officer app is one page; the hash picks the screen. Other pages on this server (the
    // supervisor dashboard under /supervisor/) are not ours: leave them to the network.
    if (url.pathname === '/' || url.pathname === '/index.html') {
      event.respondWith((async () => (await caches.match('/', { cacheName: CACHE })) ?? fetch(request))());
    }
    return;
  }
  event.respondWith((async () => (await caches.match(request, { cacheName: CACHE })) ?? fetch(request))());
});

self.addEventListener('message', (event) => {
  if (event.data === 'skipWaiting') self.skipWaiting();
});

self.addEventListener('sync', (event) => {
  if (event.tag === SYNC_TAG) event.waitUntil(backgroundSync(self.clients));
});

self.addEventListener('push', (event) => {
  let alert = {};
  try {
    alert = event.data?.json() ?? {};
  } catch {
    alert = { body: event.data?.text() ?? '' };
  }
  event.waitUntil(self.registration.showNotification(alert.title || 'Tiga Pilar', {
    body: alert.body || '',
    tag: alert.tag, // a later event of the same record replaces the earlier notification
    renotify: Boolean(alert.tag),
    requireInteraction: Boolean(alert.critical),
    icon: '/icons/icon-192.png',
    data: { url: alert.url || '/supervisor/', event: alert.event },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || '/supervisor/', self.location.origin);
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = open.find((c) => new URL(c.url).pathname === target.pathname && 'navigate' in c);
    if (same) {
      await same.focus();
      // navigate() works only on a page this worker controls; else open the record beside it
      const taken = await same.navigate(target.href).catch(() => null);
      if (taken) return taken;
    }
    return self.clients.openWindow(target.href);
  })());
});

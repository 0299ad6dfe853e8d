// Service worker registration and the update flow:
// new worker waiting → banner → postMessage('skipWaiting') → controllerchange → reload once.
// An update only replaces cached files; IndexedDB (drafts, outbox, photos) is never touched.

export async function registerServiceWorker({ onUpdateReady, onSyncRequest }) {
  if (!('serviceWorker' in navigator)) return null;
  const container = navigator.serviceWorker;
  let updateRequested = false;

  container.addEventListener('controllerchange', () => {
    if (!updateRequested) return; // first install claiming this page: nothing to reload
    updateRequested = false;
    location.reload();
  });
  container.addEventListener('message', (event) => {
    if (event.data?.type === 'sync') onSyncRequest?.();
  });

  const registration = await container.register('/sw.js', { type: 'module', scope: '/' });

  const offer = (worker) => {
    if (!container.controller) return; // first install, not an update
    onUpdateReady(async () => {
      updateRequested = true;
      worker.postMessage('skipWaiting');
    });
  };
  if (registration.waiting) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed') offer(worker);
    });
  });

  const check = () => registration.update().catch(() => {});
  addEventListener('online', check);
  setInterval(check, 30 * 60_000);
  return registration;
}

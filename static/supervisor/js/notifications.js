// Web Push for this browser (docs/alerts.md): ask permission, subscribe with the server's VAPID key
// and hand the subscription to the server, or the reverse. Used by the supervisor pages and the
// officer app alike; `http` is their client, with get, post and delete.

export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

async function registration() {
  const found = await navigator.serviceWorker.getRegistration('/');
  return found ?? navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' });
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** 'unsupported' | 'denied' | 'on' | 'off' for this browser and the signed-in person. */
export async function pushState(http) {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const sub = await (await registration()).pushManager.getSubscription();
  if (!sub) return 'off';
  const mine = await http.get('/api/push/subscriptions');
  return mine.some((s) => s.endpoint === sub.endpoint) ? 'on' : 'off';
}

export async function enablePush(http, lang) {
  if ((await Notification.requestPermission()) !== 'granted') return 'denied';
  const reg = await registration();
  await navigator.serviceWorker.ready;
  const { public_key: key } = await http.get('/api/push/key');
  const sub = (await reg.pushManager.getSubscription()) ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
  await http.post('/api/push/subscriptions', { ...sub.toJSON(), lang });
  return 'on';
}

export async function disablePush(http) {
  const sub = await (await registration()).pushManager.getSubscription();
  if (!sub) return 'off';
  const mine = await http.get('/api/push/subscriptions');
  for (const s of mine.filter((m) => m.endpoint === sub.endpoint)) await http.delete(`/api/push/subscriptions/${s.id}`);
  await sub.unsubscribe();
  return 'off';
}

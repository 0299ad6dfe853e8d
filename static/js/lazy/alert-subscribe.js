// Alerts on this phone (docs/alerts.md): an officer turns Web Push on or off for the incidents of
// their warehouses, which reach them only while on duty (the server decides: server/alerts/duty.py). Loaded by the sync page only when it is shown (a dynamic import), never
// precached: subscribing needs the network anyway, and the shell stays within its budget.

import { disablePush, enablePush, pushState } from '/supervisor/js/notifications.js';
import { h, replace } from '../dom.js';
import { getLang, t } from '../i18n.js';

/** Fill `slot` with the toggle for the signed-in officer (nothing where push is unsupported). */
export async function mount(slot, http) {
  let state;
  try {
    state = await pushState(http);
  } catch {
    return; // no answer from the server: nothing to offer until the next visit
  }
  if (state === 'unsupported' || !slot.isConnected) return;
  const status = h('p', { class: 'muted small', id: 'alerts-phone-state', role: 'status' });
  const button = h('button', { type: 'button', class: 'button secondary block', id: 'alerts-phone-toggle' });
  const show = () => {
    slot.dataset.state = state;
    button.textContent = t(state === 'on' ? 'alerts.phone.disable' : 'alerts.phone.enable');
    button.disabled = state === 'denied';
    status.textContent = t(`alerts.phone.${state}`);
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      state = state === 'on' ? await disablePush(http) : await enablePush(http, getLang());
    } catch {
      state = 'failed';
    }
    show();
  });
  show();
  replace(slot, h('h2', {}, t('alerts.phone.title')), h('p', { class: 'hint' }, t('alerts.phone.explain')),
    h('p', { class: 'hint', id: 'alerts-phone-duty' }, t('alerts.on_duty_only')), status, button);
}

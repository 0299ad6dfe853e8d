// The bell in the top bar: turns Web Push notifications of alerts (docs/alerts.md) on or off for
// this browser and the signed-in supervisor. Hidden where the browser cannot receive them.

import { disablePush, enablePush, pushState } from './notifications.js';
import { getLang, t } from '/js/i18n.js';
import { errorText, toast } from './ui.js';

let state = 'off';

function show(button) {
  button.hidden = state === 'unsupported';
  button.dataset.state = state;
  button.setAttribute('aria-pressed', String(state === 'on'));
  button.textContent = state === 'on' ? `🔔 ${t('notify.disable')}` : `🔕 ${t('notify.enable')}`;
  button.title = t(state === 'denied' ? 'notify.denied' : state === 'on' ? 'notify.on' : 'notify.off');
}

export async function setupNotifyToggle(ctx) {
  const button = document.getElementById('notify-toggle');
  try {
    state = await pushState(ctx.http);
  } catch {
    state = 'unsupported';
  }
  show(button);
  button.onclick = async () => {
    button.disabled = true;
    try {
      state = state === 'on' ? await disablePush(ctx.http) : await enablePush(ctx.http, getLang());
      toast(t(state === 'on' ? 'notify.on' : state === 'denied' ? 'notify.denied' : 'notify.off'), state === 'denied' ? 'warn' : 'ok');
    } catch (error) {
      toast(errorText(error), 'error');
    } finally {
      button.disabled = false;
      show(button);
    }
  };
}

export function hideNotifyToggle() {
  document.getElementById('notify-toggle').hidden = true;
}

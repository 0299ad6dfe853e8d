// Log in (needs the network once). Afterwards the app works offline for days: the token, the
// profile and the reference data are kept on the phone.

import { ApiError, createApi } from '../api.js';
import { h, uniqueId } from '../dom.js';
import { t } from '../i18n.js';
import { serverErrorText } from '../error-text.js';
import { clientIdFor } from '../session.js';

function field(label, input) {
  const id = uniqueId('login');
  input.id = id;
  return h('div', { class: 'field' }, h('label', { htmlFor: id }, label), input);
}

function deviceName() {
  const ua = navigator.userAgent;
  const android = /Android [\d.]+; ([^;)]+)/.exec(ua);
  return (android ? android[1] : navigator.platform || 'Browser').slice(0, 60);
}

export async function render(app) {
  const expired = app.sessionExpired && app.ctx;
  const username = h('input', {
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    value: expired ? app.ctx.session.username : '',
  });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button block' }, t('login.submit'));

  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    if (!navigator.onLine) {
      error.textContent = t('login.offline');
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    submit.textContent = t('login.working');
    try {
      const name = username.value.trim();
      const clientId = await clientIdFor(name);
      const response = await createApi(null).login({
        username: name,
        password: password.value,
        device_name: deviceName(),
        client_id: clientId,
      });
      await app.login({
        token: response.token,
        userId: response.user.id,
        username: response.user.username,
        user: response.user,
        clientId,
        loggedInAt: Date.now(),
      });
    } catch (err) {
      if (err instanceof ApiError && err.code !== 'account_disabled' && (err.status === 401 || err.status === 403)) error.textContent = t('login.bad_credentials');
      else if (err instanceof ApiError) error.textContent = serverErrorText(err.code);
      else error.textContent = t('login.network');
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = t('login.submit');
    }
  }

  const node = h(
    'section',
    { class: 'card narrow' },
    h('h1', { tabindex: '-1' }, expired ? t('login.again_title') : t('login.title')),
    h('p', { class: 'muted' }, expired ? t('login.again_hint') : t('login.hint')),
    h(
      'form',
      { on: { submit: onSubmit }, novalidate: true },
      field(t('login.username'), username),
      field(t('login.password'), password),
      error,
      submit,
    ),
  );
  return { node };
}

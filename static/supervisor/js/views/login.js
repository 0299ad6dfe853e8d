// Login: supervisors and admins only. The browser gets a client id of its own per user, so its
// decisions are numbered mutations like a phone's.

import { h, replace } from '/js/dom.js';
import { createHttp } from '../http.js';
import { t } from '/js/i18n.js';
import { clientIdFor, saveSession } from '../session.js';

export function renderLogin(main, onDone) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { class: 'button', type: 'submit' }, t('login.submit'));
  const form = h(
    'form',
    { class: 'panel login', on: { submit: (event) => { event.preventDefault(); submit(); } } },
    h('h1', {}, t('login.title')),
    h('p', { class: 'muted' }, t('login.hint')),
    h('label', { class: 'field', htmlFor: 'login-username' }, h('span', { class: 'field-label' }, t('login.username'))),
    username,
    h('label', { class: 'field', htmlFor: 'login-password' }, h('span', { class: 'field-label' }, t('login.password'))),
    password,
    error,
    h('div', { class: 'actions' }, button),
    h('p', { class: 'muted small' }, h('a', { href: '/' }, t('login.officer_app'))),
  );

  async function submit() {
    error.hidden = true;
    button.disabled = true;
    button.textContent = t('login.working');
    const name = username.value.trim().toLowerCase();
    const clientId = clientIdFor(name);
    try {
      const http = createHttp(() => null);
      const answer = await http.post('/api/auth/login', {
        username: name,
        password: password.value,
        device_name: `${t('login.device_name')} (${navigator.platform || 'web'})`.slice(0, 100),
        client_id: clientId,
      });
      if (!['supervisor', 'admin'].includes(answer.user.role)) {
        await createHttp(() => answer.token).post('/api/auth/logout', {}).catch(() => {});
        throw Object.assign(new Error(t('login.not_supervisor')), { code: 'not_supervisor' });
      }
      saveSession({ token: answer.token, userId: answer.user.id, username: name, clientId, nextSeq: null, clock: null });
      await onDone();
    } catch (e) {
      error.hidden = false;
      error.textContent =
        e.code === 'not_supervisor' ? e.message
          : e.code === 'bad_credentials' ? t('login.bad_credentials')
            : e.name === 'NetworkError' ? t('error.network') : e.message;
      button.disabled = false;
      button.textContent = t('login.submit');
    }
  }

  replace(main, form);
  username.focus();
}

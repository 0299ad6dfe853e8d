// The supervisor pages: login, a hash router over the views, the live-update connection.
//
//   #/                 overview of every warehouse in scope (updates live)
//   #/inspections      review queue          #/inspection/<id>   one inspection, review actions
//   #/incidents[/<id>] incident queue        #/conflicts         conflicts and rejected edits
//   #/stock            stock reconciliation  #/charts            charts
//   #/audit            audit trail           #/admin             administration (admins)
//   #/print/<id>       printable berita acara of an inspection
//   #/roster[/<warehouse>[/<day>]] the guard post's roster of a week (this one by default)
//   #/mutasi/<warehouse>/<day>     printable buku mutasi of a day

import './strings/index.js';
import { h, replace } from '/js/dom.js';
import { createHttp } from './http.js';
import { hideNotifyToggle, setupNotifyToggle } from './notify-toggle.js';
import { getLang, setLang, t, translateStatic } from '/js/i18n.js';
import { connectLive } from './live.js';
import { createPusher } from './push.js';
import { clearSession, loadSession } from './session.js';
import { errorText, toast } from './ui.js';
import { renderLogin } from './views/login.js';
import { renderOverview } from './views/overview.js';
import { renderInspections, renderInspection } from './views/inspection.js';
import { renderIncidents } from './views/incidents.js';
import { renderConflicts } from './views/conflicts.js';
import { renderStock } from './views/stock.js';
import { renderCharts } from './views/charts.js';
import { renderAudit } from './views/audit.js';
import { renderAdmin } from './views/admin.js';
import { renderPrint } from './views/print.js';
import { renderRoster } from './views/roster.js';
import { renderMutasi } from './views/mutasi.js';

const ROUTES = [
  [/^#?\/?$/, renderOverview, 'overview'],
  [/^#\/inspections$/, renderInspections, 'inspections'],
  [/^#\/inspection\/([\w.:-]+)$/, renderInspection, 'inspections'],
  [/^#\/incidents(?:\/([\w.:-]+))?$/, renderIncidents, 'incidents'], // an alert links to one incident
  [/^#\/incident\/([\w.:-]+)$/, renderIncidents, 'incidents'],
  [/^#\/conflicts$/, renderConflicts, 'conflicts'],
  [/^#\/stock$/, renderStock, 'stock'],
  [/^#\/charts$/, renderCharts, 'charts'],
  [/^#\/audit$/, renderAudit, 'audit'],
  [/^#\/admin$/, renderAdmin, 'admin'],
  [/^#\/print\/([\w.:-]+)$/, renderPrint, 'print'],
  [/^#\/roster(?:\/([\w.:-]+)(?:\/(\d{4}-\d{2}-\d{2}))?)?$/, renderRoster, 'roster'],
  [/^#\/mutasi\/([\w.:-]+)\/(\d{4}-\d{2}-\d{2})$/, renderMutasi, 'print'],
];
const NAV = ['overview', 'roster', 'inspections', 'incidents', 'conflicts', 'stock', 'charts', 'audit', 'admin'];

const main = document.getElementById('main');
let ctx = null;
let current = null;
let live = null;
let renderToken = 0;

function logout(expired = false) {
  live?.stop();
  live = null;
  const session = ctx?.session;
  ctx = null;
  clearSession();
  if (session && !expired) {
    createHttp(() => session.token).post('/api/auth/logout', {}).catch(() => {});
  }
  document.getElementById('nav').hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('live').hidden = true;
  hideNotifyToggle();
  if (expired) toast(t('login.expired'), 'warn');
  start();
}

async function buildContext(session) {
  const http = createHttp(() => session.token, () => logout(true));
  const [me, people, stockItems] = await Promise.all([
    http.get('/api/me'), http.get('/api/supervisor/people'), http.get('/api/stock-items').catch(() => []),
  ]);
  return {
    session,
    http,
    me,
    isAdmin: me.user.role === 'admin',
    people: new Map(people.map((p) => [p.id, p])),
    warehouses: new Map(me.warehouses.map((w) => [w.id, w])),
    stockItems: new Map(stockItems.map((item) => [item.code, item])),
    push: createPusher(session, http),
    templates: new Map(),
    async template(id) {
      if (!id) return null;
      if (!this.templates.has(id)) this.templates.set(id, http.get(`/api/templates/${encodeURIComponent(id)}`).catch(() => null));
      return this.templates.get(id);
    },
    go(hash) {
      location.hash = hash;
    },
  };
}

function renderNav(active) {
  const nav = document.getElementById('nav');
  nav.hidden = false;
  replace(
    nav,
    NAV.filter((name) => name !== 'admin' || ctx.isAdmin).map((name) =>
      h('a', { href: name === 'overview' ? '#/' : `#/${name}`, class: name === active ? 'active' : '', 'aria-current': name === active ? 'page' : undefined }, t(`nav.${name}`)),
    ),
  );
}

function setLiveStatus(status) {
  const el = document.getElementById('live');
  el.hidden = false;
  el.dataset.status = status;
  el.textContent = t(`live.${status}`);
}

/** Connect the live stream; resolves once it is reading (at most a few seconds), so that what a
 * view loads afterwards is never older than the stream's starting point. */
function startLive() {
  return new Promise((resolve) => {
    setTimeout(resolve, 4000);
    live = connectLive({
      getToken: () => ctx?.session.token,
      onEvent: (event) => current?.onLive?.(event),
      onReady: resolve,
      onStatus: setLiveStatus,
      onLogout: () => logout(true),
      onScope: () => location.reload(), // new warehouses: load the page again for them
    });
  });
}

async function route() {
  if (!ctx) return;
  const token = ++renderToken;
  current?.dispose?.();
  current = null;
  const hash = location.hash || '#/';
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  document.body.classList.toggle('printing', found?.[2] === 'print');
  if (!found) {
    replace(main, h('h1', {}, t('error.not_found')));
    return;
  }
  const [pattern, render, name] = found;
  renderNav(name);
  replace(main, h('p', { class: 'loading' }, t('app.loading')));
  try {
    const view = await render(ctx, main, ...hash.match(pattern).slice(1));
    if (token !== renderToken) {
      view?.dispose?.();
      return;
    }
    current = view ?? null;
  } catch (error) {
    if (token !== renderToken) return;
    replace(main, h('h1', {}, t('error.view')), h('p', { class: 'error' }, errorText(error)));
  }
}

async function start() {
  const session = loadSession();
  if (!session) {
    renderLogin(main, async () => start());
    return;
  }
  try {
    ctx = await buildContext(session);
  } catch (error) {
    if (error?.status === 401) return; // logout(true) already ran
    replace(main, h('h1', {}, t('error.view')), h('p', { class: 'error' }, errorText(error)));
    return;
  }
  document.getElementById('logout').hidden = false;
  setupNotifyToggle(ctx);
  await startLive();
  await route();
}

document.getElementById('lang-toggle').addEventListener('click', () => {
  setLang(getLang() === 'id' ? 'en' : 'id');
  translateStatic();
  document.getElementById('lang-toggle').textContent = getLang() === 'id' ? 'EN' : 'ID';
  const liveStatus = document.getElementById('live').dataset.status;
  if (liveStatus) setLiveStatus(liveStatus); // "● Langsung" is said in the new language too
  if (ctx) route();
  else start();
});
document.getElementById('logout').addEventListener('click', () => logout(false));
window.addEventListener('hashchange', route);

setLang(getLang());
translateStatic();
document.getElementById('lang-toggle').textContent = getLang() === 'id' ? 'EN' : 'ID';
start();

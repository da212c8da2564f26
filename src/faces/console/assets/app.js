// linekeeper console: the router, the header, the language switch.

import { api, session, whenSignedOut, resume, signOut as endSession } from './api.js';
import { h, fill } from './dom.js';
import { use, preferred, current, t } from './i18n.js';
import * as views from './views.js';

const NAV = [
  ['numbers', 'nav.numbers'],
  ['accounts', 'nav.accounts', (me) => me.role !== 'user'],
  ['pool', 'nav.pool'],
  ['reservations', 'nav.reservations'],
  ['keys', 'nav.keys', (me) => me.role !== 'user'],
  ['webhooks', 'nav.webhooks', (me) => me.role !== 'user'],
];

const app = {
  me: null,
  async signedIn() {
    app.me = await api('GET', '/me');
    if (!location.hash || location.hash === '#/login') location.hash = '#/numbers';
    else await render();
  },
  async switchLanguage() {
    await use(current() === 'fa' ? 'en' : 'fa', true);
    await render();
  },
};

function header() {
  const top = document.getElementById('top');
  top.hidden = !app.me;
  if (!app.me) return;
  const page = (location.hash.split('/')[1] || 'numbers');
  fill(document.getElementById('nav'), NAV.filter(([, , show]) => !show || show(app.me)).map(([id, key]) =>
    h('a', { href: `#/${id}`, class: page === id ? 'current' : '', id: `nav-${id}` }, t(key))));
  fill(document.getElementById('whoami'), h('span', { dir: 'ltr' }, app.me.username), ' · ', t('role.' + app.me.role));
  document.getElementById('lang-switch').textContent = t('lang.other');
  document.getElementById('sign-out').textContent = t('signout');
}

async function render() {
  const root = document.getElementById('view');
  if (!session.active || !app.me) {
    app.me = null;
    header();
    views.signIn(root, app);
    return;
  }
  header();
  const [, page, arg] = location.hash.split('/');
  switch (page) {
    case 'numbers': return arg ? views.number(root, app, decodeURIComponent(arg)) : views.numbers(root, app);
    case 'accounts': return views.accounts(root, app);
    case 'pool': return views.pool(root, app);
    case 'reservations': return views.reservations(root, app);
    case 'keys': return views.keys(root, app);
    case 'webhooks': return views.webhooks(root, app);
    default: location.hash = '#/numbers';
  }
}

async function signOut() {
  try { await endSession(); } catch { /* forgotten here anyway */ }
  app.me = null;
  location.hash = '#/login';
  await render();
}

async function start() {
  await use(preferred());
  document.getElementById('lang-switch').addEventListener('click', () => app.switchLanguage());
  document.getElementById('sign-out').addEventListener('click', signOut);
  whenSignedOut(() => { app.me = null; render(); });
  window.addEventListener('hashchange', render);
  if (await resume()) {
    try { app.me = await api('GET', '/me'); } catch { app.me = null; }
  }
  await render();
  document.body.dataset.ready = 'true';
}

start();

// The console's pages. Each view fills `root` and reads the native face.

import { api, all, query, signIn as startSession, ApiError } from './api.js';
import { h, ltr, fill, toast, confirmDialog } from './dom.js';
import { t, time } from './i18n.js';

/** The message for a refusal, with the fields it names. */
function problemText(e) {
  if (!(e instanceof ApiError)) return t('error.network');
  const p = e.problem;
  const fields = p.errors ? Object.entries(p.errors).map(([f, msgs]) => `${t('field.' + f)}: ${msgs.join(', ')}`) : [];
  const known = p.type ? t('problem.' + p.type.split('/').pop()) : '';
  const head = known && !known.startsWith('problem.') ? known : (p.detail || p.title || `HTTP ${e.status}`);
  return [head, ...fields].join(' — ');
}

function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, problemText(e));
}

function perms(p) {
  return [
    h('span', { class: 'badge ' + (p.send ? 'on' : 'off'), title: t('perm.send') }, t('perm.send')),
    h('span', { class: 'badge ' + (p.gets ? 'on' : 'off'), title: t('perm.gets') }, t('perm.gets')),
  ];
}

function stateBadge(state) {
  return h('span', { class: 'badge' }, t('state.' + state));
}

/** Digits of what was typed (a leading + and spaces are dropped). */
function digits(text) { return (text || '').replace(/\D/g, ''); }

/** A search form (text, prefix/contains) shared by the numbers and the pool. */
function searchForm(id, state, extra, onSearch) {
  const form = h('form', { class: 'row card', id },
    h('label', {}, t('search.text'),
      h('input', { name: 'q', dir: 'ltr', inputmode: 'numeric', autocomplete: 'off', placeholder: '+98…', value: state.q })),
    h('label', {}, t('search.mode'),
      h('select', { name: 'mode' },
        h('option', { value: 'prefix', selected: state.mode === 'prefix' }, t('search.prefix')),
        h('option', { value: 'contains', selected: state.mode === 'contains' }, t('search.contains')))),
    extra,
    h('button', { type: 'submit' }, t('search.go')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    state.q = String(f.get('q') || '');
    state.mode = String(f.get('mode'));
    if (f.has('state')) state.state = String(f.get('state'));
    state.stack = [];
    state.cursor = null;
    onSearch();
  });
  return form;
}

/** Previous/next over a cursor-paginated list. */
function pager(state, page, reload) {
  const prev = h('button', { type: 'button', class: 'secondary', id: 'page-prev', disabled: state.stack.length === 0,
    onclick: () => { state.cursor = state.stack.pop() ?? null; reload(); } }, t('page.prev'));
  const next = h('button', { type: 'button', class: 'secondary', id: 'page-next', disabled: !page.next_cursor,
    onclick: () => { state.stack.push(state.cursor); state.cursor = page.next_cursor; reload(); } }, t('page.next'));
  return h('div', { class: 'pager' }, prev,
    h('span', { class: 'muted' }, t('page.number', { n: state.stack.length + 1 })), next);
}

// ---------------------------------------------------------------- sign in

export function signIn(root, app) {
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', id: 'sign-in' },
    h('label', {}, t('signin.username'), h('input', { name: 'username', autocomplete: 'username', dir: 'ltr', required: true })),
    h('label', {}, t('signin.password'), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', dir: 'ltr', required: true })),
    h('button', { type: 'submit' }, t('signin.submit')),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    error.textContent = '';
    try {
      await startSession(f.get('username'), f.get('password'));
      await app.signedIn();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? t('signin.wrong')
        : e instanceof ApiError && e.status === 429 ? t('signin.throttled') : problemText(e);
    }
  });
  fill(root, h('div', { class: 'login card' },
    h('h1', {}, t('signin.title')),
    h('p', { class: 'muted' }, t('signin.lead')),
    form,
    h('p', { class: 'lang' }, h('button', { type: 'button', class: 'secondary', id: 'login-lang', onclick: () => app.switchLanguage() }, t('lang.other')))));
}

// ---------------------------------------------------------------- numbers

const numbersState = { q: '', mode: 'prefix', state: '', stack: [], cursor: null };

export async function numbers(root) {
  const s = numbersState;
  const list = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const stateSelect = h('label', {}, t('numbers.state'),
    h('select', { name: 'state' },
      h('option', { value: '', selected: s.state === '' }, t('state.any')),
      h('option', { value: 'subscribed', selected: s.state === 'subscribed' }, t('state.subscribed')),
      h('option', { value: 'available', selected: s.state === 'available' }, t('state.available'))));
  const load = async () => {
    const d = digits(s.q);
    try {
      const page = await api('GET', '/numbers' + query({ [s.mode]: d, state: s.state, limit: 20, cursor: s.cursor }));
      const rows = page.items.map((n) => h('tr', { 'data-number': n.number },
        h('td', {}, h('a', { href: `#/numbers/${n.id}` }, ltr(n.number))),
        h('td', {}, stateBadge(n.state)),
        h('td', {}, n.owned ? t('numbers.owned') : t('numbers.granted')),
        h('td', {}, perms(n.permissions))));
      fill(list, page.items.length === 0 ? h('p', { class: 'muted', id: 'numbers-empty' }, t('numbers.none')) :
        h('table', { id: 'numbers-table' },
          h('thead', {}, h('tr', {}, h('th', {}, t('numbers.number')), h('th', {}, t('numbers.state')),
            h('th', {}, t('numbers.holding')), h('th', {}, t('numbers.permissions')))),
          h('tbody', {}, rows)),
        pager(s, page, load));
    } catch (e) { fill(list, errorBox(e)); }
  };
  fill(root, h('h1', {}, t('numbers.title')), searchForm('numbers-search', s, stateSelect, load), list);
  await load();
}

// ---------------------------------------------------------------- one number

/** The grant tree, nested, with change and unassign buttons on each grant. */
function grantTree(grants, onUnassign, onChange) {
  return h('ul', { class: 'tree' }, grants.map((g) => h('li', { 'data-account': g.account.username },
    h('span', { class: 'node' },
      h('strong', {}, ltr(g.account.username, '')),
      h('span', { class: 'muted' }, ltr(`#${g.account.id}`)),
      perms(g.permissions),
      g.expires_at ? h('span', { class: 'badge warn' }, t('grant.until', { at: time(g.expires_at) })) : null,
      onChange ? h('button', { type: 'button', class: 'secondary small change', 'data-account': g.account.id,
        onclick: () => onChange(g) }, t('grant.change')) : null,
      onUnassign ? h('button', { type: 'button', class: 'danger small unassign', 'data-account': g.account.id,
        onclick: () => onUnassign(g) }, t('grant.unassign')) : null),
    g.grants && g.grants.length ? grantTree(g.grants, onUnassign, onChange) : null)));
}

/** Every account in a grant tree, by id. */
function accountsIn(grants, into = new Map()) {
  for (const g of grants) { into.set(g.account.id, g.account); accountsIn(g.grants || [], into); }
  return into;
}

/** An RFC 3339 time (UTC, to the second) from a datetime-local input. */
function rfc3339(local) {
  return new Date(local).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function number(root, app, id) {
  fill(root, h('p', { class: 'muted' }, t('loading')));
  let n, history, downline = [];
  try {
    [n, history] = await Promise.all([
      api('GET', `/numbers/${encodeURIComponent(id)}`),
      api('GET', `/numbers/${encodeURIComponent(id)}/history?limit=50`),
    ]);
    if (app.me.role !== 'user') downline = await all('/accounts');
  } catch (e) {
    fill(root, h('p', {}, h('a', { href: '#/numbers' }, t('back.numbers'))), errorBox(e));
    return;
  }
  const reload = () => number(root, app, id);
  const names = accountsIn(n.grants);
  const nameOf = (id) => (names.get(id) || {}).username || `#${id}`;
  const unassign = async (g) => {
    // The server's own preview of the cascade (nothing is written).
    let preview;
    try {
      preview = await api('DELETE', `/numbers/${n.id}/grants/${g.account.id}?dry_run=true`);
    } catch (e) { toast(problemText(e)); return; }
    const removed = preview.changes.filter((c) => c.type === 'grant.removed');
    const ok = await confirmDialog({
      title: t('unassign.title', { account: g.account.username }),
      body: h('div', {},
        h('p', {}, t('unassign.lead', { n: removed.length })),
        h('ul', { class: 'tree', id: 'cascade' }, removed.map((c) =>
          h('li', { style: `padding-inline-start:${(c.chain || []).length * 1.2}rem`, 'data-account': nameOf(c.account_id) },
            ltr(nameOf(c.account_id), ''), ' ', h('span', { class: 'muted' }, t('reason.' + c.reason)))))),
      ok: t('grant.unassign'), cancel: t('cancel'),
    });
    if (!ok) return;
    try {
      const r = await api('DELETE', `/numbers/${n.id}/grants/${g.account.id}`);
      toast(t('unassign.done', { n: r.removed.length }));
      await reload();
    } catch (e) { toast(problemText(e)); }
  };
  const change = async (g) => {
    const form = h('form', { class: 'stack', id: 'change-form' },
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'send', checked: g.permissions.send }), t('perm.send')),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'gets', checked: g.permissions.gets }), t('perm.gets')),
      h('label', {}, t('assign.expires'), h('input', { type: 'datetime-local', name: 'expires', dir: 'ltr' })),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'no_end' }), t('change.no_end')),
      h('p', { class: 'muted' }, t('change.hint')));
    const ok = await confirmDialog({ title: t('change.title', { account: g.account.username }), body: form,
      ok: t('change.submit'), cancel: t('cancel'), danger: false });
    if (!ok) return;
    const f = new FormData(form);
    const body = { send: f.get('send') === 'on', gets: f.get('gets') === 'on' };
    const expires = String(f.get('expires') || '');
    if (f.get('no_end') === 'on') body.expires_at = null;
    else if (expires) body.expires_at = rfc3339(expires);
    try {
      const r = await api('PATCH', `/numbers/${n.id}/grants/${g.account.id}`, body);
      toast(t('change.done', { n: r.changes.length }));
      await reload();
    } catch (e) { toast(problemText(e), 6000); }
  };
  const unsubscribe = async () => {
    let preview;
    try { preview = await api('DELETE', `/subscriptions/${n.id}?dry_run=true`); } catch (e) { toast(problemText(e)); return; }
    const gone = preview.changes.filter((c) => c.type === 'grant.removed').length;
    const until = (preview.changes.find((c) => c.type === 'number.unsubscribed') || {}).quarantine_until;
    const ok = await confirmDialog({
      title: t('unsubscribe.title', { number: n.number }),
      body: h('div', { id: 'unsubscribe-preview' },
        h('p', {}, t('unsubscribe.grants', { n: gone })),
        h('p', { id: 'quarantine' }, until ? t('unsubscribe.quarantine', { at: time(until) }) : t('unsubscribe.no_quarantine'))),
      ok: t('unsubscribe.submit'), cancel: t('cancel'),
    });
    if (!ok) return;
    try {
      const r = await api('DELETE', `/subscriptions/${n.id}`);
      const q = (r.changes.find((c) => c.type === 'number.unsubscribed') || {}).quarantine_until;
      toast(q ? t('unsubscribe.done', { at: time(q) }) : t('unsubscribe.done_free'), 8000);
      location.hash = '#/numbers';
    } catch (e) { toast(problemText(e)); }
  };
  const canManage = app.me.role !== 'user';
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('number.state')), h('dd', {}, stateBadge(n.state)),
    h('dt', {}, t('number.owner')), h('dd', {}, n.owner ? ltr(n.owner.username, '') : h('span', { class: 'muted' }, t('number.owner_hidden'))),
    h('dt', {}, t('number.mine')), h('dd', {}, perms(n.permissions)),
    h('dt', {}, t('number.country')), h('dd', {}, ltr(n.country || '—')),
    h('dt', {}, t('number.uid')), h('dd', {}, ltr(n.uid)),
    h('dt', {}, t('number.prices')), h('dd', {}, ltr(`${n.monthly_price ?? '—'} / ${n.yearly_price ?? '—'}`)));
  const grants = h('section', { class: 'card', id: 'grants' }, h('h2', {}, t('grants.title')),
    n.grants.length ? grantTree(n.grants, canManage ? unassign : null, canManage ? change : null) : h('p', { class: 'muted', id: 'grants-none' }, t('grants.none')));
  const owned = n.owner && n.owner.id === app.me.id && n.state === 'subscribed';
  const hist = h('section', { class: 'card', id: 'history' }, h('h2', {}, t('history.title')),
    history.items.length === 0 ? h('p', { class: 'muted' }, t('history.none')) :
      h('table', {},
        h('thead', {}, h('tr', {}, ['history.at', 'history.action', 'history.actor', 'history.target', 'history.permissions'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, history.items.map((e) => h('tr', {},
          h('td', {}, h('bdi', {}, time(e.at))),
          h('td', {}, t('action.' + e.action) === 'action.' + e.action ? ltr(e.action, '') : t('action.' + e.action)),
          h('td', {}, e.actor ? ltr(e.actor.username, '') : h('span', { class: 'muted' }, t('history.above'))),
          h('td', {}, e.target ? ltr(e.target.username, '') : ''),
          h('td', {}, e.permissions ? perms(e.permissions) : ''))))));
  fill(root,
    h('p', {}, h('a', { href: '#/numbers' }, t('back.numbers'))),
    h('h1', {}, ltr(n.number)),
    h('div', { class: 'grid2' }, h('section', { class: 'card' }, facts,
      owned ? h('p', {}, h('button', { type: 'button', class: 'danger', id: 'unsubscribe', onclick: unsubscribe }, t('unsubscribe.button'))) : null),
    canManage ? assignForm(n, downline, reload) : null),
    grants, hist);
}

function assignForm(n, downline, reload) {
  const holders = new Set();
  const walk = (gs) => gs.forEach((g) => { holders.add(g.account.id); walk(g.grants || []); });
  walk(n.grants);
  const choices = downline.filter((a) => !holders.has(a.id));
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', id: 'assign-form' },
    h('h2', {}, t('assign.title')),
    h('label', {}, t('assign.account'),
      h('select', { name: 'account', required: true },
        h('option', { value: '' }, t('assign.choose')),
        choices.map((a) => h('option', { value: a.id }, `${a.username}${a.name ? ' — ' + a.name : ''}`)))),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'send', checked: n.permissions.send, disabled: !n.permissions.send }), t('perm.send')),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'gets', checked: n.permissions.gets, disabled: !n.permissions.gets }), t('perm.gets')),
    h('label', {}, t('assign.expires'), h('input', { type: 'datetime-local', name: 'expires', dir: 'ltr' })),
    h('p', { class: 'muted' }, t('assign.expires_hint')),
    h('button', { type: 'submit', disabled: choices.length === 0 }, t('assign.submit')),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const account = f.get('account');
    if (!account) { error.textContent = t('assign.choose'); return; }
    const body = { send: f.get('send') === 'on', gets: f.get('gets') === 'on' };
    const expires = String(f.get('expires') || '');
    if (expires) body.expires_at = rfc3339(expires);
    try {
      await api('PUT', `/numbers/${n.id}/grants/${account}`, body);
      toast(t('assign.done'));
      await reload();
    } catch (e) { error.textContent = problemText(e); }
  });
  return h('section', { class: 'card' }, form);
}

// ---------------------------------------------------------------- downline

export async function accounts(root, app) {
  fill(root, h('h1', {}, t('accounts.title')), h('p', { class: 'muted' }, t('loading')));
  let list;
  try { list = await all('/accounts'); } catch (e) { fill(root, h('h1', {}, t('accounts.title')), errorBox(e)); return; }
  const children = new Map();
  for (const a of list) {
    if (!children.has(a.parent_id)) children.set(a.parent_id, []);
    children.get(a.parent_id).push(a);
  }
  const ids = new Set(list.map((a) => a.id));
  const node = (a) => h('li', { 'data-account': a.username },
    h('span', { class: 'node' },
      h('strong', {}, ltr(a.username, '')),
      a.name ? h('span', {}, a.name) : null,
      h('span', { class: 'muted' }, ltr(`#${a.id}`)),
      h('span', { class: 'badge' }, t('role.' + a.role)),
      a.status === 'suspended' ? h('span', { class: 'badge warn' }, t('status.suspended')) : null),
    children.has(a.id) ? h('ul', {}, children.get(a.id).map(node)) : null);
  // The caller at the root; anything whose parent is not listed hangs below it.
  const top = list.filter((a) => a.parent_id === app.me.id || !ids.has(a.parent_id));
  const tree = h('ul', { class: 'tree', id: 'downline' },
    h('li', {}, h('span', { class: 'node' }, h('strong', {}, ltr(app.me.username, '')), h('span', { class: 'badge' }, t('accounts.you'))),
      top.length ? h('ul', {}, top.map(node)) : null));
  fill(root, h('h1', {}, t('accounts.title')),
    h('div', { class: 'grid2' },
      h('section', { class: 'card' }, h('h2', {}, t('accounts.tree')), list.length ? tree : h('p', { class: 'muted' }, t('accounts.none'))),
      h('section', { class: 'card' }, createAccount(() => accounts(root, app)))));
}

function createAccount(reload) {
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'stack', id: 'account-form' },
    h('h2', {}, t('accounts.create')),
    h('label', {}, t('field.username'), h('input', { name: 'username', dir: 'ltr', required: true, autocomplete: 'off' })),
    h('label', {}, t('field.password'), h('input', { name: 'password', type: 'password', dir: 'ltr', required: true, autocomplete: 'new-password' })),
    h('p', { class: 'muted' }, t('accounts.password_hint')),
    h('label', {}, t('field.name'), h('input', { name: 'name' })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'is_reseller' }), t('accounts.reseller')),
    h('button', { type: 'submit' }, t('accounts.submit')),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { username: f.get('username'), password: f.get('password'), is_reseller: f.get('is_reseller') === 'on' };
    if (String(f.get('name') || '').trim()) body.name = String(f.get('name')).trim();
    try {
      const a = await api('POST', '/accounts', body);
      toast(t('accounts.done', { username: a.username }));
      await reload();
    } catch (e) { error.textContent = problemText(e); }
  });
  return form;
}

// ---------------------------------------------------------------- pool

const poolState = { q: '', mode: 'prefix', stack: [], cursor: null };

export async function pool(root) {
  const s = poolState;
  const list = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const subscribe = async (n) => {
    const ok = await confirmDialog({ title: t('pool.subscribe_title'), body: h('p', {}, ltr(n.number)), ok: t('pool.subscribe'), cancel: t('cancel'), danger: false });
    if (!ok) return;
    try {
      await api('POST', '/subscriptions', { number: n.uid });
      toast(t('pool.subscribed', { number: n.number }));
      await load();
    } catch (e) { toast(problemText(e), 6000); }
  };
  const reserve = async (n) => {
    try {
      const r = await api('POST', '/reservations', { number: n.uid });
      toast(t('pool.reserved', { number: n.number, at: time(r.until) }), 6000);
      await load();
    } catch (e) { toast(problemText(e), 6000); }
  };
  const load = async () => {
    try {
      const page = await api('GET', '/pool' + query({ [s.mode]: digits(s.q), limit: 20, cursor: s.cursor }));
      fill(list, page.items.length === 0 ? h('p', { class: 'muted', id: 'pool-empty' }, t('pool.none')) :
        h('table', { id: 'pool-table' },
          h('thead', {}, h('tr', {}, ['numbers.number', 'number.country', 'pool.monthly', 'pool.yearly', ''].map((k) => h('th', {}, k ? t(k) : '')))),
          h('tbody', {}, page.items.map((n) => h('tr', { 'data-number': n.number },
            h('td', {}, ltr(n.number)), h('td', {}, ltr(n.country || '—')),
            h('td', {}, ltr(n.monthly_price ?? '—')), h('td', {}, ltr(n.yearly_price ?? '—')),
            h('td', {}, h('button', { type: 'button', class: 'small secondary reserve', onclick: () => reserve(n) }, t('pool.reserve')), ' ',
              h('button', { type: 'button', class: 'small subscribe', onclick: () => subscribe(n) }, t('pool.subscribe'))))))),
        pager(s, page, load));
    } catch (e) { fill(list, errorBox(e)); }
  };
  fill(root, h('h1', {}, t('pool.title')), searchForm('pool-search', s, null, load), list);
  await load();
}

// ---------------------------------------------------------------- reservations

export async function reservations(root) {
  const list = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const load = async () => {
    try {
      const items = await all('/reservations');
      fill(list, items.length === 0 ? h('p', { class: 'muted', id: 'reservations-none' }, t('reservations.none')) :
        h('table', { id: 'reservations-table' },
          h('thead', {}, h('tr', {}, ['numbers.number', 'number.country', 'reservations.until', '', ''].map((k) => h('th', {}, k ? t(k) : '')))),
          h('tbody', {}, items.map((r) => h('tr', { 'data-number': r.number },
            h('td', {}, ltr(r.number)), h('td', {}, ltr(r.country || '—')), h('td', {}, h('bdi', {}, time(r.until))),
            h('td', {}, h('button', { type: 'button', class: 'small subscribe', onclick: () => subscribe(r) }, t('pool.subscribe'))),
            h('td', {}, h('button', { type: 'button', class: 'small danger cancel', onclick: () => cancel(r) }, t('reservations.cancel'))))))));
    } catch (e) { fill(list, errorBox(e)); }
  };
  const subscribe = async (r) => {
    try {
      await api('POST', '/subscriptions', { number: r.uid });
      toast(t('pool.subscribed', { number: r.number }));
      await load();
    } catch (e) { toast(problemText(e), 6000); }
  };
  const cancel = async (r) => {
    try {
      await api('DELETE', `/reservations/${r.id}`);
      toast(t('reservations.cancelled', { number: r.number }));
      await load();
    } catch (e) { toast(problemText(e)); }
  };
  fill(root, h('h1', {}, t('reservations.title')), h('p', { class: 'muted' }, t('reservations.lead')), list);
  await load();
}

// ---------------------------------------------------------------- API keys

export async function keys(root) {
  const fresh = h('div', { id: 'new-key-slot' });
  const list = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const load = async () => {
    try {
      const items = await all('/keys');
      fill(list, items.length === 0 ? h('p', { class: 'muted', id: 'keys-none' }, t('keys.none')) :
        h('table', { id: 'keys-table' },
          h('thead', {}, h('tr', {}, h('th', {}, t('keys.id')), h('th', {}, t('keys.created')), h('th', {}, ''))),
          h('tbody', {}, items.map((k) => h('tr', { 'data-key': k.id },
            h('td', {}, ltr(`#${k.id}`)), h('td', {}, h('bdi', {}, time(k.created_at))),
            h('td', {}, h('button', { type: 'button', class: 'danger small revoke', onclick: () => revoke(k) }, t('keys.revoke'))))))));
    } catch (e) { fill(list, errorBox(e)); }
  };
  const revoke = async (k) => {
    const ok = await confirmDialog({ title: t('keys.revoke_title', { id: k.id }), body: h('p', {}, t('keys.revoke_lead')), ok: t('keys.revoke'), cancel: t('cancel') });
    if (!ok) return;
    try {
      await api('DELETE', `/keys/${k.id}`);
      toast(t('keys.revoked'));
      fill(fresh);
      await load();
    } catch (e) { toast(problemText(e)); }
  };
  const create = async () => {
    try {
      const k = await api('POST', '/keys');
      const code = h('code', { dir: 'ltr', id: 'new-key' }, k.key);
      fill(fresh, h('div', { class: 'new-key', role: 'alert' },
        h('strong', {}, t('keys.shown_once')), code,
        h('button', { type: 'button', class: 'secondary small', onclick: async () => {
          try { await navigator.clipboard.writeText(k.key); toast(t('keys.copied')); } catch { toast(t('keys.copy_failed')); }
        } }, t('keys.copy'))));
      await load();
    } catch (e) { toast(problemText(e)); }
  };
  fill(root, h('h1', {}, t('keys.title')), h('p', { class: 'muted' }, t('keys.lead')),
    h('p', {}, h('button', { type: 'button', id: 'create-key', onclick: create }, t('keys.create'))),
    fresh, list);
  await load();
}

// ---------------------------------------------------------------- webhooks

export async function webhooks(root) {
  const fresh = h('div', { id: 'new-webhook-slot' });
  const list = h('div', {}, h('p', { class: 'muted' }, t('loading')));
  const log = h('div', { id: 'deliveries' });
  const error = h('p', { class: 'error', role: 'alert' });
  const load = async () => {
    try {
      const items = await all('/webhooks');
      fill(list, items.length === 0 ? h('p', { class: 'muted', id: 'webhooks-none' }, t('webhooks.none')) :
        h('table', { id: 'webhooks-table' },
          h('thead', {}, h('tr', {}, ['webhooks.url', 'webhooks.types', 'webhooks.state', '', ''].map((k) => h('th', {}, k ? t(k) : '')))),
          h('tbody', {}, items.map((w) => h('tr', { 'data-webhook': w.id },
            h('td', {}, ltr(w.url)), h('td', {}, ltr(w.types.join(' '))),
            h('td', {}, w.enabled ? t('webhooks.enabled') : `${t('webhooks.disabled')}: ${w.disabled_reason || ''}`),
            h('td', {}, h('button', { type: 'button', class: 'small secondary deliveries', onclick: () => deliveries(w) }, t('webhooks.deliveries'))),
            h('td', {}, h('button', { type: 'button', class: 'small danger delete', onclick: () => remove(w) }, t('webhooks.delete'))))))));
    } catch (e) { fill(list, errorBox(e)); }
  };
  const deliveries = async (w) => {
    try {
      const page = await api('GET', `/webhooks/${w.id}/deliveries` + query({ limit: 50 }));
      const rows = page.items;
      fill(log, h('h2', {}, t('webhooks.log', { url: w.url })),
        h('p', {}, h('button', { type: 'button', class: 'small secondary', id: 'deliveries-refresh', onclick: () => deliveries(w) }, t('webhooks.refresh'))),
        rows.length === 0 ? h('p', { class: 'muted', id: 'deliveries-none' }, t('webhooks.no_deliveries')) :
          h('table', { id: 'deliveries-table' },
            h('thead', {}, h('tr', {}, ['webhooks.event', 'webhooks.delivery_state', 'webhooks.attempts', 'webhooks.last', ''].map((k) => h('th', {}, k ? t(k) : '')))),
            h('tbody', {}, rows.map((d) => {
              const last = d.log[d.log.length - 1];
              const said = last ? (last.status ? `HTTP ${last.status}, ${last.latency_ms} ms` : (last.error || '—')) : '—';
              return h('tr', { 'data-delivery': d.id },
                h('td', {}, ltr(d.event_type)), h('td', {}, t('webhooks.state_' + d.state)), h('td', {}, ltr(String(d.attempts))),
                h('td', {}, ltr(said)),
                h('td', {}, h('button', { type: 'button', class: 'small retry', onclick: () => retry(w, d) }, t('webhooks.retry'))));
            }))));
    } catch (e) { fill(log, errorBox(e)); }
  };
  const retry = async (w, d) => {
    try {
      await api('POST', `/webhooks/${w.id}/deliveries/${d.id}/retry`);
      toast(t('webhooks.retried'));
      await deliveries(w);
    } catch (e) { toast(problemText(e)); }
  };
  const remove = async (w) => {
    const ok = await confirmDialog({ title: t('webhooks.delete_title', { url: w.url }), body: h('p', {}, t('webhooks.delete_lead')), ok: t('webhooks.delete'), cancel: t('cancel') });
    if (!ok) return;
    try {
      await api('DELETE', `/webhooks/${w.id}`);
      toast(t('webhooks.deleted'));
      fill(fresh);
      fill(log);
      await load();
    } catch (e) { toast(problemText(e)); }
  };
  const form = h('form', { class: 'stack', id: 'webhook-form' },
    h('h2', {}, t('webhooks.create')),
    h('label', {}, t('field.url'), h('input', { name: 'url', dir: 'ltr', required: true, autocomplete: 'off' })),
    h('p', { class: 'muted' }, t('webhooks.url_hint')),
    h('button', { type: 'submit' }, t('webhooks.submit')),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const url = String(new FormData(form).get('url') || '').trim();
    try {
      const w = await api('POST', '/webhooks', { url, types: ['*'] });
      fill(fresh, h('div', { class: 'new-key', role: 'alert' },
        h('strong', {}, t('webhooks.secret_once')), h('code', { dir: 'ltr', id: 'new-webhook-secret' }, w.secret)));
      form.reset();
      await load();
    } catch (e) { error.textContent = problemText(e); }
  });
  fill(root, h('h1', {}, t('webhooks.title')), h('p', { class: 'muted' }, t('webhooks.lead')), form, fresh, list, log);
  await load();
}

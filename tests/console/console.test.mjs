// The reseller console in Debian's chromium (playwright-core, no downloaded
// browser), against a server seeded by run.sh. One page walks the flows in
// order; each step is a test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const base = process.env.LK_URL;
const user = process.env.LK_USER;
const password = process.env.LK_PASSWORD;
// The demo's sub-reseller beneath the reseller, and its customer.
const sub = process.env.LK_SUB;
const subPassword = process.env.LK_SUB_PASSWORD;
const leaf = process.env.LK_LEAF;
const leafPassword = process.env.LK_LEAF_PASSWORD;
const screens = process.env.LK_SCREENS;
const origin = new URL(base).origin;

let browser, context, page;
const offOrigin = [];
const consoleErrors = [];
let cspProvoked = 0;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) offOrigin.push(r.url()); });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
});

after(async () => { await browser?.close(); });

async function ready() {
  await page.waitForSelector('body[data-ready="true"]');
}
const dir = () => page.evaluate(() => [document.dir, document.documentElement.lang]);
// The page keeps no credential: nothing in either storage, no readable cookie.
const stored = () => page.evaluate(() => [sessionStorage.length, Object.keys(localStorage).filter((k) => k !== 'lk.lang'), document.cookie]);
const sessionCookie = async () => (await context.cookies()).find((c) => c.name === 'lk_session');
async function cookieStatus(method, path, csrf) {
  return page.evaluate(async ([m, p, c]) => (await fetch(p, { method: m, headers: c ? { 'x-csrf-token': c } : {} })).status, [method, path, csrf]);
}
async function status(path, bearer) {
  return page.evaluate(async ([p, t]) => (await fetch(p, { headers: { authorization: `Bearer ${t}` } })).status, [path, bearer]);
}
async function screenshot(name) {
  await page.screenshot({ path: path.join(screens, name), fullPage: true });
}
/** The page at a phone's and a desktop's width. */
async function shots(name) {
  for (const width of [360, 1440]) {
    await page.setViewportSize({ width, height: 860 });
    await page.waitForTimeout(50);
    await screenshot(`${name}-${width}.png`);
  }
  await page.setViewportSize({ width: 1280, height: 860 });
}

test('/ redirects to the console, which is Persian and right to left', async () => {
  const res = await page.goto(base + '/');
  assert.equal(new URL(page.url()).pathname, '/console/');
  assert.equal(res.status(), 200);
  await ready();
  assert.deepEqual(await dir(), ['rtl', 'fa']);
  assert.equal(await page.textContent('#sign-in button[type=submit]'), 'ورود');
});

test('a wrong password is refused in Persian', async () => {
  await page.fill('#sign-in input[name=username]', user);
  await page.fill('#sign-in input[name=password]', 'not-the-password');
  await page.click('#sign-in button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#sign-in .error').textContent.length > 0);
  assert.match(await page.textContent('#sign-in .error'), /نادرست/);
  assert.equal(await sessionCookie(), undefined);
});

test('sign in: the numbers page lists what the reseller holds', async () => {
  await page.fill('#sign-in input[name=password]', password);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#numbers-table');
  const c = await sessionCookie();
  assert.ok(c && c.value.length >= 20);
  assert.deepEqual([c.httpOnly, c.sameSite, c.path, c.secure], [true, 'Strict', '/', false]);
  assert.deepEqual(await stored(), [0, [], ''], 'no token in sessionStorage, localStorage or document.cookie');
  assert.equal(await page.locator('#numbers-table tbody tr').count(), 20);
  assert.equal(await page.textContent('h1'), 'شماره‌ها');
  // E.164 strings stay left to right inside the right-to-left page.
  const first = page.locator('#numbers-table tbody tr').first().locator('bdi');
  assert.equal(await first.getAttribute('dir'), 'ltr');
  assert.equal(await first.textContent(), '+983000505');
  await screenshot('numbers-fa.png');
  await shots('numbers-fa');
});

test('switch to English; after a reload the choice is remembered', async () => {
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.dir === 'ltr');
  assert.equal(await page.textContent('h1'), 'Numbers');
  await page.reload();
  await ready();
  assert.deepEqual(await dir(), ['ltr', 'en']);
  await page.waitForSelector('#numbers-table');
  assert.equal(await page.textContent('h1'), 'Numbers');
  assert.equal(await page.textContent('#lang-switch'), 'فارسی');
  await screenshot('numbers-en.png');
  await shots('numbers-en');
});

test('numbers: paging with the cursor, search by prefix and contains, state', async () => {
  await page.click('#page-next');
  await page.waitForFunction(() => document.querySelectorAll('#numbers-table tbody tr').length === 5);
  assert.equal(await page.locator('#numbers-table tbody tr').first().getAttribute('data-number'), '+983000526');
  assert.ok(await page.isDisabled('#page-next'));
  await page.click('#page-prev');
  await page.waitForFunction(() => document.querySelectorAll('#numbers-table tbody tr').length === 20);
  await page.fill('#numbers-search input[name=q]', '0510');
  await page.selectOption('#numbers-search select[name=mode]', 'contains');
  await page.click('#numbers-search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#numbers-table tbody tr').length === 1);
  await page.fill('#numbers-search input[name=q]', '+98300052');
  await page.selectOption('#numbers-search select[name=mode]', 'prefix');
  await page.click('#numbers-search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#numbers-table tbody tr').length === 10);
  await page.selectOption('#numbers-search select[name=state]', 'available');
  await page.click('#numbers-search button[type=submit]');
  await page.waitForSelector('#numbers-empty');
  await page.selectOption('#numbers-search select[name=state]', '');
  await page.fill('#numbers-search input[name=q]', '');
  await page.click('#numbers-search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#numbers-table tbody tr').length === 20);
});

test("one number's page: details, an empty grant tree, the custody history", async () => {
  await page.click('#numbers-table a:has-text("+983000505")');
  await page.waitForSelector('#assign-form');
  assert.match(await page.textContent('h1'), /\+983000505/);
  await page.waitForSelector('#grants-none');
  assert.ok(await page.locator('#history').isVisible());
});

test('assign it to a sub-account; the grant is in the tree', async () => {
  const value = await page.locator('#assign-form select[name=account] option', { hasText: sub }).getAttribute('value');
  await page.selectOption('#assign-form select[name=account]', value);
  await page.uncheck('#assign-form input[name=gets]');
  await page.click('#assign-form button[type=submit]');
  await page.waitForSelector(`#grants li[data-account="${sub}"]`);
  const node = page.locator(`#grants li[data-account="${sub}"]`);
  assert.equal(await node.locator('.badge.on').count(), 1, 'send only');
  await page.waitForSelector('#history td:has-text("assigned")');
});

test('a grant made below it shows nested in the tree', async () => {
  // The sub-reseller passes the number on to its customer, through the native face.
  const id = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  const made = await page.evaluate(async ([id, sub, password, leaf]) => {
    const call = async (method, path, token, body) => {
      const r = await fetch('/lk/v1' + path, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body && JSON.stringify(body) });
      return [r.status, r.status === 204 ? null : await r.json()];
    };
    const [, s] = await call('POST', '/sessions', null, { username: sub, password });
    const [, found] = await call('GET', `/accounts?q=${leaf}`, s.token);
    const [status] = await call('PUT', `/numbers/${id}/grants/${found.items[0].id}`, s.token, { send: true, gets: false });
    await call('DELETE', '/sessions/current', s.token);
    return status;
  }, [id, sub, subPassword, leaf]);
  assert.equal(made, 201);
  await page.reload();
  await ready();
  await page.waitForSelector(`#grants li[data-account="${sub}"] li[data-account="${leaf}"]`);
  await shots('number-en');
  await page.click('#lang-switch');
  await page.waitForFunction((l) => document.dir === 'rtl' && document.querySelector(`#grants li[data-account="${l}"]`), leaf);
  await shots('number-fa');
  await page.click('#lang-switch');
  await page.waitForFunction((l) => document.dir === 'ltr' && document.querySelector(`#grants li[data-account="${l}"]`), leaf);
});

test('change a grant: receive added to the sub-reseller', async () => {
  await page.click(`#grants li[data-account="${sub}"] > .node button.change`);
  await page.waitForSelector('dialog#confirm[open] #change-form');
  await page.check('#change-form input[name=gets]');
  await page.click('#confirm-ok');
  await page.waitForFunction((s) => document.querySelectorAll(`#grants li[data-account="${s}"] > .node .badge.on`).length === 2, sub);
  assert.match(await page.textContent('#toast'), /Changed: 1 grants/);
  await page.waitForSelector('#history td:has-text("changed")');
});

test('unassign: the confirmation lists the cascade, cancelling keeps the grant, confirming removes it', async () => {
  const previews = [];
  page.on('request', (r) => { if (r.url().includes('dry_run=true')) previews.push(r.method()); });
  await page.click(`#grants li[data-account="${sub}"] > .node button.unassign`);
  await page.waitForSelector('dialog#confirm[open]');
  assert.deepEqual(previews, ['DELETE'], "the server's dry run lists the cascade");
  assert.equal(await page.locator('#cascade li').count(), 2, 'the grant and the one made from it');
  assert.match(await page.textContent('#cascade'), new RegExp(`${sub}.*${leaf}`, 's'));
  await page.click('#confirm-cancel');
  assert.equal(await page.locator('dialog#confirm').count(), 0);
  assert.equal(await page.locator(`#grants li[data-account="${sub}"]`).count(), 1);
  await page.click(`#grants li[data-account="${sub}"] > .node button.unassign`);
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('#grants-none');
  assert.match(await page.textContent('#toast'), /2 grants removed/);
});

test('the downline as a tree; create a sub-account', async () => {
  await page.click('#nav-accounts');
  await page.waitForSelector('#downline');
  // The customer hangs below the sub-reseller.
  assert.equal(await page.locator(`#downline li[data-account="${sub}"] li[data-account="${leaf}"]`).count(), 1);
  await page.fill('#account-form input[name=username]', 'console_new');
  await page.fill('#account-form input[name=password]', 'short');
  await page.click('#account-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#account-form .error').textContent.includes('Password'));
  await page.fill('#account-form input[name=password]', 'New-Sub-Pass-9!');
  await page.fill('#account-form input[name=name]', 'New Sub');
  await page.click('#account-form button[type=submit]');
  await page.waitForSelector('#downline li[data-account="console_new"]');
  await shots('accounts-en');
});

test('the pool in Persian: reserve, the reservations page, cancel', async () => {
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.dir === 'rtl');
  await page.click('#nav-pool');
  await page.waitForSelector('#pool-table');
  assert.equal(await page.locator('#pool-table tbody tr').count(), 8);
  await shots('pool-fa');
  await page.click('#pool-table tr[data-number="+983000901"] button.reserve');
  await page.waitForFunction(() => /رزرو شد/.test(document.getElementById('toast').textContent));
  await page.click('#nav-reservations');
  await page.waitForSelector('#reservations-table tr[data-number="+983000901"]');
  assert.equal(await page.textContent('h1'), 'رزروها');
  await shots('reservations-fa');
  await page.click('#reservations-table button.cancel');
  await page.waitForSelector('#reservations-none');
});

test('subscribe from the pool, then unsubscribe from the number page: the quarantine explained', async () => {
  await page.click('#nav-pool');
  await page.waitForSelector('#pool-table');
  assert.equal(await page.locator('#pool-table tbody tr').count(), 8);
  await page.fill('#pool-search input[name=q]', '902');
  await page.selectOption('#pool-search select[name=mode]', 'contains');
  await page.click('#pool-search button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#pool-table tbody tr').length === 1);
  await page.click('#pool-table button.subscribe');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => /\+983000902/.test(document.getElementById('toast').textContent));
  await page.goto(base + '/console/#/numbers/%2B983000902');
  await ready();
  await page.waitForSelector('#unsubscribe');
  await page.click('#unsubscribe');
  await page.waitForSelector('dialog#confirm[open] #quarantine');
  // Quarantined until 30 days on (the default): nobody else may take it meanwhile.
  assert.match(await page.textContent('#quarantine'), /قرنطینه/);
  await page.click('#confirm-ok');
  await page.waitForFunction(() => /قرنطینه/.test(document.getElementById('toast').textContent));
  await page.waitForSelector('#numbers-table');
  await page.click('#lang-switch');
  await page.waitForFunction(() => document.dir === 'ltr');
});

test('API keys: create (shown once), it works, revoke, it no longer works', async () => {
  // The demo made the reseller one key; the list shows it, never its secret.
  await page.click('#nav-keys');
  await page.waitForSelector('#keys-table');
  assert.equal(await page.locator('#keys-table tbody tr').count(), 1);
  await page.click('#create-key');
  await page.waitForSelector('#new-key');
  const key = (await page.textContent('#new-key')).trim();
  assert.ok(key.length >= 20);
  await page.waitForFunction(() => document.querySelectorAll('#keys-table tbody tr').length === 2);
  assert.equal(await status('/lk/v1/me', key), 200);
  // The new key is the last, by id.
  await page.click('#keys-table tbody tr:last-child button.revoke');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => document.querySelectorAll('#keys-table tbody tr').length === 1);
  assert.equal(await page.locator('#new-key').count(), 0, 'the key is not shown again');
  assert.equal(await status('/lk/v1/me', key), 401);
});

test('webhooks: add an endpoint (its secret shown once), its delivery log, send again, delete', async () => {
  await page.click('#nav-webhooks');
  await page.waitForSelector('#webhooks-none');
  await page.fill('#webhook-form input[name=url]', 'https://hooks.example.com/linekeeper');
  await page.click('#webhook-form button[type=submit]');
  await page.waitForSelector('#new-webhook-secret');
  assert.match(await page.textContent('#new-webhook-secret'), /^whsec_[A-Za-z0-9+/=]+$/);
  await page.waitForSelector('#webhooks-table tr[data-webhook]');
  // Something happens in the reseller's tree: a reservation made and
  // cancelled, through the API with the console's own session.
  const statuses = await page.evaluate(async () => {
    const csrf = (await (await fetch('/console/session')).json()).csrf_token;
    const headers = { 'content-type': 'application/json', 'x-csrf-token': csrf };
    const made = await fetch('/lk/v1/reservations', { method: 'POST', headers, body: JSON.stringify({ number: '+983000903' }) });
    const gone = await fetch('/lk/v1/reservations/%2B983000903', { method: 'DELETE', headers });
    return [made.status, gone.status];
  });
  assert.deepEqual(statuses, [201, 204]);
  await page.click('#webhooks-table button.deliveries');
  await page.waitForSelector('#deliveries-refresh');
  // The dispatcher fans the events out to the endpoint within moments.
  for (let i = 0; i < 40 && await page.locator('#deliveries-table tbody tr').count() < 2; i++) {
    await page.waitForTimeout(250);
    await page.click('#deliveries-refresh');
    await page.waitForSelector('#deliveries-table, #deliveries-none');
  }
  const events = await page.locator('#deliveries-table tbody tr td:first-child').allTextContents();
  assert.ok(events.includes('number.reserved'), events.join(', '));
  await shots('webhooks-en');
  await page.click('#deliveries-table tbody tr:first-child button.retry');
  await page.waitForFunction(() => /sent again/.test(document.getElementById('toast').textContent));
  await page.reload();
  await ready();
  await page.waitForSelector('#webhooks-table');
  assert.equal(await page.locator('#new-webhook-secret').count(), 0, 'the secret is not shown again');
  await page.click('#webhooks-table button.delete');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('#webhooks-none');
});

for (const lang of ['en', 'fa']) {
  test(`CSRF (${lang}): a cookie-authenticated change without X-CSRF-Token is refused, with it it is served`, async () => {
    if ((await dir())[1] !== lang) { await page.click('#lang-switch'); await page.waitForFunction((l) => document.documentElement.lang === l, lang); }
    const csrf = await page.evaluate(async () => (await (await fetch('/console/session')).json()).csrf_token);
    assert.equal(await cookieStatus('GET', '/lk/v1/me'), 200, 'a same-origin GET needs no header');
    assert.equal(await cookieStatus('DELETE', '/lk/v1/keys/999999'), 403, 'no header');
    assert.equal(await cookieStatus('DELETE', '/lk/v1/keys/999999', 'f'.repeat(64)), 403, 'a wrong header');
    assert.equal(await cookieStatus('DELETE', '/lk/v1/keys/999999', csrf), 404, 'with it: served (no such key)');
    // The console itself still works in this language.
    await page.click('#nav-numbers');
    await page.waitForSelector('#numbers-table');
    assert.equal(await page.textContent('h1'), lang === 'fa' ? 'شماره‌ها' : 'Numbers');
  });

  test(`CSP (${lang}): an injected inline script does not run`, async () => {
    const ran = await page.evaluate(async () => {
      let violated = false;
      document.addEventListener('securitypolicyviolation', () => { violated = true; }, { once: true });
      const s = document.createElement('script');
      s.textContent = 'window.__inline = true;';
      document.body.append(s);
      await new Promise((r) => setTimeout(r, 100));
      s.remove();
      return [window.__inline === true, violated];
    });
    assert.deepEqual(ran, [false, true]);
    cspProvoked += 1;
  });
}

test('sign out: the session is revoked, the cookie cleared and the sign-in page is back', async () => {
  if ((await dir())[1] !== 'en') { await page.click('#lang-switch'); await page.waitForFunction(() => document.dir === 'ltr'); }
  const before = (await sessionCookie()).value;
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  assert.equal(await sessionCookie(), undefined, 'the cookie is cleared');
  assert.ok(await page.locator('header#top').isHidden());
  assert.equal(await status('/lk/v1/me', before), 401, 'and its session revoked');
});

test('a plain user sees only its numbers and the pool', async () => {
  await page.fill('#sign-in input[name=username]', leaf);
  await page.fill('#sign-in input[name=password]', leafPassword);
  await page.click('#sign-in button[type=submit]');
  await page.waitForSelector('#nav-numbers');
  await page.waitForSelector('#numbers-empty, #numbers-table');
  const nav = await page.locator('#nav a').evaluateAll((as) => as.map((a) => a.id));
  assert.deepEqual(nav, ['nav-numbers', 'nav-pool', 'nav-reservations']);
  await page.click('#nav-pool');
  await page.waitForSelector('#pool-table, #pool-empty');
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
});

test('nothing was loaded from outside the server, and nothing was refused by the CSP', async () => {
  assert.deepEqual(offOrigin, []);
  // The refusals the flows provoke on purpose (a wrong password, a weak one,
  // a route not built yet, a revoked key) are logged by the browser as
  // failed loads; nothing else may be.
  const csp = consoleErrors.filter((e) => /Content Security Policy/.test(e));
  assert.equal(csp.length, cspProvoked, 'only the inline scripts injected on purpose');
  const unexpected = consoleErrors.filter((e) => !/Content Security Policy/.test(e) &&
    !/Failed to load resource: the server responded with a status of (401|403|404|405|422)/.test(e));
  assert.deepEqual(unexpected, []);
});

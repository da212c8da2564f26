// The native face (/lk/v1), signed in by the console's session cookie
// (HttpOnly: no script can read it). The page keeps no credential: only the
// session's CSRF token, in memory, sent as X-CSRF-Token on every request
// that changes anything; after a reload it is asked for again
// (GET /console/session).

const BASE = '/lk/v1';
const SESSION = '/console/session';

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  /** The route does not exist on this server (a native route not built yet). */
  get unsupported() {
    return this.status === 405 || (this.status === 404 && this.problem.detail === 'No such route.');
  }
}

let csrf = null;
export const session = {
  get active() { return csrf !== null; },
  clear() { csrf = null; },
};

let onUnauthenticated = () => {};
export function whenSignedOut(fn) { onUnauthenticated = fn; }

async function call(method, url, body) {
  const headers = { accept: 'application/json, application/problem+json' };
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export async function api(method, path, body) {
  try {
    return await call(method, BASE + path, body);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && csrf) { csrf = null; onUnauthenticated(); }
    throw e;
  }
}

/** Signs in: the server sets the cookie and answers the CSRF token. */
export async function signIn(username, password) {
  const s = await call('POST', SESSION, { username, password });
  csrf = s.csrf_token;
}

/** Whether the cookie holds a live session (and its CSRF token, if so). */
export async function resume() {
  try { csrf = (await call('GET', SESSION)).csrf_token; } catch { csrf = null; }
  return csrf !== null;
}

/** Revokes the session and clears the cookie. */
export async function signOut() {
  try { await call('DELETE', SESSION); } finally { csrf = null; }
}

/** A query string from the entries whose values are not empty. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Every page of a list (at most `max` items). */
export async function all(path, params = {}, max = 5000) {
  const items = [];
  let cursor = null;
  do {
    const page = await api('GET', path + query({ ...params, limit: 500, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

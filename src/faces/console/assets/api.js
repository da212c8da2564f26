// The native face (/lk/v1), with the session token kept in sessionStorage.

const BASE = '/lk/v1';
const TOKEN = 'lk.token';

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

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set(token) { sessionStorage.setItem(TOKEN, token); },
  clear() { sessionStorage.removeItem(TOKEN); },
};

let onUnauthenticated = () => {};
export function whenSignedOut(fn) { onUnauthenticated = fn; }

export async function api(method, path, body) {
  const headers = { accept: 'application/json, application/problem+json' };
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(BASE + path, init);
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!res.ok) {
    if (res.status === 401 && path !== '/sessions') { session.clear(); onUnauthenticated(); }
    throw new ApiError(res.status, data);
  }
  return data;
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

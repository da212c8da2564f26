// One catalogue per language (i18n/fa.json, i18n/en.json); Persian by
// default, right to left; the choice is remembered in localStorage.

export const LANGS = { fa: { dir: 'rtl', locale: 'fa-IR' }, en: { dir: 'ltr', locale: 'en-GB' } };
const KEY = 'lk.lang';
let catalogue = {};
let lang = 'fa';

export function preferred() {
  const saved = localStorage.getItem(KEY);
  return Object.hasOwn(LANGS, saved) ? saved : 'fa';
}

export function current() { return lang; }

export async function use(next, remember = false) {
  const res = await fetch(`i18n/${next}.json`);
  catalogue = await res.json();
  lang = next;
  if (remember) localStorage.setItem(KEY, next);
  const root = document.documentElement;
  root.lang = next;
  root.dir = LANGS[next].dir;
  document.title = t('app.title');
}

/** The text for key, with {name} replaced from vars. */
export function t(key, vars = {}) {
  const text = Object.hasOwn(catalogue, key) ? catalogue[key] : key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** A time from the API (RFC 3339, UTC), in the language's calendar. */
export function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(LANGS[lang].locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC';
}

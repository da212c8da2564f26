// Building the page without innerHTML (every text goes in as text).

/** h('tag', {attr: value, onclick: fn}, ...children): an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Left-to-right text (a number, an id, a key) inside either layout. */
export function ltr(text, cls = 'num') {
  return h('bdi', { dir: 'ltr', class: cls }, text);
}

/** Replaces el's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let toastTimer;
export function toast(text, ms = 3500) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, ms);
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog({ title, body, ok, cancel, danger = true }) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { id: 'confirm' },
      h('h2', {}, title),
      body,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', id: 'confirm-cancel', onclick: () => done(false) }, cancel),
        h('button', { type: 'button', class: danger ? 'danger' : '', id: 'confirm-ok', onclick: () => done(true) }, ok)));
    function done(v) { dlg.close(); dlg.remove(); resolve(v); }
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

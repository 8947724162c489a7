// Building the page from data, without HTML strings: every text goes in as a text node, so
// nothing an event holds can become markup (the page's policy forbids HTML sinks anyway).

/** An element: `h('a', {href: '#/x', onclick: f}, 'text', child, [more])`. */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.setAttribute('class', value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    // Through the CSSOM: the page's policy refuses style attributes.
    else if (key === 'style') Object.assign(el.style, value);
    else if (key in el && !tag.startsWith('svg:') && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A time in the viewer's zone, with UTC in its title. */
export function time(iso) {
  if (!iso) return h('span', {}, '');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', {}, iso);
  return h('time', { datetime: iso, title: `${iso} (UTC)` }, localTime(date));
}

/** `2025-01-15 13:00:00` in the viewer's zone. */
export function localTime(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A number with thousands separators. */
export function count(n) {
  return Number(n || 0).toLocaleString('en-US');
}

/** `n` things: `1 event`, `2,500 events`. */
export function counted(n, thing) {
  return `${count(n)} ${thing}${Number(n) === 1 ? '' : 's'}`;
}

/** A message box: `kind` is `error`, `ok`, `info` or `empty`. */
export function note(kind, ...children) {
  return h('div', { class: `note note-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    ...children);
}

/** A short text of any JSON value, for table cells. */
export function brief(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Asks before a state change; resolves to whether the person agreed. */
export function confirmAction(question, detail) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-label': question },
      h('h2', {}, question),
      detail ? h('p', {}, detail) : null,
      h('div', { class: 'buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close('no') },
          'Cancel'),
        h('button', { type: 'button', class: 'primary', onclick: () => dialog.close('yes') },
          'Confirm')));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('button.primary').focus();
  });
}

/** Shows a secret once, with a button to copy it. */
export function secretBox(label, secret) {
  const field = h('input', { class: 'secret', readonly: true, value: secret, 'aria-label': label });
  return h('div', { class: 'secret-box' },
    h('p', {}, `${label}: shown once, copy it now.`), field,
    h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(secret) },
      'Copy'));
}

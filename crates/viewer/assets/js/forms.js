// The pages over the service's resources (exports, reports, alerts, webhooks, rules,
// retention, API keys) share one shape: a list with each item's actions, and a form that
// creates one. Every state change asks first and shows the answer's errors in words.

import { ApiError, json } from './api.js';
import { brief, confirmAction, fill, h, note, secretBox, time } from './dom.js';

/** The items of a list answer (`{data: [...]}` or an array). */
export function items(answer) {
  if (Array.isArray(answer)) return answer;
  return answer?.data || [];
}

/** A table of `rows` with `columns` (`{label, cell(item)}`) and per-item `actions`. */
export function table(id, rows, columns, actions) {
  if (rows.length === 0) return note('empty', 'Nothing here yet.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'list', id },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)),
      actions ? h('th', { scope: 'col' }, 'Actions') : null)),
    h('tbody', {}, rows.map((item) => h('tr', { dataset: { id: item.id || '' } },
      columns.map((c) => h('td', {}, cell(c.cell(item)))),
      actions ? h('td', { class: 'actions' }, actions(item)) : null)))));
}

function cell(value) {
  if (value instanceof Node) return value;
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT/.test(value)) return time(value);
  return brief(value);
}

/**
 * A button that asks `question` and then runs `act`, showing its outcome in `out` and calling
 * `done` after success.
 */
export function actionButton(label, question, act, out, done) {
  return h('button', { type: 'button', class: 'secondary', onclick: async () => {
    if (!(await confirmAction(question))) return;
    try {
      const answer = await act();
      fill(out, note('ok', `${label}: done.`));
      done?.(answer);
    } catch (e) {
      fill(out, note('error', `${label} failed: ${message(e)}`));
    }
  } }, label);
}

/** An error's words. */
export function message(e) {
  return e instanceof ApiError ? e.message : String(e.message || e);
}

/**
 * A form that sends the JSON in its editor to `path` (POST, or `method`) after asking,
 * starting from `template`; `shown(answer)` may return what to show of the answer (a secret,
 * say).
 */
export function jsonForm(id, title, path, template, out, done, shown, method = 'POST') {
  const editor = h('textarea', { id: `${id}-body`, rows: 8, spellcheck: false, 'aria-label': `${title}: JSON body` },
    JSON.stringify(template, null, 2));
  const form = h('form', { class: 'json-form', id, onsubmit: async (e) => {
    e.preventDefault();
    let body;
    try {
      body = JSON.parse(editor.value);
    } catch (err) {
      fill(out, note('error', `The body is not JSON: ${err.message}`));
      return;
    }
    if (!(await confirmAction(`${title}?`, `${method} ${path}`))) return;
    try {
      const answer = await json(path, { method, body });
      fill(out, note('ok', `${title}: done.`), shown ? shown(answer) : null);
      done?.(answer);
    } catch (err) {
      fill(out, note('error', `${title} failed: ${message(err)}`));
    }
  } }, h('details', {}, h('summary', {}, title), editor, h('button', { type: 'submit', class: 'primary' }, title)));
  return form;
}

/** A secret from an answer, shown once. */
export function showSecret(label, secret) {
  return secret ? secretBox(label, secret) : null;
}

// An event's drawer: every field, the changes as a before/after diff, links to the actor's and
// the target's other events, the target's timeline, and Verify.

import { json, query } from './api.js';
import { brief, fill, h, note, time } from './dom.js';
import { verifyEvent } from './verify.js';
import { writeView } from './query.js';

let current = null;

/** Closes the drawer, if open. */
export function closeDrawer() {
  if (!current) return;
  current.remove();
  current = null;
  document.querySelector(`tr[data-id="${CSS.escape(lastOpened)}"]`)?.focus();
}

let lastOpened = '';

/** Opens the drawer on event `id`. */
export async function openDrawer(session, id, navigate) {
  closeDrawer();
  lastOpened = id;
  const content = h('div', { class: 'drawer-body' }, note('info', 'Loading the event…'));
  const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Close', onclick: closeDrawer }, '×');
  current = h('aside', { class: 'drawer', id: 'drawer', role: 'dialog', 'aria-label': 'Event', tabindex: -1,
    onkeydown: (e) => { if (e.key === 'Escape') closeDrawer(); } }, close, content);
  document.body.append(current);
  current.focus();
  let event;
  try {
    event = await json(`/v1/events/${encodeURIComponent(id)}`);
  } catch (e) {
    fill(content, note('error', `The event could not be loaded: ${e.message}`));
    return;
  }
  fill(content, ...render(session, event, navigate));
}

function render(session, event, navigate) {
  const verifyResult = h('div', { class: 'verify-result', id: 'verify-result', 'aria-live': 'polite' });
  const verify = h('button', { type: 'button', class: 'primary', id: 'verify', onclick: async () => {
    verify.disabled = true;
    fill(verifyResult, note('info', 'Checking the proof in this browser…'));
    const result = await verifyEvent(session.tenant, event.id);
    fill(verifyResult, steps(result));
    verify.disabled = false;
    verifyResult.scrollIntoView({ block: 'nearest' });
  } }, 'Verify');
  const history = h('div', { class: 'history', id: 'history' });
  const links = [];
  if (event.actor?.id) links.push(link(`actor:${quote(event.actor.id)}`, "The actor's events", navigate));
  if (event.target?.id) {
    const term = [event.target.type ? `target_type:${quote(event.target.type)}` : '', `target:${quote(event.target.id)}`]
      .filter(Boolean).join(' ');
    links.push(link(term, "The target's events", navigate));
  }
  if (event.target?.type && event.target?.id) {
    links.push(h('button', { type: 'button', class: 'secondary', id: 'show-history',
      onclick: () => timeline(history, event.target, session, navigate) }, "The target's timeline"));
  }
  return [
    h('header', {}, h('h2', {}, h('code', {}, event.action)), h('p', {}, time(event.occurred_at),
      ' · ', h('span', { class: `badge outcome-${event.outcome}` }, event.outcome), ' · seq ', String(event.seq))),
    event.redaction ? note('info', `A tombstone: ${event.redaction.removed.join(', ')} removed ` +
      `(${event.redaction.reason}) on ${event.redaction.redacted_at}. Its leaf hash is kept, so it still verifies.`) : null,
    event.description ? h('p', { class: 'description' }, event.description) : null,
    h('div', { class: 'links' }, links),
    event.changes ? h('section', {}, h('h3', {}, 'Changes'), diffTable(event.changes)) : null,
    h('section', {}, h('h3', {}, 'Proof'), h('p', { class: 'help' },
      'Your browser fetches the inclusion proof and the newest checkpoint, recomputes the root ' +
      '(SHA-256, RFC 9162) and checks the signature against the key you pinned.'), verify, verifyResult),
    h('section', {}, h('h3', {}, 'Fields'), fieldList(event)),
    history,
  ];
}

function quote(value) {
  return /[\s"]/.test(value) ? `"${value.replaceAll('"', '')}"` : value;
}

function link(term, label, navigate) {
  const href = `#/events?${writeView({ q: term, range: 'all' })}`;
  return h('a', { href, class: 'button secondary', onclick: (e) => { e.preventDefault(); closeDrawer(); navigate(href); } }, label);
}

/** Every field of the event, nested objects by their dotted paths. */
function fieldList(event) {
  const rows = [];
  const walk = (value, path) => {
    if (value && typeof value === 'object' && !Array.isArray(value) && path !== 'changes') {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else if (path !== 'changes') {
      rows.push(h('dt', {}, path), h('dd', {}, path.endsWith('_at') ? time(value) : brief(value)));
    }
  };
  walk(event, '');
  return h('dl', { class: 'fields' }, rows);
}

/** The changes as a table: field, before, after, with a word diff for texts. */
export function diffTable(changes) {
  const rows = Object.entries(changes).map(([name, change]) => {
    const from = change && typeof change === 'object' && 'from' in change ? change.from : undefined;
    const to = change && typeof change === 'object' && 'to' in change ? change.to : change;
    const [before, after] = typeof from === 'string' && typeof to === 'string'
      ? wordDiff(from, to)
      : [h('del', {}, brief(from)), h('ins', {}, brief(to))];
    return h('tr', {}, h('th', { scope: 'row' }, name), h('td', { class: 'before' }, before),
      h('td', { class: 'after' }, after));
  });
  return h('table', { class: 'diff', id: 'diff' }, h('thead', {}, h('tr', {},
    h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'After'))),
  h('tbody', {}, rows));
}

/** Two texts with the words only one of them has marked (a longest common subsequence). */
function wordDiff(a, b) {
  const x = a.split(/(\s+)/);
  const y = b.split(/(\s+)/);
  if (x.length * y.length > 40000) return [h('del', {}, a), h('ins', {}, b)];
  const lcs = Array.from({ length: x.length + 1 }, () => new Uint16Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const before = [];
  const after = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      before.push(x[i]);
      after.push(y[j]);
      i++;
      j++;
    } else if (j < y.length && (i === x.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
      after.push(h('ins', {}, y[j++]));
    } else {
      before.push(h('del', {}, x[i++]));
    }
  }
  return [h('span', {}, before), h('span', {}, after)];
}

/** A verification's steps, green or red. */
export function steps(result) {
  return h('div', { class: `verdict ${result.ok ? 'verdict-ok' : 'verdict-bad'}`, role: result.ok ? 'status' : 'alert' },
    h('strong', {}, result.ok ? '✓ Verified in your browser' : '✗ Not verified'),
    h('ol', {}, result.steps.map((s) => h('li', { class: s.ok ? 'ok' : 'bad' },
      h('span', { class: 'step' }, `${s.ok ? '✓' : '✗'} ${s.label}`), ': ', s.detail))));
}

async function timeline(box, target, session, navigate) {
  fill(box, h('h3', {}, "The target's timeline"), note('info', 'Loading…'));
  try {
    const page = await json(`/v1/entities/${encodeURIComponent(target.type)}/${encodeURIComponent(target.id)}/history${query({ limit: 100 })}`);
    if (page.data.length === 0) {
      fill(box, h('h3', {}, "The target's timeline"), note('empty', 'No events on this target.'));
      return;
    }
    fill(box, h('h3', {}, "The target's timeline"), h('ol', { class: 'timeline' }, page.data.map((e) =>
      h('li', {}, time(e.occurred_at), ' ', h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); openDrawer(session, e.id, navigate); } },
        h('code', {}, e.action)), ' by ', e.actor?.email || e.actor?.id || 'unknown',
      e.changes ? diffTable(e.changes) : null))));
  } catch (e) {
    fill(box, h('h3', {}, "The target's timeline"), note('error', `The timeline could not be loaded: ${e.message}`));
  }
}

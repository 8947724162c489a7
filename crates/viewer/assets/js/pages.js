// Every page but the events: statistics, exports, reports, alerts, webhooks, rules, retention,
// API keys and the ledger.

import { json, query, request } from './api.js';
import { confirmAction, count, fill, h, note } from './dom.js';
import { openDrawer, steps } from './drawer.js';
import { actionButton, items, jsonForm, message, showSecret, table } from './forms.js';
import { sha256 } from './proof.js';
import { FIELDS, RANGES, readView, timeWindow, toParams, writeView } from './query.js';
import { lastSeen, pinKey, pinnedKey, servedKey, verifyLog } from './verify.js';

const LAST_SEARCH = 'trailkeep.last-search';

/** Remembers the events page's search, for "export this search". */
export function rememberSearch(search) {
  sessionStorage.setItem(LAST_SEARCH, search);
}

/** The listing filter of the last search on the events page. */
function lastFilter() {
  const view = readView(sessionStorage.getItem(LAST_SEARCH) || '');
  const { params } = toParams(view.q);
  return { filter: { ...params, ...timeWindow(view) }, view };
}

function hex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Downloads `url` with the credential, saves it as `name`, and checks its SHA-256. */
async function download(url, name, sha, out) {
  try {
    const blob = await (await request(url)).blob();
    const digest = hex(await sha256(new Uint8Array(await blob.arrayBuffer())));
    const a = h('a', { href: URL.createObjectURL(blob), download: name });
    document.body.append(a);
    a.click();
    a.remove();
    if (sha) {
      fill(out, digest === sha
        ? note('ok', `Downloaded ${name}: its SHA-256 ${digest} is the one the service recorded.`)
        : note('error', `Downloaded ${name}, but its SHA-256 ${digest} is not the recorded ${sha}.`));
    } else {
      fill(out, note('ok', `Downloaded ${name} (SHA-256 ${digest}).`));
    }
  } catch (e) {
    fill(out, note('error', `The download failed: ${message(e)}`));
  }
}

/** Statistics over a range, with bar charts. */
export async function statsPage(main, session, search) {
  const view = readView(search);
  const range = h('select', { 'aria-label': 'Time range', onchange: () => { location.hash = `#/stats?range=${range.value}`; } },
    RANGES.filter((r) => r.id !== 'custom').map((r) => h('option', { value: r.id, selected: r.id === view.range }, r.label)));
  const body = h('div', {}, note('info', 'Counting…'));
  fill(main, h('h1', {}, 'Statistics'), h('div', { class: 'tools' }, range), body);
  try {
    const stats = await json(`/v1/stats${query({ ...timeWindow(view), group_by: 'action,category,outcome,target_type,actor' })}`);
    const cards = h('div', { class: 'cards' },
      card('Events', stats.total), card('Unique actors', stats.unique_actors), card('Failed sign-ins', stats.failed_logins));
    const charts = Object.entries(stats.groups).map(([group, rows]) => barChart(group, rows.slice(0, 15)));
    fill(body, cards, h('div', { class: 'charts' }, charts));
  } catch (e) {
    fill(body, note('error', `The statistics could not be loaded: ${message(e)}`));
  }
}

function card(label, value) {
  return h('div', { class: 'card' }, h('div', { class: 'figure' }, count(value)), h('div', {}, label));
}

function barChart(group, rows) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return h('section', { class: 'bar-chart' }, h('h2', {}, group.replace('_', ' ')),
    rows.length === 0 ? note('empty', 'No values.') : h('ul', {}, rows.map((r) => h('li', {},
      h('span', { class: 'label', title: r.value }, r.value),
      h('span', { class: 'bar', style: { width: `${(r.count / max) * 100}%` } }),
      h('span', { class: 'value' }, count(r.count))))));
}

/** Exports: create one from the current search, watch it, download and check it. */
export async function exportsPage(main) {
  const out = h('div', { id: 'exports-out', 'aria-live': 'polite' });
  const list = h('div', {});
  const { filter, view } = lastFilter();
  const format = h('select', { id: 'export-format', 'aria-label': 'Format' },
    ['ndjson', 'csv', 'json', 'ocsf'].map((f) => h('option', { value: f }, f)));
  const create = h('form', { class: 'inline-form', id: 'export-create', onsubmit: async (e) => {
    e.preventDefault();
    if (!(await confirmAction('Export the current search?', `${view.q || 'every event'} · ${view.range}`))) return;
    try {
      const made = await json('/v1/exports', { method: 'POST', body: { format: format.value, filter } });
      fill(out, note('ok', `Export ${made.id} queued.`));
      refresh();
    } catch (err) {
      fill(out, note('error', `The export could not be made: ${message(err)}`));
    }
  } }, h('span', {}, 'Export the current search ', h('code', {}, view.q || 'every event'), ` (${view.range}) as `),
  format, h('button', { type: 'submit', class: 'primary' }, 'Start export'));
  fill(main, h('h1', {}, 'Exports'), create, out, list);
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    if (!main.isConnected || !list.isConnected) return;
    try {
      const rows = items(await json('/v1/exports'));
      fill(list, table('exports', rows, [
        { label: 'Id', cell: (x) => x.id },
        { label: 'State', cell: (x) => h('span', { class: `badge state-${x.state}` }, x.state) },
        { label: 'Format', cell: (x) => x.format },
        { label: 'Events', cell: (x) => count(x.events_written) },
        { label: 'Created', cell: (x) => x.created_at },
      ], (x) => [
        x.file ? h('button', { type: 'button', class: 'secondary', onclick: () => download(x.file.url, x.file.name, x.file.sha256, out) },
          'Download') : null,
        ['queued', 'running'].includes(x.state)
          ? actionButton('Cancel', `Cancel export ${x.id}?`, () => json(`/v1/exports/${x.id}`, { method: 'DELETE' }), out, refresh)
          : null,
      ]));
      if (rows.some((x) => ['queued', 'running'].includes(x.state))) timer = setTimeout(refresh, 1000);
    } catch (e) {
      fill(list, note('error', `The exports could not be listed: ${message(e)}`));
    }
  };
  refresh();
}

/** Reports: create, watch, download. */
export async function reportsPage(main) {
  const out = h('div', { 'aria-live': 'polite' });
  const list = h('div', {});
  const today = new Date().toISOString().slice(0, 10);
  const monthAgo = new Date(Date.now() - 30 * 86400e3).toISOString().slice(0, 10);
  const refresh = async () => {
    if (!list.isConnected) return;
    try {
      const rows = items(await json('/v1/reports'));
      fill(list, table('reports', rows, [
        { label: 'Id', cell: (x) => x.id },
        { label: 'Type', cell: (x) => x.report_type },
        { label: 'State', cell: (x) => h('span', { class: `badge state-${x.state}` }, x.state) },
        { label: 'Period', cell: (x) => `${x.period.from} – ${x.period.to}` },
        { label: 'Verified', cell: (x) => (x.verified === undefined ? '' : x.verified ? 'yes' : 'NO') },
      ], (x) => [x.file ? h('button', { type: 'button', class: 'secondary', onclick: () => download(x.file.url, x.file.name, x.file.sha256, out) }, 'Download') : null]));
      if (rows.some((x) => ['queued', 'running'].includes(x.state))) setTimeout(refresh, 1500);
    } catch (e) {
      fill(list, note('error', `The reports could not be listed: ${message(e)}`));
    }
  };
  fill(main, h('h1', {}, 'Reports'), jsonForm('report-create', 'Create a report', '/v1/reports', {
    report_type: 'compliance_summary', period: { from: `${monthAgo}T00:00:00Z`, to: `${today}T23:59:59Z` }, format: 'pdf',
  }, out, refresh), out, list);
  refresh();
}

/**
 * Goes to the events behind an alert: its window, narrowed by its rule's filter where the rule
 * can be read, with the alert's own events marked.
 */
async function eventsBehind(alert, navigate) {
  let filter = {};
  try {
    filter = (await json(`/v1/rules/${encodeURIComponent(alert.rule)}`)).filter || {};
  } catch { /* rules need audit:admin; the window alone then */ }
  const terms = [];
  for (const [param, values] of Object.entries(filter)) {
    const field = FIELDS.find((f) => f.param === param);
    const name = field ? field.name : param.startsWith('metadata.') ? param : null;
    for (const value of [].concat(values)) if (name) terms.push(`${name}:${value}`);
  }
  // The window's end is inclusive; the listing's `until` is not.
  const until = new Date(Date.parse(alert.window_end) + 1).toISOString();
  const view = writeView({ q: terms.join(' '), range: 'custom', since: alert.window_start, until });
  navigate(`#/events?${view}&mark=${alert.seqs.join(',')}`);
}

/** Alerts: list, acknowledge, resolve, open the events behind one. */
export async function alertsPage(main, session, search, navigate) {
  const out = h('div', { id: 'alerts-out', 'aria-live': 'polite' });
  const list = h('div', {});
  const admin = session.roles.includes('audit:admin');
  const refresh = async () => {
    try {
      const rows = items(await json('/v1/alerts'));
      fill(list, table('alerts', rows, [
        { label: 'Rule', cell: (x) => x.rule_name },
        { label: 'Severity', cell: (x) => h('span', { class: `badge severity-${x.severity}` }, x.severity) },
        { label: 'State', cell: (x) => h('span', { class: `badge state-${x.state}` }, x.state) },
        { label: 'Key', cell: (x) => x.key },
        { label: 'Events', cell: (x) => count(x.count) },
        { label: 'Detail', cell: (x) => x.detail },
        { label: 'Raised', cell: (x) => x.created_at },
      ], (x) => [
        h('button', { type: 'button', class: 'secondary', onclick: () => eventsBehind(x, navigate) }, 'Events behind it'),
        h('button', { type: 'button', class: 'secondary', onclick: () => openDrawer(session, x.event_id, navigate) }, 'Open event'),
        admin && x.state === 'open'
          ? actionButton('Acknowledge', `Acknowledge the alert "${x.rule_name}"?`,
            () => json(`/v1/alerts/${x.id}/acknowledge`, { method: 'POST', body: {} }), out, refresh)
          : null,
        admin && x.state !== 'resolved'
          ? actionButton('Resolve', `Resolve the alert "${x.rule_name}"?`,
            () => json(`/v1/alerts/${x.id}/resolve`, { method: 'POST', body: {} }), out, refresh)
          : null,
      ]));
    } catch (e) {
      fill(list, note('error', `The alerts could not be listed: ${message(e)}`));
    }
  };
  fill(main, h('h1', {}, 'Alerts'), admin ? null : note('info', 'Acknowledging and resolving need the audit:admin role.'), out, list);
  refresh();
}

/**
 * A page over one kind of resource: its list, its actions, and a form to create one (`spec`:
 * id, title, heading level, intro, path, columns, create, actions).
 */
function resourcePage(spec) {
  return async (main) => {
    const out = h('div', { 'aria-live': 'polite' });
    const list = h('div', {});
    const refresh = async () => {
      try {
        const rows = items(await json(spec.path));
        fill(list, table(spec.id, rows, spec.columns, spec.actions ? (x) => spec.actions(x, out, refresh) : null));
      } catch (e) {
        fill(list, note('error', `Could not list ${spec.title.toLowerCase()}: ${message(e)}`));
      }
    };
    fill(main, h(spec.heading || 'h1', {}, spec.title), spec.intro ? h('p', { class: 'help' }, spec.intro) : null,
      spec.create ? jsonForm(`${spec.id}-create`, spec.create.title, spec.path, spec.create.template, out, refresh, spec.create.shown) : null,
      out, list);
    refresh();
  };
}

const state = (x) => h('span', { class: `badge state-${x.state}` }, x.state);

/** Webhooks. */
export const webhooksPage = resourcePage({
  id: 'webhooks', title: 'Webhooks', path: '/v1/webhooks',
  columns: [{ label: 'URL', cell: (x) => x.url }, { label: 'Events', cell: (x) => x.event_types.join(', ') },
    { label: 'State', cell: state }, { label: 'Next seq', cell: (x) => String(x.progress.next_seq) }],
  create: { title: 'Add a webhook', template: { url: 'https://example.com/hooks/audit', event_types: ['audit.log.created'], description: '' },
    shown: (a) => showSecret('Signing secret', a.secret) },
  actions: (x, out, refresh) => [
    x.state === 'paused'
      ? actionButton('Resume', `Resume ${x.url}?`, () => json(`/v1/webhooks/${x.id}/resume`, { method: 'POST' }), out, refresh)
      : actionButton('Pause', `Pause ${x.url}?`, () => json(`/v1/webhooks/${x.id}/pause`, { method: 'POST' }), out, refresh),
    actionButton('Delete', `Delete the webhook to ${x.url}?`, () => json(`/v1/webhooks/${x.id}`, { method: 'DELETE' }), out, refresh),
  ],
});

/** Detection rules. */
export const rulesPage = resourcePage({
  id: 'rules', title: 'Detection rules', path: '/v1/rules',
  columns: [{ label: 'Name', cell: (x) => x.name }, { label: 'Severity', cell: (x) => x.severity },
    { label: 'Enabled', cell: (x) => (x.enabled ? 'yes' : 'no') }, { label: 'Built in', cell: (x) => (x.builtin ? 'yes' : '') },
    { label: 'Logic', cell: (x) => JSON.stringify(x.logic) }],
  create: { title: 'Add a rule', template: { name: 'Many exports', filter: { action: ['audit.export.*'] }, group_by: ['actor.id'], threshold: 5, window_minutes: 10 } },
  actions: (x, out, refresh) => (x.builtin ? [] : [
    actionButton('Delete', `Delete the rule "${x.name}"?`, () => json(`/v1/rules/${x.id}`, { method: 'DELETE' }), out, refresh),
  ]),
});

/** Legal holds: keep events whole whatever retention says. */
const holdsPage = resourcePage({
  id: 'holds', title: 'Legal holds', path: '/v1/legal-holds', heading: 'h2',
  intro: 'A hold keeps the events it covers whole, whatever the policy says, until it is lifted.',
  columns: [{ label: 'Scope', cell: (x) => JSON.stringify(x.scope) }, { label: 'Reason', cell: (x) => x.reason },
    { label: 'State', cell: state }, { label: 'Placed', cell: (x) => x.placed_at }],
  create: { title: 'Place a legal hold', template: { scope: { type: 'actor', id: 'user_123' }, reason: 'Litigation 2026-17' } },
  actions: (x, out, refresh) => (x.state === 'active' ? [
    actionButton('Lift', `Lift the hold "${x.reason}"?`,
      () => json(`/v1/legal-holds/${x.id}/lift`, { method: 'POST', body: { reason: 'lifted in the viewer' } }), out, refresh),
  ] : []),
});

function days(n) {
  return n === 1 ? '1 day' : `${count(n)} days`;
}

/** The policy in words: the default period and each override. */
function policyText(policy) {
  const period = policy.default_days ?? policy.server_default_days;
  const base = period
    ? `Events are kept for ${days(period)} after they occurred${policy.default_days ? '' : ' (the server\'s default)'}, then become tombstones that keep their leaf hash.`
    : 'Events are kept forever: no period is set.';
  return [h('p', { id: 'policy-text' }, base),
    policy.overrides.length ? table('overrides', policy.overrides, [
      { label: 'Action', cell: (o) => o.action || '' },
      { label: 'Category', cell: (o) => o.category || '' },
      { label: 'Kept for', cell: (o) => days(o.days) },
    ]) : null,
    policy.updated_at ? h('p', { class: 'help' }, `Changed ${new Date(policy.updated_at).toLocaleString()} by ${policy.updated_by}.`) : null];
}

/** Retention: the policy in words and its form, the runs, and the legal holds. */
export async function retentionPage(main, session, search, navigate) {
  const out = h('div', { 'aria-live': 'polite' });
  const policyBox = h('section', { id: 'retention-policy' }, note('info', 'Loading the policy…'));
  const runsBox = h('div', {});
  const holds = h('div', {});
  const refresh = async () => {
    try {
      const policy = await json('/v1/retention');
      fill(policyBox, h('h2', {}, 'Policy'), policyText(policy),
        jsonForm('policy-set', 'Change the policy', '/v1/retention',
          { default_days: policy.default_days ?? null, overrides: policy.overrides }, out, refresh, null, 'PUT'));
      const runs = items(await json('/v1/retention/runs'));
      fill(runsBox, h('h2', {}, 'Runs'), actionButton('Run retention now', 'Turn every event past its period into a tombstone now?',
        () => json('/v1/retention/runs', { method: 'POST' }), out, refresh),
      table('runs', runs, [
        { label: 'State', cell: state },
        { label: 'Asked', cell: (x) => x.created_at },
        { label: 'Removed', cell: (x) => count(x.result?.removed ?? 0) },
        { label: 'Held', cell: (x) => count(x.result?.held ?? 0) },
        { label: 'Error', cell: (x) => x.error || '' },
      ]));
    } catch (e) {
      fill(policyBox, note('error', `The policy could not be loaded: ${message(e)}`));
    }
  };
  fill(main, h('h1', {}, 'Retention and legal holds'), out, policyBox, runsBox, holds);
  refresh();
  holdsPage(holds, session, search, navigate);
}

/** API keys. */
export const keysPage = resourcePage({
  id: 'keys', title: 'API keys', path: '/v1/api-keys',
  columns: [{ label: 'Id', cell: (x) => x.id }, { label: 'Name', cell: (x) => x.name },
    { label: 'Roles', cell: (x) => x.roles.join(' ') }, { label: 'Created', cell: (x) => x.created_at },
    { label: 'Revoked', cell: (x) => x.revoked_at || '' }],
  create: { title: 'Create an API key', template: { name: 'reader', roles: ['audit:read'] },
    shown: (a) => showSecret('API key', a.key) },
  actions: (x, out, refresh) => (x.revoked_at ? [] : [
    actionButton('Revoke', `Revoke the key "${x.name}"? Everything using it stops at once.`,
      () => json(`/v1/api-keys/${x.id}`, { method: 'DELETE' }), out, refresh),
  ]),
});

/** The ledger: the pinned key, and the log's consistency since this browser last looked. */
export async function ledgerPage(main, session) {
  const out = h('div', { id: 'ledger-out', 'aria-live': 'polite' });
  const pinned = pinnedKey(session.tenant);
  const input = h('input', { id: 'vkey', value: pinned || '', spellcheck: false, 'aria-label': 'Verification key',
    placeholder: 'trailkeep.example/acme+1234abcd+AQ…' });
  const served = h('code', { id: 'served-key' }, '…');
  servedKey().then((k) => fill(served, k.trim())).catch((e) => fill(served, `unavailable: ${message(e)}`));
  const seen = lastSeen(session.tenant);
  fill(main, h('h1', {}, 'Ledger'),
    h('p', { class: 'help' }, 'Proofs are checked in this browser against the key pinned here. Pin the key from ',
      h('code', {}, 'trailkeep key show'), ' or your own records: a key taken from the service you are checking proves only that the service agrees with itself.'),
    h('form', { class: 'inline-form', id: 'pin-form', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await pinKey(session.tenant, input.value);
        fill(out, note('ok', 'The key is pinned for this tenant in this browser.'));
      } catch (err) {
        fill(out, note('error', `That is not a verification key: ${err.message}`));
      }
    } }, h('label', { for: 'vkey' }, 'Pinned key '), input, h('button', { type: 'submit', class: 'primary' }, 'Pin')),
    h('p', {}, 'The service says it signs with: ', served),
    h('section', {}, h('h2', {}, 'Consistency'),
      h('p', {}, seen ? ['The last checkpoint this browser saw: ', h('strong', {}, count(seen.size)), ' events, root ',
        h('code', {}, seen.root), '.'] : 'This browser has not seen a checkpoint of this tenant yet.'),
      h('button', { type: 'button', class: 'primary', id: 'check-log', onclick: async () => {
        fill(out, note('info', 'Checking…'));
        fill(out, steps(await verifyLog(session.tenant)));
      } }, 'Check the newest checkpoint')),
    out);
}

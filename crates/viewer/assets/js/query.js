// The search bar's language and the view's place in the URL.
//
// A query is free text and `field:value` terms: `action:contract.*` (a prefix), `actor:user_1`,
// `email:jane@example.com`, `target_type:contract target:con_1`, `metadata.plan:pro`, quoted values with
// spaces (`actor_name:"Jane Roe"` is free text). Terms become the listing's filters; what is
// left becomes `q`, the full-text search.

/** The fields a term may name, what filter each sets, and what the suggestions say of it. */
export const FIELDS = [
  { name: 'action', param: 'action', help: 'an action, or a prefix ending in *', stat: 'action' },
  { name: 'category', param: 'category', help: 'create, read, update, delete, login, ...', stat: 'category' },
  { name: 'outcome', param: 'outcome', help: 'success, failure or unknown', stat: 'outcome' },
  { name: 'actor', param: 'actor_id', help: "the actor's id", stat: 'actor' },
  { name: 'email', param: 'actor_email', help: "the actor's e-mail" },
  { name: 'actor_type', param: 'actor_type', help: 'user, api_key, system, service, webhook' },
  { name: 'target_type', param: 'target_type', help: "the target's type", stat: 'target_type' },
  { name: 'target', param: 'target_id', help: "the target's id" },
  { name: 'ip', param: 'ip', help: 'an IP address' },
];

const ALIASES = { actor_id: 'actor', actor_email: 'email', target_id: 'target' };

/** The field named `name` (or an alias of it), or null. */
export function field(name) {
  const canonical = ALIASES[name] || name;
  return FIELDS.find((f) => f.name === canonical) || null;
}

/** Splits a query into tokens, keeping quoted stretches together. */
export function tokens(text) {
  const out = [];
  const re = /(\S+?:)?"([^"]*)"|\S+/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1] !== undefined || m[0].startsWith('"') ? { field: m[1]?.slice(0, -1), value: m[2], raw: m[0] }
      : split(m[0]));
  }
  return out;
}

function split(token) {
  const at = token.indexOf(':');
  if (at > 0 && (field(token.slice(0, at)) || token.startsWith('metadata.'))) {
    return { field: token.slice(0, at), value: token.slice(at + 1), raw: token };
  }
  return { field: undefined, value: token, raw: token };
}

/**
 * The listing's parameters for a query: `{params, errors}`. A field named twice is an error
 * (the listing takes one value for each, but actions, which may repeat).
 */
export function toParams(text) {
  const params = {};
  const words = [];
  const errors = [];
  for (const t of tokens(text)) {
    if (t.field === undefined) {
      words.push(t.raw.startsWith('"') ? `"${t.value}"` : t.value);
      continue;
    }
    if (t.field.startsWith('metadata.')) {
      params[t.field] = t.value;
      continue;
    }
    const f = field(t.field);
    if (!f) {
      words.push(t.raw);
      continue;
    }
    if (f.param === 'action') {
      (params.action ||= []).push(t.value);
    } else if (params[f.param] !== undefined) {
      errors.push(`${f.name} is named twice`);
    } else {
      params[f.param] = t.value;
    }
  }
  if (words.length) params.q = words.join(' ');
  return { params, errors };
}

/** The quick ranges of the time picker, in milliseconds (`all` has none). */
export const RANGES = [
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60e3 },
  { id: '1h', label: 'Last hour', ms: 3600e3 },
  { id: '24h', label: 'Last 24 hours', ms: 24 * 3600e3 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 24 * 3600e3 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 24 * 3600e3 },
  { id: '90d', label: 'Last 90 days', ms: 90 * 24 * 3600e3 },
  { id: 'all', label: 'All time', ms: null },
  { id: 'custom', label: 'Custom range', ms: null },
];

/**
 * The `{since, until}` of a view (ISO strings or undefined): a quick range counts back from
 * `now`; a custom range is the view's own.
 */
export function timeWindow(view, now = Date.now()) {
  if (view.range === 'custom') return { since: view.since || undefined, until: view.until || undefined };
  const range = RANGES.find((r) => r.id === view.range);
  if (!range || range.ms === null) return {};
  return { since: new Date(now - range.ms).toISOString() };
}

/** A view (query, range, custom bounds) read from the hash's query part. */
export function readView(search) {
  const p = new URLSearchParams(search);
  return {
    q: p.get('q') || '',
    range: p.get('range') || (p.get('since') || p.get('until') ? 'custom' : '7d'),
    since: p.get('since') || '',
    until: p.get('until') || '',
  };
}

/** The hash's query part for a view. */
export function writeView(view) {
  const p = new URLSearchParams();
  if (view.q) p.set('q', view.q);
  p.set('range', view.range);
  if (view.range === 'custom') {
    if (view.since) p.set('since', view.since);
    if (view.until) p.set('until', view.until);
  }
  return p.toString();
}

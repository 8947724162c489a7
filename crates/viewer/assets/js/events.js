// The events page: the search bar with suggestions, the time picker, the volume histogram,
// the table with chosen columns and infinite scroll, and the live tail.

import { json, query, stream } from './api.js';
import { counted, fill, h, note, time } from './dom.js';
import { openDrawer } from './drawer.js';
import { bucketFor, bucketStart, buckets, histogram } from './histogram.js';
import { FIELDS, RANGES, readView, timeWindow, toParams, writeView } from './query.js';

/** The columns a person may show, each with how it reads an event. */
export const COLUMNS = [
  { id: 'time', label: 'Time', cell: (e) => time(e.occurred_at) },
  { id: 'action', label: 'Action', cell: (e) => h('code', {}, e.action) },
  { id: 'actor', label: 'Actor', cell: (e) => e.actor?.email || e.actor?.name || e.actor?.id || '' },
  { id: 'target', label: 'Target', cell: (e) => target(e) },
  { id: 'outcome', label: 'Outcome', cell: (e) => h('span', { class: `badge outcome-${e.outcome}` }, e.outcome) },
  { id: 'category', label: 'Category', cell: (e) => e.category },
  { id: 'ip', label: 'IP', cell: (e) => e.context?.ip_address || '' },
  { id: 'description', label: 'Description', cell: (e) => e.description || '' },
  { id: 'seq', label: 'Seq', cell: (e) => String(e.seq) },
];
const DEFAULT_COLUMNS = ['time', 'action', 'actor', 'target', 'outcome', 'ip'];
const COLUMNS_KEY = 'trailkeep.columns';
const PAGE = 100;

function target(e) {
  if (!e.target) return '';
  const name = e.target.name ? ` (${e.target.name})` : '';
  return `${e.target.type || ''}${e.target.type ? '/' : ''}${e.target.id || ''}${name}`;
}

function chosenColumns() {
  try {
    const ids = JSON.parse(localStorage.getItem(COLUMNS_KEY));
    const known = ids.filter((id) => COLUMNS.some((c) => c.id === id));
    if (known.length) return known;
  } catch { /* the default */ }
  return DEFAULT_COLUMNS;
}

/** Renders the events page for the hash's query part into `main`. */
export function eventsPage(main, session, search, navigate) {
  const view = readView(search);
  // Seqs to mark (the events behind an alert).
  const marked = new Set((new URLSearchParams(search).get('mark') || '').split(',').filter(Boolean).map(Number));
  const columns = chosenColumns().map((id) => COLUMNS.find((c) => c.id === id));
  const input = h('input', {
    type: 'search', id: 'search', value: view.q, autocomplete: 'off', spellcheck: false,
    placeholder: 'Search: free text and field:value, e.g. action:user.* outcome:failure',
    'aria-label': 'Search events', role: 'combobox', 'aria-expanded': 'false',
    'aria-controls': 'suggestions', 'aria-autocomplete': 'list',
  });
  const suggestions = h('ul', { id: 'suggestions', class: 'suggestions', role: 'listbox', hidden: true });
  const range = h('select', { id: 'range', 'aria-label': 'Time range' },
    RANGES.map((r) => h('option', { value: r.id, selected: r.id === view.range }, r.label)));
  const since = h('input', { type: 'datetime-local', id: 'since', step: 1, 'aria-label': 'From', value: toLocalInput(view.since) });
  const until = h('input', { type: 'datetime-local', id: 'until', step: 1, 'aria-label': 'To', value: toLocalInput(view.until) });
  const custom = h('span', { class: 'custom-range', hidden: view.range !== 'custom' }, since, '–', until);
  range.addEventListener('change', () => {
    custom.hidden = range.value !== 'custom';
    if (range.value !== 'custom') submit();
  });
  const submit = () => {
    const next = { q: input.value.trim(), range: range.value };
    if (next.range === 'custom') {
      next.since = fromLocalInput(since.value);
      next.until = fromLocalInput(until.value);
    }
    navigate(`#/events?${writeView(next)}`);
  };
  const form = h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('div', { class: 'search-input' }, input, suggestions), range, custom,
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  const liveToggle = h('input', { type: 'checkbox', id: 'live' });
  const tools = h('div', { class: 'tools' },
    h('label', { class: 'toggle' }, liveToggle, ' Live tail'),
    columnChooser(columns, () => navigate(location.hash, true)));
  const chart = h('div', { class: 'chart', id: 'histogram' });
  const status = h('div', { class: 'status', id: 'status', 'aria-live': 'polite' });
  const body = h('tbody', {});
  const table = h('table', { class: 'events', id: 'events' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))), body);
  const sentinel = h('div', { class: 'sentinel' });
  const markNote = marked.size
    ? note('info', `Marked: the ${marked.size === 1 ? 'event' : `${marked.size} events`} behind the alert.`)
    : null;
  fill(main, h('h1', { class: 'visually-hidden' }, 'Events'), form, tools, chart, markNote, status,
    h('div', { class: 'table-wrap' }, table), sentinel);
  suggest(input, suggestions);

  const { params, errors } = toParams(view.q);
  if (errors.length) {
    fill(status, note('error', `The search cannot run: ${errors.join('; ')}.`));
    return () => {};
  }
  const bounds = timeWindow(view);
  const filter = { ...params, ...bounds };
  let cursor = null;
  let loading = false;
  let shown = 0;
  const controller = new AbortController();

  const addRows = (events, atTop) => {
    const rows = events.map((e) => {
      const row = h('tr', {
        tabindex: 0, dataset: { id: e.id, seq: String(e.seq) },
        onclick: () => openDrawer(session, e.id, navigate),
        onkeydown: (k) => {
          if (k.key === 'Enter') openDrawer(session, e.id, navigate);
          if (k.key === 'ArrowDown' || k.key === 'j') { row.nextElementSibling?.focus(); k.preventDefault(); }
          if (k.key === 'ArrowUp' || k.key === 'k') { row.previousElementSibling?.focus(); k.preventDefault(); }
        },
      }, columns.map((c) => h('td', { class: `col-${c.id}` }, c.cell(e))));
      if (e.redaction) row.classList.add('tombstone');
      if (marked.has(e.seq)) row.classList.add('marked');
      return row;
    });
    if (atTop) body.prepend(...rows); else body.append(...rows);
    shown += events.length;
  };

  const more = async () => {
    if (loading || cursor === undefined) return;
    loading = true;
    try {
      const page = await json(`/v1/events${query({ ...filter, limit: PAGE, cursor })}`, { signal: controller.signal });
      addRows(page.data, false);
      // For the browser's performance tools: when the first page of rows was on screen.
      if (cursor === null) performance.mark('trailkeep:rows');
      cursor = page.next_cursor || undefined;
      if (shown === 0) fill(status, note('empty', 'No events match this search and range.'));
      else if (cursor === undefined) fill(status, `${counted(shown, 'event')}, the end of the list.`);
    } catch (e) {
      if (e.name !== 'AbortError') fill(status, note('error', `The events could not be loaded: ${e.message}`));
      cursor = undefined;
    } finally {
      loading = false;
    }
  };
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((en) => en.isIntersecting)) more();
  }, { rootMargin: '400px' });
  observer.observe(sentinel);
  more();
  drawChart(chart, filter, bounds, view, navigate, controller.signal);

  let tail = null;
  liveToggle.addEventListener('change', () => {
    if (tail) tail.abort();
    tail = null;
    if (!liveToggle.checked) return;
    tail = new AbortController();
    const { since: _s, until: _u, ...live } = filter;
    stream(`/v1/events/stream${query(live)}`, tail.signal, (name, data) => {
      if (name === 'audit.event') addRows([JSON.parse(data)], true);
      if (name === 'stream.closed') fill(status, note('info', `The live tail ended: ${JSON.parse(data).reason}`));
    }, () => fill(status, note('info', 'Live tail on: new events appear at the top as they are acknowledged.')))
      .catch((e) => {
        if (e.name !== 'AbortError') fill(status, note('error', `The live tail stopped: ${e.message}`));
      });
  });

  const onKey = (e) => {
    if (e.key === '/' && document.activeElement !== input && !e.target.closest('input, textarea, select')) {
      e.preventDefault();
      input.focus();
    }
  };
  document.addEventListener('keydown', onKey);
  return () => {
    controller.abort();
    tail?.abort();
    observer.disconnect();
    document.removeEventListener('keydown', onKey);
  };
}

async function drawChart(chart, filter, bounds, view, navigate, signal) {
  const now = Date.now();
  let sinceMs = bounds.since ? Date.parse(bounds.since) : null;
  const untilMs = bounds.until ? Date.parse(bounds.until) : now;
  try {
    let days = null;
    if (sinceMs === null) {
      // All time: the first day with events starts the chart.
      days = await json(`/v1/stats${query({ ...filter, group_by: 'day' })}`, { signal });
      const starts = (days.groups.day || []).map((r) => bucketStart(r.value));
      sinceMs = starts.length ? Math.min(...starts) : untilMs - 24 * 3600e3;
    }
    const bucket = bucketFor(sinceMs, untilMs);
    const stats = bucket.group === 'day' && days
      ? days
      : await json(`/v1/stats${query({ ...filter, group_by: bucket.group })}`, { signal });
    const bars = buckets(stats.groups[bucket.group] || [], bucket, sinceMs, untilMs);
    fill(chart, histogram(bars, stats.total, (from, to) => {
      navigate(`#/events?${writeView({
        q: view.q, range: 'custom', since: new Date(from).toISOString(), until: new Date(to).toISOString(),
      })}`);
    }));
    performance.mark('trailkeep:histogram');
  } catch (e) {
    if (e.name !== 'AbortError') fill(chart, note('error', `The histogram could not be drawn: ${e.message}`));
  }
}

function columnChooser(columns, changed) {
  const boxes = COLUMNS.map((c) => {
    const box = h('input', { type: 'checkbox', checked: columns.includes(c), value: c.id });
    box.addEventListener('change', () => {
      const ids = [...menu.querySelectorAll('input:checked')].map((b) => b.value);
      localStorage.setItem(COLUMNS_KEY, JSON.stringify(ids.length ? ids : DEFAULT_COLUMNS));
      changed();
    });
    return h('label', {}, box, ` ${c.label}`);
  });
  const menu = h('details', { class: 'columns' }, h('summary', {}, 'Columns'), h('div', { class: 'menu' }, boxes));
  return menu;
}

/** Suggestions under the search bar: field names, then known values of the field typed. */
function suggest(input, list) {
  let known = null;
  let active = -1;
  const load = async () => {
    if (known) return known;
    known = {};
    try {
      const stats = await json('/v1/stats?group_by=action,category,outcome,target_type,actor');
      for (const [group, rows] of Object.entries(stats.groups)) known[group] = rows.map((r) => r.value);
    } catch { /* no suggestions of values */ }
    return known;
  };
  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    active = -1;
  };
  const choose = (text) => {
    const words = input.value.split(' ');
    words[words.length - 1] = text;
    input.value = words.join(' ') + (text.endsWith(':') ? '' : ' ');
    input.focus();
    close();
    if (text.endsWith(':')) update();
  };
  const update = async () => {
    const last = input.value.split(' ').pop();
    let options = [];
    const at = last.indexOf(':');
    if (at < 0) {
      options = FIELDS.filter((f) => last && f.name.startsWith(last.toLowerCase()))
        .map((f) => ({ text: `${f.name}:`, help: f.help }));
    } else {
      const f = FIELDS.find((x) => x.name === last.slice(0, at));
      const prefix = last.slice(at + 1);
      if (f?.stat) {
        const values = (await load())[f.stat] || [];
        options = values.filter((v) => v.startsWith(prefix) && v !== prefix).slice(0, 12)
          .map((v) => ({ text: `${f.name}:${/\s/.test(v) ? `"${v}"` : v}`, help: '' }));
      }
    }
    fill(list, options.map((o, i) => h('li', {
      role: 'option', id: `suggestion-${i}`, tabindex: -1,
      onmousedown: (e) => { e.preventDefault(); choose(o.text); },
    }, h('code', {}, o.text), o.help ? h('span', { class: 'help' }, o.help) : null)));
    list.hidden = options.length === 0;
    input.setAttribute('aria-expanded', String(!list.hidden));
    active = -1;
  };
  input.addEventListener('input', update);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    const items = [...list.children];
    if (list.hidden || items.length === 0) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.setAttribute('aria-selected', String(i === active)));
      input.setAttribute('aria-activedescendant', items[active].id);
    } else if ((e.key === 'Enter' || e.key === 'Tab') && active >= 0) {
      e.preventDefault();
      choose(items[active].querySelector('code').textContent);
    } else if (e.key === 'Escape') {
      close();
    }
  });
}

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60e3);
  return local.toISOString().slice(0, 19);
}

function fromLocalInput(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** The events of one field value, as a link to the events page. */
export function searchLink(term, label) {
  return h('a', { href: `#/events?${writeView({ q: term, range: 'all' })}` }, label || term);
}

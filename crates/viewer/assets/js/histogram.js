// The volume histogram over the chosen range: bars from the statistics' time buckets, and a
// drag across them that narrows the range to what was dragged over.

import { count, counted, h, localTime } from './dom.js';

const MINUTE = 60e3;
const HOUR = 3600e3;
const DAY = 24 * HOUR;

/** The bucket a range is counted in: minutes up to 6 hours, hours up to 40 days, else days. */
export function bucketFor(sinceMs, untilMs) {
  const span = untilMs - sinceMs;
  if (span <= 6 * HOUR) return { group: 'minute', ms: MINUTE };
  if (span <= 40 * DAY) return { group: 'hour', ms: HOUR };
  return { group: 'day', ms: DAY };
}

/** The start (ms) of a bucket's value: `YYYY-MM-DD` or an RFC 3339 instant. */
export function bucketStart(value) {
  return Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
}

/**
 * Every bucket from `sinceMs` to `untilMs` (empty ones too), with its count from `rows`
 * (`[{value, count}]` of the statistics' time group).
 */
export function buckets(rows, bucket, sinceMs, untilMs) {
  const counts = new Map(rows.map((r) => [bucketStart(r.value), r.count]));
  const first = Math.floor(sinceMs / bucket.ms) * bucket.ms;
  const out = [];
  for (let start = first; start < untilMs && out.length < 2000; start += bucket.ms) {
    out.push({ start, end: start + bucket.ms, count: counts.get(start) || 0 });
  }
  return out;
}

/**
 * The chart: `onZoom(sinceMs, untilMs)` is called when bars are dragged across (or one is
 * clicked, which zooms to it).
 */
export function histogram(bars, total, onZoom) {
  const width = 1000;
  const height = 120;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const barWidth = width / Math.max(1, bars.length);
  const svg = h('svg:svg', {
    viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', class: 'histogram',
    role: 'img', 'aria-label': `${counted(total, 'event')} over ${bars.length} intervals; drag to zoom`,
  });
  bars.forEach((bar, i) => {
    const barHeight = bar.count === 0 ? 0 : Math.max(2, (bar.count / max) * (height - 4));
    const rect = h('svg:rect', {
      x: i * barWidth + 0.5, y: height - barHeight, width: Math.max(1, barWidth - 1),
      height: barHeight, class: 'bar', 'data-count': bar.count,
    });
    rect.append(h('svg:title', {}, `${localTime(new Date(bar.start))}: ${count(bar.count)}`));
    svg.append(rect);
  });
  const selection = h('svg:rect', { class: 'selection', x: 0, y: 0, width: 0, height, visibility: 'hidden' });
  svg.append(selection);

  const indexAt = (clientX) => {
    const box = svg.getBoundingClientRect();
    const x = ((clientX - box.left) / box.width) * width;
    return Math.min(bars.length - 1, Math.max(0, Math.floor(x / barWidth)));
  };
  let from = null;
  svg.addEventListener('pointerdown', (e) => {
    if (bars.length === 0) return;
    from = indexAt(e.clientX);
    svg.setPointerCapture(e.pointerId);
    show(from, from);
  });
  svg.addEventListener('pointermove', (e) => {
    if (from !== null) show(from, indexAt(e.clientX));
  });
  svg.addEventListener('pointerup', (e) => {
    if (from === null) return;
    const to = indexAt(e.clientX);
    const [a, b] = from <= to ? [from, to] : [to, from];
    from = null;
    selection.setAttribute('visibility', 'hidden');
    onZoom(bars[a].start, bars[b].end);
  });
  function show(a, b) {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    selection.setAttribute('x', lo * barWidth);
    selection.setAttribute('width', (hi - lo + 1) * barWidth);
    selection.setAttribute('visibility', 'visible');
  }
  const label = bars.length
    ? h('div', { class: 'histogram-axis' },
      h('span', {}, localTime(new Date(bars[0].start))),
      h('span', {}, `${counted(total, 'event')} · drag across the bars to zoom`),
      h('span', {}, localTime(new Date(bars[bars.length - 1].end))))
    : null;
  return h('div', { class: 'histogram-box' }, svg, label);
}

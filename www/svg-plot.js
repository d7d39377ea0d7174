// Small SVG line plots for the schedule panel and the "decided at" curve: axes with a few
// ticks, lines, dots that carry their data (data-x, data-value) for tests and tooltips, a rug of
// ticks along the x axis and vertical markers. Drawing only: the values come from the engine.

import { formatNumber } from './anatomy-text.js';

const NS = 'http://www.w3.org/2000/svg';

export function svgEl(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.append(e);
  return e;
}

/**
 * Draws into `svg` (replacing what was there): `x` and `y` are {min, max, label, ticks?}; each
 * of `series` is {cls, points: [[x, y], ...], line (default true), dots (default false), label?};
 * `rug` lists x values ticked along the x axis (class `rug`); `title` is the accessible name.
 * Returns {x(v), y(v), marker(xValue)} to place more, e.g. the current-step line.
 */
export function linePlot(svg, { width = 320, height = 130, x, y, series = [], rug = [], title = '' }) {
  const pad = { left: 42, right: 10, top: 18, bottom: 26 };
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  svgEl('title', {}, svg).textContent = title;
  const span = (a) => (a.max > a.min ? a.max - a.min : 1);
  const px = (v) => pad.left + ((v - x.min) / span(x)) * (width - pad.left - pad.right);
  const py = (v) => pad.top + (1 - (v - y.min) / span(y)) * (height - pad.top - pad.bottom);
  const axes = svgEl('g', { class: 'axes' }, svg);
  svgEl('line', { x1: pad.left, y1: py(y.min), x2: width - pad.right, y2: py(y.min) }, axes);
  svgEl('line', { x1: pad.left, y1: py(y.min), x2: pad.left, y2: py(y.max) }, axes);
  for (const v of y.ticks ?? [y.min, y.max]) {
    svgEl('text', { x: pad.left - 4, y: py(v) + 3.5, 'text-anchor': 'end' }, axes).textContent = formatTick(v);
  }
  for (const v of x.ticks ?? [x.min, x.max]) {
    svgEl('text', { x: px(v), y: height - pad.bottom + 12, 'text-anchor': 'middle' }, axes).textContent = formatTick(v);
  }
  if (x.label) svgEl('text', { x: width - pad.right, y: height - 2, 'text-anchor': 'end', class: 'axis-label' }, axes).textContent = x.label;
  if (y.label) svgEl('text', { x: pad.left - 4, y: 10, class: 'axis-label' }, axes).textContent = y.label;
  const rugs = svgEl('g', { class: 'rug' }, svg);
  for (const v of rug) svgEl('line', { x1: px(v), x2: px(v), y1: py(y.min), y2: py(y.min) - 5 }, rugs);
  for (const s of series) {
    const g = svgEl('g', { class: `series ${s.cls}` }, svg);
    if (s.label) g.setAttribute('data-label', s.label);
    const pts = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    if (s.line !== false && pts.length > 1) {
      svgEl('polyline', { points: pts.map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(' ') }, g);
    }
    if (s.dots) {
      for (const [a, b] of pts) {
        const dot = svgEl('circle', { cx: px(a).toFixed(1), cy: py(b).toFixed(1), r: s.r ?? 2.2, 'data-x': a, 'data-value': b }, g);
        svgEl('title', {}, dot).textContent = `${s.label ?? ''} ${formatNumber(a)}: ${formatNumber(b)}`.trim();
      }
    }
  }
  const markers = svgEl('g', { class: 'markers' }, svg);
  return {
    x: px,
    y: py,
    marker(v) {
      markers.replaceChildren();
      if (v === null || v === undefined) return;
      svgEl('line', { class: 'marker', x1: px(v), x2: px(v), y1: py(y.min), y2: py(y.max) }, markers);
    },
  };
}

/** An axis tick's label: 3 significant digits (the exact values are on the dots). */
export function formatTick(v) {
  return formatNumber(Number(v.toPrecision(3)));
}

/** Up to `k` points of a curve over 0..len-1 (the first, the last and evenly between). */
export function thin(len, k) {
  if (len <= k) return Array.from({ length: len }, (_, i) => i);
  const out = [];
  for (let j = 0; j < k; j++) out.push(Math.round((j * (len - 1)) / (k - 1)));
  return out;
}

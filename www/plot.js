// A small SVG plot of the noise schedule: sqrt(alpha_bar_t) (how much of x_0 is left) and
// sqrt(1 - alpha_bar_t) (how much noise) against t, with a marker at the current t.

const NS = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 150;
const PAD = { left: 34, right: 10, top: 10, bottom: 28 };

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.append(e);
  return e;
}

/**
 * Draws the plot into `svg` for `alphasCumprod` (length T). Returns {setT(t)} which moves the
 * marker and updates the plot's accessible description.
 */
export function schedulePlot(svg, alphasCumprod) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const T = alphasCumprod.length;
  const x = (t) => PAD.left + (t / Math.max(1, T - 1)) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - v) * (H - PAD.top - PAD.bottom);

  const axes = el('g', { class: 'axes' }, svg);
  el('line', { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0) }, axes);
  el('line', { x1: PAD.left, y1: y(0), x2: PAD.left, y2: y(1) }, axes);
  for (const v of [0, 0.5, 1]) {
    el('text', { x: PAD.left - 4, y: y(v) + 4, 'text-anchor': 'end' }, axes).textContent = String(v);
  }
  for (const t of [0, Math.round((T - 1) / 2), T - 1]) {
    el('text', { x: x(t), y: H - PAD.bottom + 14, 'text-anchor': 'middle' }, axes).textContent = String(t);
  }
  el('text', { x: W - PAD.right, y: H - 3, 'text-anchor': 'end' }, axes).textContent = 't';

  const signal = [];
  const noise = [];
  const stride = Math.max(1, Math.floor(T / 200));
  for (let t = 0; t < T; t += stride) {
    signal.push(`${x(t).toFixed(1)},${y(Math.sqrt(alphasCumprod[t])).toFixed(1)}`);
    noise.push(`${x(t).toFixed(1)},${y(Math.sqrt(1 - alphasCumprod[t])).toFixed(1)}`);
  }
  el('polyline', { class: 'signal', points: signal.join(' ') }, svg);
  el('polyline', { class: 'noise', points: noise.join(' ') }, svg);

  const legend = el('g', { class: 'legend' }, svg);
  el('text', { class: 'signal-label', x: x(T * 0.5), y: y(0.72) }, legend).textContent = '√ᾱ_t (signal)';
  el('text', { class: 'noise-label', x: x(T * 0.5), y: y(0.72) + 14 }, legend).textContent = '√(1−ᾱ_t) (noise)';

  const marker = el('line', { class: 'marker', y1: y(0), y2: y(1) }, svg);
  const dotS = el('circle', { class: 'signal-dot', r: 3.5 }, svg);
  const dotN = el('circle', { class: 'noise-dot', r: 3.5 }, svg);
  const title = el('title', {}, svg);

  return {
    setT(t) {
      const ab = alphasCumprod[t];
      const s = Math.sqrt(ab);
      const n = Math.sqrt(1 - ab);
      marker.setAttribute('x1', x(t));
      marker.setAttribute('x2', x(t));
      dotS.setAttribute('cx', x(t));
      dotS.setAttribute('cy', y(s));
      dotN.setAttribute('cx', x(t));
      dotN.setAttribute('cy', y(n));
      const text = `Noise schedule: at t = ${t}, sqrt(alpha_bar) = ${s.toFixed(3)} and sqrt(1 - alpha_bar) = ${n.toFixed(3)}`;
      title.textContent = text;
      svg.setAttribute('aria-label', text);
    },
  };
}

// The step anatomy panel: for the step under the timeline cursor (live during a run, any step of
// a finished one through its own step field), each lane's x̂_0 and update formulas with that
// step's numbers from the engine (`Session.stepAnatomy`: the kernel's own coefficients; this
// module formats them and never recomputes one), and the update drawn as pictures: the x̂_0, ε̂
// (or x_t) and noise terms, each scaled by its coefficient, summing to x_{t-1}, for the first
// image of the batch. Pictures of steps the recorder kept come from it; others are recomputed
// by replaying the run from the nearest kept x_t (`replay`), which the runner schedules.

import { anatomyText, formatNumber, formatSigned, piecesHtml, valueOf } from './anatomy-text.js';
import { PaintThrottle } from './paint-throttle.js';
import { drawRgba, tensorToRgba } from './render.js';

/** The parts of a step (`Session.readStepParts`) as RGBA pictures of one (C, H, W) image. */
export function partsToRgba(parts, [c, h, w]) {
  const out = { index: parts.index, width: w, height: h };
  for (const key of ['xt', 'eps', 'x0', 'z', 'x0Term', 'midTerm', 'noiseTerm', 'prev']) {
    out[key] = parts[key].length ? tensorToRgba(parts[key], 1, c, h, w).rgba : null;
  }
  return out;
}

/** Bytes partsToRgba keeps per step for a (C, H, W) image (the recorder's budget). */
export function partsBytes([, h, w]) {
  return 8 * h * w * 4;
}

const LANE_HTML = /* html */ `
  <h4 class="an-head"></h4>
  <div class="an-block">
    <div class="formula an-x0-rows"></div>
    <div class="pics">
      <figure><canvas class="pixel empty" data-part="xt"></canvas><figcaption>x<sub>t</sub></figcaption></figure>
      <span class="op">,</span>
      <figure><canvas class="pixel empty" data-part="eps"></canvas><figcaption>ε̂</figcaption></figure>
      <span class="op">→</span>
      <figure><canvas class="pixel empty" data-part="x0"></canvas><figcaption>x̂<sub>0</sub></figcaption></figure>
    </div>
  </div>
  <div class="an-block">
    <p class="an-update-head"></p>
    <div class="formula an-update-rows"></div>
    <div class="pics terms">
      <figure><canvas class="pixel empty" data-part="x0Term"></canvas><span class="zero" hidden>0</span><figcaption></figcaption></figure>
      <span class="op">+</span>
      <figure><canvas class="pixel empty" data-part="midTerm"></canvas><span class="zero" hidden>0</span><figcaption></figcaption></figure>
      <span class="op">+</span>
      <figure><canvas class="pixel empty" data-part="noiseTerm"></canvas><span class="zero" hidden>0</span><figcaption></figcaption></figure>
      <span class="op">=</span>
      <figure><canvas class="pixel empty" data-part="prev"></canvas><figcaption>x<sub>t−1</sub></figcaption></figure>
    </div>
    <p class="hint an-pics-note"></p>
  </div>`;

function fillNumbers(root, a) {
  for (const span of root.querySelectorAll('.num')) {
    const v = valueOf(a, span.dataset.key);
    span.textContent = 'signed' in span.dataset ? formatSigned(v) : formatNumber(v);
    span.dataset.value = String(v);
  }
}

function rowsHtml(rows) {
  return rows.map((r) => `<p>${piecesHtml(r)}</p>`).join('');
}

export class AnatomyPanel {
  // While a run goes, at most 10 renders a second: each rewrites the panel's text and redraws
  // its nine pictures, and at 25 a second the page's thread spent a third of its time on them
  // (main-thread profile, CPU backend, batch 1); ten a second still follows the run.
  #paint = new PaintThrottle({ minMs: 100 });

  /**
   * `parts`: {section, lanesBox, wait, prev, next, step, of, status} (elements of the panel);
   * `replay(lane, i)` resolves to step i's parts as pictures (partsToRgba) recomputed on the
   * lane's session, or null when superseded; `seek(i)` moves the timeline to step i if it has
   * that frame; `T()` is the model's training timesteps; `onStep(t)` hears the step shown.
   */
  constructor({ parts, replay, seek, T, onStep }) {
    this.p = parts;
    this.replay = replay;
    this.seek = seek;
    this.T = T;
    this.onStep = onStep;
    this.lanes = [];
    this.blocks = [];
    this.running = false;
    this.index = null;
    parts.prev.addEventListener('click', () => this.go(this.index - 1, true));
    parts.next.addEventListener('click', () => this.go(this.index + 1, true));
    parts.step.addEventListener('change', () => this.go(Number(parts.step.value) - 1, true));
    this.#nav();
  }

  /** A new run of `lanes` ({name, sampler, eta, session, recorder, ...}) starts. */
  start(lanes) {
    this.#paint.cancel();
    this.lanes = lanes;
    this.running = true;
    this.index = null;
    this.p.lanesBox.replaceChildren();
    this.blocks = lanes.map((lane) => {
      const box = document.createElement('div');
      box.className = 'an-lane';
      box.innerHTML = LANE_HTML;
      box.dataset.sampler = lane.sampler;
      this.p.lanesBox.append(box);
      return box;
    });
    this.p.section.classList.add('ready');
    this.p.status.textContent = 'Follows the run as it goes; any step once it is done.';
    this.#nav();
  }

  /** The run was abandoned (new model, lost device): nothing to show. */
  abandon() {
    this.#paint.cancel();
    this.running = false;
    this.lanes = [];
    this.p.lanesBox.replaceChildren();
    this.p.section.classList.remove('ready');
    this.#nav();
  }

  /** `lane` recorded step `i` (with its pictures) during the run: show it. */
  recorded(lane, i) {
    if (!this.running) return;
    // The newest step of each lane, at most every 100 ms (paint-throttle.js): at ~20 ms a
    // step, rendering every one would take the page's thread from the sampler.
    this.#paint.request(lane, () => {
      if (!this.running || !this.lanes.includes(lane)) return;
      this.index = i;
      this.#render(this.lanes.indexOf(lane), i);
      this.#nav();
    });
  }

  /** The run is over: every step can be chosen; show the last one. */
  finish() {
    this.#paint.cancel();
    this.running = false;
    const n = this.lanes[0]?.recorder.n ?? 0;
    this.p.status.textContent = n ? 'Pick any step: ◀ ▶, the step field or the timeline.' : '';
    this.go(n - 1, false);
  }

  /** The timeline shows `frame` (of the first lane): show the step that made it (step 1 for x_T). */
  showFrame(frame) {
    if (this.running || !frame || Math.max(0, frame.i) === this.index) return;
    this.go(Math.max(0, frame.i), false);
  }

  /** Shows step `i` of every lane; `fromNav`: the reader chose it here (move the timeline too). */
  go(i, fromNav) {
    const n = this.lanes[0]?.recorder.n ?? 0;
    if (this.running || !n) return;
    i = Math.min(n - 1, Math.max(0, i));
    this.index = i;
    if (fromNav) this.seek(i);
    this.lanes.forEach((_, k) => this.#render(k, i));
    this.#nav();
  }

  #nav() {
    const n = this.lanes[0]?.recorder.n ?? 0;
    const { prev, next, step, of } = this.p;
    step.max = String(Math.max(1, n));
    if (this.index !== null) step.value = String(this.index + 1);
    of.textContent = n ? `of ${n}` : '';
    const idle = !this.running && n > 0;
    step.disabled = !idle;
    prev.disabled = !idle || this.index <= 0;
    next.disabled = !idle || this.index >= n - 1;
  }

  #render(k, i) {
    const lane = this.lanes[k];
    const box = this.blocks[k];
    if (!lane || !box) return;
    let a;
    try {
      a = lane.session.stepAnatomy(i);
    } catch (e) {
      this.p.status.textContent = `Cannot show step ${i + 1}: ${e.message || e}`;
      return;
    }
    const text = anatomyText(a, { T: this.T() });
    const name =
      lane.sampler === 'dpmpp2m'
        ? 'DPM-Solver++(2M)'
        : lane.sampler === 'ddim'
          ? `DDIM, η = ${formatNumber(a.eta)}`
          : `DDPM, ${a.variance === 'fixed_large' ? 'variance β_t' : 'posterior variance β̃_t'}`;
    box.querySelector('.an-head').innerHTML = `${name}: ${piecesHtml(text.title)}`;
    box.querySelector('.an-x0-rows').innerHTML = rowsHtml(text.x0Rows);
    box.querySelector('.an-update-head').innerHTML = text.updateHead;
    box.querySelector('.an-update-rows').innerHTML = rowsHtml(text.updateRows);
    const figs = box.querySelectorAll('.terms figure');
    text.terms.forEach((term, j) => (figs[j].querySelector('figcaption').innerHTML = piecesHtml(term.pieces)));
    fillNumbers(box, a);
    box.dataset.step = String(i);
    box.dataset.t = String(a.t);
    if (k === 0) this.onStep?.(a.t);
    if (lane.sampler === 'dpmpp2m') {
      // readStepParts refuses DPM-Solver++: its update also needs the previous step's x̂_0.
      this.#clear(box, 'Pictures are not available for DPM-Solver++ (its update mixes this step’s x̂₀ with the previous step’s, which the engine does not split into terms); the numbers above are the engine’s.');
      box.dataset.noPictures = 'dpmpp2m';
      box.classList.add('no-pics');
      return;
    }
    delete box.dataset.noPictures;
    box.classList.remove('no-pics');
    const frame = lane.recorder.afterStep(i);
    if (frame?.parts) {
      this.#draw(box, frame.parts, a, text);
      return;
    }
    this.#clear(box, this.running ? 'The pictures of this step were not kept; they are recomputed once the run is done.' : `Recomputing the pictures of step ${i + 1} from the run's x_t…`);
    if (this.running) return;
    this.replay(lane, i).then(
      (parts) => {
        if (parts && this.index === i && this.lanes[k] === lane) this.#draw(box, parts, a, text);
      },
      (e) => {
        if (this.index === i) box.querySelector('.an-pics-note').textContent = `Could not recompute the pictures: ${e.message || e}`;
      },
    );
  }

  #clear(box, note) {
    for (const c of box.querySelectorAll('canvas')) c.classList.add('empty');
    for (const z of box.querySelectorAll('.zero')) z.hidden = true;
    box.querySelector('.an-pics-note').textContent = note;
    delete box.dataset.picturesStep;
  }

  /** Draws `parts` (pictures of step `a`); a term whose coefficient is 0 shows "0" instead. */
  #draw(box, parts, a, text) {
    const zero = new Set(text.terms.filter((term) => term.pieces.some((p) => p.key && valueOf(a, p.key) === 0)).map((term) => term.part));
    for (const canvas of box.querySelectorAll('canvas')) {
      const part = canvas.dataset.part;
      const rgba = parts[part];
      const isZero = zero.has(part);
      const mark = canvas.closest('figure').querySelector('.zero');
      if (mark) mark.hidden = !isZero;
      if (rgba && !isZero) drawRgba(canvas, rgba, parts.width, parts.height);
      else canvas.classList.add('empty');
    }
    const notes = ['First image of the batch, every picture drawn like x_t (−1 black, +1 white, clipped), so a term with a small coefficient is near grey.'];
    if (zero.size) notes.push('A term whose coefficient is 0 adds nothing (shown as 0).');
    box.querySelector('.an-pics-note').textContent = notes.join(' ');
    box.dataset.picturesStep = String(parts.index);
    box.dataset.picturesT = String(a.t);
  }
}

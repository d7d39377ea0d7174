// The interpolation panel (issue 15): a strip of N frames between the current seed's x_T and
// another seed's (or between the x_T of the last two inverted images), each frame's x_T the
// spherical interpolation of the two (the engine's slerpNoise: the ends are the two x_T
// exactly) and sampled with DDIM η = 0 at the current steps, all frames as one batch. Settings:
// `lerp` (the other seed) and `frames`.

import { formatMs } from './messages.js';
import { sampleFrom, slerpFrames, slerpTimes } from './op-run.js';
import { drawRgba, tensorToRgba } from './render.js';
import { RunQueue } from './run-loop.js';
import { MAX_FRAMES } from './url-state.js';

export class InterpolatePanel {
  /**
   * `p`: {section, ends, seed, frames, run, status, strip}. `env`: {work(queue, job), shape(),
   * settings(), wasm(), update(partial) (settings), inversions() -> the last two {label, xT}}.
   */
  constructor(p, env) {
    this.p = p;
    this.env = env;
    this.queue = new RunQueue();
    this.result = null; // {ends, seeds, t, xT (n images), images (n images), steps}
    this.doneKey = null;
    p.frames.max = String(MAX_FRAMES);
    p.run.addEventListener('click', () => this.#fromControls());
    p.ends.addEventListener('change', () => this.#endsChanged());
    this.#state('idle');
  }

  #state(state) {
    this.p.section.dataset.state = state;
    this.p.run.disabled = state === 'running';
  }

  #say(text) {
    this.p.status.textContent = text;
  }

  #endsChanged() {
    this.p.seed.disabled = this.p.ends.value !== 'seeds';
  }

  /** The settings changed: show them; the choice of inverted ends only once two images are inverted. */
  update(s) {
    const other = s.lerp ?? (s.seed + 1) % 2 ** 32;
    if (document.activeElement !== this.p.seed && this.p.seed.value !== String(other)) this.p.seed.value = String(other);
    if (this.p.frames.value !== String(s.frames)) this.p.frames.value = String(s.frames);
    this.inversionsChanged();
  }

  inversionsChanged() {
    const opt = this.p.ends.querySelector('option[value="inverted"]');
    const two = this.env.inversions().length >= 2;
    opt.disabled = !two;
    opt.textContent = two ? `the last two inverted images (${this.env.inversions().map((i) => i.label).join(' and ')})` : 'the last two inverted images (invert two first)';
    if (!two && this.p.ends.value === 'inverted') this.p.ends.value = 'seeds';
    this.#endsChanged();
  }

  #fromControls() {
    const frames = Number(this.p.frames.value);
    if (!(Number.isInteger(frames) && frames >= 2 && frames <= MAX_FRAMES)) {
      this.#state('error');
      this.#say(`Frames must be a whole number from 2 to ${MAX_FRAMES}.`);
      return;
    }
    if (this.p.ends.value === 'inverted') {
      this.env.update({ frames });
      this.runNow('inverted');
      return;
    }
    const seed = Number(this.p.seed.value);
    if (!(this.p.seed.value.trim() !== '' && Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
      this.#state('error');
      this.#say('The other seed must be a whole number from 0 to 4294967295.');
      return;
    }
    this.env.update({ lerp: seed, frames });
    this.runNow('seeds');
  }

  /** A main run finished: make the strip again when the settings ask for one and it is stale. */
  afterRun() {
    const s = this.env.settings();
    if (s.lerp === null || s.lerp === undefined) return;
    if (this.doneKey !== this.#key(s)) this.runNow('seeds');
  }

  #key(s) {
    return `${s.model}|${s.seed}|${s.lerp}|${s.frames}|${s.steps}`;
  }

  async runNow(ends) {
    const s = this.env.settings();
    const shape = this.env.shape();
    if (!shape) {
      this.#say('The model is not loaded yet.');
      return;
    }
    const [c, h, w] = shape;
    const len = c * h * w;
    const wasm = this.env.wasm();
    let a;
    let b;
    let what;
    if (ends === 'inverted') {
      const inv = this.env.inversions();
      if (inv.length < 2) {
        this.#state('error');
        this.#say('Invert two images first (the inversion panel), then interpolate between them.');
        return;
      }
      [a, b] = [inv[0].xT, inv[1].xT];
      what = `${inv[0].label} and ${inv[1].label}`;
    } else {
      a = wasm.initialNoise(s.seed, 1, len);
      b = wasm.initialNoise(s.lerp, 1, len);
      what = `seeds ${s.seed} and ${s.lerp}`;
    }
    const n = s.frames;
    const xT = slerpFrames((x, y, t) => wasm.slerpNoise(x, y, t), a, b, n);
    const key = ends === 'seeds' ? this.#key(s) : null;
    this.#state('running');
    this.#say(`Sampling ${n} frames between ${what} (DDIM, η = 0, ${s.steps} steps)…`);
    const t0 = performance.now();
    let out;
    try {
      out = await this.env.work(this.queue, (isCurrent, session) => sampleFrom(session, { sampler: 'ddim', steps: s.steps, eta: 0, xT }, isCurrent, (j) => this.#say(`Sampling ${n} frames between ${what}: step ${j + 1}/${s.steps}…`)), n);
    } catch (e) {
      this.#state('error');
      this.#say(`The interpolation failed: ${e.message || e}`);
      return;
    }
    if (!out) {
      if (this.p.section.dataset.state === 'running') {
        this.#state(this.result ? 'done' : 'idle');
        this.#say('Wait for the run above to finish, then interpolate.');
      }
      return;
    }
    this.result = { ends, what, seeds: ends === 'seeds' ? [s.seed, s.lerp] : null, t: slerpTimes(n), xT, images: out.x, steps: s.steps, len };
    this.doneKey = key;
    this.#draw(n, c, h, w);
    this.#state('done');
    this.#say(`${n} frames between ${what}, each DDIM η = 0 with ${s.steps} steps (${out.evaluations} network evaluations for the batch of ${n}) in ${formatMs(performance.now() - t0)}.`);
  }

  #draw(n, c, h, w) {
    const len = c * h * w;
    const figs = this.result.t.map((t, k) => {
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.className = 'pixel';
      canvas.setAttribute('role', 'img');
      canvas.dataset.frame = String(k);
      const g = tensorToRgba(this.result.images.subarray(k * len, (k + 1) * len), 1, c, h, w);
      drawRgba(canvas, g.rgba, g.width, g.height);
      canvas.setAttribute('aria-label', `frame ${k + 1} of ${n}, t = ${t.toFixed(2)}`);
      const cap = document.createElement('figcaption');
      cap.textContent = k === 0 ? 't = 0' : k === n - 1 ? 't = 1' : t.toFixed(2);
      fig.append(canvas, cap);
      return fig;
    });
    this.p.strip.replaceChildren(...figs);
  }

  /** Stops the panel's work; resolves once it has stopped. */
  reset() {
    return this.queue.cancel();
  }
}

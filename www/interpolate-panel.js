// The interpolation panel (issue 15): a strip of N frames between the current seed's x_T and
// another seed's (or between the x_T of two inverted images), each frame's x_T the spherical
// interpolation of the two (the engine's slerpNoise: the ends are the two x_T exactly), all
// frames as one batch sampled with DDIM η = 0: between seeds at the run's steps and clipping,
// between inverted images as the inversion decodes them (its steps, x̂_0 not clipped), so the
// ends are the inversion panel's reconstructions. Settings: `lerp` (the other seed, or
// "inv:A,B": the inversions of examples A and B, which the panel makes itself with `invsteps`)
// and `frames`. Inverted uploads or run images can be interpolated but are not in the URL.

import { EXAMPLE_NAMES, exampleImage } from './examples.js';
import { formatMs } from './messages.js';
import { INVERSION_CLIP, invert, sampleFrom, slerpFrames, slerpTimes } from './op-run.js';
import { drawRgba, tensorToRgba } from './render.js';
import { RunQueue } from './run-loop.js';
import { MAX_FRAMES, laneClip, lerpEnds } from './url-state.js';

export class InterpolatePanel {
  /**
   * `p`: {section, ends, seed, frames, run, status, strip}. `env`: {work(queue, job), shape(),
   * settings(), wasm(), update(partial) (settings), inversions() -> the last two {source,
   * steps, label, xT}}.
   */
  constructor(p, env) {
    this.p = p;
    this.env = env;
    this.queue = new RunQueue();
    this.result = null; // {ends, what, seeds, examples, t, xT (n images), images (n images), steps, clip, len}
    this.doneKey = null;
    this.shownLerp = undefined; // the `lerp` setting the ends menu last showed
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

  /** The settings changed: show them; the choice of inverted ends once two images are inverted or the settings name two examples. */
  update(s) {
    const ends = lerpEnds(s.lerp);
    const other = ends?.seed ?? (s.seed + 1) % 2 ** 32;
    if (document.activeElement !== this.p.seed && this.p.seed.value !== String(other)) this.p.seed.value = String(other);
    if (this.p.frames.value !== String(s.frames)) this.p.frames.value = String(s.frames);
    this.inversionsChanged();
    // Only when the setting changed: a choice made in the menu stays until Interpolate is pressed.
    if (ends && s.lerp !== this.shownLerp) this.p.ends.value = ends.examples ? 'inverted' : 'seeds';
    this.shownLerp = s.lerp;
    this.#endsChanged();
  }

  inversionsChanged() {
    const opt = this.p.ends.querySelector('option[value="inverted"]');
    const inv = this.env.inversions();
    const examples = lerpEnds(this.env.settings().lerp)?.examples;
    const two = inv.length >= 2;
    opt.disabled = !two && !examples;
    opt.textContent = two
      ? `the last two inverted images (${inv.map((i) => i.label).join(' and ')})`
      : examples
        ? `the inverted ${examples[0]} and ${examples[1]} examples`
        : 'the last two inverted images (invert two first)';
    if (opt.disabled && this.p.ends.value === 'inverted') this.p.ends.value = 'seeds';
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
      const inv = this.env.inversions();
      if (inv.length < 2) {
        // Only the settings' examples: invert them here.
        this.env.update({ frames });
        this.runNow('examples');
        return;
      }
      // Two inverted examples fit in the URL ("inv:A,B"); an upload or a run's image does not.
      const named = inv.every((i) => EXAMPLE_NAMES.includes(i.source));
      this.env.update({ lerp: named ? `inv:${inv[0].source},${inv[1].source}` : null, frames });
      this.runNow(named ? 'examples' : 'inverted');
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
    const ends = lerpEnds(s.lerp);
    if (!ends) return;
    if (this.doneKey !== this.#key(s)) this.runNow(ends.examples ? 'examples' : 'seeds');
  }

  /** What a strip of these settings depends on. */
  #key(s) {
    const ends = lerpEnds(s.lerp);
    if (ends?.examples) return `${s.model}|${s.lerp}|${s.frames}|${s.invsteps ?? s.steps}`;
    return `${s.model}|${s.seed}|${s.lerp}|${s.frames}|${s.steps}|${laneClip('ddim', s.clip)}`;
  }

  /**
   * The x_T of the examples `names` inverted with `steps` steps: from the inversion panel's last
   * results when they match, else inverted here (one image at a time, x̂_0 not clipped). Null
   * when superseded.
   */
  async #invertExamples(names, steps, c, h, w) {
    const known = this.env.inversions();
    const have = names.map((n) => known.find((i) => i.source === n && i.steps === steps)?.xT ?? null);
    if (have.every(Boolean)) return have;
    return this.env.work(this.queue, async (isCurrent, session) => {
      const out = [];
      for (const [k, name] of names.entries()) {
        if (have[k]) {
          out.push(have[k]);
          continue;
        }
        this.#say(`Inverting the ${name} example (${steps} DDIM steps) for the strip…`);
        const xT = await invert(session, exampleImage(name, c, h, w), steps, isCurrent);
        if (!xT) return null;
        out.push(xT);
      }
      return out;
    });
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
    let steps = s.steps;
    let clip = laneClip('ddim', s.clip);
    let examples = null;
    const t0 = performance.now();
    this.#state('running');
    try {
      if (ends === 'inverted') {
        const inv = this.env.inversions();
        if (inv.length < 2) {
          this.#state('error');
          this.#say('Invert two images first (the inversion panel), then interpolate between them.');
          return;
        }
        [a, b] = [inv[0].xT, inv[1].xT];
        what = `${inv[0].label} and ${inv[1].label}`;
        steps = inv[1].steps;
        clip = INVERSION_CLIP;
      } else if (ends === 'examples') {
        examples = lerpEnds(s.lerp)?.examples;
        if (!examples) {
          this.#state('error');
          this.#say('Invert two images first (the inversion panel), then interpolate between them.');
          return;
        }
        steps = s.invsteps ?? s.steps;
        clip = INVERSION_CLIP;
        const xs = await this.#invertExamples(examples, steps, c, h, w);
        if (!xs) {
          if (this.p.section.dataset.state === 'running') {
            this.#state(this.result ? 'done' : 'idle');
            this.#say('Wait for the run above to finish, then interpolate.');
          }
          return;
        }
        [a, b] = xs;
        what = `the inverted ${examples[0]} and ${examples[1]} examples`;
      } else {
        a = wasm.initialNoise(s.seed, 1, len);
        b = wasm.initialNoise(s.lerp, 1, len);
        what = `seeds ${s.seed} and ${s.lerp}`;
      }
    } catch (e) {
      this.#state('error');
      this.#say(`The interpolation failed: ${e.message || e}`);
      return;
    }
    const n = s.frames;
    const xT = slerpFrames((x, y, t) => wasm.slerpNoise(x, y, t), a, b, n);
    const key = ends === 'inverted' ? null : this.#key(s);
    const how = `DDIM, η = 0, ${steps} steps${clip === INVERSION_CLIP && ends !== 'seeds' ? ', x̂₀ not clipped as in the inversion' : ''}`;
    this.#say(`Sampling ${n} frames between ${what} (${how})…`);
    let out;
    try {
      out = await this.env.work(this.queue, (isCurrent, session) => sampleFrom(session, { sampler: 'ddim', steps, eta: 0, clip, xT }, isCurrent, (j) => this.#say(`Sampling ${n} frames between ${what}: step ${j + 1}/${steps}…`)), n);
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
    this.result = { ends, what, seeds: ends === 'seeds' ? [s.seed, s.lerp] : null, examples, t: slerpTimes(n), xT, images: out.x, steps, clip, len };
    this.doneKey = key;
    this.#draw(n, c, h, w);
    this.#state('done');
    this.#say(`${n} frames between ${what}, each ${how} (${out.evaluations} network evaluations for the batch of ${n}) in ${formatMs(performance.now() - t0)}.`);
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

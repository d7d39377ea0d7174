// "Paths not taken": on a finished run, go back to step k, keep the x_t the step started from
// (the first image of the batch) and run the remaining steps again with fresh noise, 4 or 8
// times; show the variants, their per-pixel standard deviation, and, on request, the curve of
// how much the final image can still change (the mean per-pixel std) against k. The engine
// computes the runs and the spread (branch-run.js); this module draws them.

import { formatNumber } from './anatomy-text.js';
import { branch, branchSeed } from './branch-run.js';
import { NAMES } from './messages.js';
import { drawRgba, stdMapRgba, tensorToRgba } from './render.js';
import { RunQueue } from './run-loop.js';
import { linePlot, thin } from './svg-plot.js';

/** Points of the "decided at" curve. */
const CURVE_POINTS = 8;
/** The std that shows brightest in the map (and everything above it). */
export const STD_TOP = 0.5;

export class BranchesPanel {
  /**
   * `parts`: the panel's elements {section, laneField, lane, k, kOut, count (radios' parent),
   * run, redraw, curve, stop, status, eta0, results, variants, std, stdCap, curveFig,
   * curvePlot, curveCap}; `schedule(queue, job)` runs `job(isCurrent)` after the current run
   * (runner.extra); `engine()` is the loaded {engine, wasm, info} or null.
   */
  constructor({ parts, schedule, engine }) {
    this.p = parts;
    this.schedule = schedule;
    this.engine = engine;
    this.queue = new RunQueue();
    this.sessions = new Map(); // count -> Session
    this.sessionsOf = null; // the engine the sessions belong to
    this.lanes = [];
    this.done = false;
    this.draw = 0;
    /** The last results, for tests: {branch: {k, t, count, meanStd}, curve: [{k, t, meanStd}]}. */
    this.results = { branch: null, curve: [] };
    parts.run.addEventListener('click', () => this.runBranch());
    parts.redraw.addEventListener('click', () => {
      this.draw++;
      this.runBranch();
    });
    parts.curve.addEventListener('click', () => this.runCurve());
    parts.stop.addEventListener('click', () => {
      this.queue.cancel();
      this.#busy(false, 'Stopped.');
    });
    parts.k.addEventListener('input', () => this.#showK());
    parts.lane.addEventListener('change', () => this.#fill());
    this.#enable(false);
  }

  get count() {
    return Number(this.p.section.querySelector('input[name="br-count"]:checked')?.value ?? 4);
  }

  /** A new run starts: nothing to branch until it is done. */
  start(lanes) {
    this.queue.cancel();
    this.lanes = lanes;
    this.done = false;
    this.draw = 0;
    this.results = { branch: null, curve: [] };
    this.p.results.hidden = true;
    this.p.curveFig.hidden = true;
    this.p.status.textContent = 'Branch the run once it is done.';
    this.p.laneField.hidden = lanes.length < 2;
    this.p.lane.replaceChildren(...lanes.map((l, i) => new Option(l.name, String(i))));
    this.#enable(false);
    this.#eta0();
  }

  /** The run is done: the steps whose x_t was kept can be branched. */
  finish() {
    this.done = true;
    this.#fill();
  }

  /** The engine changed or the element went away: drop the sessions. */
  reset() {
    this.queue.cancel().then(() => {
      for (const s of this.sessions.values()) s.free();
      this.sessions.clear();
    });
    this.done = false;
    this.#enable(false);
  }

  #lane() {
    return this.lanes[Number(this.p.lane.value) || 0] ?? null;
  }

  #steps() {
    return this.#lane()?.recorder.branchSteps() ?? [];
  }

  #fill() {
    const steps = this.#steps();
    const k = this.p.k;
    k.max = String(Math.max(0, steps.length - 1));
    k.value = String(Math.floor((steps.length - 1) / 2));
    const dpm = this.#lane()?.sampler === 'dpmpp2m';
    this.#enable(this.done && steps.length > 0 && !dpm);
    this.#showK();
    this.#eta0();
    if (dpm) {
      this.p.status.textContent = this.lanes.length > 1
        ? 'DPM-Solver++ cannot be branched (it adds no noise, and its multistep update needs the previous step’s x̂₀): pick the other run.'
        : 'DPM-Solver++ cannot be branched: it adds no noise (every branch would take the same path) and its multistep update needs the previous step’s x̂₀, which a branch does not have. Choose DDPM or DDIM to see paths not taken.';
    } else if (this.done) this.p.status.textContent = steps.length ? 'Pick a step and branch.' : 'This run kept no x_t to branch from.';
  }

  #k() {
    return this.#steps()[Number(this.p.k.value)] ?? null;
  }

  #showK() {
    const lane = this.#lane();
    const k = this.#k();
    const text = k === null ? '' : `step ${k + 1} of ${lane.recorder.n} (t = ${lane.recorder.timesteps[k]})`;
    this.p.kOut.value = text;
    this.p.k.setAttribute('aria-valuetext', text);
  }

  #eta0() {
    const lane = this.#lane();
    const still = lane && lane.sampler === 'ddim' && lane.eta === 0;
    this.p.eta0.hidden = !still;
    this.p.eta0.textContent = still
      ? 'With η = 0, DDIM adds no noise at any step (σ_t = 0): each step is a deterministic function of x_t, so every branch from the same x_t takes the same path — the variants are identical and their spread is 0. Raise η (or use DDPM) to see paths not taken.'
      : '';
  }

  #enable(on) {
    for (const b of [this.p.run, this.p.redraw, this.p.curve, this.p.k]) b.disabled = !on;
    this.p.redraw.disabled = !on || !this.results.branch;
    this.p.stop.disabled = true;
  }

  #busy(on, text) {
    this.#enable(!on && this.done && this.#steps().length > 0 && this.#lane()?.sampler !== 'dpmpp2m');
    this.p.stop.disabled = !on;
    this.p.section.dataset.busy = String(on);
    if (text !== undefined) this.p.status.textContent = text;
  }

  #session(count) {
    const loaded = this.engine();
    if (this.sessionsOf !== loaded?.engine) {
      for (const s of this.sessions.values()) s.free();
      this.sessions.clear();
      this.sessionsOf = loaded?.engine ?? null;
    }
    if (!this.sessions.has(count)) this.sessions.set(count, loaded.engine.createSession(count));
    return this.sessions.get(count);
  }

  #job(work) {
    const loaded = this.engine();
    if (!loaded || !this.done) return Promise.resolve();
    this.#busy(true);
    return this.schedule(this.queue, async (isCurrent) => {
      try {
        await work(isCurrent, loaded);
        if (isCurrent()) this.#busy(false);
      } catch (e) {
        if (isCurrent()) this.#busy(false, `Could not branch: ${e.message || e}`);
      }
    });
  }

  #branchOnce(lane, k, count, isCurrent, loaded, onStep) {
    return branch({
      lane,
      k,
      count,
      seed: branchSeed(lane.seed, this.draw),
      session: this.#session(count),
      wasm: loaded.wasm,
      shape: loaded.info.sampleShape,
      isCurrent,
      onStep,
    });
  }

  /** Branches the chosen lane at the chosen step and shows the variants and their spread. */
  runBranch() {
    const lane = this.#lane();
    const k = this.#k();
    const count = this.count;
    if (!lane || k === null) return Promise.resolve();
    return this.#job(async (isCurrent, loaded) => {
      const n = lane.recorder.n;
      this.p.status.textContent = `Branching ${NAMES[lane.sampler]} at step ${k + 1} into ${count}…`;
      const r = await this.#branchOnce(lane, k, count, isCurrent, loaded, (j) => {
        this.p.status.textContent = `Branching at step ${k + 1} into ${count}: step ${j + 1} of ${n}…`;
      });
      if (!r) return;
      this.#showBranch(r, count, loaded.info.sampleShape, lane);
      this.p.status.textContent = `${count} branches from step ${k + 1} (t = ${r.t}); noise seed ${branchSeed(lane.seed, this.draw)}.`;
    });
  }

  #showBranch(r, count, [c, h, w], lane) {
    const box = this.p.variants;
    box.replaceChildren();
    const len = c * h * w;
    const figure = (data, caption, label) => {
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      canvas.className = 'pixel';
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', label);
      const g = tensorToRgba(data, 1, c, h, w);
      drawRgba(canvas, g.rgba, g.width, g.height);
      const cap = document.createElement('figcaption');
      cap.textContent = caption;
      fig.append(canvas, cap);
      box.append(fig);
      return canvas;
    };
    // The path taken: the run's own final image (its last kept state, first image).
    const last = lane.recorder.afterStep(lane.recorder.n - 1);
    if (last?.state) figure(last.state.subarray(0, len), 'the run', 'The run’s own final image (the path taken)').dataset.run = '';
    for (let b = 0; b < count; b++) {
      const canvas = figure(r.finals.subarray(b * len, (b + 1) * len), `branch ${b + 1}`, `Branch ${b + 1} of ${count} from step ${r.k + 1}: its final image`);
      canvas.dataset.branch = String(b);
    }
    drawRgba(this.p.std, stdMapRgba(r.spread.stdMap, STD_TOP), w, h);
    this.p.std.setAttribute('aria-label', `Per-pixel standard deviation across the ${count} branches`);
    this.p.std.dataset.meanStd = String(r.spread.meanStd);
    this.p.stdCap.textContent = `per-pixel std across the branches (dark 0, pale yellow ≥ ${STD_TOP}); mean ${formatNumber(r.spread.meanStd)}`;
    this.p.results.hidden = false;
    this.results.branch = { k: r.k, t: r.t, count, meanStd: r.spread.meanStd, sampler: lane.sampler };
    this.p.redraw.disabled = false;
  }

  /** The "decided at" curve: the mean per-pixel std of branches' final images against k. */
  runCurve() {
    const lane = this.#lane();
    const count = this.count;
    const all = this.#steps();
    if (!lane || !all.length) return Promise.resolve();
    const ks = thin(all.length, CURVE_POINTS).map((j) => all[j]);
    return this.#job(async (isCurrent, loaded) => {
      const n = lane.recorder.n;
      const points = [];
      this.results.curve = points;
      this.p.curveFig.hidden = false;
      this.#plotCurve(lane, points);
      for (const [j, k] of ks.entries()) {
        const r = await this.#branchOnce(lane, k, count, isCurrent, loaded, (s) => {
          this.p.status.textContent = `Decided-at curve: point ${j + 1} of ${ks.length} (branching at step ${k + 1}, step ${s + 1} of ${n})…`;
        });
        if (!r) return;
        points.push({ k, t: r.t, meanStd: r.spread.meanStd });
        this.#plotCurve(lane, points);
      }
      this.p.status.textContent = `Decided-at curve: ${ks.length} points, ${count} branches each.`;
    });
  }

  #plotCurve(lane, points) {
    const n = lane.recorder.n;
    let hi = STD_TOP / 2;
    for (const p of points) hi = Math.max(hi, p.meanStd);
    linePlot(this.p.curvePlot, {
      x: { min: 1, max: n, ticks: [1, n], label: 'branch at step k' },
      y: { min: 0, max: hi, ticks: [0, hi], label: 'mean std' },
      series: [{ cls: 'run', points: points.map((p) => [p.k + 1, p.meanStd]), dots: true, r: 3, label: 'mean per-pixel std' }],
      title: `How much the final image can still change: mean per-pixel std of ${this.count} branches' final images, against the step k they branch at`,
    });
    this.p.curveCap.textContent =
      `How much the final image can still change, branching at step k (${NAMES[lane.sampler]}, ${this.count} branches per point): ` +
      'early steps leave it open, late ones have decided it.';
  }
}

// Intermediate frames of a run, with bounded memory: x_T plus at most ~100 evenly spaced steps
// (fewer when the grid is large), each holding both x_t and the predicted x_0 as RGBA grids and,
// when the panels need them, x_t as floats (`state`: the whole batch, what a replay or a branch
// starts from) and the step's update split into pictures (`parts`: the step anatomy's images).
// The memory budget wins over the frame count: x_T and the kept steps fit in BUDGET_BYTES,
// except that x_T and the last step are kept even when those two alone exceed it. The filmstrip shows up to
// ~10 of the kept frames; the timeline scrubs through all of them.

import { evenly } from './run-loop.js';

const MAX_FRAMES = 100;
const FILM_FRAMES = 10;
export const BUDGET_BYTES = 48 * 1024 * 1024;

export class FrameRecorder {
  /**
   * `timesteps` the run visits; `width`x`height` RGBA grids; `stateLen` floats of x per frame
   * when states are kept, `partsBytes` of anatomy pictures per frame when those are (both count
   * against the memory budget).
   */
  constructor(timesteps, width, height, { stateLen = 0, partsBytes = 0 } = {}) {
    this.timesteps = Array.from(timesteps);
    this.n = this.timesteps.length;
    this.width = width;
    this.height = height;
    const bytesPerFrame = 2 * width * height * 4 + 4 * stateLen + partsBytes;
    // Steps kept besides x_T (which is always recorded): at least the last one.
    const steps = Math.max(1, Math.min(MAX_FRAMES, Math.floor(BUDGET_BYTES / bytesPerFrame) - 1));
    const kept = evenly(this.n, steps);
    /** The filmstrip's steps: ~10 evenly spaced among the kept ones (never more frames). */
    this.film = evenly(kept.length, FILM_FRAMES).map((k) => kept[k]);
    this.keep = new Set(kept);
    /** Frames in order: {i (-1 for x_T), label, t, sample, x0, state?, parts?}. */
    this.frames = [];
  }

  wants(i) {
    return this.keep.has(i);
  }

  /** x_T, drawn before the first step (both views show it); `state` its floats, if kept. */
  addInitial(rgba, state = null) {
    this.frames.push({ i: -1, label: 'x_T', t: null, sample: rgba, x0: rgba, state });
  }

  /**
   * After step `i` (0-based): x_t is the sample after the update, x0 the prediction at t_i;
   * `state` (x after the step, floats) and `parts` (the step's anatomy pictures) when kept.
   */
  add(i, sample, x0, { state = null, parts = null } = {}) {
    this.frames.push({ i, label: `step ${i + 1}/${this.n}`, t: this.timesteps[i], sample, x0, state, parts });
  }

  /** The ~10 filmstrip frames (recorded so far). */
  filmFrames() {
    const film = new Set(this.film);
    return this.frames.filter((f) => film.has(f.i));
  }

  /** The recorded frame nearest to progress `fraction` in [0, 1] (for scrubbing two lanes together). */
  atFraction(fraction) {
    if (!this.frames.length) return null;
    const k = Math.round(fraction * (this.frames.length - 1));
    return this.frames[Math.min(this.frames.length - 1, Math.max(0, k))];
  }

  /** The frame recorded after step `i` (-1: x_T), or null. */
  afterStep(i) {
    return this.frames.find((f) => f.i === i) ?? null;
  }

  /**
   * Where to start to reach step `i` again: the last frame with a state recorded before step
   * `i` ran (x_T for step 0), or null.
   */
  startFor(i) {
    let best = null;
    for (const f of this.frames) if (f.i < i && f.state) best = f;
    return best;
  }

  /** The steps k a branch can start at: those whose x_t (the frame after step k-1) was kept. */
  branchSteps() {
    return this.frames.filter((f) => f.state && f.i + 1 < this.n).map((f) => f.i + 1);
  }
}

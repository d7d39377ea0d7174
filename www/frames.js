// Intermediate frames of a run, with bounded memory: x_T plus at most ~100 evenly spaced steps
// (fewer when the grid is large), each holding both x_t and the predicted x_0 as RGBA grids.
// The filmstrip shows ~10 of them; the timeline scrubs through all of them.

import { evenly } from './run-loop.js';

const MAX_FRAMES = 100;
const FILM_FRAMES = 10;
const BUDGET_BYTES = 48 * 1024 * 1024;

export class FrameRecorder {
  /** `steps` of the run and `timesteps` it visits; `width`x`height` RGBA grids. */
  constructor(timesteps, width, height) {
    this.timesteps = Array.from(timesteps);
    this.n = this.timesteps.length;
    this.width = width;
    this.height = height;
    const bytesPerFrame = 2 * width * height * 4;
    const maxFrames = Math.max(FILM_FRAMES, Math.min(MAX_FRAMES, Math.floor(BUDGET_BYTES / bytesPerFrame)));
    this.film = evenly(this.n, FILM_FRAMES);
    this.keep = new Set([...evenly(this.n, maxFrames), ...this.film]);
    /** Frames in order: {i (-1 for x_T), label, t, sample, x0}. */
    this.frames = [];
  }

  wants(i) {
    return this.keep.has(i);
  }

  /** x_T, drawn before the first step (both views show it). */
  addInitial(rgba) {
    this.frames.push({ i: -1, label: 'x_T', t: null, sample: rgba, x0: rgba });
  }

  /** After step `i` (0-based): x_t is the sample after the update, x0 the prediction at t_i. */
  add(i, sample, x0) {
    this.frames.push({ i, label: `step ${i + 1}/${this.n}`, t: this.timesteps[i], sample, x0 });
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
}

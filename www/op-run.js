// The engine work of the inversion, interpolation and inpainting panels (issue 15) on a session
// of the panel's own (PanelSessions), never the main run's: DDIM inversion x_0 -> x_T, a run
// from a given x_T, the interpolation's x_T frames, and the error of a reconstruction. Each
// async function checks `isCurrent()` after every await and returns null once superseded.

import { stepThrough } from './branch-run.js';
import { createSession } from './engine.js';

/** One session per batch size on the runner's loaded engine, made again when the engine or its backend changes. */
export class PanelSessions {
  #key = null;
  #backend = null;
  #sessions = new Map();

  constructor(runner) {
    this.runner = runner;
  }

  get(batch) {
    const loaded = this.runner.loaded;
    if (!loaded) throw new Error('the model is not loaded yet');
    const backend = loaded.engine.backend();
    if (this.#key !== loaded || this.#backend !== backend) this.free();
    this.#key = loaded;
    this.#backend = backend;
    if (!this.#sessions.has(batch)) this.#sessions.set(batch, createSession(loaded, batch));
    return this.#sessions.get(batch);
  }

  free() {
    for (const s of this.#sessions.values()) {
      try {
        s.free();
      } catch {
        // a session of a wasm instance already replaced after a trap
      }
    }
    this.#sessions.clear();
    this.#key = null;
  }
}

/**
 * The clipping of the inversion and of the runs that decode an inverted x_T: none. Clamping x̂_0
 * breaks the x_T <-> x_0 map that inversion relies on (models/emoji32/card/inversion.md: mean
 * reconstruction error 0.34 with the checkpoint's clip_sample, 0.078 without, at 50 steps).
 */
export const INVERSION_CLIP = 'off';

/** DDIM inversion of `x0` (the session's batch, in [-1, 1]) with `steps` steps, x̂_0 never clipped: x_T, or null. */
export async function invert(session, x0, steps, isCurrent, onStep) {
  const ts = session.start('ddim-inverse', steps, 0, 'fixed_small', 0, INVERSION_CLIP);
  session.setSample(x0);
  if (!(await stepThrough(session, 0, ts.length - 1, isCurrent, onStep))) return null;
  const xT = await session.readTensor('sample');
  return isCurrent() ? xT : null;
}

/**
 * A run from `xT` (or the seed's x_T when null) to the end: the final images, or null.
 * `inpaint`: {x0, mask, resample} for RePaint inpainting (cleared again afterwards); `clip`:
 * Session.start's clipping (url-state.js CLIPS).
 */
export async function sampleFrom(session, { sampler = 'ddim', steps, eta = 0, variance = 'fixed_small', seed = 0, clip = 'checkpoint', xT = null, inpaint = null }, isCurrent, onStep) {
  if (inpaint) session.setInpaint(inpaint.x0, inpaint.mask, inpaint.resample);
  try {
    const ts = session.start(sampler, steps, eta, variance, seed, clip);
    if (xT) session.setSample(xT);
    if (!(await stepThrough(session, 0, ts.length - 1, isCurrent, onStep))) return null;
    const x = await session.readTensor('sample');
    return isCurrent() ? { x, evaluations: session.networkEvaluations() } : null;
  } finally {
    if (inpaint) session.clearInpaint();
  }
}

/** The interpolation's positions: `n` values from 0 to 1, both ends exact. */
export function slerpTimes(n) {
  return Array.from({ length: n }, (_, k) => (k === n - 1 ? 1 : k / (n - 1)));
}

/** The frames' x_T, (n, ...) floats: slerp(a, b, t) for each t of slerpTimes(n) (`slerp`: the engine's slerpNoise). */
export function slerpFrames(slerp, a, b, n) {
  const out = new Float32Array(n * a.length);
  slerpTimes(n).forEach((t, k) => out.set(slerp(a, b, t), k * a.length));
  return out;
}

/** {meanAbs, maxAbs} of a - b. */
export function reconstructionError(a, b) {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { meanAbs: sum / a.length, maxAbs: max };
}

/** Image `k` of a (batch, C, H, W) tensor of `len` values per image. */
export function imageOf(x, k, len) {
  return x.slice(k * len, (k + 1) * len);
}

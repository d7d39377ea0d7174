// The engine work behind the step anatomy and "paths not taken", on a finished run's lane
// ({session, sampler, steps, eta, variance, seed, recorder with states}):
// - replaying a step the recorder did not keep, from the nearest x_t it did (same seed, so the
//   same noise: the run's own step again, bit for bit on the same session);
// - branching: `count` copies of one image's x_t at step k, run to the end with a fresh noise
//   seed (each copy gets its own noise stream), and how much their final images disagree
//   (`branchSpread`, computed by the engine).
// Every function checks `isCurrent()` after each await and returns null once superseded.

import { nextTask } from './run-loop.js';

/** Steps `from`..`to` (inclusive) on `session`, yielding to the page between them. */
export async function stepThrough(session, from, to, isCurrent, onStep = () => {}) {
  for (let j = from; j <= to; j++) {
    session.step(j);
    // A WebGPU step returns once submitted: wait for it (and pace the queue) with a small read.
    if (session.backend() === 'webgpu') await session.readRgba('x0');
    await nextTask();
    if (!isCurrent()) return false;
    onStep(j);
  }
  return true;
}

/** Step `i`'s parts (Session.readStepParts(0)) recomputed on the lane's session, or null. */
export async function replayStep(lane, i, isCurrent) {
  const from = lane.recorder.startFor(i);
  if (!from) throw new Error(`no recorded x_t before step ${i + 1} to start from`);
  const s = lane.session;
  s.start(lane.sampler, lane.steps, lane.eta, lane.variance, lane.seed);
  s.setSample(from.state);
  if (!(await stepThrough(s, from.i + 1, i, isCurrent))) return null;
  const parts = await s.readStepParts(0);
  return isCurrent() ? parts : null;
}

/** Image `image` of a (batch, ...) state, repeated `count` times. */
export function repeatImage(state, batch, image, count) {
  const len = state.length / batch;
  const one = state.subarray(image * len, (image + 1) * len);
  const out = new Float32Array(len * count);
  for (let b = 0; b < count; b++) out.set(one, b * len);
  return out;
}

/** A fresh noise seed for branches of a run with `seed` (never the run's own). */
export function branchSeed(seed, draw = 0) {
  return (seed + 0x9e3779b9 + draw * 0x85ebca6b) >>> 0 || 1;
}

/**
 * Branches `lane`'s first image at step `k` (from the x_t the step started from) into `count`
 * runs with noise seed `seed` on `session` (batch `count`), to the end. Resolves to {k, t,
 * finals (count images), spread: {stdMap, meanStd}} or null when superseded. `onStep(j)`
 * hears progress. `wasm` gives branchSpread; `shape` is [C, H, W].
 */
export async function branch({ lane, k, count, seed, session, wasm, shape, isCurrent, onStep }) {
  const from = lane.recorder.afterStep(k - 1);
  if (!from?.state) throw new Error(`the x_t of step ${k + 1} was not kept; pick one of the marked steps`);
  const batch = lane.session.batch();
  session.start(lane.sampler, lane.steps, lane.eta, lane.variance, seed);
  session.setSample(repeatImage(from.state, batch, 0, count));
  if (!(await stepThrough(session, k, lane.recorder.n - 1, isCurrent, onStep))) return null;
  const finals = await session.readTensor('sample');
  if (!isCurrent()) return null;
  const [c, h, w] = shape;
  const spread = wasm.branchSpread(finals, count, c, h, w);
  return { k, t: lane.recorder.timesteps[k], finals, spread };
}

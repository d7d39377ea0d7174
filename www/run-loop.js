// The cancellable sampling loop. A RunQueue makes sure two runs never overlap: a new request
// cancels the one in flight (which notices within one step, after its awaited read) and starts
// only once that one has stopped; of several quick requests only the newest starts.

export class RunQueue {
  #generation = 0;
  #tail = Promise.resolve();

  /**
   * Cancels the current run and schedules `job(isCurrent)` after it. `isCurrent()` turns false
   * as soon as a newer request (or cancel) arrives; the job must check it after every await.
   * Resolves to the job's result, or undefined when it was superseded before it started.
   */
  request(job) {
    const generation = ++this.#generation;
    const isCurrent = () => generation === this.#generation;
    const run = this.#tail.then(() => (isCurrent() ? job(isCurrent) : undefined));
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Cancels the current run; resolves once it has stopped. */
  cancel() {
    this.#generation++;
    return this.#tail;
  }
}

/**
 * Evenly spaced indices in [0, n) — at most `k` of them, always including the first and last.
 */
export function evenly(n, k) {
  if (n <= 0 || k <= 0) return [];
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  if (k === 1) return [n - 1];
  const out = new Set();
  for (let j = 0; j < k; j++) out.add(Math.round((j * (n - 1)) / (k - 1)));
  return [...out].sort((a, b) => a - b);
}

/**
 * One sampler's run on its own Session: `{name, session, sampler, steps, eta, variance, seed,
 * recorder, keepState?, keepParts?}`. `runLanes` fills in `timesteps`, `done`, `msSum`.
 */

/**
 * Resolves in a new task (not a microtask): a CPU step finishes synchronously and its reads
 * resolve at once, so without this a whole run would hold the page (no paint, no Stop click).
 */
export function nextTask() {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * Runs one or more lanes to the end, one step at a time (GPU or CPU), alternating so that lanes with
 * different step counts progress at the same pace. Before the first step, `onStart(lane, xT)`
 * gets each lane's x_T tensor. After each step, `onStep(lane, i, frame)` gets
 * {sample?, x0?, view, ms, state?, parts?} (RGBA grids: the live view always, both views when the
 * recorder keeps the step; then also x as floats if `lane.keepState` and the step's update split
 * into its terms for image 0, `session.readStepParts(0)`, if `lane.keepParts`). `view()` says
 * which view is live now. Returns true if it ran to the end, false if
 * cancelled (nothing is reported after cancellation).
 */
export async function runLanes(lanes, { isCurrent, view, onStart, onStep }) {
  for (const lane of lanes) {
    lane.timesteps = lane.session.start(lane.sampler, lane.steps, lane.eta, lane.variance, lane.seed);
    lane.done = 0;
    lane.msSum = 0;
  }
  for (const lane of lanes) {
    const xT = await lane.session.readTensor('sample');
    if (!isCurrent()) return false;
    onStart(lane, xT);
  }
  for (;;) {
    let lane = null;
    for (const l of lanes) {
      if (l.done < l.timesteps.length && (!lane || l.done / l.timesteps.length < lane.done / lane.timesteps.length)) {
        lane = l;
      }
    }
    if (!lane) return true;
    const i = lane.done;
    const t0 = performance.now();
    lane.session.step(i);
    const frame = { view: view() };
    if (lane.recorder.wants(i)) {
      frame.sample = await lane.session.readRgba('sample');
      frame.x0 = await lane.session.readRgba('x0');
      if (lane.keepState) frame.state = await lane.session.readTensor('sample');
      if (lane.keepParts) frame.parts = await lane.session.readStepParts(0);
    } else {
      frame[frame.view] = await lane.session.readRgba(frame.view);
    }
    frame.ms = performance.now() - t0;
    await nextTask();
    if (!isCurrent()) return false;
    lane.done = i + 1;
    lane.msSum += frame.ms;
    onStep(lane, i, frame);
  }
}

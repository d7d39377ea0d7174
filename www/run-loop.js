// The cancellable sampling loop. A RunQueue makes sure two runs never overlap: a new request
// cancels the one in flight (which notices within one step, after its awaited read) and starts
// only once that one has stopped; of several quick requests only the newest starts.

export class RunQueue {
  #generation = 0;
  #tail = Promise.resolve();
  #superseded = () => {}; // resolves the current run's `cancelled` promise

  /**
   * Cancels the current run and schedules `job(isCurrent, cancelled)` after it. `isCurrent()`
   * turns false as soon as a newer request (or cancel) arrives, and the promise `cancelled`
   * resolves then (for a job waiting on something else, e.g. a paused run); the job must check
   * `isCurrent()` after every await. Resolves to the job's result, or undefined when it was
   * superseded before it started.
   */
  request(job) {
    const generation = ++this.#generation;
    this.#superseded();
    const cancelled = new Promise((resolve) => (this.#superseded = resolve));
    const isCurrent = () => generation === this.#generation;
    const run = this.#tail.then(() => (isCurrent() ? job(isCurrent, cancelled) : undefined));
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Cancels the current run; resolves once it has stopped. */
  cancel() {
    this.#generation++;
    this.#superseded();
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
 * clip?, recorder, keepState?, keepParts?, init?}` (clip: Session.start's clipping, default the
 * checkpoint's; `init`: the x_T to start from instead of the seed's). `runLanes` fills in
 * `timesteps`, `done`, `msSum`.
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
 * which view is live now. `waitShown()`, when given, is awaited before every step (a paused run
 * waits there). Returns true if it ran to the end, false if cancelled (nothing is reported after
 * cancellation).
 */
export async function runLanes(lanes, { isCurrent, view, onStart, onStep, waitShown }) {
  for (const lane of lanes) {
    lane.timesteps = lane.session.start(lane.sampler, lane.steps, lane.eta, lane.variance, lane.seed, lane.clip);
    // A given x_T (an inverted image's, say) instead of the seed's.
    if (lane.init) lane.session.setSample(lane.init);
    lane.done = 0;
    lane.msSum = 0;
  }
  for (const lane of lanes) {
    const xT = await lane.session.readTensor('sample');
    if (!isCurrent()) return false;
    onStart(lane, xT);
  }
  // A pipelined session (the CPU on Web Workers: steps and reads queue in the worker) gets its
  // next step as soon as this step's reads are sent, so it computes while this one is drawn.
  // `ahead`: lane -> {i, t0} of a step sent ahead (t0 set when the worker can start on it).
  const ahead = new Map();
  for (let lane = nextLane(lanes); lane; lane = nextLane(lanes)) {
    if (waitShown) {
      await waitShown();
      if (!isCurrent()) return false;
    }
    const i = lane.done;
    const sent = ahead.get(lane);
    ahead.delete(lane);
    const t0 = sent?.t0 ?? performance.now();
    if (sent?.i !== i) lane.session.step(i);
    const frame = { view: view() };
    const recording = lane.recorder.wants(i);
    // What the step reports: [key, read] for its RGBA views and, when the recorder keeps it, x
    // as floats and the update's terms for image 0.
    const reads = (recording ? ['sample', 'x0'] : [frame.view]).map((v) => [v, () => lane.session.readRgba(v)]);
    if (recording && lane.keepState) reads.push(['state', () => lane.session.readTensor('sample')]);
    if (recording && lane.keepParts) reads.push(['parts', () => lane.session.readStepParts(0)]);
    if (lane.session.pipelined) {
      // Every read is queued before the next step, so all see this step's state.
      const pending = reads.map(([, read]) => read());
      const next = nextLane(lanes, lane);
      if (next && !ahead.has(next)) {
        const j = next.done + (next === lane ? 1 : 0);
        next.session.step(j);
        ahead.set(next, { i: j, t0: null });
      }
      const values = await Promise.all(pending);
      reads.forEach(([key], n) => (frame[key] = values[n]));
    } else {
      // One read at a time (a GPU session maps one read-back at a time).
      for (const [key, read] of reads) frame[key] = await read();
    }
    frame.ms = performance.now() - t0;
    for (const a of ahead.values()) a.t0 ??= performance.now();
    await nextTask();
    if (!isCurrent()) return false;
    lane.done = i + 1;
    lane.msSum += frame.ms;
    onStep(lane, i, frame);
  }
  return true;
}

/**
 * The lane to step next: the least advanced one that has steps left (counting `after`, whose
 * current step is under way, as one step further), or null when all are done.
 */
function nextLane(lanes, after = null) {
  let pick = null;
  let pickAt = Infinity;
  for (const l of lanes) {
    const done = l.done + (l === after ? 1 : 0);
    const at = done / l.timesteps.length;
    if (done < l.timesteps.length && at < pickAt) {
      pick = l;
      pickAt = at;
    }
  }
  return pick;
}

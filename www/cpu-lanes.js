// The CPU backend on Web Workers: a pool of workers (cpu-worker.js), each with its own CPU
// engine, shared by every playground using one model. A WorkerSession looks like the wasm
// Session the page otherwise uses (start, step, readTensor, readRgba, free) but splits its
// batch into contiguous parts, one per worker, so a batch of 16 on 4 cores takes about a
// quarter of the time, and the page's main thread stays free to paint and take input. Each
// part has the noise of its images in the whole batch (Engine.createSession(batch, first)), so
// the images equal those of one session of the whole batch.

import { gridShape } from './render.js';

/** Workers to start: one per logical core, at most 4 (past that the memory costs more than it gains). */
export function defaultWorkers(cores = globalThis.navigator?.hardwareConcurrency) {
  return Math.max(1, Math.min(4, Number.isInteger(cores) && cores > 0 ? cores : 1));
}

/**
 * Contiguous parts of a batch over `workers`: [{worker, first, count}], as even as can be,
 * never an empty part.
 */
export function splitBatch(batch, workers) {
  const n = Math.max(1, Math.min(batch, workers));
  const parts = [];
  let first = 0;
  for (let w = 0; w < n; w++) {
    const count = Math.floor(batch / n) + (w < batch % n ? 1 : 0);
    parts.push({ worker: w, first, count });
    first += count;
  }
  return parts;
}

/** An error from a worker as the engine's own: the same `name`, so `triage` treats it alike. */
function named({ name, message }) {
  const e = new Error(message);
  e.name = name;
  return e;
}

/**
 * Starts a module worker on `url`. A page may start workers only from its own origin, so an
 * embed on another origin starts one from a blob: that imports the module (CORS, which the
 * playground's host sends anyway; the host page's CSP must allow blob: workers).
 */
function startWorker(url) {
  const options = { type: 'module', name: 'diffusion-playground CPU' };
  if (url.origin === globalThis.location?.origin) return new Worker(url, options);
  const shim = URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};`], { type: 'text/javascript' }));
  return new Worker(shim, options);
}

/** One worker and its pending requests. */
class Channel {
  #worker;
  #pending = new Map();
  #next = 0;
  #broken = null;

  constructor(url) {
    this.#worker = startWorker(url);
    this.#worker.onmessage = (e) => {
      const { id, ok, value, error } = e.data;
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      if (ok) p?.resolve(value);
      else p?.reject(named(error));
    };
    const fail = (why) => {
      this.#broken = named({ name: 'Internal', message: `a CPU worker stopped: ${why}` });
      for (const p of this.#pending.values()) p.reject(this.#broken);
      this.#pending.clear();
    };
    this.#worker.onerror = (e) => {
      e.preventDefault?.();
      fail(e.message || 'its script could not load or threw');
    };
    this.#worker.onmessageerror = () => fail('a message could not be read');
  }

  request(op, ...args) {
    if (this.#broken) return Promise.reject(this.#broken);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args });
    });
  }

  terminate() {
    this.#worker.terminate();
  }
}

let nextSession = 0;

/** A pool of CPU workers for one model. Make it with `startPool`. */
export class WorkerPool {
  constructor(channels, executor) {
    this.channels = channels;
    this.executor = executor;
  }

  get size() {
    return this.channels.length;
  }

  terminate() {
    for (const c of this.channels) c.terminate();
  }

  /** Test hook: every worker's engine traps at its `n`-th next step (see the wasm debugTrapAfter). */
  debugTrapAfter(n) {
    return Promise.all(this.channels.map((c) => c.request('debugTrapAfter', n)));
  }

  /** Test hook: each worker's {wasmBytes, sessions, ...} (its wasm memory and live sessions). */
  debugCounters() {
    return Promise.all(this.channels.map((c) => c.request('debugCounters')));
  }
}

/**
 * Starts `count` workers, each loading `wasm` (the page's compiled WebAssembly.Module, so no
 * worker compiles its own, or its URL) and an engine of the model's files. Resolves to a
 * WorkerPool once all are ready; rejects (and stops them) when one cannot start, with the reason.
 */
export async function startPool({ count, wasm, files }) {
  const url = new URL('./cpu-worker.js', import.meta.url);
  const channels = [];
  try {
    for (let i = 0; i < count; i++) channels.push(new Channel(url));
    const executors = await Promise.all(
      channels.map((c) => c.request('init', wasm, files.config, files.weights, files.scheduler)),
    );
    return new WorkerPool(channels, executors[0]);
  } catch (e) {
    for (const c of channels) c.terminate();
    throw e;
  }
}

/** A sampling session over a pool's workers, with the wasm Session's methods. */
export class WorkerSession {
  #pool;
  #engine;
  #wasm;
  #parts;
  #sid = nextSession++;
  #batch;
  #shape;
  #failed = null;
  #scheduler;
  #plan = null;
  #inpaint = 0; // resample count while setInpaint is in force, else 0
  #evaluations = 0;

  /**
   * `engine`: the page's Engine of the same model (plans and shapes); `wasm`: its module
   * (rgbaGrid, stepAnatomy); `scheduler`: the model's scheduler_config.json text, or null.
   */
  constructor(pool, engine, wasm, batch, scheduler = null) {
    this.#pool = pool;
    this.#engine = engine;
    this.#wasm = wasm;
    this.#batch = batch;
    this.#scheduler = scheduler;
    this.#shape = Array.from(engine.sampleShape());
    this.#parts = splitBatch(batch, pool.size);
    for (const p of this.#parts) this.#send(p, 'session', p.count, p.first);
  }

  #send(part, op, ...args) {
    const reply = this.#pool.channels[part.worker].request(op, this.#sid, ...args);
    reply.catch((e) => {
      this.#failed ??= e;
    });
    return reply;
  }

  /** Steps and reads queue in the workers in order: the run loop may send the next step early. */
  get pipelined() {
    return true;
  }

  batch() {
    return this.#batch;
  }

  backend() {
    return 'cpu';
  }

  /** As Session.start: checks the settings now (throws BadInput) and returns the timesteps. */
  start(sampler, steps, eta, variance, seed, clip) {
    const timesteps = this.#engine.timesteps(sampler, steps, eta, variance, clip);
    if (this.#inpaint && !['ddpm', 'ddim'].includes(sampler)) {
      throw named({ name: 'BadInput', message: `inpainting runs with "ddpm" or "ddim", not "${sampler}": choose one of those, or call clearInpaint() first` });
    }
    this.#plan = { sampler, steps, eta, variance, clip, n: timesteps.length };
    this.#evaluations = 0;
    this.#failed = null;
    for (const p of this.#parts) this.#send(p, 'start', sampler, steps, eta, variance, seed, clip);
    return timesteps;
  }

  /** Sends step `index` to every worker; a failure surfaces at the next read. */
  step(index) {
    if (this.#failed) throw this.#failed;
    for (const p of this.#parts) this.#send(p, 'step', index);
    // As the engine counts: one per step; inpainting runs `resample` rounds of every step but the last.
    this.#evaluations += this.#inpaint && index < this.#plan.n - 1 ? this.#inpaint : 1;
  }

  /** As Session.networkEvaluations: UNet evaluations since the latest start (all parts run alike). */
  networkEvaluations() {
    return this.#evaluations;
  }

  /**
   * As Session.setInpaint: x0 (batch, C, H, W) and mask (H, W) or (batch, H, W), 1 = keep; each
   * worker gets its part's images and masks.
   */
  setInpaint(x0, mask, resample) {
    const [, h, w] = this.#shape;
    const len = this.#shape.reduce((a, b) => a * b, 1);
    if (x0?.length !== this.#batch * len) throw named({ name: 'BadInput', message: `x0 has ${x0?.length} values but ${this.#batch * len} are needed` });
    const perImage = mask?.length === this.#batch * h * w && this.#batch > 1;
    if (!perImage && mask?.length !== h * w) throw named({ name: 'BadInput', message: `the mask has ${mask?.length} values; it must be (H, W) = ${h * w} or (batch, H, W) = ${this.#batch * h * w}` });
    if (!(Number.isInteger(resample) && resample >= 1 && resample <= 100)) throw named({ name: 'BadInput', message: `resample must be 1..=100, got ${resample}` });
    const x = Float32Array.from(x0);
    const m = Float32Array.from(mask);
    for (const p of this.#parts) {
      const part = perImage ? m.slice(p.first * h * w, (p.first + p.count) * h * w) : m.slice();
      this.#send(p, 'setInpaint', x.slice(p.first * len, (p.first + p.count) * len), part, resample);
    }
    this.#inpaint = resample;
  }

  /** As Session.clearInpaint. */
  clearInpaint() {
    for (const p of this.#parts) this.#send(p, 'clearInpaint');
    this.#inpaint = 0;
  }

  /** As Session.setSample: x ((batch, C, H, W) floats) becomes the sample; each worker takes its part. */
  setSample(x) {
    const len = this.#shape.reduce((a, b) => a * b, 1);
    if (!(x?.length === this.#batch * len)) {
      throw named({ name: 'BadInput', message: `x has ${x?.length} values but ${this.#batch * len} are needed (batch ${this.#batch} of ${this.#shape.join('x')})` });
    }
    const all = Float32Array.from(x);
    for (const p of this.#parts) this.#send(p, 'setSample', all.slice(p.first * len, (p.first + p.count) * len));
  }

  /** As Session.stepAnatomy: step `index` of the started run in the posts' terms (the engine's scheduler). */
  stepAnatomy(index) {
    if (!this.#plan) throw named({ name: 'BadInput', message: 'no run has been started: call start() before step()' });
    const { sampler, steps, eta, variance, clip } = this.#plan;
    return this.#wasm.stepAnatomy(this.#scheduler ?? undefined, sampler, steps, eta, variance, index, clip);
  }

  /** As Session.readStepParts: the latest step's update for image `image`, from the worker that has it. */
  async readStepParts(image) {
    const part = this.#parts.find((p) => image >= p.first && image < p.first + p.count);
    if (!part) throw named({ name: 'BadInput', message: `image ${image} is outside this batch of ${this.#batch}: use 0..${this.#batch}` });
    const parts = await this.#send(part, 'readStepParts', image - part.first);
    if (this.#failed) throw this.#failed;
    return parts;
  }

  gridSize() {
    const [, h, w] = this.#shape;
    const { cols, rows } = gridShape(this.#batch);
    return [cols * w, rows * h];
  }

  /** x_t or x̂_0 of the whole batch, (N, C, H, W), once every worker has done its steps. */
  async readTensor(view) {
    const parts = await Promise.all(this.#parts.map((p) => this.#send(p, 'read', view)));
    if (this.#failed) throw this.#failed;
    const out = new Float32Array(parts.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of parts) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  }

  /** The batch as the engine's RGBA grid (the same as a whole-batch session's readRgba). */
  async readRgba(view) {
    const [c, h, w] = this.#shape;
    return this.#wasm.rgbaGrid(await this.readTensor(view), this.#batch, c, h, w);
  }

  free() {
    for (const p of this.#parts) this.#send(p, 'free').catch(() => {});
  }
}

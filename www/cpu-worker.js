// A CPU engine in a Web Worker (see cpu-lanes.js): the page's main thread stays free while it
// computes, and several workers sample parts of one batch on several cores. It holds one Engine
// (backend "cpu") and any number of sessions by id. Messages are handled one at a time, in
// order, so a read sent after a step answers after that step.
//
// Request: {id, op, args}. Reply: {id, ok: true, value} or {id, ok: false, error: {name, message}}.
// ops: init(wasm, config, weights, scheduler) -> executor description (wasm: the page's
//      compiled WebAssembly.Module, or the .wasm URL);
//      session(sid, batch, first); start(sid, sampler, steps, eta, variance, seed, clip) -> timesteps;
//      step(sid, index); read(sid, view) -> Float32Array; setSample(sid, x);
//      setInpaint(sid, x0, mask, resample); clearInpaint(sid);
//      readStepParts(sid, image) -> {index, xt, eps, ...}; free(sid); debugTrapAfter(n) (a test hook);
//      debugCounters() -> {wasmBytes, sessions, ...} (this worker's wasm memory and live sessions).

// A literal path, so that `dist`'s bundler puts the glue into this worker's one module.
import init, { Engine, debugCounters, debugTrapAfter } from './pkg/diffusion_playground.js';

let engine = null;
const sessions = new Map();

function session(sid) {
  const s = sessions.get(sid);
  if (!s) throw new Error(`this worker has no session ${sid} (freed, or never made)`);
  return s;
}

const ops = {
  async init(wasm, config, weights, scheduler) {
    await init({ module_or_path: wasm });
    engine = await Engine.create(config, weights, scheduler ?? undefined, 'cpu');
    return engine.backendInfo().executor;
  },
  session(sid, batch, first) {
    sessions.set(sid, engine.createSession(batch, first));
  },
  start(sid, sampler, steps, eta, variance, seed, clip) {
    return session(sid).start(sampler, steps, eta, variance, seed, clip);
  },
  step(sid, index) {
    session(sid).step(index);
  },
  setSample(sid, x) {
    session(sid).setSample(x);
  },
  setInpaint(sid, x0, mask, resample) {
    session(sid).setInpaint(x0, mask, resample);
  },
  clearInpaint(sid) {
    session(sid).clearInpaint();
  },
  readStepParts(sid, image) {
    return session(sid).readStepParts(image);
  },
  read(sid, view) {
    return session(sid).readTensor(view);
  },
  // Test hook (tests/page/reliability-tests.mjs): this worker's engine traps at its n-th next step.
  debugTrapAfter(n) {
    debugTrapAfter(n);
  },
  // Test hook (the CPU soak in tests/page/reliability-tests.mjs): what this worker holds.
  debugCounters() {
    return { ...debugCounters(), sessions: sessions.size };
  },
  free(sid) {
    sessions.get(sid)?.free();
    sessions.delete(sid);
  },
};

let chain = Promise.resolve();
self.onmessage = (e) => {
  const { id, op, args } = e.data;
  chain = chain.then(async () => {
    try {
      if (!ops[op]) throw new Error(`unknown request ${op}`);
      const value = await ops[op](...args);
      self.postMessage({ id, ok: true, value }, value instanceof Float32Array ? [value.buffer] : []);
    } catch (err) {
      self.postMessage({ id, ok: false, error: { name: err?.name || 'Error', message: String(err?.message ?? err) } });
    }
  });
};

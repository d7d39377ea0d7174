// The wasm engine for every playground on a page: loads the wasm module once, checks for
// WebGPU, downloads a model's files (with progress; the weights kept in the Cache API for the
// next visit and checked against the server by content: weights-cache.js), chooses the backend
// (backend-choice.js: WebGPU or the CPU, by request, by a remembered probe or by a new one)
// and keeps one Engine per model URL and requested backend, so several playgrounds share one
// device and one copy of the weights. A model's small files (sample shape, scheduler config)
// can also be had without a GPU.

import { DEFAULT_BACKEND, adapterKey, forget, pageStorage, plan, remember } from './backend-choice.js';
import { WorkerSession, defaultWorkers, startPool } from './cpu-lanes.js';
import { workerAdvice } from './csp.js';
import { fetchBytes, openCache } from './weights-cache.js';

/** The folder this module (and pkg/, models/) is served from; embedding pages may live elsewhere. */
export const BASE_URL = new URL('./', import.meta.url);

const WASM_URLS = {
  simd128: new URL('./pkg/diffusion_playground_bg.wasm', import.meta.url),
  // The same engine whose CPU kernels multiply-add with relaxed SIMD (one fused instruction
  // where the CPU has FMA): 15-25% faster steps on the CPU backend where the browser has it.
  relaxed: new URL('./pkg/diffusion_playground_relaxed_bg.wasm', import.meta.url),
};
// The smallest module using f32x4.relaxed_madd: it validates only where relaxed SIMD works.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 28, 1, 26, 0, 67, 0, 0, 0, 0,
  253, 19, 67, 0, 0, 0, 0, 253, 19, 67, 0, 0, 0, 0, 253, 19, 253, 133, 2, 11,
]);
const WEIGHTS = 'diffusion_pytorch_model.safetensors';

/**
 * WebGPU is missing or unusable: the page says so and what the reader can do. Named like the
 * engine's own error for the same case, so `triage` treats both alike.
 */
export class WebGpuUnavailable extends Error {
  constructor(reason) {
    super(`WebGPU is not available: ${reason}`);
    this.name = 'NoWebGPU';
    this.reason = reason;
  }
}

// The page's query as it was when this module loaded (before url-state.js rewrites the URL to
// the playground's own state): `simd` and `workers` are read from it.
const PAGE_QUERY = globalThis.location?.search ?? '';

/**
 * Which wasm build this browser gets: 'relaxed' where it validates relaxed SIMD, else
 * 'simd128'. `?simd=simd128` in the page's URL asks for the plain build (for comparisons).
 */
export function wasmVariant(search = PAGE_QUERY) {
  if (new URLSearchParams(search).get('simd') === 'simd128') return 'simd128';
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE) ? 'relaxed' : 'simd128';
  } catch {
    return 'simd128';
  }
}

let wasmPromise = null;
let compiledWasm = null;
let wasmNamespace = null; // the initialised glue module, once loaded

/** The compiled wasm module (fetched and compiled once; CPU workers get it rather than compiling their own). */
async function compileWasm(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`downloading ${url} failed: HTTP ${response.status} ${response.statusText}`.trim());
  if (WebAssembly.compileStreaming && /^application\/wasm\b/.test(response.headers.get('content-type') ?? '')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** The initialised wasm-bindgen module (`Engine`, `initialNoise`, ...). Loads once per page. */
export function loadWasm() {
  if (!wasmPromise) {
    wasmPromise = (async () => {
      // A literal path, so that `dist`'s bundler puts the glue into the one module it ships.
      const [mod, compiled] = await Promise.all([import('./pkg/diffusion_playground.js'), compileWasm(WASM_URLS[wasmVariant()])]);
      await mod.default({ module_or_path: compiled });
      compiledWasm = compiled;
      wasmNamespace = mod;
      return mod;
    })();
    wasmPromise.catch(() => {
      wasmPromise = null;
    });
  }
  return wasmPromise;
}

// ----- recovery from a trap ---------------------------------------------------------------------

const crashListeners = new Set();
let lastReset = -Infinity;

/**
 * Is `e` a trap of the engine's wasm (a Rust panic or any other `WebAssembly.RuntimeError`: a
 * bug, never the reader's input), also when it comes from a CPU worker? After a trap the
 * instance can be in any state, so nothing made from it may be used again: recoverFromTrap.
 */
export function isTrap(e) {
  return e instanceof WebAssembly.RuntimeError || e?.name === 'RuntimeError';
}

/** Is `e` the use of an engine or session from a wasm instance replaced after a trap? */
export function isStale(e) {
  return /stale object from previous Wasm instance/.test(String(e?.message ?? ''));
}

/**
 * `listener({message})` is called after each recovery from a trap, by every playground on the
 * page: their engines and sessions are gone and a boot loads them again. Returns an unsubscribe.
 */
export function onEngineCrash(listener) {
  crashListeners.add(listener);
  return () => crashListeners.delete(listener);
}

/**
 * After a trap: drops every engine (their CPU workers stopped), replaces the wasm instance by a
 * fresh one of the same compiled module (wasm-bindgen's `__wbg_reset_state`) and tells every
 * playground (onEngineCrash). Several playgrounds may see the same trap, and the old instance's
 * pending work may trap again: one recovery per second. Returns the one-sentence message.
 */
export function recoverFromTrap(e) {
  const message = `The engine stopped on an internal error (${String(e?.message || e)}); it was restarted.`;
  const now = performance.now();
  if (now - lastReset < 1000) return message;
  lastReset = now;
  console.error(`diffusion-playground: the wasm engine trapped; restarting it and every playground's engine.`, e);
  for (const entry of engines.values()) {
    entry.promise.then(
      (loaded) => {
        loaded.freed = true;
        loaded.pool?.terminate();
        loaded.pool = null;
      },
      () => {},
    );
  }
  engines.clear();
  try {
    wasmNamespace?.__wbg_reset_state();
  } catch (err) {
    // The module cannot even be instantiated again: the next load reports why.
    console.error('diffusion-playground: restarting the wasm engine failed', err);
    wasmPromise = null;
  }
  for (const listener of [...crashListeners]) listener({ message });
  return message;
}

// A trap inside the engine's async work (a GPU read's future) surfaces as an uncaught error
// rather than through the promise awaited: the same recovery.
const fromOurWasm = (e) => e instanceof WebAssembly.RuntimeError && /diffusion_playground/.test(String(e.stack ?? ''));
if (typeof globalThis.addEventListener === 'function') {
  globalThis.addEventListener('error', (ev) => fromOurWasm(ev.error) && recoverFromTrap(ev.error));
  globalThis.addEventListener('unhandledrejection', (ev) => fromOurWasm(ev.reason) && recoverFromTrap(ev.reason));
}

let gpuCheck = null;

/**
 * Resolves to {description, key} of this browser's WebGPU adapter (what it says about it, e.g.
 * "google swiftshader", and backend-choice.js's adapterKey of it); rejects with
 * WebGpuUnavailable (whose reason names what is missing) otherwise. Checked once per page.
 */
export function checkWebGpu() {
  if (!gpuCheck) {
    gpuCheck = (async () => {
      if (!globalThis.isSecureContext) {
        throw new WebGpuUnavailable('this page is not a secure context (WebGPU needs https:// or http://localhost)');
      }
      if (!navigator.gpu) {
        throw new WebGpuUnavailable('this browser does not offer WebGPU (navigator.gpu is missing)');
      }
      let adapter = null;
      try {
        adapter = await navigator.gpu.requestAdapter();
      } catch (e) {
        throw new WebGpuUnavailable(`the request for a GPU adapter failed (${e.message || e})`);
      }
      if (!adapter) {
        throw new WebGpuUnavailable('the browser has WebGPU but found no usable GPU adapter (it may be blocklisted or disabled)');
      }
      const i = adapter.info ?? {};
      return {
        description: [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' '),
        key: adapterKey(i),
      };
    })();
  }
  return gpuCheck;
}

/**
 * What to tell the reader about a failure, chosen by the error's `name` — the engine's error
 * kinds (src/error.rs: BadInput, BadCheckpoint, NoWebGPU, DeviceLost, OutOfMemory, Internal),
 * never its message text. `lost` is the engine's `deviceLost()` reason, when the device was
 * lost apart from this error. Returns `{ notice: 'device-lost' | 'no-webgpu' | 'error', message }`.
 */
export function triage(e, lost) {
  const message = String(e?.message || e);
  if (e?.name === 'DeviceLost') return { notice: 'device-lost', message };
  if (lost != null) return { notice: 'device-lost', message: `the GPU device was lost (${lost}); ${message}` };
  switch (e?.name) {
    case 'NoWebGPU':
      return { notice: 'no-webgpu', message: e.reason ?? message };
    case 'OutOfMemory':
      return { notice: 'error', message: `Not enough GPU memory for these settings: ${message}` };
    case 'BadInput':
      return { notice: 'error', message: `These settings cannot run: ${message}` };
    default:
      return { notice: 'error', message };
  }
}

/** The absolute URL of a model folder given relative to this module, e.g. "models/emoji32". */
export function modelUrl(model) {
  const url = new URL(model.replace(/\/*$/, '/'), BASE_URL);
  if (url.origin !== BASE_URL.origin) {
    throw new Error(`model ${model} is on another site; models must be served next to the playground`);
  }
  return url;
}

/** Names of the models shipped next to the page (`models/index.json`), or [] if none listed. */
export async function listModels() {
  try {
    const r = await fetch(new URL('models/index.json', BASE_URL));
    if (!r.ok) return [];
    const names = await r.json();
    return Array.isArray(names) ? names.filter((n) => typeof n === 'string').map((n) => `models/${n}`) : [];
  } catch {
    return [];
  }
}

/** The text of a model's small JSON file (not cached: a few hundred bytes). */
async function fetchText(url, optional) {
  const r = await fetch(url, { cache: 'no-cache' });
  if (!r.ok) {
    if (optional && r.status === 404) return null;
    throw new Error(`downloading ${url} failed: HTTP ${r.status} ${r.statusText}`.trim());
  }
  return r.text();
}

/** A model's sample shape [C, H, W] from its UNet config (x_T's shape before, or without, an engine). */
export async function fetchSampleShape(model) {
  const config = JSON.parse(await fetchText(new URL('config.json', modelUrl(model)), false));
  const size = config.sample_size ?? 32;
  const [h, w] = Array.isArray(size) ? size : [size, size];
  return [config.in_channels ?? 3, h, w];
}

/** The text of a model's scheduler_config.json, or null when it has none (diffusers' defaults). */
export function fetchSchedulerConfig(model) {
  return fetchText(new URL('scheduler_config.json', modelUrl(model)), true);
}

const engines = new Map();

/**
 * A hold on the shared Engine for `model` on `backend` (auto | webgpu | cpu): `{promise,
 * release()}`. `promise` resolves to {engine, wasm, model, url, info: {backend, reason, probeMs:
 * {cpu, webgpu, webgpuAtLeast}, adapter, executor, parameterCount, sampleShape, T, fromCache, ms,
 * ...}, pool}; `onProgress({phase, loaded, total, fromCache, backend})` sees the download (every
 * holder sees the same one). Playgrounds with the same model and backend share one engine; when
 * the last hold is released (its playground removed, or switched to another model or backend)
 * the engine is freed: its GPU device destroyed, its weights and CPU workers released. A failed
 * load is forgotten, so the next hold tries again.
 */
export function holdEngine(model, backend = DEFAULT_BACKEND, onProgress = () => {}) {
  const url = modelUrl(model).href;
  const id = `${backend} ${url}`;
  let entry = engines.get(id);
  if (!entry) {
    entry = { listeners: new Set(), last: null, holds: 0 };
    const report = (p) => {
      entry.last = p;
      for (const l of entry.listeners) l(p);
    };
    entry.promise = createEngine(model, url, backend, report);
    entry.promise.catch(() => {
      if (engines.get(id) === entry) engines.delete(id);
    });
    engines.set(id, entry);
  }
  entry.holds++;
  entry.listeners.add(onProgress);
  if (entry.last) onProgress(entry.last);
  const done = () => entry.listeners.delete(onProgress);
  entry.promise.then(done, done);
  let released = false;
  return {
    promise: entry.promise,
    release() {
      if (released) return;
      released = true;
      done();
      if (--entry.holds > 0) return;
      if (engines.get(id) === entry) engines.delete(id);
      entry.promise.then(freeLoaded, () => {});
    },
  };
}

/** Frees what a loaded engine holds (sessions made from it keep their own part until freed). */
function freeLoaded(loaded) {
  loaded.freed = true;
  loaded.pool?.terminate();
  loaded.pool = null;
  try {
    loaded.engine.free();
  } catch {
    // An engine of a wasm instance that was reset after a trap: nothing of it is left to free.
  }
}

/** Engines alive on this page (test hook: the soak test checks that switching models frees them). */
export function liveEngines() {
  return engines.size;
}

/**
 * After a WebGPU device was lost: puts a CPU engine, loaded afresh from the model's files (the
 * weights from the browser's cache), in place of the shared engine of `loaded` (every
 * playground using it makes CPU sessions from then on) and says so in its info. The lost
 * engine is freed once its last session is. Resolves to true once `loaded` runs on the CPU.
 */
export function fallBackToCpu(loaded, why) {
  if (loaded.engine.backend() === 'cpu') return Promise.resolve(true);
  loaded.toCpu ??= (async () => {
    const reason = `the WebGPU device was lost (${why}); running on the CPU instead — reload the page to try the GPU again`;
    const files = await modelFiles(loaded.model, loaded.url, () => {});
    const engine = await loaded.wasm.Engine.create(files.config, files.weights.bytes, files.scheduler ?? undefined, 'cpu');
    const { pool = null, note: workersNote = null } = await cpuPool({ config: files.config, weights: files.weights.bytes, scheduler: files.scheduler });
    const lost = loaded.engine;
    loaded.engine = engine;
    loaded.pool = pool;
    try {
      lost.free();
    } catch {
      // already gone with a reset wasm instance
    }
    const b = engine.backendInfo();
    Object.assign(loaded.info, { backend: b.backend, executor: b.executor, reason, deviceLost: why, workers: pool?.size ?? 0, workersNote });
    console.warn(`diffusion-playground: ${reason}`);
    return true;
  })();
  return loaded.toCpu;
}

/**
 * CPU workers to use: `?workers=N` in the page's URL (0: none, the page's own thread), else one
 * per core up to 4; 0 where the browser has no Worker.
 */
export function workerCount(search = PAGE_QUERY) {
  if (typeof Worker !== 'function') return 0;
  const asked = new URLSearchParams(search).get('workers');
  if (asked !== null && /^\d+$/.test(asked)) return Math.min(Number(asked), 16);
  return defaultWorkers();
}

/**
 * Starts the CPU worker pool for a model's files. Resolves to {pool} or, when none can run
 * here, {pool: null, note} saying why (the CPU backend then runs in the page's thread).
 */
async function cpuPool(files) {
  const count = workerCount();
  if (count === 0) return { pool: null, note: typeof Worker === 'function' ? 'workers=0 asked for' : 'this browser has no Web Workers' };
  try {
    return { pool: await startPool({ count, wasm: compiledWasm ?? WASM_URLS[wasmVariant()].href, files }) };
  } catch (e) {
    const note = (await workerAdvice(BASE_URL)) ?? `the CPU workers could not start (${e?.message || e})`;
    console.warn(`diffusion-playground: ${note}; sampling in the page's thread instead.`);
    return { pool: null, note };
  }
}

/**
 * A sampling session of `batch` images for a loaded engine: on the CPU backend split over the
 * worker pool when there is one, else the engine's own Session.
 */
export function createSession(loaded, batch) {
  if (loaded.pool && loaded.engine.backend() === 'cpu') return new WorkerSession(loaded.pool, loaded.engine, loaded.wasm, batch, loaded.scheduler);
  return loaded.engine.createSession(batch);
}

/** Does WebGPU give an adapter here? {ok: true, key, description} or {ok: false, reason}. */
async function probeWebGpu() {
  try {
    return { ok: true, ...(await checkWebGpu()) };
  } catch (e) {
    if (e?.name !== 'NoWebGPU') throw e;
    return { ok: false, reason: e.reason ?? String(e.message) };
  }
}

/** A model's config, scheduler config and weights ({bytes, fromCache}), the weights via the cache. */
async function modelFiles(model, url, onProgress) {
  const cache = await openCache();
  const [config, scheduler, weights] = await Promise.all([
    fetchText(new URL('config.json', url), false),
    fetchSchedulerConfig(model),
    fetchBytes(new URL(WEIGHTS, url).href, { cache, onProgress }),
  ]);
  return { config, scheduler, weights };
}

async function createEngine(model, url, requested, report) {
  const t0 = performance.now();
  // An explicit webgpu fails here without WebGPU (a NoWebGPU notice); cpu never asks for it.
  const gpu = requested === 'webgpu' ? { ok: true, ...(await checkWebGpu()) } : requested === 'auto' ? await probeWebGpu() : { ok: false };
  const storage = pageStorage();
  let choice = plan(requested, gpu, storage);
  report({ phase: 'wasm', loaded: 0, total: 0 });
  // The wasm and the model's files download side by side: on a slow connection the weights
  // dominate, and waiting for the wasm first would add its whole download time.
  const files = modelFiles(model, url, (loaded, total) => report({ phase: 'download', loaded, total }));
  files.catch(() => {}); // awaited below; a failed wasm load must not leave it unhandled
  const wasm = await loadWasm();
  const { config, scheduler, weights } = await files;
  const uploading = (c) => report({ phase: 'upload', loaded: weights.bytes.length, total: weights.bytes.length, fromCache: weights.fromCache, backend: c.backend });
  uploading(choice);
  const cpuFiles = { config, weights: weights.bytes, scheduler };
  // Known to run on the CPU: the workers load while the page's engine does.
  let pooling = choice.backend === 'cpu' ? cpuPool(cpuFiles) : null;
  let engine;
  try {
    engine = await wasm.Engine.create(config, weights.bytes, scheduler ?? undefined, choice.backend);
  } catch (e) {
    // A remembered WebGPU that no longer opens (new driver, blocklisted since): measure again.
    if (!(choice.remembered && e?.name === 'NoWebGPU')) {
      pooling?.then((r) => r.pool?.terminate());
      throw e;
    }
    forget(storage, gpu.key);
    choice = { backend: 'auto', probe: true };
    uploading(choice);
    engine = await wasm.Engine.create(config, weights.bytes, scheduler ?? undefined, 'auto');
  }
  const b = engine.backendInfo();
  if (b.backend === 'cpu') pooling ??= cpuPool(cpuFiles);
  const { pool = null, note: workersNote = null } = pooling ? await pooling : {};
  if (choice.probe && b.cpuMs != null && b.webgpuMs != null) {
    remember(storage, gpu.key, { backend: b.backend, cpuMs: b.cpuMs, webgpuMs: b.webgpuMs, webgpuAtLeast: b.webgpuAtLeast });
  }
  const timed = choice.remembered ?? b;
  const info = {
    backend: b.backend,
    requested,
    reason: choice.probe ? b.reason : choice.reason,
    // ms of a warm batch-1 forward; webgpuAtLeast: the probe stopped waiting for WebGPU there.
    probeMs: { cpu: timed.cpuMs ?? null, webgpu: timed.webgpuMs ?? null, webgpuAtLeast: Boolean(timed.webgpuAtLeast) },
    remembered: Boolean(choice.remembered),
    noWebGpu: choice.noWebGpu ? gpu.reason : null,
    executor: b.executor,
    workers: pool?.size ?? 0,
    workersNote,
    // wgpu on the web leaves the adapter's name empty; the browser's own description fills in.
    adapter: b.adapter == null ? null : `${b.adapter.trim()}${gpu.description ? ` [${gpu.description}]` : ''}`,
    parameterCount: engine.parameterCount(),
    sampleShape: Array.from(engine.sampleShape()),
    T: engine.numTrainTimesteps(),
    defaultVariance: engine.defaultVariance(),
    bytes: weights.bytes.length,
    fromCache: weights.fromCache,
    // Set when cached weights were used without a check against the server (offline, say).
    cacheNote: weights.cacheNote,
    ms: performance.now() - t0,
  };
  console.info(
    `diffusion-playground: ${model} ready in ${info.ms.toFixed(0)} ms ` +
      `(${info.parameterCount.toLocaleString()} parameters, weights ${weights.fromCache ? 'from the cache' : 'downloaded'}; ` +
      `${info.executor}: ${info.reason})`,
  );
  return { engine, wasm, model, url, info, pool, scheduler };
}

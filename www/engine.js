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
      return mod;
    })();
    wasmPromise.catch(() => {
      wasmPromise = null;
    });
  }
  return wasmPromise;
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
 * The shared Engine for `model` on `backend` (auto | webgpu | cpu). `onProgress({phase, loaded,
 * total, fromCache, backend})` sees the download (every caller sees the same one). Resolves to
 * {engine, wasm, model, url, info: {backend, reason, probeMs: {cpu, webgpu, webgpuAtLeast}, adapter, executor,
 * parameterCount, sampleShape, T, fromCache, ms, ...}}. A failed load is forgotten, so the next
 * call tries again.
 */
export function getEngine(model, backend = DEFAULT_BACKEND, onProgress = () => {}) {
  const url = modelUrl(model).href;
  const id = `${backend} ${url}`;
  let entry = engines.get(id);
  if (!entry) {
    entry = { listeners: new Set(), last: null };
    const report = (p) => {
      entry.last = p;
      for (const l of entry.listeners) l(p);
    };
    entry.promise = createEngine(model, url, backend, report);
    entry.promise.catch(() => engines.delete(id));
    engines.set(id, entry);
  }
  entry.listeners.add(onProgress);
  if (entry.last) onProgress(entry.last);
  const done = () => entry.listeners.delete(onProgress);
  entry.promise.then(done, done);
  return entry.promise;
}

/**
 * After a WebGPU device was lost: moves the shared engine of `loaded` to the CPU (every
 * playground using it makes CPU sessions from then on) and says so in its info. Returns true
 * if this call switched it, false if it already ran on the CPU.
 */
export function fallBackToCpu(loaded, why) {
  if (loaded.engine.backend() === 'cpu') return false;
  const reason = `the WebGPU device was lost (${why}); running on the CPU instead — reload the page to try the GPU again`;
  loaded.engine.useCpu(reason);
  const b = loaded.engine.backendInfo();
  Object.assign(loaded.info, { backend: b.backend, executor: b.executor, reason, deviceLost: why });
  console.warn(`diffusion-playground: ${reason}`);
  return true;
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

async function createEngine(model, url, requested, report) {
  const t0 = performance.now();
  // An explicit webgpu fails here without WebGPU (a NoWebGPU notice); cpu never asks for it.
  const gpu = requested === 'webgpu' ? { ok: true, ...(await checkWebGpu()) } : requested === 'auto' ? await probeWebGpu() : { ok: false };
  const storage = pageStorage();
  let choice = plan(requested, gpu, storage);
  report({ phase: 'wasm', loaded: 0, total: 0 });
  // The wasm and the model's files download side by side: on a slow connection the weights
  // dominate, and waiting for the wasm first would add its whole download time.
  const files = openCache().then((cache) =>
    Promise.all([
      fetchText(new URL('config.json', url), false),
      fetchSchedulerConfig(model),
      fetchBytes(new URL(WEIGHTS, url).href, {
        cache,
        onProgress: (loaded, total) => report({ phase: 'download', loaded, total }),
      }),
    ]),
  );
  files.catch(() => {}); // awaited below; a failed wasm load must not leave it unhandled
  const wasm = await loadWasm();
  const [config, scheduler, weights] = await files;
  const uploading = (c) => report({ phase: 'upload', loaded: weights.bytes.length, total: weights.bytes.length, fromCache: weights.fromCache, backend: c.backend });
  uploading(choice);
  const modelFiles = { config, weights: weights.bytes, scheduler };
  // Known to run on the CPU: the workers load while the page's engine does.
  let pooling = choice.backend === 'cpu' ? cpuPool(modelFiles) : null;
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
  if (b.backend === 'cpu') pooling ??= cpuPool(modelFiles);
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

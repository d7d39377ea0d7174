// Where a playground runs its model: `backend` = auto | webgpu | cpu (an element attribute, a
// URL parameter, an argument of the engine). `auto` times both on the reader's machine the
// first time and remembers the winner per WebGPU adapter in localStorage, so the next visit
// skips the probe. Everything here is plain logic over a Storage-like object (tested in Node).

export const BACKENDS = ['auto', 'webgpu', 'cpu'];
export const DEFAULT_BACKEND = 'auto';

const PREFIX = 'diffusion-playground/backend/v1/';
/** A remembered choice is trusted for this long; browsers and drivers change under it. */
export const REMEMBER_MS = 30 * 24 * 3600 * 1000;

/** "auto" | "webgpu" | "cpu" from a text (any case, spaces around), or undefined. */
export function parseBackend(text) {
  const s = String(text ?? '').trim().toLowerCase();
  return BACKENDS.includes(s) ? s : undefined;
}

/**
 * A stable name of a WebGPU adapter from its GPUAdapterInfo (vendor, architecture, device,
 * description), e.g. "google|swiftshader||"; null when the browser tells nothing about it (then
 * nothing is remembered: another GPU could hide behind the same empty name).
 */
export function adapterKey(info) {
  if (!info) return null;
  const parts = ['vendor', 'architecture', 'device', 'description'].map((k) => String(info[k] ?? '').trim());
  return parts.some(Boolean) ? parts.join('|') : null;
}

function slot(key) {
  return PREFIX + key;
}

/**
 * The remembered choice for adapter `key`: {backend, cpuMs, webgpuMs, webgpuAtLeast, at} (ms of a
 * warm batch-1 forward; webgpuAtLeast: the probe stopped waiting there) or null when there is
 * none, it is older than REMEMBER_MS (or from the future), or it is damaged (anything that is not
 * what `remember` wrote is dropped from the storage). Storage that throws counts as empty.
 */
export function recall(storage, key, now = Date.now()) {
  if (!storage || !key) return null;
  let text;
  try {
    text = storage.getItem(slot(key));
  } catch {
    return null;
  }
  if (text == null) return null;
  let v = null;
  try {
    v = JSON.parse(text);
  } catch {
    // damaged: dropped below
  }
  const ms = (x) => x === null || (typeof x === 'number' && Number.isFinite(x) && x >= 0);
  const valid =
    v && typeof v === 'object' && (v.backend === 'webgpu' || v.backend === 'cpu') && ms(v.cpuMs) && ms(v.webgpuMs) &&
    typeof v.webgpuAtLeast === 'boolean' && Number.isFinite(v.at) && v.at <= now && now - v.at <= REMEMBER_MS;
  if (!valid) {
    forget(storage, key);
    return null;
  }
  return { backend: v.backend, cpuMs: v.cpuMs, webgpuMs: v.webgpuMs, webgpuAtLeast: v.webgpuAtLeast, at: v.at };
}

/** Remembers the probe's winner for adapter `key`; false when the storage refuses (private mode, quota). */
export function remember(storage, key, { backend, cpuMs = null, webgpuMs = null, webgpuAtLeast = false }, now = Date.now()) {
  if (!storage || !key || (backend !== 'webgpu' && backend !== 'cpu')) return false;
  try {
    storage.setItem(slot(key), JSON.stringify({ backend, cpuMs, webgpuMs, webgpuAtLeast: Boolean(webgpuAtLeast), at: now }));
    return true;
  } catch {
    return false;
  }
}

export function forget(storage, key) {
  if (!storage || !key) return;
  try {
    storage.removeItem(slot(key));
  } catch {
    // nothing to do
  }
}

/** localStorage, or null where the page may not use it (sandboxed iframes, some privacy modes). */
export function pageStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

function ms(v) {
  return v == null ? '?' : `${Math.round(v)} ms`;
}

/** "cpu 45 ms vs webgpu 780 ms" (or "over 2000 ms" where the probe stopped) for a choice's timings. */
export function timingText({ cpuMs, webgpuMs, webgpuAtLeast = false }) {
  return `cpu ${ms(cpuMs)} vs webgpu ${webgpuAtLeast ? 'over ' : ''}${ms(webgpuMs)}`;
}

/**
 * What to ask the engine for: {backend (for Engine.create), remembered?} from the page's
 * `requested` backend, whether WebGPU gave an adapter (`gpu`: {ok, reason, key}) and the
 * remembered choice. An explicit webgpu/cpu is passed through; auto uses the CPU without an
 * adapter, the remembered winner when there is one, else "auto" (the engine probes).
 */
export function plan(requested, gpu, storage, now = Date.now()) {
  if (requested === 'cpu') return { backend: 'cpu', reason: 'asked for by backend=cpu' };
  if (requested === 'webgpu') return { backend: 'webgpu', reason: 'asked for by backend=webgpu' };
  if (!gpu.ok) return { backend: 'cpu', reason: `no WebGPU: ${gpu.reason}`, noWebGpu: true };
  const r = recall(storage, gpu.key, now);
  if (r) {
    return {
      backend: r.backend,
      reason: `remembered for this adapter (${timingText(r)}, measured ${new Date(r.at).toISOString().slice(0, 10)})`,
      remembered: r,
    };
  }
  return { backend: 'auto', probe: true };
}
